//! Reading a publisher's SDP offer: which m-lines carry what, which codec we
//! take for each, and the RTP caps that make webrtcbin answer with that codec.

use gst_sdp::{SDPMediaRef, SDPMessage};

use super::VideoCodecPref;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SdpError {
    #[error("SDP does not parse: {0}")]
    Parse(String),
    #[error("SDP offer has no audio or video")]
    NoMedia,
    #[error("no supported {kind} codec offered (offered: {offered}; supported: {supported})")]
    NoSupportedCodec {
        kind: &'static str,
        offered: String,
        supported: &'static str,
    },
    #[error("{0}")]
    Direction(String),
    #[error(
        "the offer has {count} m-lines; at most {max} are taken (one audio and one video today)"
    )]
    TooManyMedia { count: usize, max: usize },
    #[error("m-line {mline}: {what}")]
    Payload { mline: usize, what: String },
}

/// m-lines one offer may carry. Each unbundled m-line costs webrtcbin
/// threads (a 365 m-line offer made ~1,060); WHIP and WHEP need two today,
/// the rest is room for later (e.g. a screen share).
pub const MAX_MEDIA: usize = 4;

/// Payload types one m-line may list (browsers offer ~20 for video).
const MAX_FORMATS: usize = 64;

/// Checks what the planners rely on before anything is built: a bounded
/// number of m-lines, and on RTP m-lines payload types in 0..=127 with
/// well-formed `rtpmap`/`fmtp` lines (RFC 8866 §6.6, RFC 3550 §5.1).
pub fn check_offer(offer: &SDPMessage) -> Result<(), SdpError> {
    let count = offer.medias_len() as usize;
    if count > MAX_MEDIA {
        return Err(SdpError::TooManyMedia {
            count,
            max: MAX_MEDIA,
        });
    }
    for (mline, m) in offer.medias().enumerate() {
        if !m.proto().is_some_and(|p| p.contains("RTP")) {
            continue;
        }
        let bad = |what: String| SdpError::Payload { mline, what };
        if m.formats_len() as usize > MAX_FORMATS {
            return Err(bad(format!("more than {MAX_FORMATS} payload types")));
        }
        for f in m.formats() {
            payload_type(f).ok_or_else(|| bad(format!("payload type {f:?} is not 0..=127")))?;
        }
        for a in m.attributes() {
            let value = a.value().unwrap_or("");
            match a.key() {
                "rtpmap" => check_rtpmap(value).map_err(bad)?,
                "fmtp" => {
                    let pt = value.split_whitespace().next().unwrap_or("");
                    payload_type(pt)
                        .ok_or_else(|| bad(format!("fmtp payload type {pt:?} is not 0..=127")))?;
                }
                _ => {}
            }
        }
    }
    Ok(())
}

fn payload_type(text: &str) -> Option<u8> {
    text.parse::<u8>().ok().filter(|pt| *pt <= 127)
}

/// `<pt> <encoding>/<clock rate>[/<channels>]`
fn check_rtpmap(value: &str) -> Result<(), String> {
    let mut parts = value.split_whitespace();
    let (Some(pt), Some(encoding), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!(
            "rtpmap {value:?} is not `<pt> <encoding>/<clock rate>`"
        ));
    };
    payload_type(pt).ok_or_else(|| format!("rtpmap payload type {pt:?} is not 0..=127"))?;
    let mut fields = encoding.split('/');
    let name = fields.next().unwrap_or("");
    if name.is_empty() || name.len() > 32 {
        return Err(format!(
            "rtpmap encoding name {name:?} is not 1 to 32 characters"
        ));
    }
    let clock = fields.next().and_then(|c| c.parse::<u32>().ok());
    if !clock.is_some_and(|c| (1..=1_000_000).contains(&c)) {
        return Err(format!("rtpmap {value:?}: clock rate must be 1..=1000000"));
    }
    if let Some(channels) = fields.next() {
        if !channels.parse::<u8>().is_ok_and(|c| (1..=8).contains(&c)) {
            return Err(format!("rtpmap {value:?}: channels must be 1..=8"));
        }
    }
    if fields.next().is_some() {
        return Err(format!("rtpmap {value:?}: too many `/` fields"));
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Audio,
    Video,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    H264,
    Vp8,
    Opus,
    /// Not taken over WebRTC; file sources (the ladder benchmark) bring it.
    Aac,
}

