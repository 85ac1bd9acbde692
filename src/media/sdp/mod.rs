//! Reading a publisher's SDP offer: which m-lines carry what, which codec we
//! take for each, and the RTP caps that make webrtcbin answer with that codec.

mod check;
mod codecs;
mod plan;
#[cfg(test)]
mod tests;

pub use check::{check_offer, MAX_MEDIA};
pub use plan::{plan_offer, plan_view_offer};

use gst_sdp::SDPMessage;

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

    /// The GStreamer elements (a launch fragment) that decode it.
    pub fn decoder(self) -> &'static str {
        match self {
            Codec::H264 => "h264parse ! avdec_h264",
            Codec::Vp8 => "vp8dec",
            Codec::Opus => "opusdec",
            Codec::Aac => "aacparse ! avdec_aac",
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
