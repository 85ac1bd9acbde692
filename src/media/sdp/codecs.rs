//! Choosing a codec on one m-line of an offer, and the RTP caps that make
//! webrtcbin answer with it.

use gst_sdp::SDPMediaRef;

use super::{Codec, MediaKind, SdpError, VideoCodecPref};

/// RTP header extensions we keep in the answer. transport-wide-cc matters most:
/// without it browsers keep their send bitrate low.
pub(super) const KEPT_EXTENSIONS: &[&str] = &[
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
    "urn:ietf:params:rtp-hdrext:sdes:mid",
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
    "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
];

/// The first of `available` the viewer takes, with its payload type.
pub(super) fn choose_sendable_video(
    m: &SDPMediaRef,
    available: &[Codec],
) -> Result<(Codec, i32), SdpError> {
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
    Err(SdpError::NoSupportedCodec {
        kind: "video",
        offered: encoding_names(&offered),
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
pub(super) fn keep_only_sendable_feedback(caps: &mut gst::Caps) {
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

pub(super) fn choose_codec(
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
    chosen.ok_or_else(|| SdpError::NoSupportedCodec {
        kind: if kind == MediaKind::Audio {
            "audio"
        } else {
            "video"
        },
        offered: encoding_names(&offered),
        supported: if kind == MediaKind::Audio {
            "opus"
        } else {
            "H264 (packetization-mode=1), VP8"
        },
    })
}

/// The offered encodings, for an error (consecutive repeats once).
fn encoding_names(offered: &[(i32, String, String)]) -> String {
    let mut names: Vec<String> = offered.iter().map(|(_, enc, _)| enc.clone()).collect();
    names.dedup();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

pub(super) fn rtp_caps(m: &SDPMediaRef, payload: i32) -> Result<gst::Caps, SdpError> {
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