impl Codec {
    pub fn name(self) -> &'static str {
        match self {
            Codec::H264 => "H264",
            Codec::Vp8 => "VP8",
            Codec::Opus => "OPUS",
            Codec::Aac => "AAC",
        }
    }

    pub fn from_encoding_name(name: &str) -> Option<Self> {
        match name.to_ascii_uppercase().as_str() {
            "H264" => Some(Codec::H264),
            "VP8" => Some(Codec::Vp8),
            "OPUS" => Some(Codec::Opus),
            _ => None,
        }
    }
}

/// What we take from one m-line of the offer.
#[derive(Debug, Clone)]
pub struct PlannedMedia {
    pub mline: u32,
    pub mid: Option<String>,
    pub kind: MediaKind,
    pub codec: Codec,
    pub payload: i32,
    /// `application/x-rtp` caps for a recvonly transceiver's codec preferences.
    pub caps: gst::Caps,
}

#[derive(Debug, Clone)]
pub struct OfferPlan {
    pub media: Vec<PlannedMedia>,
    /// Every m-line's mid, by index, for trickle candidates.
    pub mids: Vec<Option<String>>,
    /// The offer's ICE usernames (one, or one per m-line when unbundled).
    pub ice_ufrags: Vec<String>,
}

impl OfferPlan {
    pub fn codec(&self, kind: MediaKind) -> Option<Codec> {
        self.media.iter().find(|m| m.kind == kind).map(|m| m.codec)
    }

    pub fn mline_of_mid(&self, mid: &str) -> Option<u32> {
        self.mids
            .iter()
            .position(|m| m.as_deref() == Some(mid))
            .map(|i| i as u32)
    }
}

/// RTP header extensions we keep in the answer. transport-wide-cc matters most:
/// without it browsers keep their send bitrate low.
const KEPT_EXTENSIONS: &[&str] = &[
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
    "urn:ietf:params:rtp-hdrext:sdes:mid",
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
    "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
];

/// The longest SDP line we parse (see `parse`).
pub const MAX_LINE_BYTES: usize = 4096;

pub fn parse(text: &str) -> Result<SDPMessage, SdpError> {
    if !text.trim_start().starts_with("v=") {
        return Err(SdpError::Parse("an SDP body starts with \"v=\"".into()));
    }
    // GStreamer cuts names and fields at 8191 bytes, possibly inside a UTF-8
    // character, and gstreamer-sdp's accessors then panic on the invalid
    // string (found by tests/fuzz_sdp.rs). No real SDP line is near this.
    if text.lines().any(|l| l.len() > MAX_LINE_BYTES) {
        return Err(SdpError::Parse(format!(
            "an SDP line is longer than {MAX_LINE_BYTES} bytes"
        )));
    }
    SDPMessage::parse_buffer(text.as_bytes()).map_err(|e| SdpError::Parse(e.to_string()))
}

/// webrtcbin 1.22 refuses a BUNDLE group whose m-lines carry different ICE
/// credentials, which RFC 8843 allows in an initial offer (aiortc sends such
/// offers). Answering unbundled is also legal, so drop the group in that case.
/// Returns whether it did.
pub fn unbundle_if_mixed_credentials(offer: &mut SDPMessage) -> bool {
    let session_ufrag = offer.attribute_val("ice-ufrag").map(str::to_owned);
    let mut ufrags: Vec<String> = offer
        .medias()
        .filter_map(|m| {
            m.attribute_val("ice-ufrag")
                .map(str::to_owned)
                .or(session_ufrag.clone())
        })
        .collect();
    ufrags.dedup();
    if ufrags.len() <= 1 {
        return false;
    }
    let bundle = offer
        .attributes()
        .position(|a| a.key() == "group" && a.value().is_some_and(|v| v.starts_with("BUNDLE")));
    match bundle {
        Some(index) => offer.remove_attribute(index as u32).is_ok(),
        None => false,
    }
}

