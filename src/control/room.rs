//! One session's room as a pure state machine: inputs in, messages and
//! effects out. No sockets, no clock, no randomness: every server process
//! applies the same inputs in the broker's order to its own copy and gets the
//! same room. Ids and times come in with the inputs.
//!
//! Interface contract (the socket layer and the broker depend on it):
//! - `apply` never panics, whatever the input.
//! - Outputs address participants or connections; each process delivers the
//!   outputs to the sockets it holds and ignores the rest. Outputs are in
//!   order: a `Close` of a replaced connection comes before the `Welcome` to
//!   the participant's new one.
//! - Effects are for the process where the input originated (`origin`
//!   matches), except those of `Input::Tick`, which every process runs and
//!   which must therefore be idempotent (today: `ClosePoll`).
//!
//! Rules the room enforces (docs/protocol.md has them per message):
//! - Every refusal is an `Error { code, message }` to the sender plus an
//!   `Effect::Refused` with the same code; the room state is unchanged.
//! - Messages from a participant who is neither admitted nor waiting are
//!   ignored (there is nobody to answer). A participant waiting in the lobby
//!   may only `ping`.
//! - Roles other than instructor and student count as guest.
//! - `Target::Participant(id)` may also address a joiner being refused
//!   (`denied`): the socket layer routes it to that participant's sockets,
//!   pending ones included.
//! - Iteration is over ordered maps, so the outputs of one input are the
//!   same, in the same order, in every process.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

use super::protocol::{
    close_reason, ChatMessage, ClientMessage, Hand, MediaState, Participant, Poll, PollResults,
    RoomSnapshot, ServerMessage,
};

mod chat;
mod polls;

use chat::rate_limited;
pub(crate) use chat::take_token;

pub use polls::tally;
use polls::NewPoll;
#[cfg(test)]
mod tests;

/// Who a connection authenticated as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub id: String,
    pub name: String,
    /// instructor | student | guest
    pub role: String,
}

/// One input, as carried through the broker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Input {
    /// A socket authenticated. `connection` is unique across processes.
    Join {
        who: Identity,
        connection: String,
        at_ms: i64,
    },
    /// A socket closed (or was reaped). Ignored when `connection` is not the
    /// participant's current one (it was replaced by a reconnect).
    Leave {
        participant_id: String,
        connection: String,
        at_ms: i64,
    },
    /// A client message, with a fresh `id` the origin made for anything it
    /// creates (chat message, poll).
    Message {
        from: String,
        msg: ClientMessage,
        id: String,
        at_ms: i64,
    },
    /// A participant's connection quality, from their WebRTC stats.
    Quality {
        participant_id: String,
        quality: Option<super::protocol::Quality>,
    },
    /// Time passes (poll timers, the quiet alert). `live`: someone publishes.
    Tick { at_ms: i64, live: bool },
}

/// Where an output goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Every admitted participant.
    All,
    /// Every admitted participant but one.
    AllExcept(String),
    /// One participant (admitted or waiting in the lobby).
    Participant(String),
    /// The session's instructors.
    Instructors,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Send {
        to: Target,
        msg: ServerMessage,
    },
    /// Close a connection with a WebSocket close code and reason.
    Close {
        connection: String,
        code: u16,
        reason: String,
    },
}

/// Side effects for the process that owns the input (see the module doc).
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    StoreChat(ChatMessage),
    DeleteChat {
        message_id: String,
    },
    StoreReaction {
        message_id: String,
        participant_id: String,
        emoji: String,
    },
    /// A participant took their reaction back.
    RemoveReaction {
        message_id: String,
        participant_id: String,
        emoji: String,
    },
    /// Attendance: joined (admitted) or left.
    Joined {
        who: Identity,
        at_ms: i64,
    },
    Left {
        participant_id: String,
        at_ms: i64,
    },
    HandRaised {
        participant_id: String,
        at_ms: i64,
    },
    StorePoll(Poll),
    StoreAnswer {
        poll_id: String,
        participant_id: String,
        choices: Vec<usize>,
    },
    ClosePoll {
        poll: Poll,
        results: PollResults,
    },
    /// The lobby was turned on or off (kept, so the room starts again with it).
    StoreLobby {
        enabled: bool,
    },
    /// Refuse the participant's rejoin and end their WHIP/WHEP resources.
    Kick {
        participant_id: String,
    },
    /// Issue a publish token and tell the participant (`called_on`).
    Promote {
        participant_id: String,
    },
    /// End the participant's publish.
    Demote {
        participant_id: String,
    },
    /// Stop forwarding a stage publisher's audio.
    MuteMedia {
        participant_id: String,
    },
    /// The client broke the rules (logged).
    Refused {
        participant_id: String,
        code: String,
    },
}

