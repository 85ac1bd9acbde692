//! Planning the answer: for each audio/video m-line of a WHIP or WHEP offer,
//! whether we take it and with which codec.

use gst_sdp::{SDPMediaRef, SDPMessage};

use super::check::check_offer;
use super::codecs::{choose_codec, choose_sendable_video, keep_only_sendable_feedback, rtp_caps};
use super::{Codec, MediaKind, OfferPlan, PlannedMedia, SdpError, VideoCodecPref};

/// Decides, for each audio/video m-line of a publisher's offer, which codec we
/// receive.
pub fn plan_offer(offer: &SDPMessage, prefer: VideoCodecPref) -> Result<OfferPlan, SdpError> {
    let refused = Refused {
        direction: "recvonly",
        why: "a WHIP offer must send media (sendonly or sendrecv), not recvonly",
    };
    plan_mlines(offer, refused, |m, kind| {
        let (codec, payload) = choose_codec(m, kind, prefer)?;
        Ok(Some((codec, payload, rtp_caps(m, payload)?)))
    })
}

/// Plans the answer to a WHEP (viewing) offer. `video_codecs` are the codecs
/// the server can send this session, preferred first (the publisher's own
/// codec: forwarded without re-encoding). `audio_only` leaves video out.
pub fn plan_view_offer(
    offer: &SDPMessage,
    video_codecs: &[Codec],
    audio_only: bool,
) -> Result<OfferPlan, SdpError> {
    let refused = Refused {
        direction: "sendonly",
        why: "a WHEP offer must receive media (recvonly or sendrecv), not sendonly",
    };
    let (mut audio_seen, mut video_seen) = (false, false);
    plan_mlines(offer, refused, |m, kind| {
        // One track of each kind is sent; further m-lines stay unanswered.
        let seen = match kind {
            MediaKind::Audio => &mut audio_seen,
            MediaKind::Video => &mut video_seen,
        };
        if std::mem::replace(seen, true) || (kind == MediaKind::Video && audio_only) {
            return Ok(None);
        }
        let (codec, payload) = match kind {
            MediaKind::Audio => choose_codec(m, kind, VideoCodecPref::H264)?,
            MediaKind::Video => choose_sendable_video(m, video_codecs)?,
        };
        let mut caps = rtp_caps(m, payload)?;
        keep_only_sendable_feedback(&mut caps);
        Ok(Some((codec, payload, caps)))
    })
}

/// The direction attribute on an m-line that refuses the whole offer.
struct Refused {
    direction: &'static str,
    why: &'static str,
}

/// Walks the offer's m-lines: records every mid and ICE username, skips
/// rejected, inactive and non-media m-lines, refuses `refused`, and asks
/// `take` for the codec, payload and caps of the rest (`None`: not answered).
fn plan_mlines(
    offer: &SDPMessage,
    refused: Refused,
    mut take: impl FnMut(&SDPMediaRef, MediaKind) -> Result<Option<(Codec, i32, gst::Caps)>, SdpError>,
) -> Result<OfferPlan, SdpError> {
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
        if m.attributes().any(|a| a.key() == refused.direction) {
            return Err(SdpError::Direction(refused.why.into()));
        }
        if m.attributes().any(|a| a.key() == "inactive") {
            continue;
        }
        if let Some((codec, payload, caps)) = take(m, kind)? {
            media.push(PlannedMedia {
                mline: index as u32,
                mid,
                kind,
                codec,
                payload,
                caps,
            });
        }
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