/// Decides, for each audio/video m-line of a publisher's offer, which codec we
/// receive.
pub fn plan_offer(offer: &SDPMessage, prefer: VideoCodecPref) -> Result<OfferPlan, SdpError> {
    check_offer(offer)?;
    let mut media = Vec::new();
    let mut mids = Vec::new();
    let session_ufrag = offer.attribute_val("ice-ufrag").map(str::to_owned);
    let mut ice_ufrags: Vec<String> = session_ufrag.iter().cloned().collect();
    for (index, m) in offer.medias().enumerate() {
        let mid = m.attribute_val("mid").map(str::to_owned);
        mids.push(mid.clone());
        if let Some(u) = m.attribute_val("ice-ufrag") {
            if !ice_ufrags.iter().any(|known| known == u) {
                ice_ufrags.push(u.to_owned());
            }
        }
        let kind = match m.media() {
            Some("audio") => MediaKind::Audio,
            Some("video") => MediaKind::Video,
            _ => continue,
        };
        // Port 0 rejects an m-line, unless it rides on the BUNDLE transport.
        if m.port() == 0 && !m.attributes().any(|a| a.key() == "bundle-only") {
            continue;
        }
        if m.attributes().any(|a| a.key() == "recvonly") {
            return Err(SdpError::Direction(
                "a WHIP offer must send media (sendonly or sendrecv), not recvonly".into(),
            ));
        }
        if m.attributes().any(|a| a.key() == "inactive") {
            continue;
        }
        let (codec, payload) = choose_codec(m, kind, prefer)?;
        media.push(PlannedMedia {
            mline: index as u32,
            mid,
            kind,
            codec,
            payload,
            caps: rtp_caps(m, payload)?,
        });
    }
    if media.is_empty() {
        return Err(SdpError::NoMedia);
    }
    Ok(OfferPlan {
        media,
        mids,
        ice_ufrags,
    })
}

/// Payload types of one m-line with their rtpmap encoding name and fmtp.
/// Plans the answer to a WHEP (viewing) offer. `video_codecs` are the codecs
/// the server can send this session, preferred first (the publisher's own
/// codec: forwarded without re-encoding). `audio_only` leaves video out.
pub fn plan_view_offer(
    offer: &SDPMessage,
    video_codecs: &[Codec],
    audio_only: bool,
) -> Result<OfferPlan, SdpError> {
    check_offer(offer)?;
    let mut media = Vec::new();
    let mut mids = Vec::new();
    let session_ufrag = offer.attribute_val("ice-ufrag").map(str::to_owned);
    let mut ice_ufrags: Vec<String> = session_ufrag.iter().cloned().collect();
    let (mut audio_seen, mut video_seen) = (false, false);
    for (index, m) in offer.medias().enumerate() {
        let mid = m.attribute_val("mid").map(str::to_owned);
        mids.push(mid.clone());
        if let Some(u) = m.attribute_val("ice-ufrag") {
            if !ice_ufrags.iter().any(|known| known == u) {
                ice_ufrags.push(u.to_owned());
            }
        }
        let kind = match m.media() {
            Some("audio") => MediaKind::Audio,
            Some("video") => MediaKind::Video,
            _ => continue,
        };
        if m.port() == 0 && !m.attributes().any(|a| a.key() == "bundle-only") {
            continue;
        }
        if m.attributes().any(|a| a.key() == "sendonly") {
            return Err(SdpError::Direction(
                "a WHEP offer must receive media (recvonly or sendrecv), not sendonly".into(),
            ));
        }
        if m.attributes().any(|a| a.key() == "inactive") {
            continue;
        }
        // One track of each kind is sent; further m-lines stay unanswered.
        let seen = match kind {
            MediaKind::Audio => &mut audio_seen,
            MediaKind::Video => &mut video_seen,
        };
        if std::mem::replace(seen, true) || (kind == MediaKind::Video && audio_only) {
            continue;
        }
        let (codec, payload) = match kind {
            MediaKind::Audio => choose_codec(m, kind, VideoCodecPref::H264)?,
            MediaKind::Video => choose_sendable_video(m, video_codecs)?,
        };
        let mut caps = rtp_caps(m, payload)?;
        keep_only_sendable_feedback(&mut caps);
        media.push(PlannedMedia {
            mline: index as u32,
            mid,
            kind,
            codec,
            payload,
            caps,
        });
    }
    if media.is_empty() {
        return Err(SdpError::NoMedia);
    }
    Ok(OfferPlan {
        media,
        mids,
        ice_ufrags,
    })
}

