//! TS segments → one MP4 with `moov` in front.
// TEMPORARY STUB by the integrator so the crate compiles; the helper owning
// this file replaces it entirely.

use std::path::{Path, PathBuf};

pub struct RemuxInput {
    pub rung_dir: PathBuf,
    pub first_index: u64,
    pub last_index: u64,
}

pub struct RemuxReport {
    pub duration_ms: u64,
    pub size_bytes: u64,
    pub has_audio: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RemuxError {
    #[error("stub")]
    Stub,
}

pub async fn remux_to_mp4(_input: &RemuxInput, _out: &Path) -> Result<RemuxReport, RemuxError> {
    Err(RemuxError::Stub)
}
