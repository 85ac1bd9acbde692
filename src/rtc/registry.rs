//! Pending and live resources by session and resource id.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{check_if_match, RtcError};
use crate::ids::{ParticipantId, ResourceId, SessionId};
use crate::media::PublishKind;

/// Negotiations of one kind in flight at once. Each builds a webrtcbin
/// pipeline (a dozen threads); a client that hangs up does not end its
/// negotiation, so without a bound a burst of hang-ups piles them up.
pub const MAX_NEGOTIATING: usize = 16;

/// What a resource takes in its session, known from its reservation on, so
/// that admission rules see negotiating resources too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seat {
    /// A viewer, counted against the session's cap or exempt from it.
    View { capped: bool },
    /// A publish of this kind.
    Publish(PublishKind),
}

/// One resource: pending (negotiating, a seat is held) or live.
pub struct Entry<T> {
    /// The user who created it (the token's `sub`).
    pub owner: ParticipantId,
    pub seat: Seat,
    live: Option<Live<T>>,
    /// Trickled candidates taken so far.
    candidates: usize,
}

struct Live<T> {
    resource: Arc<T>,
    etag: String,
}

impl<T> Entry<T> {
    /// Whether it counts against the session's viewer cap.
    pub fn capped(&self) -> bool {
        self.seat == Seat::View { capped: true }
    }

    pub fn live(&self) -> Option<&Arc<T>> {
        self.live.as_ref().map(|l| &l.resource)
    }

    pub fn is_pending(&self) -> bool {
        self.live.is_none()
    }
}

/// session → resource id → entry.
pub type Sessions<T> = HashMap<SessionId, HashMap<ResourceId, Entry<T>>>;

/// The resources of one kind (publishes or views), shared by clones.
pub struct Registry<T> {
    inner: Arc<Mutex<Sessions<T>>>,
    negotiating: Arc<Semaphore>,
}

impl<T> Clone for Registry<T> {
    fn clone(&self) -> Self {
        Registry {
            inner: self.inner.clone(),
            negotiating: self.negotiating.clone(),
        }
    }
}

impl<T> Default for Registry<T> {
    fn default() -> Self {
        Self::with_max_negotiating(MAX_NEGOTIATING)
    }
}

impl<T> Registry<T> {
    pub fn with_max_negotiating(max: usize) -> Self {
        Registry {
            inner: Arc::new(Mutex::new(HashMap::new())),
            negotiating: Arc::new(Semaphore::new(max)),
        }
    }

    /// The map under its lock. A panic while holding it leaves plain data
    /// behind; keep serving.
    pub fn lock(&self) -> MutexGuard<'_, Sessions<T>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a pending seat for a new resource in `session` if `admit` (which
    /// sees every resource of this kind) allows it, atomically.
    /// At most [`MAX_NEGOTIATING`] reservations are pending at once.
    pub fn reserve<E: From<RtcError>>(
        &self,
        session: &str,
        owner: &str,
        seat: Seat,
        admit: impl FnOnce(&Sessions<T>) -> Result<(), E>,
    ) -> Result<Reservation<T>, E> {
        let resource_id = ResourceId::new(uuid::Uuid::new_v4().simple().to_string());
        let mut all = self.lock();
        admit(&all)?;
        let permit = self
            .negotiating
            .clone()
            .try_acquire_owned()
            .map_err(|_| RtcError::Saturated)?;
        all.entry(session.into()).or_default().insert(
            resource_id.clone(),
            Entry {
                owner: owner.into(),
                seat,
                live: None,
                candidates: 0,
            },
        );
        Ok(Reservation {
            registry: self.clone(),
            session: session.into(),
            resource_id,
            settled: false,
            _permit: permit,
        })
    }

    /// The live resource, if any.
    pub fn get(&self, session: &str, resource_id: &str) -> Option<Arc<T>> {
        self.lock().get(session)?.get(resource_id)?.live().cloned()
    }