/// The first of `available` the viewer takes, with its payload type.
fn choose_sendable_video(m: &SDPMediaRef, available: &[Codec]) -> Result<(Codec, i32), SdpError> {
    let offered = payloads(m);
    for codec in available {
        let found = match codec {
            Codec::H264 => offered
                .iter()
                .filter(|(_, enc, fmtp)| {
                    Codec::from_encoding_name(enc) == Some(Codec::H264)
                        && fmtp.contains("packetization-mode=1")
                })
                // Constrained baseline first: what every decoder takes; the
                // decoders browsers use also play the rungs' main/high.
                .min_by_key(|(_, _, fmtp)| !fmtp.contains("profile-level-id=42e0")),
            other => offered
                .iter()
                .find(|(_, enc, _)| Codec::from_encoding_name(enc) == Some(*other)),
        };
        if let Some((pt, _, _)) = found {
            return Ok((*codec, *pt));
        }
    }
    let mut names: Vec<String> = offered.iter().map(|(_, enc, _)| enc.clone()).collect();
    names.dedup();
    Err(SdpError::NoSupportedCodec {
        kind: "video",
        offered: if names.is_empty() {
            "none".into()
        } else {
            names.join(", ")
        },
        supported: if available.contains(&Codec::Vp8) {
            "VP8 or H264 (packetization-mode=1)"
        } else {
            "H264 (packetization-mode=1)"
        },
    })
}

/// What we send carries no transport-wide sequence numbers and no audio
/// levels, and we run no transport-cc estimator: without those in the answer
/// the browser reports its bandwidth estimate by REMB instead.
fn keep_only_sendable_feedback(caps: &mut gst::Caps) {
    let Some(s) = caps.make_mut().structure_mut(0) else {
        return;
    };
    let drop: Vec<String> = s
        .iter()
        .map(|(name, _)| name.to_string())
        .filter(|name| {
            if name == "rtcp-fb-transport-cc" {
                return true;
            }
            if name.starts_with("extmap-") {
                let uri = s.get::<String>(name.as_str()).ok();
                return uri.is_none_or(|u| u != "urn:ietf:params:rtp-hdrext:sdes:mid");
            }
            false
        })
        .collect();
    for name in drop {
        s.remove_field(name.as_str());
    }
}

fn payloads(m: &SDPMediaRef) -> Vec<(i32, String, String)> {
    m.formats()
        .filter_map(|f| f.parse::<i32>().ok())
        .filter_map(|pt| {
            let rtpmap = m
                .attributes()
                .filter(|a| a.key() == "rtpmap")
                .filter_map(|a| a.value())
                .find(|v| v.split_whitespace().next() == Some(&pt.to_string()))?;
            let encoding = rtpmap
                .split_whitespace()
                .nth(1)?
                .split('/')
                .next()?
                .to_owned();
            let fmtp = m
                .attributes()
                .filter(|a| a.key() == "fmtp")
                .filter_map(|a| a.value())
                .find(|v| v.split_whitespace().next() == Some(&pt.to_string()))
                .map(|v| {
                    v.split_once(' ')
                        .map(|(_, p)| p)
                        .unwrap_or("")
                        .to_ascii_lowercase()
                })
                .unwrap_or_default();
            Some((pt, encoding, fmtp))
        })
        .collect()
}

