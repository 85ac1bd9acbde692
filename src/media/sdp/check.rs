//! Bounds on an offer, checked before any planning: how many m-lines, and
//! well-formed payload types and `rtpmap`/`fmtp` lines.

use gst_sdp::SDPMessage;

use super::SdpError;

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
