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
//!
//! One file per concern, each with its own `impl Room`: `membership` (join,
//! reconnect, welcome, leave), `lobby`, `stage` (media state, hands, call
//! on, demote), `moderation` (mute, kick, spotlight), `chat`, `polls`,
//! `tick` (poll closing, the quiet alert), `persist` (restore, export,
//! import) and `step` (outputs and refusals). `dispatch` only routes.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

use super::protocol::{
    ChatMessage, ClientMessage, MediaState, Participant, Poll, PollResults, ServerMessage,
};

mod chat;
mod lobby;
mod membership;
mod moderation;
mod persist;
mod polls;
mod stage;
mod step;
mod tick;

use chat::rate_limited;
pub(crate) use chat::take_token;
pub use persist::{Stored, StoredPoll};
pub use polls::tally;

use polls::NewPoll;
use step::{forbidden, invalid, not_found, refusal, refuse, Handled, Refusal, Step};
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
    /// The class's publishes as the server processes hold them now.
    Publishes {
        publishes: Vec<super::protocol::Publish>,
    },
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

/// One participant's emoji on one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Reaction {
    pub message_id: String,
    pub participant_id: String,
    pub emoji: String,
}

/// Side effects for the process that owns the input (see the module doc).
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    StoreChat(ChatMessage),
    DeleteChat {
        message_id: String,
    },
    StoreReaction(Reaction),
    /// A participant took their reaction back.
    RemoveReaction(Reaction),
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
    /// The instructor chose the broadcast's layout (kept; the composition
    /// follows it).
    StoreLayout {
        layout: super::protocol::Layout,
    },
    /// Refuse the participant's rejoin and end their WHIP/WHEP resources.
    Kick {
        participant_id: String,
    },
    /// Issue a publish token and tell the participant (`called_on`).
    Promote {
        participant_id: String,
        /// As the room knows them: the token carries it (a publish shows it).
        name: String,
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
    /// The class's live publishes (not stored: the media processes tell).
    #[serde(default)]
    publishes: Vec<super::protocol::Publish>,
    /// The broadcast's layout as the instructor chose it.
    #[serde(default)]
    layout: super::protocol::Layout,
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

/// Who sent the message being handled, and when.
struct Ctx<'a> {
    from: &'a str,
    /// Normalized: instructor, student or guest.
    role: &'a str,
    at_ms: i64,
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
            } => self.on_quality(&participant_id, quality, &mut s),
            Input::Tick { at_ms, live } => self.on_tick(at_ms, live, &mut s),
            Input::Publishes { publishes } => self.on_publishes(publishes, &mut s),
        }
        (s.out, s.fx)
    }

    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    fn on_message(&mut self, from: &str, msg: ClientMessage, id: String, at_ms: i64, s: &mut Step) {
        let Some(m) = self.members.get(from) else {
            self.message_while_waiting(from, msg, s);
            return;
        };
        let role = normalize_role(&m.participant.role);
        let c = Ctx { from, role, at_ms };
        if let Err(r) = self.dispatch(&c, msg, id, s) {
            refuse(from, r, s);
        }
    }

    /// One line per message kind: each concern's module handles its own.
    fn dispatch(&mut self, c: &Ctx<'_>, msg: ClientMessage, id: String, s: &mut Step) -> Handled {
        use ClientMessage as M;
        if instructor_only(&msg) && c.role != INSTRUCTOR {
            return Err(forbidden("Only the instructor may do that."));
        }
        match msg {
            // The socket layer answers this itself; the same answer here.
            M::Auth { .. } => Err(refusal("bad_message", "Already authenticated.")),
            M::Ping { id } => s.pong(c.from, id),
            M::MediaState {
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
            M::Chat { text, reply_to } => self.chat(c, text, reply_to, id, s),
            M::React { message_id, emoji } => self.react(c, &message_id, emoji, s),
            M::RaiseHand => self.raise_hand(c, s),
            M::LowerHand => self.lower_hand(c, s),
            M::AnswerPoll { poll_id, choices } => self.answer_poll(c, &poll_id, choices, s),
            M::SetLobby { enabled } => self.set_lobby(enabled, c.at_ms, s),
            M::Admit { participant_id } => self.admit_request(participant_id, c.at_ms, s),
            M::Deny { participant_id } => self.deny(&participant_id, s),
            M::DeleteMessage { message_id } => self.delete_message(&message_id, s),
            M::MuteChat {
                participant_id,
                muted,
            } => self.mute_chat(&participant_id, muted, s),
            M::CallOn {
                participant_id,
                stage,
            } => self.call_on(participant_id, stage, s),
            M::Demote { participant_id } => self.demote(participant_id, s),
            M::MuteAll => self.mute_all(s),
            M::Mute { participant_id } => self.mute(participant_id, s),
            M::Kick {
                participant_id,
                reason,
            } => self.kick(c, &participant_id, reason, s),
            M::Spotlight { participant_id } => self.set_spotlight(participant_id, s),
            M::CreatePoll {
                question,
                options,
                multiple,
                duration_s,
                share_results,
            } => {
                let poll = NewPoll {
                    question,
                    options,
                    multiple,
                    duration_s,
                    share_results,
                };
                self.create_poll(id, poll, c.at_ms, s)
            }
            M::ClosePoll { poll_id } => self.close_poll_now(&poll_id, s),
            M::SetLayout { layout } => self.set_layout(layout, s),
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
}

/// The messages only an instructor may send.
fn instructor_only(msg: &ClientMessage) -> bool {
    matches!(
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
            | ClientMessage::SetLayout { .. }
    )
}