fn choose_codec(
    m: &SDPMediaRef,
    kind: MediaKind,
    prefer: VideoCodecPref,
) -> Result<(Codec, i32), SdpError> {
    let offered = payloads(m);
    let find = |codec: Codec, ok: &dyn Fn(&str) -> bool| {
        offered
            .iter()
            .find(|(_, enc, fmtp)| Codec::from_encoding_name(enc) == Some(codec) && ok(fmtp))
            .map(|(pt, _, _)| (codec, *pt))
    };
    let chosen = match kind {
        MediaKind::Audio => find(Codec::Opus, &|_| true),
        MediaKind::Video => {
            // Packetization mode 1 is what every WebRTC stack sends; constrained
            // baseline is what every decoder takes.
            let h264 = find(Codec::H264, &|f| {
                f.contains("packetization-mode=1") && f.contains("profile-level-id=42e0")
            })
            .or_else(|| find(Codec::H264, &|f| f.contains("packetization-mode=1")));
            let vp8 = find(Codec::Vp8, &|_| true);
            match prefer {
                VideoCodecPref::H264 => h264.or(vp8),
                VideoCodecPref::Vp8 => vp8.or(h264),
            }
        }
    };
    chosen.ok_or_else(|| {
        let mut names: Vec<String> = offered.iter().map(|(_, enc, _)| enc.clone()).collect();
        names.dedup();
        SdpError::NoSupportedCodec {
            kind: if kind == MediaKind::Audio {
                "audio"
            } else {
                "video"
            },
            offered: if names.is_empty() {
                "none".into()
            } else {
                names.join(", ")
            },
            supported: if kind == MediaKind::Audio {
                "opus"
            } else {
                "H264 (packetization-mode=1), VP8"
            },
        }
    })
}

