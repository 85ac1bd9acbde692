//! Playlist bookkeeping for one rung, as plain data: segments in, m3u8 out.
//! `index.m3u8` is the live sliding window (a complete VOD once the publish
//! ends); `all.m3u8` lists every kept segment (EVENT while live) and is what a
//! restarted server reads back to continue.

use std::collections::VecDeque;

use m3u8_rs::{
    MasterPlaylist, MediaPlaylist, MediaPlaylistType, MediaSegment, Resolution, VariantStream,
};

use super::HlsError;

#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// The file's index; also its media sequence number, the same in every rung.
    pub index: u64,
    pub uri: String,
    pub duration: f64,
    /// The first segment after a publisher reconnected.
    pub discontinuity: bool,
}

#[derive(Debug, Clone)]
pub struct RungPlaylist {
    window: usize,
    keep: bool,
    target_duration: u64,
    segments: VecDeque<Segment>,
    /// Discontinuities of segments already deleted (`keep = false`).
    dropped_discontinuities: u64,
    next_discontinuity: bool,
    ended: bool,
}

/// `seg_00042.ts` → 42
pub fn segment_index(uri: &str) -> Option<u64> {
    uri.rsplit('/')
        .next()?
        .strip_prefix("seg_")?
        .strip_suffix(".ts")?
        .parse()
        .ok()
}

pub fn segment_uri(index: u64) -> String {
    format!("seg_{index:05}.ts")
}

impl RungPlaylist {
    pub fn new(window: usize, keep: bool, segment_seconds: u32) -> Self {
        RungPlaylist {
            window,
            keep,
            target_duration: u64::from(segment_seconds),
            segments: VecDeque::new(),
            dropped_discontinuities: 0,
            next_discontinuity: false,
            ended: false,
        }
    }

    /// Continues from an `all.m3u8` written earlier (a reconnect or a restart):
    /// the next segment is marked as a discontinuity.
    pub fn recover(
        text: &[u8],
        window: usize,
        keep: bool,
        segment_seconds: u32,
    ) -> Result<Self, HlsError> {
        let parsed = m3u8_rs::parse_media_playlist_res(text)
            .map_err(|e| HlsError::Playlist(format!("cannot read playlist: {e:?}")))?;
        let mut p = Self::new(window, keep, segment_seconds);
        p.target_duration = p.target_duration.max(parsed.target_duration);
        for s in parsed.segments {
            let index = segment_index(&s.uri).ok_or_else(|| {
                HlsError::Playlist(format!("unexpected segment name {:?}", s.uri))
            })?;
            p.segments.push_back(Segment {
                index,
                uri: s.uri,
                duration: f64::from(s.duration),
                discontinuity: s.discontinuity,
            });
        }
        p.dropped_discontinuities = parsed.discontinuity_sequence;
        p.next_discontinuity = !p.segments.is_empty();
        Ok(p)
    }

    pub fn next_index(&self) -> u64 {
        self.segments.back().map(|s| s.index + 1).unwrap_or(0)
    }

    pub fn segments(&self) -> impl Iterator<Item = &Segment> {
        self.segments.iter()
    }

    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// Adds a closed segment. Returns the URIs of segments to delete from disk.
    pub fn push(&mut self, index: u64, duration: f64) -> Vec<String> {
        self.ended = false;
        // EXT-X-TARGETDURATION must never change during a playlist's life.
        self.target_duration = self.target_duration.max(duration.round().max(1.0) as u64);
        self.segments.push_back(Segment {
            index,
            uri: segment_uri(index),
            duration,
            discontinuity: std::mem::take(&mut self.next_discontinuity),
        });
        let mut deleted = Vec::new();
        if !self.keep {
            while self.segments.len() > self.window {
                if let Some(old) = self.segments.pop_front() {
                    self.dropped_discontinuities += u64::from(old.discontinuity);
                    deleted.push(old.uri);
                }
            }
        }
        deleted
    }

    /// Another pipeline continues these segments (its timestamps start
    /// again): the next segment is marked as a discontinuity.
    pub fn continue_elsewhere(&mut self) {
        self.next_discontinuity = !self.segments.is_empty();
    }

    /// The publish ended: playlists become final.
    pub fn end(&mut self) {
        self.ended = true;
        self.next_discontinuity = true;
    }

    fn playlist(&self, from: usize, playlist_type: Option<MediaPlaylistType>) -> MediaPlaylist {
        let listed: Vec<&Segment> = self.segments.iter().skip(from).collect();
        let discontinuity_sequence = self.dropped_discontinuities
            + self
                .segments
                .iter()
                .take(from)
                .filter(|s| s.discontinuity)
                .count() as u64;
        MediaPlaylist {
            version: Some(3),
            target_duration: self.target_duration,
            media_sequence: listed
                .first()
                .map(|s| s.index)
                .unwrap_or_else(|| self.next_index()),
            discontinuity_sequence,
            end_list: self.ended,
            playlist_type,
            independent_segments: true,
            segments: listed
                .into_iter()
                .map(|s| MediaSegment {
                    uri: s.uri.clone(),
                    duration: s.duration as f32,
                    discontinuity: s.discontinuity,
                    ..MediaSegment::default()
                })
                .collect(),
            ..MediaPlaylist::default()
        }
    }

    /// `index.m3u8`: the last `window` segments while live; all of them, final,
    /// once ended.
    pub fn live(&self) -> MediaPlaylist {
        if self.ended {
            let kind = self.keep.then_some(MediaPlaylistType::Vod);
            return self.playlist(0, kind);
        }
        let from = self.segments.len().saturating_sub(self.window);
        self.playlist(from, None)
    }

