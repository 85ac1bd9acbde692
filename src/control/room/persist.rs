//! What outlives a room: restoring it from storage, exporting it to a
//! process that joins later, and the invariants restored on the way in.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::super::protocol::{ChatMessage, Poll};
use super::{
    normalize, normalize_role, PollState, Room, Waiter, GUEST, HISTORY, INSTRUCTOR, STUDENT,
};

/// Version of the `export` format.
const EXPORT_VERSION: u32 = 1;

/// What storage keeps of a room (see `Room::restore`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stored {
    /// Oldest first.
    pub chat: Vec<ChatMessage>,
    /// In creation order.
    pub polls: Vec<StoredPoll>,
    pub lobby_enabled: bool,
    pub banned: Vec<String>,
    pub layout: super::super::protocol::Layout,
}

/// A poll as storage keeps it, with its answers.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPoll {
    /// `closed` says whether it was closed.
    pub poll: Poll,
    pub closes_at_ms: Option<i64>,
    /// Participant id → the option indexes they chose.
    pub answers: BTreeMap<String, Vec<usize>>,
}

/// The export envelope.
#[derive(Serialize)]
struct ExportRef<'a> {
    version: u32,
    room: &'a Room,
}

#[derive(Deserialize)]
struct ExportOwned {
    version: u32,
    room: Room,
}

impl Room {
    /// Seeds the chat history (from the database, when this process starts
    /// the room with no other process to copy it from). Keeps the last
    /// `HISTORY` messages.
    pub fn seed_chat(&mut self, history: Vec<ChatMessage>) {
        let skip = history.len().saturating_sub(HISTORY);
        self.chat = history.into_iter().skip(skip).collect();
    }

    /// The room as storage kept it, for a process that starts it with no
    /// other process to copy it from (after it closed, or a restart): chat
    /// history, polls with their answers, the lobby setting and the bans.
    /// Nobody is present yet. Whatever storage holds, the room is consistent.
    pub fn restore(session_id: &str, stored: Stored) -> Room {
        let mut room = Room::new(session_id);
        room.seed_chat(stored.chat);
        room.lobby_enabled = stored.lobby_enabled;
        room.layout = stored.layout;
        room.banned = stored.banned.into_iter().collect();
        for p in stored.polls {
            if room.polls.iter().any(|q| q.poll.id == p.poll.id) {
                continue;
            }
            let answers = p
                .answers
                .into_iter()
                .filter(|(_, choices)| choices.iter().all(|&c| c < p.poll.options.len()))
                .collect();
            room.polls.push(PollState {
                poll: p.poll,
                closes_at_ms: p.closes_at_ms,
                answers,
            });
        }
        room.make_consistent();
        room
    }

    /// The room for a process that joins later (sent through the broker).
    pub fn export(&self) -> serde_json::Value {
        serde_json::to_value(ExportRef {
            version: EXPORT_VERSION,
            room: self,
        })
        .unwrap_or(serde_json::Value::Null)
    }

    /// A room from `export`. `None` when `value` is not an export of this
    /// session's room in this version's format. What it restores is made
    /// consistent (hands of present students only, nobody both waiting and
    /// admitted, ...), whatever the JSON said.
    pub fn import(session_id: &str, value: &serde_json::Value) -> Option<Room> {
        let exported = ExportOwned::deserialize(value).ok()?;
        if exported.version != EXPORT_VERSION || exported.room.session_id != session_id {
            return None;
        }
        let mut room = exported.room;
        room.make_consistent();
        Some(room)
    }

    /// Restores the invariants after an import.
    fn make_consistent(&mut self) {
        let members = std::mem::take(&mut self.members);
        self.members = members
            .into_iter()
            .filter(|(id, m)| *id == m.participant.id && !self.banned.contains(id))
            .map(|(id, mut m)| {
                m.participant.role = normalize_role(&m.participant.role).to_owned();
                if m.participant.role == GUEST {
                    m.participant.on_stage = false;
                }
                (id, m)
            })
            .collect();

        let mut seen = BTreeSet::new();
        let waiting = std::mem::take(&mut self.waiting);
        self.waiting = waiting
            .into_iter()
            .map(|w| Waiter {
                who: normalize(w.who),
                connection: w.connection,
            })
            .filter(|w| {
                w.who.role != INSTRUCTOR
                    && !self.members.contains_key(&w.who.id)
                    && !self.banned.contains(&w.who.id)
                    && seen.insert(w.who.id.clone())
            })
            .collect();
        if !self.waiting.is_empty() {
            self.lobby_enabled = true;
        }

        let mut seen = BTreeSet::new();
        let hands = std::mem::take(&mut self.hands);
        self.hands = hands
            .into_iter()
            .filter(|h| {
                self.members
                    .get(&h.participant_id)
                    .is_some_and(|m| m.participant.role == STUDENT)
                    && seen.insert(h.participant_id.clone())
            })
            .collect();
        self.hands.sort_by_key(|h| h.at_ms);
        for m in self.members.values_mut() {
            m.participant.hand_raised = seen.contains(&m.participant.id);
        }

        if self
            .spotlight
            .as_ref()
            .is_some_and(|id| !self.members.contains_key(id))
        {
            self.spotlight = None;
        }
        let skip = self.chat.len().saturating_sub(HISTORY);
        self.chat.drain(..skip);
        for p in &mut self.polls {
            let options = p.poll.options.len();
            p.answers
                .retain(|_, choices| choices.iter().all(|&c| c < options));
        }
    }
}
