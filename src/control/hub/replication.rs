//! Keeps this process's copy of a room in step with the other processes'.
//! A pure state machine, like the room: envelopes from the session's channel,
//! broker gaps and the clock go in; actions come out (deliver to the local
//! sockets, run effects, publish an envelope). No sockets, no broker, no
//! storage inside: the room task (`super`) carries the actions out.
//!
//! - **Joining**: a process that starts the room publishes a sync request
//!   and holds what follows it until a copy arrives in pieces from another
//!   process; if nobody answers in time, the room comes from storage
//!   ([`Replica::restored`]).
//! - **Live**: every input from the channel (this process's own included)
//!   is applied in the channel's order; sync requests from others are
//!   answered with a copy.
//! - **Resync**: when the broker lost payloads for this process (an outage,
//!   or its subscription fell behind and its broadcast receiver lagged), the
//!   room task reports the grown gap count ([`Replica::gaps`]); the machine
//!   asks for a fresh copy and, once it is in, replaces its own with it.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use super::super::protocol::{Layout, Publish, ServerMessage};
use super::super::room::{Effect, Input, Output, Room, Target};
use super::envelope::{snapshot_parts, Enforcement, Envelope, Pieces};

/// How long a room waits for another process's copy.
pub(super) const SYNC_WAIT: Duration = Duration::from_millis(700);
/// Client messages remembered to recognise one the broker carries twice.
const RECENT_MESSAGES: usize = 1024;
/// A process tells its publishes again every this many ticks (seconds), so
/// a process that started or resynced since hears them; a process not heard
/// for `PUBLISHES_EXPIRE_TICKS` is gone, and its publishes with it.
const PUBLISHES_BEAT_TICKS: u64 = 5;
const PUBLISHES_EXPIRE_TICKS: u64 = 16;

/// What the room task does for the machine.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Action {
    /// Publish on the session's channel.
    Publish(Box<Envelope>),
    /// Hand to the local sockets the outputs address.
    Deliver(Vec<Output>),
    /// Run effects (this process's inputs', and every tick's).
    RunEffects(Vec<Effect>),
    /// Act on this process's media of the participant.
    Enforce {
        participant_id: String,
        action: Enforcement,
    },
    /// The participant was handed a publish token (their viewer is promoted).
    Promote { participant_id: String },
    /// The composition of this process's media follows the layout.
    Layout { layout: Layout },
    /// The copy was replaced after a gap: the local members may have missed
    /// messages and get the room again ([`Replica::welcome_again`]).
    Resynced,
}

pub(super) struct Replica {
    /// This process on the channel.
    node: String,
    session_id: String,
    phase: Phase,
    /// The broker gap count last acted on.
    gaps_seen: u64,
    /// Some process holds a live publish (from `Envelope::Live`).
    cluster_live: bool,
    /// What this process last said about its own publish.
    announced_live: Option<bool>,
    recent: RecentIds,
    /// Ticks seen (the clock of the publishes below).
    ticks: u64,
    /// This process's publishes of the session, and when it last told them.
    local_publishes: Vec<Publish>,
    told_publishes: Option<(Vec<Publish>, u64)>,
    /// The other processes' publishes, and the tick they were heard at.
    remote_publishes: std::collections::BTreeMap<String, (Vec<Publish>, u64)>,
}

/// The ids of the latest client messages applied: a publish retried across
/// a broker reconnection may arrive twice, and is applied once.
#[derive(Default)]
struct RecentIds {
    order: VecDeque<String>,
    seen: HashSet<String>,
}

impl RecentIds {
    /// `false` when `id` was seen already.
    fn first_time(&mut self, id: &str) -> bool {
        if self.seen.contains(id) {
            return false;
        }
        if self.order.len() >= RECENT_MESSAGES {
            if let Some(oldest) = self.order.pop_front() {
                self.seen.remove(&oldest);
            }
        }
        self.order.push_back(id.to_owned());
        self.seen.insert(id.to_owned());
        true
    }
}

enum Phase {
    Joining(Request<Envelope>),
    Live {
        room: Box<Room>,
        resync: Option<Request<Input>>,
    },
}

/// A copy asked for with `nonce`. What comes after the request on the
/// channel is kept: the copy holds everything before it.
struct Request<T> {
    nonce: String,
    pieces: Pieces,
    /// Our request came back: what follows is not in the copy.
    after_request: bool,
    held: Vec<T>,
    deadline: Instant,
}

impl<T> Request<T> {
    fn new(nonce: String, now: Instant) -> Self {
        Request {
            nonce,
            pieces: Pieces::default(),
            after_request: false,
            held: Vec::new(),
            deadline: now + SYNC_WAIT,
        }
    }