/// Close codes (4000–4999 are the application's).
pub const CLOSE_REPLACED: u16 = 4001;
pub const CLOSE_KICKED: u16 = 4003;
pub const CLOSE_DENIED: u16 = 4004;

/// Chat: 5 messages a second, bursts of 10.
pub const CHAT_RATE_PER_S: f64 = 5.0;
pub const CHAT_BURST: f64 = 10.0;
/// Chat history sent to joiners.
pub const HISTORY: usize = 50;
/// The quiet alert: no chat or reaction this long while live.
pub const QUIET_MS: i64 = 3 * 60 * 1000;

const INSTRUCTOR: &str = "instructor";
const STUDENT: &str = "student";
const GUEST: &str = "guest";

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

/// The state machine. Fields are private; see `apply`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Room {
    session_id: String,
    /// Admitted participants, by id.
    members: BTreeMap<String, Member>,
    lobby_enabled: bool,
    /// The lobby, in arrival order.
    waiting: Vec<Waiter>,
    /// Kicked: rejoins are denied.
    banned: BTreeSet<String>,
    /// The last `HISTORY` messages, oldest first.
    chat: VecDeque<ChatMessage>,
    /// Raised hands (students present), by raise time.
    hands: Vec<RaisedHand>,
    /// In creation order.
    polls: Vec<PollState>,
    spotlight: Option<String>,
    chat_buckets: BTreeMap<String, Bucket>,
    react_buckets: BTreeMap<String, Bucket>,
    /// Hand raises and lowers and media state: each one is broadcast to the
    /// whole room, so they are rate limited like chat (absent from exports
    /// of older versions).
    #[serde(default)]
    signal_buckets: BTreeMap<String, Bucket>,
    last_activity_ms: Option<i64>,
    /// The first tick of the current live period.
    live_since_ms: Option<i64>,
    quiet_alerted: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Member {
    participant: Participant,
    connection: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Waiter {
    who: Identity,
    connection: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct RaisedHand {
    participant_id: String,
    at_ms: i64,
}

/// A token bucket in thousandths of a token (integers, so an exported room
/// replays exactly).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Bucket {
    milli_tokens: i64,
    at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct PollState {
    poll: Poll,
    closes_at_ms: Option<i64>,
    answers: BTreeMap<String, Vec<usize>>,
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

/// Why a message was refused: becomes `Error` + `Effect::Refused`.
#[derive(Debug)]
struct Refusal {
    code: &'static str,
    message: String,
}

type Handled = Result<(), Refusal>;

/// Who sent the message being handled, and when.
struct Ctx<'a> {
    from: &'a str,
    /// Normalized: instructor, student or guest.
    role: &'a str,
    at_ms: i64,
}

fn refusal(code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        code,
        message: message.into(),
    }
}

fn forbidden(message: impl Into<String>) -> Refusal {
    refusal("forbidden", message)
}

fn invalid(message: impl Into<String>) -> Refusal {
    refusal("invalid", message)
}

fn not_found(message: impl Into<String>) -> Refusal {
    refusal("not_found", message)
}

/// The outputs and effects of one input, as they accumulate.
#[derive(Default)]
struct Step {
    out: Vec<Output>,
    fx: Vec<Effect>,
}

impl Step {
    fn send(&mut self, to: Target, msg: ServerMessage) {
        self.out.push(Output::Send { to, msg });
    }

    fn to(&mut self, participant_id: &str, msg: ServerMessage) {
        self.send(Target::Participant(participant_id.to_owned()), msg);
    }

    fn all(&mut self, msg: ServerMessage) {
        self.send(Target::All, msg);
    }

    fn close(&mut self, connection: &str, code: u16, reason: &str) {
        self.out.push(Output::Close {
            connection: connection.to_owned(),
            code,
            reason: close_reason(reason).to_owned(),
        });
    }

    fn effect(&mut self, effect: Effect) {
        self.fx.push(effect);
    }

    /// Tells everyone and has storage keep it.
    fn all_and_store(&mut self, msg: ServerMessage, effect: Effect) {
        self.all(msg);
        self.effect(effect);
    }
}

/// RFC 3339 for any i64 (`time::rfc3339` cannot format past year 9999).
fn rfc3339(ms: i64) -> String {
    const LAST_MS: i64 = 253_402_300_799_999;
    crate::time::rfc3339(ms.clamp(0, LAST_MS))
}

fn normalize_role(role: &str) -> &'static str {
    match role {
        INSTRUCTOR => INSTRUCTOR,
        STUDENT => STUDENT,
        _ => GUEST,
    }
}

