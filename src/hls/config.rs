//! The ladder's definition, read from `pipelines/ladder.toml`.

use std::path::Path;

use serde::Deserialize;

use super::HlsError;
use crate::compose::Canvas;

/// The copy shipped with the binary, used when no file is configured or found.
pub const DEFAULT_LADDER: &str = include_str!("../../pipelines/ladder.toml");

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LadderConfig {
    pub segment_seconds: u32,
    pub live_window: usize,
    pub keep_segments: bool,
    pub frame_rate: u32,
    pub min_top_height: u32,
    /// An H.264 publisher at exactly the top rung's size becomes that rung
    /// as it is (no decode and re-encode), cut on keyframes the ladder asks
    /// it for; re-encoded if it cannot keep them.
    #[serde(default = "passthrough_by_default")]
    pub passthrough_top_rung: bool,
    pub audio: AudioConfig,
    pub rungs: Vec<Rung>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AudioConfig {
    pub bitrate: u32,
    pub channels: u32,
    pub rate: u32,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Rung {
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub bitrate_kbps: u32,
    pub max_bitrate_kbps: u32,
    /// H.264 profile: baseline, main or high.
    pub profile: String,
    /// x264 speed preset (ultrafast … veryslow).
    pub preset: String,
}

fn passthrough_by_default() -> bool {
    true
}

const PROFILES: &[&str] = &["baseline", "constrained-baseline", "main", "high"];
const PRESETS: &[&str] = &[
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
];

impl LadderConfig {
    pub fn parse(text: &str) -> Result<Self, HlsError> {
        let config: LadderConfig =
            toml::from_str(text).map_err(|e| HlsError::Config(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Reads `path`, or the shipped default when `path` is `None`.
    pub fn load(path: Option<&Path>) -> Result<Self, HlsError> {
        match path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| HlsError::Config(format!("{}: {e}", p.display())))?;
                Self::parse(&text).map_err(|e| HlsError::Config(format!("{}: {e}", p.display())))
            }
            None => Self::parse(DEFAULT_LADDER),
        }
    }

    fn validate(&self) -> Result<(), HlsError> {
        let bad = |m: String| Err(HlsError::Config(m));
        if !(1..=10).contains(&self.segment_seconds) {
            return bad("segment_seconds must be 1 to 10".into());
        }
        if !(2..=100).contains(&self.live_window) {
            return bad("live_window must be 2 to 100".into());
        }
        if !(1..=60).contains(&self.frame_rate) {
            return bad("frame_rate must be 1 to 60".into());
        }
        if self.rungs.is_empty() {
            return bad("at least one rung is needed".into());
        }
        for r in &self.rungs {
            let name_ok = !r.name.is_empty()
                && r.name.len() <= 32
                && r.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !name_ok {
                return bad(format!(
                    "rung name {:?}: letters, digits, - and _ only",
                    r.name
                ));
            }
            if r.width < 16 || r.height < 16 || r.width % 2 != 0 || r.height % 2 != 0 {
                return bad(format!(
                    "rung {}: width and height must be even and at least 16",
                    r.name
                ));
            }
            if r.bitrate_kbps == 0 || r.max_bitrate_kbps < r.bitrate_kbps {
                return bad(format!(
                    "rung {}: 0 < bitrate_kbps <= max_bitrate_kbps",
                    r.name
                ));
            }
            if !PROFILES.contains(&r.profile.as_str()) {
                return bad(format!(
                    "rung {}: profile must be one of {PROFILES:?}",
                    r.name
                ));
            }
            if !PRESETS.contains(&r.preset.as_str()) {
                return bad(format!(
                    "rung {}: preset must be one of {PRESETS:?}",
                    r.name
                ));
            }
        }
        let mut names: Vec<&str> = self.rungs.iter().map(|r| r.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        if names.len() != self.rungs.len() {
            return bad("rung names must be unique".into());
        }
        Ok(())
    }

    /// The picture of a composed broadcast: the top rung of a source of
    /// unknown size (`min_top_height`), encoded with that rung's settings so
    /// the ladder passes it through. Keyframes come when the ladder asks; the
    /// encoder's own interval (four segments) is only a fallback.
    pub fn canvas(&self) -> Canvas {
        let top = self.select(None).into_iter().next();
        let top = top.unwrap_or_else(|| Rung {
            name: "720p".into(),
            width: 1280,
            height: 720,
            bitrate_kbps: 2800,
            max_bitrate_kbps: 3000,
            profile: "high".into(),
            preset: "veryfast".into(),
        });
        Canvas {
            width: top.width,
            height: top.height,
            fps: self.frame_rate,
            bitrate_kbps: top.bitrate_kbps,
            max_bitrate_kbps: top.max_bitrate_kbps,
            profile: top.profile,
            preset: top.preset,
            keyframe_interval: self.frame_rate * self.segment_seconds * 4,
        }
    }

    /// The rungs to produce for a source `source_height` pixels tall, largest
    /// first: none above the source (or above `min_top_height`, whichever is
    /// larger), and at least the smallest rung.
    pub fn select(&self, source_height: Option<u32>) -> Vec<Rung> {
        let top = source_height.unwrap_or(0).max(self.min_top_height);
        let mut rungs: Vec<Rung> = self
            .rungs
            .iter()
            .filter(|r| r.height <= top)
            .cloned()
            .collect();
        if rungs.is_empty() {
            if let Some(smallest) = self.rungs.iter().min_by_key(|r| r.height) {
                rungs.push(smallest.clone());
            }
        }
        rungs.sort_by_key(|r| std::cmp::Reverse(r.height));
        rungs
    }

    pub fn segment_ns(&self) -> u64 {
        u64::from(self.segment_seconds) * 1_000_000_000
    }
}

/// The RFC 6381 `CODECS` value for H.264 of `profile` and `level` (as
/// GStreamer's caps name them) with AAC-LC audio.
pub fn codecs_attribute(profile: &str, level: &str, with_audio: bool) -> String {
    let (profile_idc, constraints) = match profile {
        "baseline" | "constrained-baseline" => (0x42, 0xe0),
        "main" => (0x4d, 0x40),
        "high" => (0x64, 0x00),
        "high-10" => (0x6e, 0x00),
        _ => (0x64, 0x00),
    };
    let level_idc = match level {
        "1b" => 9,
        other => {
            let mut parts = other.split('.');
            let major: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(4);
            let minor: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
            major * 10 + minor
        }
    };
    let video = format!("avc1.{profile_idc:02x}{constraints:02x}{level_idc:02x}");
    if with_audio {
        format!("{video},mp4a.40.2")
    } else {
        video
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_ladder_is_valid() {
        let c = LadderConfig::parse(DEFAULT_LADDER).expect("default ladder");
        assert_eq!(c.rungs.len(), 4);
        assert_eq!(c.segment_seconds, 2);
        assert_eq!(c.live_window, 6);
    }

    #[test]
    fn no_rung_above_the_source() {
        let c = LadderConfig::parse(DEFAULT_LADDER).expect("default ladder");
        let names = |h| c.select(h).into_iter().map(|r| r.name).collect::<Vec<_>>();
        assert_eq!(names(Some(720)), ["720p", "480p", "360p"]);
        assert_eq!(names(Some(1080)), ["1080p", "720p", "480p", "360p"]);
        // A browser starting at 180p is sized for what it ramps up to.
        assert_eq!(names(Some(180)), ["720p", "480p", "360p"]);
        assert_eq!(names(None), ["720p", "480p", "360p"]);
        let mut small = c.clone();
        small.min_top_height = 0;
        assert_eq!(
            small.select(Some(180)).len(),
            1,
            "at least the smallest rung"
        );
        assert_eq!(small.select(Some(480))[0].name, "480p");
    }

    #[test]
    fn rejects_bad_ladders() {
        let bad = DEFAULT_LADDER.replace("preset = \"veryfast\"", "preset = \"warp\"");
        assert!(LadderConfig::parse(&bad).is_err());
        let bad = DEFAULT_LADDER.replace("name = \"720p\"", "name = \"../x\"");
        assert!(LadderConfig::parse(&bad).is_err());
        let bad = DEFAULT_LADDER.replace("name = \"720p\"", "name = \"1080p\"");
        assert!(LadderConfig::parse(&bad).is_err());
        let bad = DEFAULT_LADDER.replace("segment_seconds = 2", "segment_seconds = 0");
        assert!(LadderConfig::parse(&bad).is_err());
        assert!(LadderConfig::parse("nonsense = [").is_err());
    }

    #[test]
    fn codecs_strings() {
        assert_eq!(
            codecs_attribute("high", "3.1", true),
            "avc1.64001f,mp4a.40.2"
        );
        assert_eq!(codecs_attribute("main", "3", false), "avc1.4d401e");
        assert_eq!(
            codecs_attribute("constrained-baseline", "3.1", false),
            "avc1.42e01f"
        );
        assert_eq!(codecs_attribute("high", "4.1", false), "avc1.640029");
    }
}