    /// Takes in our request's echo or a piece of the answer; the copy once
    /// every piece is in. Other envelopes: `Err` (the caller may hold them).
    fn answer(&mut self, session_id: &str, envelope: &Envelope) -> Result<Option<Room>, ()> {
        match envelope {
            Envelope::SyncRequest { nonce, .. } if *nonce == self.nonce => {
                self.after_request = true;
                Ok(None)
            }
            Envelope::SnapshotPart {
                nonce,
                index,
                total,
                data,
            } if *nonce == self.nonce => {
                let text = self.pieces.add(*index, *total, data.clone());
                Ok(text
                    .and_then(|t| serde_json::from_str(&t).ok())
                    .and_then(|copy| Room::import(session_id, &copy)))
            }
            _ => Err(()),
        }
    }

    fn request(&self, node: &str) -> Action {
        Action::Publish(Box::new(Envelope::SyncRequest {
            origin: node.to_owned(),
            nonce: self.nonce.clone(),
        }))
    }
}

impl Replica {
    /// A new copy of the session's room: it asks the other processes for
    /// theirs (`nonce`: unique to this request). `gaps`: the subscription's
    /// gap count when it started (see [`Replica::gaps`]).
    pub(super) fn join(
        node: &str,
        session_id: &str,
        gaps: u64,
        nonce: String,
        now: Instant,
    ) -> (Self, Vec<Action>) {
        let request = Request::new(nonce, now);
        let ask = request.request(node);
        let replica = Replica {
            node: node.to_owned(),
            session_id: session_id.to_owned(),
            phase: Phase::Joining(request),
            gaps_seen: gaps,
            cluster_live: false,
            announced_live: None,
            recent: RecentIds::default(),
            ticks: 0,
            local_publishes: Vec::new(),
            told_publishes: None,
            remote_publishes: std::collections::BTreeMap::new(),
        };
        (replica, vec![ask])
    }

