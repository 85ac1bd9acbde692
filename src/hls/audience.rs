//! The HLS tier's head count: distinct viewers who fetched a playlist from
//! this server lately. Viewers served by a CDN are not seen here.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::ids::SessionId;

/// A viewer who fetched nothing for this long has left.
const WINDOW: Duration = Duration::from_secs(30);

#[derive(Clone, Default)]
pub struct Audience {
    /// session → viewer → last playlist fetch
    seen: Arc<Mutex<HashMap<SessionId, HashMap<String, Instant>>>>,
}

impl Audience {
    pub fn record(&self, session_id: &str, viewer: &str) {
        if let Ok(mut seen) = self.seen.lock() {
            let now = Instant::now();
            let session = seen.entry(session_id.into()).or_default();
            // Forget the departed while here: the map stays as small as the audience.
            session.retain(|_, at| now.duration_since(*at) < WINDOW);
            session.insert(viewer.to_owned(), now);
        }
    }

    pub fn count(&self, session_id: &str) -> usize {
        let Ok(seen) = self.seen.lock() else {
            return 0;
        };
        seen.get(session_id)
            .map_or(0, |s| s.values().filter(|at| at.elapsed() < WINDOW).count())
    }

    /// Every session's count (metrics).
    pub fn counts(&self) -> Vec<(SessionId, usize)> {
        let sessions: Vec<SessionId> = match self.seen.lock() {
            Ok(seen) => seen.keys().cloned().collect(),
            Err(_) => return Vec::new(),
        };
        sessions
            .into_iter()
            .map(|s| {
                let n = self.count(&s);
                (s, n)
            })
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_viewers_are_counted_per_session() {
        let a = Audience::default();
        a.record("s1", "u1");
        a.record("s1", "u1");
        a.record("s1", "u2");
        a.record("s2", "u1");
        assert_eq!(a.count("s1"), 2);
        assert_eq!(a.count("s2"), 1);
        assert_eq!(a.count("s3"), 0);
        assert_eq!(a.counts().len(), 2);
    }
}