    /// `all.m3u8`: every kept segment.
    pub fn all(&self) -> MediaPlaylist {
        let kind = if self.ended && self.keep {
            MediaPlaylistType::Vod
        } else {
            MediaPlaylistType::Event
        };
        self.playlist(0, Some(kind))
    }
}

/// One variant of the master playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    pub name: String,
    pub width: u32,
    pub height: u32,
    /// Peak bits per second, audio included.
    pub bandwidth: u64,
    pub average_bandwidth: u64,
    pub frame_rate: f64,
    pub codecs: String,
}

pub fn master(variants: &[Variant]) -> MasterPlaylist {
    MasterPlaylist {
        version: Some(3),
        independent_segments: true,
        variants: variants
            .iter()
            .map(|v| VariantStream {
                uri: format!("{}/index.m3u8", v.name),
                bandwidth: v.bandwidth,
                average_bandwidth: Some(v.average_bandwidth),
                codecs: Some(v.codecs.clone()),
                resolution: Some(Resolution {
                    width: u64::from(v.width),
                    height: u64::from(v.height),
                }),
                frame_rate: Some(v.frame_rate),
                ..VariantStream::default()
            })
            .collect(),
        ..MasterPlaylist::default()
    }
}

pub fn render_media(p: &MediaPlaylist) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = p.write_to(&mut out);
    out
}

pub fn render_master(p: &MasterPlaylist) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = p.write_to(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(p: &MediaPlaylist) -> String {
        String::from_utf8(render_media(p)).expect("utf8")
    }

    #[test]
    fn live_window_slides_and_vod_keeps_everything() {
        let mut p = RungPlaylist::new(3, true, 2);
        for i in 0..5 {
            assert!(p.push(i, 2.0).is_empty(), "keep: nothing deleted");
        }
        let live = p.live();
        assert_eq!(live.media_sequence, 2);
        assert_eq!(live.segments.len(), 3);
        assert!(!live.end_list);
        assert_eq!(live.segments[0].uri, "seg_00002.ts");
        p.end();
        let vod = p.live();
        assert_eq!(vod.segments.len(), 5);
        assert_eq!(vod.media_sequence, 0);
        assert!(vod.end_list);
        assert_eq!(vod.playlist_type, Some(MediaPlaylistType::Vod));
        let t = text(&vod);
        assert!(
            t.contains("#EXT-X-PLAYLIST-TYPE:VOD") && t.contains("#EXT-X-ENDLIST"),
            "{t}"
        );
        assert!(t.contains("#EXT-X-TARGETDURATION:2"), "{t}");
    }

    #[test]
    fn target_duration_only_grows() {
        let mut p = RungPlaylist::new(2, true, 2);
        p.push(0, 2.6);
        p.push(1, 2.0);
        p.push(2, 2.0);
        p.push(3, 2.0);
        assert_eq!(
            p.live().target_duration,
            3,
            "a longer segment left the window"
        );
    }

    #[test]
    fn deleting_mode_drops_old_segments() {
        let mut p = RungPlaylist::new(2, false, 2);
        assert!(p.push(0, 2.0).is_empty());
        assert!(p.push(1, 2.0).is_empty());
        assert_eq!(p.push(2, 2.0), vec!["seg_00000.ts".to_owned()]);
        p.end();
        let vod = p.live();
        assert_eq!(vod.segments.len(), 2);
        assert_eq!(vod.playlist_type, None, "not a complete VOD");
        assert!(vod.end_list);
    }

    #[test]
    fn reconnect_continues_with_a_discontinuity() {
        let mut p = RungPlaylist::new(6, true, 2);
        p.push(0, 2.0);
        p.push(1, 1.5);
        p.end();
        let saved = render_media(&p.all());
        let mut q = RungPlaylist::recover(&saved, 6, true, 2).expect("recover");
        assert_eq!(q.next_index(), 2);
        q.push(2, 2.0);
        let live = q.live();
        assert!(!live.end_list);
        assert_eq!(live.segments.len(), 3);
        assert!(live.segments[2].discontinuity);
        assert!(text(&live).contains("#EXT-X-DISCONTINUITY"));
        // The discontinuity sequence counts flags that left the window.
        let mut r = RungPlaylist::new(1, true, 2);
        r.push(0, 2.0);
        r.end();
        r.push(1, 2.0);
        r.push(2, 2.0);
        assert_eq!(r.live().discontinuity_sequence, 1);
        assert!(RungPlaylist::recover(b"garbage", 6, true, 2).is_err());
    }

    #[test]
    fn master_lists_every_rung() {
        let m = master(&[Variant {
            name: "720p".into(),
            width: 1280,
            height: 720,
            bandwidth: 3_128_000,
            average_bandwidth: 2_928_000,
            frame_rate: 30.0,
            codecs: "avc1.64001f,mp4a.40.2".into(),
        }]);
        let t = String::from_utf8(render_master(&m)).expect("utf8");
        assert!(t.contains("BANDWIDTH=3128000"), "{t}");
        assert!(t.contains("AVERAGE-BANDWIDTH=2928000"), "{t}");
        assert!(t.contains("RESOLUTION=1280x720"), "{t}");
        assert!(t.contains("CODECS=\"avc1.64001f,mp4a.40.2\""), "{t}");
        assert!(t.contains("FRAME-RATE=30"), "{t}");
        assert!(t.contains("720p/index.m3u8"), "{t}");
        assert_eq!(segment_index("720p/seg_00042.ts"), Some(42));
        assert_eq!(segment_index("x.ts"), None);
    }
}