fn rtp_caps(m: &SDPMediaRef, payload: i32) -> Result<gst::Caps, SdpError> {
    let bad = |what: &str| SdpError::Parse(format!("payload {payload}: {what}"));
    let mut caps = m.caps_from_media(payload).ok_or_else(|| bad("no rtpmap"))?;
    {
        let caps = caps.make_mut();
        m.attributes_to_caps(caps)
            .map_err(|e| bad(&e.to_string()))?;
        let s = caps.structure_mut(0).ok_or_else(|| bad("empty caps"))?;
        s.set_name("application/x-rtp");
        let drop: Vec<String> = s
            .iter()
            .map(|(name, _)| name.to_string())
            .filter(|name| {
                if name.starts_with("a-") || name.starts_with("ssrc-") || name.starts_with("x-") {
                    return true;
                }
                if name.starts_with("extmap-") {
                    let uri = s.get::<String>(name.as_str()).ok();
                    return !uri.is_some_and(|u| KEPT_EXTENSIONS.contains(&u.as_str()));
                }
                false
            })
            .collect();
        for name in drop {
            s.remove_field(name.as_str());
        }
    }
    Ok(caps)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The shape of a Chromium WHIP offer (VP8 first, H.264 later).
    pub const CHROME_OFFER: &str = include_str!("../../tests/fixtures/chrome-offer.sdp");

    fn plan(text: &str, prefer: VideoCodecPref) -> Result<OfferPlan, SdpError> {
        crate::media::init().expect("gstreamer");
        plan_offer(&parse(text)?, prefer)
    }

    #[test]
    fn prefers_constrained_baseline_h264() {
        let p = plan(CHROME_OFFER, VideoCodecPref::H264).expect("plan");
        assert_eq!(p.media.len(), 2);
        assert_eq!((p.media[0].codec, p.media[0].payload), (Codec::Opus, 111));
        assert_eq!((p.media[1].codec, p.media[1].payload), (Codec::H264, 103));
        assert_eq!(p.ice_ufrags, vec!["abcd".to_owned()]);
        assert_eq!(p.mline_of_mid("1"), Some(1));
        let s = p.media[1].caps.structure(0).expect("structure");
        assert_eq!(s.name(), "application/x-rtp");
        assert_eq!(s.get::<i32>("payload").ok(), Some(103));
        assert_eq!(
            s.get::<String>("extmap-3").ok().as_deref(),
            Some(KEPT_EXTENSIONS[0])
        );
        assert!(!s.has_field("extmap-9"), "rid extension is dropped");
    }

    #[test]
    fn vp8_when_preferred_or_only() {
        let p = plan(CHROME_OFFER, VideoCodecPref::Vp8).expect("plan");
        assert_eq!(p.media[1].codec, Codec::Vp8);
        let no_h264 = CHROME_OFFER.replace("H264/90000", "H265/90000");
        let p = plan(&no_h264, VideoCodecPref::H264).expect("plan");
        assert_eq!(p.media[1].codec, Codec::Vp8);
    }

    fn view(text: &str, codecs: &[Codec], audio_only: bool) -> Result<OfferPlan, SdpError> {
        crate::media::init().expect("gstreamer");
        plan_view_offer(&parse(text)?, codecs, audio_only)
    }

    /// A viewer's offer: Chromium's, received instead of sent.
    fn viewer_offer() -> String {
        CHROME_OFFER.replace("a=sendonly", "a=recvonly")
    }

    #[test]
    fn a_viewer_gets_the_publishers_codec_without_transport_cc() {
        let p = view(&viewer_offer(), &[Codec::H264], false).expect("plan");
        assert_eq!((p.media[0].codec, p.media[0].payload), (Codec::Opus, 111));
        assert_eq!((p.media[1].codec, p.media[1].payload), (Codec::H264, 103));
        let s = p.media[1].caps.structure(0).expect("structure");
        assert!(!s.has_field("extmap-3"), "no transport-cc extension: {s}");
        assert!(!s.has_field("rtcp-fb-transport-cc"), "{s}");
        let p = view(&viewer_offer(), &[Codec::Vp8, Codec::H264], false).expect("plan");
        assert_eq!(p.media[1].codec, Codec::Vp8);
        let no_vp8 = viewer_offer().replace("VP8/90000", "VP9/90000");
        let p = view(&no_vp8, &[Codec::Vp8, Codec::H264], false).expect("plan");
        assert_eq!(p.media[1].codec, Codec::H264, "the ladder's H.264 instead");
    }

    #[test]
    fn audio_only_and_bad_view_offers() {
        let p = view(&viewer_offer(), &[Codec::H264], true).expect("plan");
        assert_eq!(p.media.len(), 1);
        assert_eq!(p.media[0].kind, MediaKind::Audio);
        assert!(matches!(
            view(CHROME_OFFER, &[Codec::H264], false),
            Err(SdpError::Direction(_))
        ));
        let no_h264 = viewer_offer()
            .replace("H264/90000", "AV1/90000")
            .replace("VP8/90000", "VP9/90000");
        assert!(matches!(
            view(&no_h264, &[Codec::H264], false),
            Err(SdpError::NoSupportedCodec { kind: "video", .. })
        ));
        assert!(matches!(
            view("v=0", &[Codec::H264], false),
            Err(SdpError::Parse(_)) | Err(SdpError::NoMedia)
        ));
    }

    #[test]
    fn unbundles_only_mixed_credentials() {
        crate::media::init().expect("gstreamer");
        let mut same = parse(CHROME_OFFER).expect("parse");
        assert!(!unbundle_if_mixed_credentials(&mut same));
        assert!(same.as_text().expect("text").contains("a=group:BUNDLE"));
        let mixed_text = CHROME_OFFER.replacen("a=ice-ufrag:abcd", "a=ice-ufrag:wxyz", 1);
        let mut mixed = parse(&mixed_text).expect("parse");
        assert!(unbundle_if_mixed_credentials(&mut mixed));
        assert!(!mixed.as_text().expect("text").contains("a=group:BUNDLE"));
    }

    /// An offer with `n` copies of the Chromium offer's video m-section.
    fn offer_with_video_mlines(n: usize) -> String {
        let start = CHROME_OFFER.find("m=video").expect("video m-line");
        let (head, video) = CHROME_OFFER.split_at(start);
        let head = head
            .lines()
            .filter(|l| !l.starts_with("a=group:BUNDLE"))
            .map(|l| format!("{l}\r\n"))
            .collect::<String>();
        let mut text = head;
        for i in 0..n {
            text.push_str(&video.replace("a=mid:1", &format!("a=mid:v{i}")));
        }
        text
    }

    #[test]
    fn refuses_more_m_lines_than_the_limit() {
        assert!(plan(
            &offer_with_video_mlines(MAX_MEDIA - 1),
            VideoCodecPref::H264
        )
        .is_ok());
        let err = plan(&offer_with_video_mlines(300), VideoCodecPref::H264).expect_err("many");
        assert_eq!(
            err,
            SdpError::TooManyMedia {
                count: 301,
                max: MAX_MEDIA
            }
        );
        assert!(err.to_string().contains("at most 4"), "{err}");
    }

    #[test]
    fn refuses_payload_types_and_rtpmaps_out_of_range() {
        for (from, to) in [
            ("a=rtpmap:111 opus/48000/2", "a=rtpmap:300 opus/48000/2"),
            ("a=rtpmap:111 opus/48000/2", "a=rtpmap:111 opus/0/2"),
            ("a=rtpmap:111 opus/48000/2", "a=rtpmap:111 opus/48000/99"),
            (
                "a=rtpmap:111 opus/48000/2",
                "a=rtpmap:111 opus/99999999999/2",
            ),
            ("a=rtpmap:111 opus/48000/2", "a=rtpmap:-1 opus/48000/2"),
            ("a=rtpmap:111 opus/48000/2", "a=rtpmap:111"),
            ("UDP/TLS/RTP/SAVPF 111", "UDP/TLS/RTP/SAVPF 111 128"),
            ("UDP/TLS/RTP/SAVPF 111", "UDP/TLS/RTP/SAVPF 111 x"),
        ] {
            assert!(CHROME_OFFER.contains(from), "fixture has {from}");
            let text = CHROME_OFFER.replacen(from, to, 1);
            match plan(&text, VideoCodecPref::H264) {
                Err(SdpError::Payload { .. }) | Err(SdpError::Parse(_)) => {}
                other => panic!("{to}: expected a refusal, got {other:?}"),
            }
        }
    }

    #[test]
    fn rejects_bad_offers() {
        assert!(matches!(
            plan("hello", VideoCodecPref::H264),
            Err(SdpError::Parse(_))
        ));
        let only_vp9 = CHROME_OFFER
            .replace("VP8/90000", "VP9/90000")
            .replace("H264/90000", "AV1/90000");
        let err = plan(&only_vp9, VideoCodecPref::H264).expect_err("no codec");
        assert!(err.to_string().contains("VP9"), "{err}");
        let no_opus = CHROME_OFFER.replace("opus/48000/2", "PCMU/8000");
        assert!(matches!(
            plan(&no_opus, VideoCodecPref::H264),
            Err(SdpError::NoSupportedCodec { kind: "audio", .. })
        ));
        let recvonly = CHROME_OFFER.replace("a=sendonly", "a=recvonly");
        assert!(matches!(
            plan(&recvonly, VideoCodecPref::H264),
            Err(SdpError::Direction(_))
        ));
        assert_eq!(
            plan(
                "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n",
                VideoCodecPref::H264
            )
            .err(),
            Some(SdpError::NoMedia)
        );
    }
}
