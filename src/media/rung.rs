//! A lighter encoding of a publish, live, for WebRTC viewers whose link
//! cannot take the source: a rung of the HLS ladder, or what the
//! composition makes of a publish it decodes anyway.

use std::sync::Arc;

use super::keyframes::KeyframeRequests;

#[derive(Clone)]
pub struct RungOutput {
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub bitrate_bps: u64,
    /// The source's own picture size at a lower frame rate (a screen share:
    /// text stays legible), offered even though it is not smaller.
    pub keeps_size: bool,
    pub producer: gst_utils::StreamProducer,
    /// Keyframes forced by viewers switching in, let through and held back.
    pub keyframe_requests: Arc<KeyframeRequests>,
}