fn normalize(who: Identity) -> Identity {
    Identity {
        role: normalize_role(&who.role).to_owned(),
        ..who
    }
}

fn new_participant(who: &Identity) -> Participant {
    Participant {
        id: who.id.clone(),
        name: who.name.clone(),
        role: who.role.clone(),
        media: MediaState::default(),
        quality: None,
        hand_raised: false,
        on_stage: false,
        chat_muted: false,
    }
}

impl Room {
    pub fn new(session_id: &str) -> Self {
        Room {
            session_id: session_id.to_owned(),
            ..Room::default()
        }
    }

    /// Applies one input.
    pub fn apply(&mut self, input: Input) -> (Vec<Output>, Vec<Effect>) {
        let mut s = Step::default();
        match input {
            Input::Join {
                who,
                connection,
                at_ms,
            } => self.on_join(normalize(who), connection, at_ms, &mut s),
            Input::Leave {
                participant_id,
                connection,
                at_ms,
            } => self.on_leave(&participant_id, &connection, at_ms, &mut s),
            Input::Message {
                from,
                msg,
                id,
                at_ms,
            } => self.on_message(&from, msg, id, at_ms, &mut s),
            Input::Quality {
                participant_id,
                quality,
            } => {
                if let Some(m) = self.members.get_mut(&participant_id) {
                    if m.participant.quality != quality {
                        m.participant.quality = quality;
                        let participant = m.participant.clone();
                        s.all(ServerMessage::ParticipantUpdated { participant });
                    }
                }
            }
            Input::Tick { at_ms, live } => self.on_tick(at_ms, live, &mut s),
        }
        (s.out, s.fx)
    }

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

    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    // ---- presence ----

    fn on_join(&mut self, who: Identity, connection: String, at_ms: i64, s: &mut Step) {
        if self.banned.contains(&who.id) {
            let reason = "You were removed from this session.";
            s.to(
                &who.id,
                ServerMessage::Denied {
                    reason: reason.to_owned(),
                },
            );
            s.close(&connection, CLOSE_DENIED, reason);
            return;
        }

        if self.members.contains_key(&who.id) {
            self.reconnect_member(who, connection, s);
            return;
        }

        if let Some(pos) = self.waiting.iter().position(|w| w.who.id == who.id) {
            let Some(waiter) = self.waiting.get_mut(pos) else {
                return;
            };
            if waiter.connection != connection {
                s.close(
                    &waiter.connection,
                    CLOSE_REPLACED,
                    "replaced by a new connection",
                );
            }
            let renamed = waiter.who != who;
            waiter.who = who.clone();
            waiter.connection = connection.clone();
            if who.role == INSTRUCTOR {
                self.waiting.remove(pos);
                self.admit(who, connection, at_ms, s);
                self.lobby_update(s);
            } else {
                s.to(&who.id, ServerMessage::Waiting);
                if renamed {
                    self.lobby_update(s);
                }
            }
            return;
        }

        if self.lobby_enabled && who.role != INSTRUCTOR {
            let id = who.id.clone();
            self.waiting.push(Waiter { who, connection });
            s.to(&id, ServerMessage::Waiting);
            self.lobby_update(s);
            return;
        }

        self.admit(who, connection, at_ms, s);
    }

