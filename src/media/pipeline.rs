use std::sync::{Arc, Mutex};

use futures::StreamExt;
use gst::prelude::*;

use super::MediaError;

macro_rules! descriptions {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../pipelines/", $name, ".gst")))),*]
    };
}

/// Pipeline descriptions shipped in `pipelines/`, compiled in so the binary is
/// self-contained.
const DESCRIPTIONS: &[(&str, &str)] = descriptions![
    "ingest-h264",
    "ingest-vp8",
    "ingest-opus",
    "test-publisher",
    "ladder-video",
    "ladder-audio",
    "ladder-rung",
    "ladder-passthrough",
    "ladder-rung-audio",
    "compose",
    "compose-video-in",
    "compose-audio-in",
    "compose-placeholder",
    "recording-remux",
    "recording-video",
    "recording-audio",
    "whep-video-h264",
    "whep-video-vp8",
    "whep-audio-opus",
];

/// The text of a pipeline description, with `#` comment lines removed.
pub fn description(name: &str) -> Result<String, MediaError> {
    let text = DESCRIPTIONS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| *t)
        .ok_or_else(|| MediaError::Description {
            name: name.into(),
            message: "no such description".into(),
        })?;
    Ok(text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n"))
}

/// `template` with each `@KEY@` replaced by its value.
pub fn fill(template: &str, values: &[(&str, String)]) -> String {
    values.iter().fold(template.to_owned(), |t, (k, v)| {
        t.replace(&format!("@{k}@"), v)
    })
}

/// A pipeline launched from `text`, named `name` in errors.
pub fn launch(name: &str, text: &str) -> Result<gst::Pipeline, MediaError> {
    gst::parse::launch(text)
        .map_err(|e| MediaError::Description {
            name: name.into(),
            message: e.to_string(),
        })?
        .downcast::<gst::Pipeline>()
        .map_err(|_| MediaError::Gst(format!("{name} is not a pipeline")))
}

/// A bin built from a description, with its unlinked pads ghosted.
pub fn bin_from_file(name: &str) -> Result<gst::Bin, MediaError> {
    gst::parse::bin_from_description(&description(name)?, true).map_err(|e| {
        MediaError::Description {
            name: name.into(),
            message: e.to_string(),
        }
    })
}

/// A pipeline that is set to `Null` when dropped, off the async runtime's
/// worker threads (a state change can block on streaming threads).
///
/// Every state change goes through one lock, so teardown waits for a change
/// in flight (a negotiation's `Playing`) instead of racing it; once torn down
/// the pipeline refuses to start again. Without this, a `Playing` still
/// running when `Null` began left GStreamer disposing a playing element and a
/// streaming thread touching freed memory (issue 13, C1).
#[derive(Debug)]
pub struct OwnedPipeline {
    pipeline: gst::Pipeline,
    lifecycle: Arc<Mutex<Lifecycle>>,
}

#[derive(Debug, Default)]
struct Lifecycle {
    /// Set by the first change to `Null`: nothing may start it again.
    closed: bool,
}

impl OwnedPipeline {
    pub fn new(pipeline: gst::Pipeline) -> Self {
        OwnedPipeline {
            pipeline,
            lifecycle: Arc::default(),
        }
    }

    pub fn pipeline(&self) -> &gst::Pipeline {
        &self.pipeline
    }

    /// Sets the state on a blocking thread, after any change in flight.
    pub async fn set_state(&self, state: gst::State) -> Result<(), MediaError> {
        let pipeline = self.pipeline.clone();
        let lifecycle = self.lifecycle.clone();
        tokio::task::spawn_blocking(move || change_state(&pipeline, &lifecycle, state))
            .await
            .map_err(|e| MediaError::StateChange(e.to_string()))?
    }

    /// Sets `Null` at a resource's end; a failure is logged as `what` for
    /// `resource`, since the teardown goes on regardless.
    pub async fn tear_down(&self, resource: &str, what: &str) {
        if let Err(e) = self.set_state(gst::State::Null).await {
            tracing::warn!(resource, "{what}: {e}");
        }
    }
}

/// The one place a pipeline's state changes.
fn change_state(
    pipeline: &gst::Pipeline,
    lifecycle: &Mutex<Lifecycle>,
    state: gst::State,
) -> Result<(), MediaError> {
    // A panic under this lock leaves only the flag behind; keep going.
    let mut life = lifecycle.lock().unwrap_or_else(|e| e.into_inner());
    if state == gst::State::Null {
        life.closed = true;
    } else if life.closed {
        return Err(MediaError::StateChange("the pipeline was torn down".into()));
    }
    pipeline.set_state(state)?;
    Ok(())
}

