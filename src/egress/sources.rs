//! What a session's viewers can be fed from: the publisher's own media and
//! the ladder's rungs, as levels a viewer's adaptation picks from.

use std::sync::Arc;

use super::adapt;
use crate::hls::RungOutput;
use crate::ids::ResourceId;
use crate::ingest::MediaProducers;
use crate::media::sdp::Codec;
use crate::media::StreamCounters;
use crate::time::now_ms;

/// One quality a viewer's video can come from.
#[derive(Clone)]
pub struct VideoLevel {
    pub name: String,
    pub bitrate_bps: u64,
    pub producer: gst_utils::StreamProducer,
}

impl VideoLevel {
    pub fn level(&self) -> adapt::Level {
        adapt::Level {
            name: self.name.clone(),
            bitrate_bps: self.bitrate_bps,
        }
    }
}

/// A source's bitrate before it was measured (the publisher ramps up).
const SOURCE_BITRATE_GUESS: u64 = 1_500_000;

/// What a session's viewers can be fed from right now.
#[derive(Clone)]
pub struct Sources {
    /// The publish (its WHIP resource) the media comes from.
    pub publish_id: ResourceId,
    pub video: Option<(Codec, gst_utils::StreamProducer)>,
    pub audio: Option<(Codec, gst_utils::StreamProducer)>,
    pub video_counters: Option<Arc<StreamCounters>>,
    pub rungs: Vec<RungOutput>,
}

impl Sources {
    pub(super) fn new(
        publish_id: ResourceId,
        producers: MediaProducers,
        rungs: Vec<RungOutput>,
    ) -> Self {
        Sources {
            publish_id,
            video: producers.video,
            audio: producers.audio,
            video_counters: producers.video_counters,
            rungs,
        }
    }

    /// Video codecs we can send, the publisher's own first.
    pub(super) fn video_codecs(&self) -> Vec<Codec> {
        let mut codecs: Vec<Codec> = self.video.iter().map(|(c, _)| *c).collect();
        if !self.rungs.is_empty() && !codecs.contains(&Codec::H264) {
            codecs.push(Codec::H264);
        }
        codecs
    }

    /// The levels for a viewer receiving `codec`, best first: the source
    /// (when in that codec), then the rungs smaller than the source.
    pub fn video_levels(&self, codec: Option<Codec>) -> Vec<VideoLevel> {
        let Some(codec) = codec else {
            return Vec::new();
        };
        let stats = self
            .video_counters
            .as_ref()
            .map(|c| c.stats(now_ms() as u64));
        let source_height = stats.as_ref().and_then(|s| s.height);
        let mut levels = Vec::new();
        let mut source_present = false;
        if let Some((c, producer)) = &self.video {
            if *c == codec {
                let measured = stats.as_ref().map(|s| s.bitrate_bps).unwrap_or(0);
                levels.push(VideoLevel {
                    name: "source".into(),
                    bitrate_bps: if measured > 0 {
                        measured
                    } else {
                        SOURCE_BITRATE_GUESS
                    },
                    producer: producer.clone(),
                });
                source_present = true;
            }
        }
        if codec == Codec::H264 {
            for r in &self.rungs {
                let not_smaller = source_height.is_none_or(|h| r.height >= h);
                if source_present && not_smaller && !r.keeps_size {
                    continue;
                }
                levels.push(VideoLevel {
                    name: r.name.clone(),
                    bitrate_bps: r.bitrate_bps,
                    producer: r.producer.clone(),
                });
            }
        }
        levels
    }
}