    /// The same participant on a new connection: the old one is closed, the
    /// new one welcomed; the others see nothing unless the name or role changed.
    fn reconnect_member(&mut self, who: Identity, connection: String, s: &mut Step) {
        let Some(m) = self.members.get_mut(&who.id) else {
            return;
        };
        if m.connection != connection {
            s.close(
                &m.connection,
                CLOSE_REPLACED,
                "replaced by a new connection",
            );
            m.connection = connection;
        }
        let p = &mut m.participant;
        let changed = p.name != who.name || p.role != who.role;
        p.name = who.name;
        p.role = who.role;
        let demote = p.on_stage && p.role == GUEST;
        if demote {
            p.on_stage = false;
        }
        let not_student = p.role != STUDENT;
        // A role change (a new token) may take the hand away.
        let lost_hand = not_student && self.remove_hand(&who.id);

        s.out.extend(self.welcome(&who.id));
        if changed {
            if let Some(m) = self.members.get(&who.id) {
                s.send(
                    Target::AllExcept(who.id.clone()),
                    ServerMessage::ParticipantUpdated {
                        participant: m.participant.clone(),
                    },
                );
            }
        }
        // The queue shows names.
        let renamed_hand = changed && self.hands.iter().any(|h| h.participant_id == who.id);
        if lost_hand || renamed_hand {
            self.hands_update(s);
        }
        if demote {
            s.effect(Effect::Demote {
                participant_id: who.id,
            });
        }
    }

    /// Makes `who` a member: welcome, announce, attendance.
    fn admit(&mut self, who: Identity, connection: String, at_ms: i64, s: &mut Step) {
        let participant = new_participant(&who);
        self.members.insert(
            who.id.clone(),
            Member {
                participant: participant.clone(),
                connection,
            },
        );
        s.out.extend(self.welcome(&who.id));
        s.send(
            Target::AllExcept(who.id.clone()),
            ServerMessage::ParticipantJoined { participant },
        );
        s.effect(Effect::Joined { who, at_ms });
    }