impl Drop for OwnedPipeline {
    fn drop(&mut self) {
        // A plain thread, not the runtime's blocking pool: during runtime
        // shutdown a queued blocking task would be dropped unrun, and the
        // pipeline disposed while still playing.
        let pipeline = self.pipeline.clone();
        let lifecycle = self.lifecycle.clone();
        let spawned = std::thread::Builder::new()
            .name("pipeline-teardown".into())
            .spawn(move || {
                let _ = change_state(&pipeline, &lifecycle, gst::State::Null);
            });
        if spawned.is_err() {
            let _ = change_state(&self.pipeline, &self.lifecycle, gst::State::Null);
        }
    }
}

/// What the bus watch reports to its owner.
#[derive(Debug, Clone)]
pub enum BusEvent {
    Error {
        source: String,
        message: String,
        debug: Option<String>,
    },
    Eos,
    /// An element message (e.g. splitmuxsink's fragment-closed), with the name
    /// of the element that posted it.
    Element {
        source: String,
        structure: gst::Structure,
    },
}

/// Reads a pipeline's bus as a stream on tokio and forwards errors, EOS and
/// element messages.
/// Holds only the bus, never the pipeline, so it cannot keep a pipeline alive;
/// it ends when the receiver is dropped or the bus is flushed at teardown.
pub fn spawn_bus_watch(
    pipeline: &gst::Pipeline,
    label: String,
) -> tokio::sync::mpsc::UnboundedReceiver<BusEvent> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let Some(bus) = pipeline.bus() else {
        return rx;
    };
    let mut messages = bus.stream();
    tokio::spawn(async move {
        while let Some(msg) = messages.next().await {
            use gst::MessageView;
            let event = match msg.view() {
                MessageView::Error(err) => BusEvent::Error {
                    source: msg
                        .src()
                        .map(|s| s.path_string().to_string())
                        .unwrap_or_default(),
                    message: err.error().to_string(),
                    debug: err.debug().map(|d| d.to_string()),
                },
                MessageView::Eos(_) => BusEvent::Eos,
                MessageView::Element(e) => match e.structure() {
                    Some(s) => BusEvent::Element {
                        source: msg.src().map(|s| s.name().to_string()).unwrap_or_default(),
                        structure: s.to_owned(),
                    },
                    None => continue,
                },
                MessageView::Warning(w) => {
                    tracing::warn!(pipeline = %label, "{}", w.error());
                    continue;
                }
                _ => continue,
            };
            if tx.send(event).is_err() {
                break;
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_torn_down_pipeline_does_not_start_again() {
        crate::media::init().expect("gstreamer");
        let pipeline = gst::parse::launch("fakesrc ! fakesink")
            .expect("launch")
            .downcast::<gst::Pipeline>()
            .expect("pipeline");
        let owned = OwnedPipeline::new(pipeline.clone());
        owned.set_state(gst::State::Null).await.expect("null");
        assert!(owned.set_state(gst::State::Playing).await.is_err());
        assert_eq!(pipeline.current_state(), gst::State::Null);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn dropping_while_starting_ends_in_null() {
        crate::media::init().expect("gstreamer");
        for _ in 0..20 {
            let pipeline = gst::parse::launch("fakesrc ! fakesink")
                .expect("launch")
                .downcast::<gst::Pipeline>()
                .expect("pipeline");
            let owned = OwnedPipeline::new(pipeline.clone());
            // The start is in flight (or queued) when its waiter and then the
            // owner go away, as when a client hung up mid-negotiation.
            let start = owned.set_state(gst::State::Playing);
            let _ = tokio::time::timeout(std::time::Duration::ZERO, start).await;
            drop(owned);
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while pipeline.current_state() != gst::State::Null {
                assert!(std::time::Instant::now() < deadline, "never reached Null");
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
    }

    #[test]
    fn every_description_parses() {
        crate::media::init().expect("gstreamer");
        // The ladder's parts only parse together; hls::ladder tests them
        // (and compose its own).
        for (name, _) in DESCRIPTIONS
            .iter()
            .filter(|(n, _)| !n.starts_with("ladder") && !n.starts_with("compose"))
        {
            let text = description(name)
                .expect("description")
                .replace("@VIDEO_ENCODER@", "x264enc")
                .replace("@VIDEO_PAY@", "rtph264pay")
                .replace("@WIDTH@", "320")
                .replace("@HEIGHT@", "240")
                .replace("@FPS@", "30")
                .replace("@PATTERN@", "smpte");
            gst::parse::launch(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}
