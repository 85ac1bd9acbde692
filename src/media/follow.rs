//! Following a producer through a `tokio::sync::broadcast` channel. A
//! follower that falls behind loses events (a publish's stop among them), so
//! on a lag it resubscribes and reconciles what it runs against what exists
//! now, instead of trusting the events it still has.

use std::collections::BTreeSet;

use tokio::sync::broadcast;

/// What a follower hears next.
#[derive(Debug)]
pub enum Heard<T> {
    Event(T),
    /// `missed` events were lost; the receiver now starts from the newest.
    /// The follower must reconcile.
    Lagged {
        missed: u64,
    },
}

/// The next event, or a lag (after which `events` is a fresh subscription);
/// `None` once the producer is gone.
pub async fn next<T: Clone>(events: &mut broadcast::Receiver<T>) -> Option<Heard<T>> {
    match events.recv().await {
        Ok(event) => Some(Heard::Event(event)),
        Err(broadcast::error::RecvError::Lagged(missed)) => {
            // The backlog left after a lag is a partial history: drop it and
            // let the reconcile read the current state instead.
            *events = events.resubscribe();
            Some(Heard::Lagged { missed })
        }
        Err(broadcast::error::RecvError::Closed) => None,
    }
}

/// What a follower must start and stop to run exactly what exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconcile<K> {
    /// Exists but is not run.
    pub start: Vec<K>,
    /// Run but no longer exists.
    pub stop: Vec<K>,
}

/// Compares what exists upstream (`current`) with what the follower runs
/// (`running`), both as keys that change when the thing followed changes
/// (e.g. a session and its publish's resource id, so a missed reconnect shows
/// as one stop and one start). Sorted, without repeats.
pub fn reconcile<K: Ord + Clone>(
    current: impl IntoIterator<Item = K>,
    running: impl IntoIterator<Item = K>,
) -> Reconcile<K> {
    let current: BTreeSet<K> = current.into_iter().collect();
    let running: BTreeSet<K> = running.into_iter().collect();
    Reconcile {
        start: current.difference(&running).cloned().collect(),
        stop: running.difference(&current).cloned().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_what_is_missing_and_stops_what_is_gone() {
        let plan = reconcile([("a", 1), ("b", 2)], [("b", 2), ("c", 3)]);
        assert_eq!(plan.start, [("a", 1)]);
        assert_eq!(plan.stop, [("c", 3)]);
    }

    #[test]
    fn a_missed_reconnect_is_a_stop_and_a_start() {
        let plan = reconcile([("s", "new")], [("s", "old")]);
        assert_eq!(plan.start, [("s", "new")]);
        assert_eq!(plan.stop, [("s", "old")]);
    }

    #[test]
    fn nothing_to_do_when_in_step() {
        let plan = reconcile(["a", "b", "b"], ["b", "a"]);
        assert!(plan.start.is_empty() && plan.stop.is_empty());
        let empty: Reconcile<&str> = reconcile([], []);
        assert!(empty.start.is_empty() && empty.stop.is_empty());
    }

    #[tokio::test]
    async fn a_lag_resubscribes_past_the_backlog() {
        let (tx, mut rx) = broadcast::channel(2);
        for i in 0..5 {
            tx.send(i).expect("a receiver");
        }
        assert!(matches!(
            next(&mut rx).await,
            Some(Heard::Lagged { missed: 3 })
        ));
        tx.send(9).expect("a receiver");
        assert!(matches!(next(&mut rx).await, Some(Heard::Event(9))));
        drop(tx);
        assert!(next(&mut rx).await.is_none());
    }
}
