//! The in-process fan-out: one broadcast channel per subscribed channel. It
//! is the whole broker for the embedded default, and the local end of the
//! remote backends (which feed it from their subscriber connection).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::broadcast;

use super::LOCAL_BUFFER;

#[derive(Default)]
pub(super) struct Hub {
    topics: Mutex<HashMap<String, Topic>>,
}

struct Topic {
    sender: broadcast::Sender<String>,
    subscribers: usize,
    /// Times the channel's stream may have lost payloads (a subscriber
    /// connection that was down); shared with every subscription.
    gaps: Arc<AtomicU64>,
}

impl Hub {
    fn topics(&self) -> MutexGuard<'_, HashMap<String, Topic>> {
        // Nothing panics while holding the lock; a poisoned map is still sound.
        self.topics.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a subscriber to `channel`: its receiver, and the channel's gap
    /// counter.
    pub(super) fn join(&self, channel: &str) -> (broadcast::Receiver<String>, Arc<AtomicU64>) {
        let mut topics = self.topics();
        let topic = topics.entry(channel.to_owned()).or_insert_with(|| Topic {
            sender: broadcast::channel(LOCAL_BUFFER).0,
            subscribers: 0,
            gaps: Arc::default(),
        });
        topic.subscribers += 1;
        (topic.sender.subscribe(), topic.gaps.clone())
    }

    /// Every channel may have lost payloads (the subscriber connection was
    /// down and is back).
    pub(super) fn mark_gaps(&self) {
        for topic in self.topics().values() {
            topic.gaps.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Removes a subscriber; `true` when it was the channel's last.
    pub(super) fn leave(&self, channel: &str) -> bool {
        let mut topics = self.topics();
        let Some(topic) = topics.get_mut(channel) else {
            return false;
        };
        topic.subscribers -= 1;
        if topic.subscribers == 0 {
            topics.remove(channel);
            true
        } else {
            false
        }
    }

    /// Hands `payload` to the channel's subscribers in this process, if any.
    /// Sending under the lock keeps one order for every receiver.
    pub(super) fn deliver(&self, channel: &str, payload: String) {
        if let Some(topic) = self.topics().get(channel) {
            let _ = topic.sender.send(payload);
        }
    }

    pub(super) fn is_wanted(&self, channel: &str) -> bool {
        self.topics().contains_key(channel)
    }

    pub(super) fn channels(&self) -> Vec<String> {
        self.topics().keys().cloned().collect()
    }

    pub(super) fn len(&self) -> usize {
        self.topics().len()
    }
}

/// The embedded default: publishing is delivering.
#[derive(Clone, Default)]
pub struct LocalBroker {
    hub: Arc<Hub>,
}

impl LocalBroker {
    pub(super) fn new() -> Self {
        Self::default()
    }

    pub(super) fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    pub(super) fn publish(&self, channel: &str, payload: String) {
        self.hub.deliver(channel, payload);
    }
}