    /// The room again for members already in (after this copy was replaced
    /// by a fresh one: they may have missed messages meanwhile).
    pub fn welcome_again<'a>(&self, ids: impl IntoIterator<Item = &'a str>) -> Vec<Output> {
        ids.into_iter().flat_map(|id| self.welcome(id)).collect()
    }

    /// What a member gets on (re)joining: the room, the poll results they
    /// may see, and for instructors the lobby.
    fn welcome(&self, id: &str) -> Vec<Output> {
        let Some(m) = self.members.get(id) else {
            return Vec::new();
        };
        let to = || Target::Participant(id.to_owned());
        let instructor = m.participant.role == INSTRUCTOR;
        let mut out = vec![Output::Send {
            to: to(),
            msg: ServerMessage::Welcome {
                you: m.participant.clone(),
                room: self.snapshot(),
            },
        }];
        for p in &self.polls {
            if instructor || p.poll.share_results || p.poll.closed {
                out.push(Output::Send {
                    to: to(),
                    msg: ServerMessage::PollResults {
                        results: p.results(),
                    },
                });
            }
        }
        if instructor && !self.waiting.is_empty() {
            out.push(Output::Send {
                to: to(),
                msg: self.lobby_message(),
            });
        }
        out
    }

    fn snapshot(&self) -> RoomSnapshot {
        RoomSnapshot {
            participants: self
                .members
                .values()
                .map(|m| m.participant.clone())
                .collect(),
            hands: self.hand_list(),
            polls: self.polls.iter().map(|p| p.poll.clone()).collect(),
            chat: self.chat.iter().cloned().collect(),
            spotlight: self.spotlight.clone(),
            lobby_enabled: self.lobby_enabled,
        }
    }

    fn on_leave(&mut self, id: &str, connection: &str, at_ms: i64, s: &mut Step) {
        if self
            .members
            .get(id)
            .is_some_and(|m| m.connection == connection)
        {
            self.remove_member(id, at_ms, false, s);
        } else if let Some(pos) = self
            .waiting
            .iter()
            .position(|w| w.who.id == id && w.connection == connection)
        {
            self.waiting.remove(pos);
            self.lobby_update(s);
        }
    }

    /// Removes a member (left or kicked): their hand, the spotlight on
    /// them, and (when they left) their stage go with them.
    fn remove_member(&mut self, id: &str, at_ms: i64, kicked: bool, s: &mut Step) {
        let Some(m) = self.members.remove(id) else {
            return;
        };
        s.all(ServerMessage::ParticipantLeft {
            participant_id: id.to_owned(),
        });
        if self.remove_hand(id) {
            self.hands_update(s);
        }
        if self.spotlight.as_deref() == Some(id) {
            self.spotlight = None;
            s.all(ServerMessage::Spotlight {
                participant_id: None,
            });
        }
        s.effect(Effect::Left {
            participant_id: id.to_owned(),
            at_ms,
        });
        // A kick ends the publish with everything else (Effect::Kick).
        if m.participant.on_stage && !kicked {
            s.effect(Effect::Demote {
                participant_id: id.to_owned(),
            });
        }
    }

    // ---- messages ----

    fn on_message(&mut self, from: &str, msg: ClientMessage, id: String, at_ms: i64, s: &mut Step) {
        let role = match self.members.get(from) {
            Some(m) => normalize_role(&m.participant.role),
            None => {
                if self.waiting.iter().any(|w| w.who.id == from) {
                    let result = match msg {
                        ClientMessage::Ping { id } => {
                            s.to(from, ServerMessage::Pong { id });
                            Ok(())
                        }
                        _ => Err(forbidden(
                            "You are waiting in the lobby until the instructor admits you.",
                        )),
                    };
                    if let Err(r) = result {
                        refuse(from, r, s);
                    }
                }
                return;
            }
        };
        let c = Ctx { from, role, at_ms };
        if let Err(r) = self.dispatch(&c, msg, id, s) {
            refuse(from, r, s);
        }
    }

    fn dispatch(&mut self, c: &Ctx<'_>, msg: ClientMessage, id: String, s: &mut Step) -> Handled {
        let (from, role, at_ms) = (c.from, c.role, c.at_ms);
        let instructor_only = matches!(
            msg,
            ClientMessage::SetLobby { .. }
                | ClientMessage::Admit { .. }
                | ClientMessage::Deny { .. }
                | ClientMessage::DeleteMessage { .. }
                | ClientMessage::MuteChat { .. }
                | ClientMessage::CallOn { .. }
                | ClientMessage::Demote { .. }
                | ClientMessage::MuteAll
                | ClientMessage::Mute { .. }
                | ClientMessage::Kick { .. }
                | ClientMessage::Spotlight { .. }
                | ClientMessage::CreatePoll { .. }
                | ClientMessage::ClosePoll { .. }
        );
        if instructor_only && role != INSTRUCTOR {
            return Err(forbidden("Only the instructor may do that."));
        }
        match msg {
            // The socket layer answers this itself; the same answer here.
            ClientMessage::Auth { .. } => Err(refusal("bad_message", "Already authenticated.")),
            ClientMessage::Ping { id } => {
                s.to(from, ServerMessage::Pong { id });
                Ok(())
            }
            ClientMessage::MediaState {
                mic,
                camera,
                screen,
            } => self.media_state(
                c,
                MediaState {
                    mic,
                    camera,
                    screen,
                },
                s,
            ),
            ClientMessage::Chat { text, reply_to } => self.chat(c, text, reply_to, id, s),
            ClientMessage::React { message_id, emoji } => self.react(c, &message_id, emoji, s),
            ClientMessage::RaiseHand => self.raise_hand(from, role, at_ms, s),
            ClientMessage::LowerHand => {
                if role != STUDENT {
                    return Err(forbidden("Only students raise and lower hands."));
                }
                self.take_signal(from, at_ms)?;
                if self.remove_hand(from) {
                    self.hands_update(s);
                    self.updated(from, s);
                }
                Ok(())
            }
            ClientMessage::AnswerPoll { poll_id, choices } => {
                self.answer_poll(c, &poll_id, choices, s)
            }
            ClientMessage::SetLobby { enabled } => {
                self.lobby_enabled = enabled;
                s.effect(Effect::StoreLobby { enabled });
                if !enabled {
                    self.admit_waiting(None, at_ms, s);
                }
                self.lobby_update(s);
                Ok(())
            }
            ClientMessage::Admit { participant_id } => {
                if let Some(pid) = &participant_id {
                    if !self.waiting.iter().any(|w| &w.who.id == pid) {
                        return Err(not_found("Nobody with that id waits in the lobby."));
                    }
                }
                self.admit_waiting(participant_id.as_deref(), at_ms, s);
                self.lobby_update(s);
                Ok(())
            }
            ClientMessage::Deny { participant_id } => {
                let Some(pos) = self.waiting.iter().position(|w| w.who.id == participant_id) else {
                    return Err(not_found("Nobody with that id waits in the lobby."));
                };
                let w = self.waiting.remove(pos);
                let reason = "The instructor did not admit you.";
                s.to(
                    &w.who.id,
                    ServerMessage::Denied {
                        reason: reason.to_owned(),
                    },
                );
                s.close(&w.connection, CLOSE_DENIED, reason);
                self.lobby_update(s);
                Ok(())
            }
            ClientMessage::DeleteMessage { message_id } => self.delete_message(&message_id, s),
            ClientMessage::MuteChat {
                participant_id,
                muted,
            } => {
                let m = self.member_mut(&participant_id)?;
                m.participant.chat_muted = muted;
                self.updated(&participant_id, s);
                Ok(())
            }
            ClientMessage::CallOn {
                participant_id,
                stage,
            } => self.call_on(participant_id, stage, s),
            ClientMessage::Demote { participant_id } => {
                let m = self.member_mut(&participant_id)?;
                // Their publish is the class's main stream, not a stage.
                if m.participant.role == INSTRUCTOR {
                    return Err(invalid("Instructors are not on stage."));
                }
                m.participant.on_stage = false;
                self.updated(&participant_id, s);
                s.effect(Effect::Demote { participant_id });
                Ok(())
            }
            ClientMessage::MuteAll => {
                for m in self.members.values() {
                    if m.participant.role == INSTRUCTOR {
                        continue;
                    }
                    s.to(&m.participant.id, ServerMessage::MuteRequested);
                    if m.participant.on_stage {
                        s.effect(Effect::MuteMedia {
                            participant_id: m.participant.id.clone(),
                        });
                    }
                }
                Ok(())
            }
            ClientMessage::Mute { participant_id } => {
                let on_stage = self.member(&participant_id)?.participant.on_stage;
                s.to(&participant_id, ServerMessage::MuteRequested);
                if on_stage {
                    s.effect(Effect::MuteMedia { participant_id });
                }
                Ok(())
            }
            ClientMessage::Kick {
                participant_id,
                reason,
            } => self.kick(from, &participant_id, reason, at_ms, s),
            ClientMessage::Spotlight { participant_id } => {
                if let Some(pid) = &participant_id {
                    self.member(pid)?;
                }
                self.spotlight = participant_id.clone();
                s.all(ServerMessage::Spotlight { participant_id });
                Ok(())
            }
            ClientMessage::CreatePoll {
                question,
                options,
                multiple,
                duration_s,
                share_results,
            } => self.create_poll(
                id,
                NewPoll {
                    question,
                    options,
                    multiple,
                    duration_s,
                    share_results,
                },
                at_ms,
                s,
            ),
            ClientMessage::ClosePoll { poll_id } => {
                let Some(pos) = self.polls.iter().position(|p| p.poll.id == poll_id) else {
                    return Err(not_found("No poll with that id."));
                };
                if self.polls.get(pos).is_some_and(|p| p.poll.closed) {
                    return Err(invalid("The poll is already closed."));
                }
                self.close_poll(pos, s);
                Ok(())
            }
        }
    }

    fn media_state(&mut self, c: &Ctx<'_>, media: MediaState, s: &mut Step) -> Handled {
        let (from, role, at_ms) = (c.from, c.role, c.at_ms);
        if role == GUEST {
            return Err(forbidden("Guests only watch and listen."));
        }
        self.member(from)?;
        self.take_signal(from, at_ms)?;
        let m = self.member_mut(from)?;
        if m.participant.media != media {
            m.participant.media = media;
            self.updated(from, s);
        }
        Ok(())
    }

    fn raise_hand(&mut self, from: &str, role: &str, at_ms: i64, s: &mut Step) -> Handled {
        if role != STUDENT {
            return Err(forbidden("Only students raise hands."));
        }
        self.take_signal(from, at_ms)?;
        if self.hands.iter().any(|h| h.participant_id == from) {
            return Ok(());
        }
        let pos = self
            .hands
            .iter()
            .position(|h| h.at_ms > at_ms)
            .unwrap_or(self.hands.len());
        self.hands.insert(
            pos,
            RaisedHand {
                participant_id: from.to_owned(),
                at_ms,
            },
        );
        if let Some(m) = self.members.get_mut(from) {
            m.participant.hand_raised = true;
        }
        self.hands_update(s);
        self.updated(from, s);
        s.effect(Effect::HandRaised {
            participant_id: from.to_owned(),
            at_ms,
        });
        Ok(())
    }

    /// Admits one waiting participant, or everyone waiting.
    fn admit_waiting(&mut self, only: Option<&str>, at_ms: i64, s: &mut Step) {
        let (admitted, kept): (Vec<Waiter>, Vec<Waiter>) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|w| only.is_none_or(|id| w.who.id == id));
        self.waiting = kept;
        for w in admitted {
            self.admit(w.who, w.connection, at_ms, s);
        }
    }

    fn call_on(&mut self, participant_id: String, stage: bool, s: &mut Step) -> Handled {
        // No id: the first raised hand.
        let id = if participant_id.is_empty() {
            match self.hands.first() {
                Some(h) => h.participant_id.clone(),
                None => return Err(not_found("No hand is raised.")),
            }
        } else {
            participant_id
        };
        let m = self.member_mut(&id)?;
        if m.participant.role != STUDENT {
            return Err(invalid("Only students can be called on."));
        }
        if stage {
            m.participant.on_stage = true;
        }
        if self.remove_hand(&id) {
            self.hands_update(s);
        }
        self.updated(&id, s);
        if stage {
            s.effect(Effect::Promote { participant_id: id });
        } else {
            s.to(
                &id,
                ServerMessage::CalledOn {
                    publish_token: None,
                    whip_url: None,
                },
            );
        }
        Ok(())
    }

    fn kick(
        &mut self,
        from: &str,
        id: &str,
        reason: Option<String>,
        at_ms: i64,
        s: &mut Step,
    ) -> Handled {
        if id == from {
            return Err(invalid("You cannot kick yourself."));
        }
        let reason = reason
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| "Removed by the instructor.".to_owned());
        if let Some(m) = self.members.get(id) {
            if m.participant.role == INSTRUCTOR {
                return Err(invalid("Instructors cannot be kicked."));
            }
            let connection = m.connection.clone();
            s.to(
                id,
                ServerMessage::Kicked {
                    reason: reason.clone(),
                },
            );
            s.close(&connection, CLOSE_KICKED, &reason);
            self.banned.insert(id.to_owned());
            self.remove_member(id, at_ms, true, s);
        } else if let Some(pos) = self.waiting.iter().position(|w| w.who.id == id) {
            let w = self.waiting.remove(pos);
            s.to(
                id,
                ServerMessage::Kicked {
                    reason: reason.clone(),
                },
            );
            s.close(&w.connection, CLOSE_KICKED, &reason);
            self.banned.insert(id.to_owned());
            self.lobby_update(s);
        } else {
            return Err(not_found("No participant with that id."));
        }
        s.effect(Effect::Kick {
            participant_id: id.to_owned(),
        });
        Ok(())
    }

    // ---- time ----

    fn on_tick(&mut self, at_ms: i64, live: bool, s: &mut Step) {
        let due: Vec<usize> = self
            .polls
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.poll.closed && p.closes_at_ms.is_some_and(|t| t <= at_ms))
            .map(|(i, _)| i)
            .collect();
        for pos in due {
            self.close_poll(pos, s);
        }

        if !live {
            self.live_since_ms = None;
            self.quiet_alerted = false;
            return;
        }
        let live_since = *self.live_since_ms.get_or_insert(at_ms);
        let since = self
            .last_activity_ms
            .map_or(live_since, |a| a.max(live_since));
        let instructor_here = self
            .members
            .values()
            .any(|m| m.participant.role == INSTRUCTOR);
        if !self.quiet_alerted && instructor_here && at_ms.saturating_sub(since) >= QUIET_MS {
            self.quiet_alerted = true;
            s.send(
                Target::Instructors,
                ServerMessage::Alert {
                    kind: "quiet".to_owned(),
                    message: format!(
                        "No chat message or reaction for {} minutes.",
                        at_ms.saturating_sub(since) / 60_000
                    ),
                },
            );
        }
    }

    /// Chat or a reaction: the room is not quiet.
    fn activity(&mut self, at_ms: i64) {
        self.last_activity_ms = Some(self.last_activity_ms.map_or(at_ms, |a| a.max(at_ms)));
        self.quiet_alerted = false;
    }

    // ---- helpers ----

    /// One token from the sender's bucket for hands and media state.
    fn take_signal(&mut self, from: &str, at_ms: i64) -> Handled {
        if take_token(&mut self.signal_buckets, from, at_ms) {
            Ok(())
        } else {
            Err(rate_limited("hand or media updates"))
        }
    }

    fn member(&self, id: &str) -> Result<&Member, Refusal> {
        self.members
            .get(id)
            .ok_or_else(|| not_found("No participant with that id."))
    }

    fn member_mut(&mut self, id: &str) -> Result<&mut Member, Refusal> {
        self.members
            .get_mut(id)
            .ok_or_else(|| not_found("No participant with that id."))
    }

    /// `ParticipantUpdated` about one member, to all.
    fn updated(&self, id: &str, s: &mut Step) {
        if let Some(m) = self.members.get(id) {
            s.all(ServerMessage::ParticipantUpdated {
                participant: m.participant.clone(),
            });
        }
    }

    /// Lowers a hand; whether one was raised.
    fn remove_hand(&mut self, id: &str) -> bool {
        let before = self.hands.len();
        self.hands.retain(|h| h.participant_id != id);
        if let Some(m) = self.members.get_mut(id) {
            m.participant.hand_raised = false;
        }
        self.hands.len() != before
    }

    fn hand_list(&self) -> Vec<Hand> {
        self.hands
            .iter()
            .map(|h| Hand {
                participant_id: h.participant_id.clone(),
                name: self
                    .members
                    .get(&h.participant_id)
                    .map(|m| m.participant.name.clone())
                    .unwrap_or_default(),
                raised_at: rfc3339(h.at_ms),
            })
            .collect()
    }

    fn hands_update(&self, s: &mut Step) {
        s.all(ServerMessage::Hands {
            hands: self.hand_list(),
        });
    }

    fn lobby_message(&self) -> ServerMessage {
        ServerMessage::Lobby {
            enabled: self.lobby_enabled,
            waiting: self
                .waiting
                .iter()
                .map(|w| new_participant(&w.who))
                .collect(),
        }
    }

    fn lobby_update(&self, s: &mut Step) {
        s.send(Target::Instructors, self.lobby_message());
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

/// `Error` to the sender and `Refused` for the log.
fn refuse(from: &str, r: Refusal, s: &mut Step) {
    s.to(
        from,
        ServerMessage::Error {
            code: r.code.to_owned(),
            message: r.message,
        },
    );
    s.effect(Effect::Refused {
        participant_id: from.to_owned(),
        code: r.code.to_owned(),
    });
}