    /// While joining: when to stop waiting for a copy and restore the room
    /// from storage instead.
    pub(super) fn joining_until(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Joining(request) => Some(request.deadline),
            Phase::Live { .. } => None,
        }
    }

    pub(super) fn room(&self) -> Option<&Room> {
        match &self.phase {
            Phase::Joining(_) => None,
            Phase::Live { room, .. } => Some(room.as_ref()),
        }
    }

    /// Nobody answered in time: `room` (from storage) is the copy.
    pub(super) fn restored(&mut self, room: Room) -> Vec<Action> {
        let Phase::Joining(request) = &mut self.phase else {
            return Vec::new();
        };
        let held = std::mem::take(&mut request.held);
        self.go_live(room, held)
    }

    /// Starts from `room` and applies what was held while joining.
    fn go_live(&mut self, room: Room, held: Vec<Envelope>) -> Vec<Action> {
        self.phase = Phase::Live {
            room: Box::new(room),
            resync: None,
        };
        let mut actions = Vec::new();
        for envelope in held {
            actions.extend(self.envelope(envelope));
        }
        actions
    }

    /// One envelope from the channel, in the channel's order.
    pub(super) fn envelope(&mut self, envelope: Envelope) -> Vec<Action> {
        if let Envelope::Publishes { origin, publishes } = envelope {
            if origin == self.node {
                return Vec::new();
            }
            self.remote_publishes
                .insert(origin, (publishes, self.ticks));
            return self.room_publishes();
        }
        let (room, resync) = match &mut self.phase {
            Phase::Joining(request) => {
                return match request.answer(&self.session_id, &envelope) {
                    Ok(Some(room)) => {
                        let held = std::mem::take(&mut request.held);
                        self.go_live(room, held)
                    }
                    Ok(None) => Vec::new(),
                    Err(()) if request.after_request => {
                        request.held.push(envelope);
                        Vec::new()
                    }
                    Err(()) => Vec::new(),
                };
            }
            Phase::Live { room, resync } => (room, resync),
        };
        if let Envelope::Input {
            input: Input::Message { id, .. },
            ..
        } = &envelope
        {
            if !self.recent.first_time(id) {
                return Vec::new();
            }
        }
        let mut actions = Vec::new();
        if let Some(request) = resync {
            match request.answer(&self.session_id, &envelope) {
                Ok(Some(mut copy)) => {
                    // The inputs since our request: the sockets saw them
                    // applied to the old copy; the new one takes them silently.
                    for input in request.held.drain(..) {
                        let _ = copy.apply(input);
                    }
                    tracing::info!(session = %self.session_id, "room copy resynchronised after a broker gap");
                    **room = copy;
                    *resync = None;
                    actions.push(Action::Resynced);
                }
                Ok(None) => {}
                Err(()) => {
                    if let Envelope::Input { input, .. } = &envelope {
                        if request.after_request {
                            request.held.push(input.clone());
                        }
                    }
                }
            }
        }
        match envelope {
            Envelope::Input { origin, input } => {
                let (outputs, effects) = room.apply(input);
                actions.push(Action::Deliver(outputs));
                // Effects run in the process the input came from.
                if origin == self.node {
                    actions.push(Action::RunEffects(effects));
                }
            }
            Envelope::SyncRequest { origin, nonce } if origin != self.node => {
                let parts = snapshot_parts(&room.export(), &nonce);
                actions.extend(parts.into_iter().map(|p| Action::Publish(Box::new(p))));
            }
            Envelope::Enforce {
                participant_id,
                action,
            } => actions.push(Action::Enforce {
                participant_id,
                action,
            }),
            Envelope::Live { live } => self.cluster_live = live,
            Envelope::Layout { layout } => actions.push(Action::Layout { layout }),
            Envelope::Direct {
                participant_id,
                message,
            } => {
                if let ServerMessage::CalledOn {
                    publish_token: Some(_),
                    ..
                } = &message
                {
                    actions.push(Action::Promote {
                        participant_id: participant_id.clone(),
                    });
                }
                actions.push(Action::Deliver(vec![Output::Send {
                    to: Target::Participant(participant_id),
                    msg: message,
                }]));
            }
            _ => {}
        }
        actions
    }

    /// The broker's gap count for this subscription (it grows when payloads
    /// were lost: an outage, or a lagged receiver). When it grew, the copy
    /// may be missing inputs: ask the other processes for theirs (`nonce`:
    /// unique to this request). A gap while joining is acted on once live:
    /// what was held may be missing inputs.
    pub(super) fn gaps(&mut self, count: u64, nonce: String, now: Instant) -> Vec<Action> {
        let Phase::Live { resync, .. } = &mut self.phase else {
            return Vec::new();
        };
        if count == self.gaps_seen {
            return Vec::new();
        }
        self.gaps_seen = count;
        tracing::warn!(session = %self.session_id, "broker gap: asking the other processes for the room");
        let request = Request::new(nonce, now);
        let ask = request.request(&self.node);
        *resync = Some(request);
        vec![ask]
    }

    /// Time passes: a resync nobody answered is given up (this copy is the
    /// only one), the process holding the publish tells the others, and the
    /// room's timers run. `publishing`: this process holds the session's
    /// publish.
    pub(super) fn tick(&mut self, now: Instant, at_ms: i64, publishing: bool) -> Vec<Action> {
        let Phase::Live { room, resync } = &mut self.phase else {
            return Vec::new();
        };
        if resync.as_ref().is_some_and(|r| now > r.deadline) {
            *resync = None;
        }
        let mut actions = Vec::new();
        // So that every copy of the room knows the class is live.
        if self.announced_live != Some(publishing) {
            self.announced_live = Some(publishing);
            if publishing || self.cluster_live {
                actions.push(Action::Publish(Box::new(Envelope::Live {
                    live: publishing,
                })));
            }
        }
        let live = publishing || self.cluster_live;
        let (outputs, effects) = room.apply(Input::Tick { at_ms, live });
        actions.push(Action::Deliver(outputs));
        // Every process runs a tick's effects: they are idempotent.
        actions.push(Action::RunEffects(effects));
        actions
    }

    /// A second passes with `local` the publishes this process holds: told
    /// to the other processes when they changed and every few ticks; the
    /// room hears everyone's.
    pub(super) fn publishes(&mut self, local: Vec<Publish>) -> Vec<Action> {
        self.ticks += 1;
        let ticks = self.ticks;
        let mut actions = Vec::new();
        let due = match &self.told_publishes {
            None => !local.is_empty(),
            Some((told, at)) => {
                *told != local || (!local.is_empty() && ticks - at >= PUBLISHES_BEAT_TICKS)
            }
        };
        if due {
            actions.push(Action::Publish(Box::new(Envelope::Publishes {
                origin: self.node.clone(),
                publishes: local.clone(),
            })));
            self.told_publishes = Some((local.clone(), ticks));
        }
        self.local_publishes = local;
        self.remote_publishes
            .retain(|_, (_, heard)| ticks.saturating_sub(*heard) <= PUBLISHES_EXPIRE_TICKS);
        actions.extend(self.room_publishes());
        actions
    }

    /// Every process's publishes to the room, oldest first.
    fn room_publishes(&mut self) -> Vec<Action> {
        let mut all: Vec<Publish> = self.local_publishes.clone();
        for (list, _) in self.remote_publishes.values() {
            for p in list {
                if !all.iter().any(|q| q.id == p.id) {
                    all.push(p.clone());
                }
            }
        }
        all.sort_by(|a, b| {
            a.started_at
                .cmp(&b.started_at)
                .then_with(|| a.id.cmp(&b.id))
        });
        let Phase::Live { room, .. } = &mut self.phase else {
            return Vec::new();
        };
        let (outputs, _) = room.apply(Input::Publishes { publishes: all });
        if outputs.is_empty() {
            return Vec::new();
        }
        vec![Action::Deliver(outputs)]
    }

    /// The room again for these local participants (after a resync).
    pub(super) fn welcome_again<'a>(&self, ids: impl IntoIterator<Item = &'a str>) -> Vec<Output> {
        self.room()
            .map(|room| room.welcome_again(ids))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
