//! Keys being worked on, each by one task at a time (a recording being
//! finalized, an object being uploaded). A claim ends when its guard drops,
//! on every path out of the task, panics included.

use std::collections::HashSet;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

pub struct InFlight<K>(Arc<Mutex<HashSet<K>>>);

impl<K: Eq + Hash + Clone> Default for InFlight<K> {
    fn default() -> Self {
        InFlight(Arc::new(Mutex::new(HashSet::new())))
    }
}

impl<K: Eq + Hash + Clone> InFlight<K> {
    /// `None` when `key` is already claimed (or the set's lock is poisoned:
    /// doing nothing is then the safe answer).
    pub fn claim(&self, key: K) -> Option<Claim<K>> {
        let fresh = self
            .0
            .lock()
            .map(|mut keys| keys.insert(key.clone()))
            .unwrap_or(false);
        fresh.then(|| Claim {
            keys: self.0.clone(),
            key,
        })
    }

    pub fn len(&self) -> usize {
        self.0.lock().map(|keys| keys.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One claimed key; dropping it releases the key.
pub struct Claim<K: Eq + Hash> {
    keys: Arc<Mutex<HashSet<K>>>,
    key: K,
}

impl<K: Eq + Hash> Drop for Claim<K> {
    fn drop(&mut self) {
        if let Ok(mut keys) = self.keys.lock() {
            keys.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_claimed_once_until_its_claim_drops() {
        let set = InFlight::default();
        let first = set.claim("a");
        assert!(first.is_some());
        assert!(set.claim("a").is_none());
        assert!(set.claim("b").is_some(), "another key is free");
        assert_eq!(set.len(), 1, "b's claim dropped at once");
        drop(first);
        assert!(set.is_empty());
        assert!(set.claim("a").is_some());
    }
}