    /// Who owns a live resource.
    pub fn owner_of(&self, session: &str, resource_id: &str) -> Option<ParticipantId> {
        let all = self.lock();
        let entry = all.get(session)?.get(resource_id)?;
        entry.live.as_ref().map(|_| entry.owner.clone())
    }

    /// The live resource a trickle PATCH may change: its ETag matches and it
    /// has room for `candidates` more candidates (counted as taken).
    pub fn for_trickle(
        &self,
        session: &str,
        resource_id: &str,
        kind: &'static str,
        if_match: Option<&str>,
        candidates: usize,
        max_candidates: usize,
    ) -> Result<Arc<T>, RtcError> {
        let mut all = self.lock();
        let entry = all
            .get_mut(session)
            .and_then(|s| s.get_mut(resource_id))
            .ok_or(RtcError::NotFound(kind))?;
        let live = entry.live.as_ref().ok_or(RtcError::NotFound(kind))?;
        check_if_match(if_match, &live.etag)?;
        let would = entry.candidates.saturating_add(candidates);
        if would > max_candidates {
            return Err(RtcError::TooManyCandidates {
                max: max_candidates,
                would,
            });
        }
        let resource = live.resource.clone();
        entry.candidates = would;
        Ok(resource)
    }

    /// Removes a live resource (pending ones belong to their reservation).
    pub fn remove_live(&self, session: &str, resource_id: &str) -> Option<Arc<T>> {
        let mut all = self.lock();
        let slots = all.get_mut(session)?;
        slots.get(resource_id)?.live.as_ref()?;
        let entry = slots.remove(resource_id)?;
        if slots.is_empty() {
            all.remove(session);
        }
        entry.live.map(|l| l.resource)
    }

