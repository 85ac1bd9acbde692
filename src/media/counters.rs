use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;

use serde::Serialize;

/// Live counters for one elementary stream, updated from a streaming thread
/// with atomics so reading them never blocks the media.
#[derive(Debug, Default)]
pub struct StreamCounters {
    codec: Mutex<Option<String>>,
    frames: AtomicU64,
    keyframes: AtomicU64,
    bytes: AtomicU64,
    width: AtomicU32,
    height: AtomicU32,
    first_at_ms: AtomicU64,
    last_at_ms: AtomicU64,
    // Rates over the last sampling interval, set by `sample`.
    bitrate_bps: AtomicU64,
    rate_milli: AtomicU64,
    sampled_frames: AtomicU64,
    sampled_bytes: AtomicU64,
    sampled_at_ms: AtomicU64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StreamStats {
    pub codec: Option<String>,
    pub frames: u64,
    pub keyframes: u64,
    pub bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Bits per second over the last second.
    pub bitrate_bps: u64,
    /// Frames (or packets, for audio) per second over the last second.
    pub rate: f64,
    /// Milliseconds since the last frame, if any arrived.
    pub idle_ms: Option<u64>,
}

impl StreamCounters {
    pub fn set_codec(&self, codec: &str) {
        if let Ok(mut c) = self.codec.lock() {
            *c = Some(codec.to_owned());
        }
    }

    pub fn set_size(&self, width: u32, height: u32) {
        self.width.store(width, Ordering::Relaxed);
        self.height.store(height, Ordering::Relaxed);
    }

    pub fn record(&self, bytes: usize, keyframe: bool, now_ms: u64) {
        self.frames.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        if keyframe {
            self.keyframes.fetch_add(1, Ordering::Relaxed);
        }
        let _ = self
            .first_at_ms
            .compare_exchange(0, now_ms, Ordering::Relaxed, Ordering::Relaxed);
        self.last_at_ms.store(now_ms, Ordering::Relaxed);
    }

    pub fn frames(&self) -> u64 {
        self.frames.load(Ordering::Relaxed)
    }

    /// When the first frame arrived (Unix ms), if ever.
    pub fn first_at_ms(&self) -> Option<u64> {
        Some(self.first_at_ms.load(Ordering::Relaxed)).filter(|&t| t > 0)
    }

    /// When the last frame arrived (Unix ms), if ever.
    pub fn last_at_ms(&self) -> Option<u64> {
        Some(self.last_at_ms.load(Ordering::Relaxed)).filter(|&t| t > 0)
    }

    /// Updates the per-second rates; called about once a second.
    pub fn sample(&self, now_ms: u64) {
        let frames = self.frames.load(Ordering::Relaxed);
        let bytes = self.bytes.load(Ordering::Relaxed);
        let then = self.sampled_at_ms.swap(now_ms, Ordering::Relaxed);
        let prev_frames = self.sampled_frames.swap(frames, Ordering::Relaxed);
        let prev_bytes = self.sampled_bytes.swap(bytes, Ordering::Relaxed);
        if then == 0 || now_ms <= then {
            return;
        }
        let dt = now_ms - then;
        self.bitrate_bps
            .store((bytes - prev_bytes) * 8 * 1000 / dt, Ordering::Relaxed);
        self.rate_milli
            .store((frames - prev_frames) * 1_000_000 / dt, Ordering::Relaxed);
    }

    pub fn stats(&self, now_ms: u64) -> StreamStats {
        let width = self.width.load(Ordering::Relaxed);
        let height = self.height.load(Ordering::Relaxed);
        StreamStats {
            codec: self.codec.lock().ok().and_then(|c| c.clone()),
            frames: self.frames.load(Ordering::Relaxed),
            keyframes: self.keyframes.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            width: (width > 0).then_some(width),
            height: (height > 0).then_some(height),
            bitrate_bps: self.bitrate_bps.load(Ordering::Relaxed),
            rate: self.rate_milli.load(Ordering::Relaxed) as f64 / 1000.0,
            idle_ms: self.last_at_ms().map(|t| now_ms.saturating_sub(t)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_follow_samples() {
        let c = StreamCounters::default();
        c.sample(1000);
        for i in 0..30 {
            c.record(1000, i == 0, 1000 + i * 33);
        }
        c.sample(2000);
        let s = c.stats(2000);
        assert_eq!(s.frames, 30);
        assert_eq!(s.keyframes, 1);
        assert_eq!(s.bitrate_bps, 240_000);
        assert!((s.rate - 30.0).abs() < 1e-9);
        assert_eq!(s.idle_ms, Some(2000 - (1000 + 29 * 33)));
    }
}
