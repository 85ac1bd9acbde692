use std::time::Duration;

use gst::prelude::*;
use gst_webrtc::WebRTCRTPTransceiverDirection;

use crate::media::webrtc::{apply_answer, create_offer};
use crate::media::{
    description, spawn_bus_watch, BusEvent, MediaError, OwnedPipeline, VideoCodecPref,
};

#[derive(Debug, thiserror::Error)]
pub enum WhipClientError {
    #[error(transparent)]
    Media(#[from] MediaError),
    #[error("WHIP request: {0}")]
    Http(#[from] reqwest::Error),
    #[error("WHIP endpoint answered {status}: {body}")]
    Refused { status: u16, body: String },
    #[error("WHIP answer: {0}")]
    Answer(String),
    #[error("publisher pipeline: {0}")]
    Pipeline(String),
}

#[derive(Debug, Clone)]
pub struct WhipClientOptions {
    pub whip_url: String,
    pub token: String,
    pub codec: VideoCodecPref,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
}

/// A live test-pattern publish. Dropping it tears the pipeline down; `stop`
/// also DELETEs the WHIP resource.
pub struct WhipClient {
    pipeline: OwnedPipeline,
    http: reqwest::Client,
    token: String,
    pub location: String,
    pub etag: Option<String>,
    /// How long the WHIP POST took to answer 201.
    pub post_to_answer: Duration,
    bus: tokio::sync::mpsc::UnboundedReceiver<BusEvent>,
}

/// What a test publish shows: videotestsrc's `pattern` (with any of its
/// properties: "smpte", "snow", "solid-color foreground-color=0xffff0000")
/// under a running clock, at `kbps`.
#[derive(Debug, Clone)]
pub struct TestPattern {
    pub pattern: String,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub kbps: u32,
}

fn encoder(codec: VideoCodecPref, fps: u32, kbps: u32) -> (String, &'static str) {
    let gop = fps * 2;
    let bps = u64::from(kbps) * 1000;
    match codec {
        VideoCodecPref::H264 => (
            format!(
                // One slice per picture: rtph264pay's config-interval=-1 puts
                // SPS/PPS before every IDR slice, and a receiver's parser then
                // splits a multi-slice keyframe into two access units.
                "x264enc tune=zerolatency sliced-threads=false speed-preset=ultrafast bitrate={kbps} \
                 key-int-max={gop} ! video/x-h264,profile=constrained-baseline"
            ),
            "rtph264pay pt=96 mtu=1200 config-interval=-1 aggregate-mode=zero-latency \
             ! application/x-rtp,media=video,encoding-name=H264,payload=96,clock-rate=90000,\
             packetization-mode=(string)1",
        ),
        VideoCodecPref::Vp8 => (
            format!(
                "vp8enc deadline=1 cpu-used=8 target-bitrate={bps} keyframe-max-dist={gop} \
                 error-resilient=partitions"
            ),
            "rtpvp8pay pt=97 mtu=1200 picture-id-mode=15-bit \
             ! application/x-rtp,media=video,encoding-name=VP8,payload=97,clock-rate=90000",
        ),
    }
}

impl WhipClient {
    pub async fn publish(opts: &WhipClientOptions) -> Result<Self, WhipClientError> {
        let pattern = TestPattern {
            pattern: "smpte".into(),
            width: opts.width,
            height: opts.height,
            fps: opts.fps,
            kbps: 2000,
        };
        Self::publish_pattern(&opts.whip_url, &opts.token, opts.codec, &pattern).await
    }

    /// Publishes `pattern` (pipelines/test-publisher.gst) in `codec`.
    pub async fn publish_pattern(
        whip_url: &str,
        token: &str,
        codec: VideoCodecPref,
        pattern: &TestPattern,
    ) -> Result<Self, WhipClientError> {
        crate::media::init()?;
        let (enc, pay) = encoder(codec, pattern.fps, pattern.kbps);
        let text = crate::media::fill(
            &description("test-publisher")?,
            &[
                ("VIDEO_ENCODER", enc),
                ("VIDEO_PAY", pay.into()),
                ("PATTERN", pattern.pattern.clone()),
                ("WIDTH", pattern.width.to_string()),
                ("HEIGHT", pattern.height.to_string()),
                ("FPS", pattern.fps.to_string()),
            ],
        );
        let pipeline = crate::media::launch("test-publisher", &text)?;
        Self::publish_pipeline(pipeline, whip_url, token).await
    }

    /// Publishes what `pipeline` sends into its webrtcbin named `webrtc` (a
    /// benchmark's own sources, say): offer, WHIP POST, answer.
    pub async fn publish_pipeline(
        pipeline: gst::Pipeline,
        whip_url: &str,
        token: &str,
    ) -> Result<Self, WhipClientError> {
        let webrtcbin = pipeline
            .by_name("webrtc")
            .ok_or_else(|| MediaError::Gst("publisher: no webrtcbin named webrtc".into()))?;
        // Request pads made transceivers for each stream; we only send.
        for pad in webrtcbin.sink_pads() {
            if pad.has_property("transceiver", None) {
                let t = pad.property::<gst_webrtc::WebRTCRTPTransceiver>("transceiver");
                t.set_property("direction", WebRTCRTPTransceiverDirection::Sendonly);
            }
        }
        let bus = spawn_bus_watch(&pipeline, "whip-client".into());
        let owned = OwnedPipeline::new(pipeline);
        owned.set_state(gst::State::Playing).await?;

        let offer_sdp = create_offer(&webrtcbin, Duration::from_secs(5)).await?;

        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()?;
        let posted = std::time::Instant::now();
        let response = http
            .post(whip_url)
            .bearer_auth(token)
            .header("content-type", "application/sdp")
            .body(offer_sdp)
            .send()
            .await?;
        let status = response.status();
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let etag = response
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.text().await?;
        let post_to_answer = posted.elapsed();
        if status != reqwest::StatusCode::CREATED {
            return Err(WhipClientError::Refused {
                status: status.as_u16(),
                body,
            });
        }
        let location = location.ok_or_else(|| WhipClientError::Answer("no Location".into()))?;
        let location = reqwest::Url::parse(whip_url)
            .and_then(|base| base.join(&location))
            .map_err(|e| WhipClientError::Answer(format!("Location: {e}")))?
            .to_string();
        apply_answer(&webrtcbin, &body).await?;
        Ok(WhipClient {
            pipeline: owned,
            http,
            token: token.to_owned(),
            location,
            etag,
            post_to_answer,
            bus,
        })
    }

    /// Resolves when the pipeline fails or ends.
    pub async fn wait_failed(&mut self) -> WhipClientError {
        loop {
            return match self.bus.recv().await {
                Some(BusEvent::Error {
                    source, message, ..
                }) => WhipClientError::Pipeline(format!("{source}: {message}")),
                Some(BusEvent::Eos) => WhipClientError::Pipeline("end of stream".into()),
                Some(BusEvent::Element { .. }) => continue,
                None => WhipClientError::Pipeline("bus closed".into()),
            };
        }
    }

    /// DELETEs the resource and tears the pipeline down.
    pub async fn stop(self) -> Result<(), WhipClientError> {
        let result = self
            .http
            .delete(&self.location)
            .bearer_auth(&self.token)
            .send()
            .await;
        self.pipeline.set_state(gst::State::Null).await?;
        let response = result?;
        if !response.status().is_success() {
            return Err(WhipClientError::Refused {
                status: response.status().as_u16(),
                body: response.text().await.unwrap_or_default(),
            });
        }
        Ok(())
    }
}
