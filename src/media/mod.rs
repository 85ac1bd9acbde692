//! GStreamer glue shared by every media stage.

mod counters;
pub mod follow;
pub mod ice;
pub mod keyframes;
mod pipeline;
mod rung;
pub mod sdp;
pub mod webrtc;

pub use counters::{StreamCounters, StreamStats};
pub use pipeline::{
    bin_from_file, description, fill, launch, spawn_bus_watch, BusEvent, OwnedPipeline,
};
pub use rung::RungOutput;

/// Which video codec to take when a publisher offers several (and which one
/// the test publisher sends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodecPref {
    H264,
    Vp8,
}

/// What a publish is to its class: the instructor's camera (the main
/// broadcast), the instructor's screen share, or a student on stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PublishKind {
    Camera,
    Screen,
    Stage,
}

impl PublishKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PublishKind::Camera => "camera",
            PublishKind::Screen => "screen",
            PublishKind::Stage => "stage",
        }
    }
}

use std::sync::OnceLock;

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("GStreamer init: {0}")]
    Init(String),
    #[error("missing GStreamer elements: {0} (run scripts/install-deps.sh)")]
    MissingElements(String),
    #[error("pipeline description {name}: {message}")]
    Description { name: String, message: String },
    #[error("GStreamer: {0}")]
    Gst(String),
    #[error("state change failed: {0}")]
    StateChange(String),
    #[error("negotiation failed: {0}")]
    Negotiation(String),
    #[error("timed out while {0}")]
    Timeout(&'static str),
}

impl From<gst::glib::BoolError> for MediaError {
    fn from(e: gst::glib::BoolError) -> Self {
        MediaError::Gst(e.to_string())
    }
}

impl From<gst::StateChangeError> for MediaError {
    fn from(e: gst::StateChangeError) -> Self {
        MediaError::StateChange(e.to_string())
    }
}

/// Elements the server cannot run without, reported by name when absent.
const REQUIRED_ELEMENTS: &[&str] = &[
    "webrtcbin",
    "rtph264depay",
    "rtpvp8depay",
    "rtpopusdepay",
    "h264parse",
    "opusparse",
    "appsink",
    "appsrc",
    "queue",
    "nicesrc",
    "dtlssrtpdec",
];

static INIT: OnceLock<Result<(), String>> = OnceLock::new();

/// Initializes GStreamer once, routes its log into `tracing`, and checks that
/// the elements we depend on exist.
pub fn init() -> Result<(), MediaError> {
    INIT.get_or_init(|| {
        gst::init().map_err(|e| e.to_string())?;
        tracing_gstreamer::integrate_events();
        gst::log::remove_default_log_function();
        gst::log::set_default_threshold(gst::DebugLevel::Warning);
        Ok(())
    })
    .clone()
    .map_err(MediaError::Init)?;
    let missing: Vec<&str> = REQUIRED_ELEMENTS
        .iter()
        .copied()
        .filter(|name| gst::ElementFactory::find(name).is_none())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(MediaError::MissingElements(missing.join(", ")))
    }
}
