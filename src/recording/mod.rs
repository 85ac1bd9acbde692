//! Recordings: the ladder's top rung, kept as segments while live (a crash or
//! a resolution change loses nothing), remuxed into one faststart MP4 when the
//! recording ends and handed to the upload spool. Each publish is its own part:
//! an instructor who reconnects starts part 2.

mod recorder;
pub mod remux;
pub mod retention;

pub use recorder::{recorded_range, Recorder};

use crate::db::DbError;

#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    #[error("nothing was recorded (no segments in the range)")]
    Empty,
    #[error(transparent)]
    Remux(#[from] remux::RemuxError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    #[error("recording configuration: {0}")]
    Config(String),
    #[error("{0}")]
    LowDisk(String),
}