    /// Every live resource's id in `session` for which `pick` holds.
    pub fn live_ids(&self, session: &str, pick: impl Fn(&Entry<T>) -> bool) -> Vec<ResourceId> {
        self.lock()
            .get(session)
            .map(|s| {
                s.iter()
                    .filter(|(_, e)| e.live.is_some() && pick(e))
                    .map(|(id, _)| id.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn sessions(&self) -> Vec<SessionId> {
        self.lock().keys().cloned().collect()
    }

    fn release_pending(&self, session: &str, resource_id: &str) {
        let mut all = self.lock();
        if let Some(slots) = all.get_mut(session) {
            if slots.get(resource_id).is_some_and(Entry::is_pending) {
                slots.remove(resource_id);
            }
            if slots.is_empty() {
                all.remove(session);
            }
        }
    }
}

/// Resources `owner` holds (pending or live) in `session`, or in every session.
pub fn held_by<T>(all: &Sessions<T>, owner: &str, session: Option<&str>) -> usize {
    all.iter()
        .filter(|(s, _)| session.is_none_or(|want| want == s.as_str()))
        .flat_map(|(_, slots)| slots.values())
        .filter(|e| e.owner == owner)
        .count()
}

/// A pending seat: released when dropped unless it became live.
pub struct Reservation<T> {
    registry: Registry<T>,
    session: SessionId,
    resource_id: ResourceId,
    settled: bool,
    /// Held until the negotiation ends (promoted or dropped).
    _permit: OwnedSemaphorePermit,
}

impl<T> Reservation<T> {
    pub fn resource_id(&self) -> &str {
        &self.resource_id
    }

    pub fn session_id(&self) -> &str {
        &self.session
    }

    /// The negotiation succeeded: the seat holds the live resource from now
    /// on. Returns false (and releases nothing live) if the seat is gone.
    pub fn promote(mut self, resource: Arc<T>, etag: String) -> bool {
        let mut all = self.registry.lock();
        let Some(entry) = all
            .get_mut(&self.session)
            .and_then(|s| s.get_mut(&self.resource_id))
        else {
            return false;
        };
        entry.live = Some(Live { resource, etag });
        self.settled = true;
        true
    }
}

impl<T> Drop for Reservation<T> {
    fn drop(&mut self) {
        if !self.settled {
            self.registry
                .release_pending(&self.session, &self.resource_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reserve(r: &Registry<u32>, session: &str, owner: &str) -> Reservation<u32> {
        r.reserve(session, owner, Seat::View { capped: true }, |_| {
            Ok::<(), RtcError>(())
        })
        .expect("reserve")
    }

    #[test]
    fn a_dropped_reservation_frees_its_seat() {
        let r = Registry::<u32>::default();
        let seat = reserve(&r, "s", "u");
        assert_eq!(held_by(&r.lock(), "u", Some("s")), 1);
        drop(seat);
        assert!(r.lock().is_empty());
    }

    #[test]
    fn a_panicking_negotiation_frees_its_seat() {
        let r = Registry::<u32>::default();
        let r2 = r.clone();
        let result = std::panic::catch_unwind(move || {
            let _seat = reserve(&r2, "s", "u");
            panic!("negotiation failed");
        });
        assert!(result.is_err());
        assert!(r.lock().is_empty());
    }

    #[test]
    fn a_promoted_reservation_stays_until_removed() {
        let r = Registry::<u32>::default();
        let seat = reserve(&r, "s", "u");
        let id = seat.resource_id().to_owned();
        assert!(r.get("s", &id).is_none(), "pending is not live");
        assert!(seat.promote(Arc::new(7), "\"e\"".into()));
        assert_eq!(r.get("s", &id).as_deref(), Some(&7));
        assert_eq!(r.owner_of("s", &id).as_deref(), Some("u"));
        assert_eq!(r.remove_live("s", &id).as_deref(), Some(&7));
        assert!(r.lock().is_empty());
    }

    #[test]
    fn admit_sees_every_seat_and_can_refuse() {
        let r = Registry::<u32>::default();
        let _a = reserve(&r, "s", "u");
        let _b = reserve(&r, "t", "u");
        let refused = r.reserve("s", "u", Seat::View { capped: true }, |all| {
            if held_by(all, "u", None) >= 2 {
                Err(RtcError::PerUserLimit { max: 2, what: "x" })
            } else {
                Ok(())
            }
        });
        assert!(matches!(refused.err(), Some(RtcError::PerUserLimit { .. })));
        assert_eq!(held_by(&r.lock(), "u", Some("s")), 1);
    }

    #[test]
    fn negotiations_in_flight_are_bounded() {
        let r = Registry::<u32>::with_max_negotiating(2);
        let a = reserve(&r, "s", "a");
        let b = reserve(&r, "s", "b");
        let refused = r.reserve("s", "c", Seat::View { capped: true }, |_| {
            Ok::<(), RtcError>(())
        });
        assert!(matches!(refused.err(), Some(RtcError::Saturated)));
        assert!(
            a.promote(Arc::new(1), "\"e\"".into()),
            "a live one frees its permit"
        );
        drop(b);
        let _c = reserve(&r, "s", "c");
        let _d = reserve(&r, "s", "d");
    }

    #[test]
    fn trickle_checks_etag_and_counts_candidates() {
        let r = Registry::<u32>::default();
        let seat = reserve(&r, "s", "u");
        let id = seat.resource_id().to_owned();
        assert!(matches!(
            r.for_trickle("s", &id, "WHEP", None, 1, 3),
            Err(RtcError::NotFound("WHEP"))
        ));
        seat.promote(Arc::new(1), "\"e\"".into());
        assert!(matches!(
            r.for_trickle("s", &id, "WHEP", Some("\"x\""), 1, 3),
            Err(RtcError::EtagMismatch)
        ));
        assert!(r.for_trickle("s", &id, "WHEP", Some("\"e\""), 2, 3).is_ok());
        assert!(matches!(
            r.for_trickle("s", &id, "WHEP", None, 2, 3),
            Err(RtcError::TooManyCandidates { max: 3, would: 4 })
        ));
        assert!(r.for_trickle("s", &id, "WHEP", None, 1, 3).is_ok());
    }
}
