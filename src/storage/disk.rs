//! The disk-space guard: recordings are written to the data directory first,
//! so a nearly full disk refuses new recordings (and says so in `/healthz`)
//! instead of failing half-way through a class.

use std::path::PathBuf;

use serde::Serialize;

#[derive(Debug, Clone)]
pub struct DiskGuard {
    dir: PathBuf,
    /// Below this many free bytes new recordings are refused; 0: never.
    min_free: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DiskStatus {
    /// `None` when the file system cannot be asked.
    pub free_bytes: Option<u64>,
    pub min_free_bytes: u64,
    pub low: bool,
}

impl DiskGuard {
    pub fn new(dir: PathBuf, min_free: u64) -> Self {
        DiskGuard { dir, min_free }
    }

    /// Never refuses (tests, tools).
    pub fn off(dir: PathBuf) -> Self {
        Self::new(dir, 0)
    }

    pub fn status(&self) -> DiskStatus {
        let free_bytes = rustix::fs::statvfs(&self.dir)
            .ok()
            .map(|s| s.f_bavail.saturating_mul(s.f_frsize));
        DiskStatus {
            free_bytes,
            min_free_bytes: self.min_free,
            low: self.min_free > 0 && free_bytes.is_some_and(|f| f < self.min_free),
        }
    }

    /// `Err` with the words for the log and the client when space is low.
    pub fn check(&self) -> Result<(), String> {
        let s = self.status();
        if !s.low {
            return Ok(());
        }
        let mb = |b: u64| b / (1024 * 1024);
        Err(format!(
            "not enough free disk space for a recording: {} MB free in {}, {} MB required \
             (--min-free-disk-mb)",
            mb(s.free_bytes.unwrap_or(0)),
            self.dir.display(),
            mb(self.min_free)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_threshold_above_the_free_space_is_low() {
        let dir = std::env::temp_dir();
        let ok = DiskGuard::new(dir.clone(), 1).status();
        assert!(ok.free_bytes.is_some_and(|f| f > 0) && !ok.low, "{ok:?}");
        assert!(DiskGuard::off(dir.clone()).check().is_ok());
        let err = DiskGuard::new(dir, u64::MAX).check().expect_err("low");
        assert!(err.contains("--min-free-disk-mb"), "{err}");
    }
}
