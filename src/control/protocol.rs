//! The session WebSocket's messages: JSON objects tagged by `type`
//! (documented with an example each in docs/protocol.md).

use serde::{Deserialize, Serialize};

pub use crate::db::Layout;

/// Largest accepted client frame, in bytes.
pub const MAX_FRAME_BYTES: usize = 16 * 1024;
/// Longest chat message, in characters.
pub const MAX_CHAT_CHARS: usize = 2000;
/// A WebSocket close reason is at most 123 bytes (RFC 6455 §5.5: a control
/// frame's payload is 125 bytes, 2 of them the code).
pub const MAX_CLOSE_REASON_BYTES: usize = 123;
/// Longest `message` of an `error` answering a frame that does not parse
/// (serde's text may quote the frame).
const MAX_PARSE_ERROR_CHARS: usize = 200;

/// Why a client frame is not a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("messages are limited to {MAX_FRAME_BYTES} bytes")]
    TooLarge,
    #[error("not a message: {0}")]
    NotAMessage(String),
}

impl FrameError {
    /// The `error` code the client gets.
    pub fn code(&self) -> &'static str {
        match self {
            FrameError::TooLarge => "too_large",
            FrameError::NotAMessage(_) => "bad_message",
        }
    }
}

/// A client's text frame as a message. Never panics, whatever the text.
pub fn parse(frame: &str) -> Result<ClientMessage, FrameError> {
    if frame.len() > MAX_FRAME_BYTES {
        return Err(FrameError::TooLarge);
    }
    serde_json::from_str(frame).map_err(|e| {
        let text = e.to_string();
        FrameError::NotAMessage(truncate_utf8(&text, MAX_PARSE_ERROR_CHARS).to_owned())
    })
}

/// The longest prefix of `s` of at most `max` bytes that ends on a char boundary.
pub fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("")
}

/// `reason` cut to fit a close frame (a longer one makes the frame unsendable
/// and the peer sees 1006 instead of the code).
pub fn close_reason(reason: &str) -> &str {
    truncate_utf8(reason, MAX_CLOSE_REASON_BYTES)
}

/// What a client may send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// The first message on a socket (unless the token came as a
    /// `Sec-WebSocket-Protocol` value): the JWT.
    Auth {
        token: String,
    },
    /// Keep-alive; answered with `pong`.
    Ping {
        #[serde(default)]
        id: Option<u64>,
    },
    /// Mic, camera and screen share as the client has them.
    MediaState {
        mic: bool,
        camera: bool,
        #[serde(default)]
        screen: bool,
    },
    Chat {
        text: String,
        /// Reply in the thread of this message.
        #[serde(default)]
        reply_to: Option<String>,
    },
    React {
        message_id: String,
        emoji: String,
    },
    RaiseHand,
    LowerHand,
    AnswerPoll {
        poll_id: String,
        choices: Vec<usize>,
    },

    // Instructor only.
    SetLobby {
        enabled: bool,
    },
    /// Admit one waiting participant, or everyone waiting (`participant_id` absent).
    Admit {
        #[serde(default)]
        participant_id: Option<String>,
    },
    Deny {
        participant_id: String,
    },
    DeleteMessage {
        message_id: String,
    },
    MuteChat {
        participant_id: String,
        muted: bool,
    },
    /// Take the first (or the named) raised hand; `stage: true` promotes
    /// the student to publish. An absent (or empty) `participant_id` takes
    /// the first hand in the queue.
    CallOn {
        #[serde(default)]
        participant_id: String,
        #[serde(default)]
        stage: bool,
    },
    Demote {
        participant_id: String,
    },
    MuteAll,
    Mute {
        participant_id: String,
    },
    Kick {
        participant_id: String,
        #[serde(default)]
        reason: Option<String>,
    },
    Spotlight {
        #[serde(default)]
        participant_id: Option<String>,
    },
    CreatePoll {
        question: String,
        options: Vec<String>,
        #[serde(default)]
        multiple: bool,
        /// Closes by itself after this many seconds.
        #[serde(default)]
        duration_s: Option<u32>,
        /// Live results go to everyone, not only the instructor.
        #[serde(default)]
        share_results: bool,
    },
    ClosePoll {
        poll_id: String,
    },
    /// What the HLS broadcast and the recording show when several people
    /// publish.
    SetLayout {
        layout: Layout,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Quality {
    Green,
    Yellow,
    Red,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MediaState {
    pub mic: bool,
    pub camera: bool,
    pub screen: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Participant {
    pub id: String,
    pub name: String,
    /// instructor | student | guest
    pub role: String,
    pub media: MediaState,
    /// From the participant's WebRTC stats, while they have a connection.
    pub quality: Option<Quality>,
    pub hand_raised: bool,
    pub on_stage: bool,
    pub chat_muted: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub id: String,
    pub sender_id: String,
    pub sender_name: String,
    pub text: String,
    /// RFC 3339.
    pub at: String,
    /// The thread: the message this one replies to.
    pub reply_to: Option<String>,
    /// Participant ids named with `@name`.
    pub mentions: Vec<String>,
    /// emoji → participant ids who reacted.
    pub reactions: std::collections::BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hand {
    pub participant_id: String,
    pub name: String,
    pub raised_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Poll {
    pub id: String,
    pub question: String,
    pub options: Vec<String>,
    pub multiple: bool,
    pub share_results: bool,
    pub closes_at: Option<String>,
    pub closed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PollResults {
    pub poll_id: String,
    /// Answers per option.
    pub counts: Vec<u64>,
    /// Share of the respondents per option, 0–100.
    pub percentages: Vec<f64>,
    pub respondents: u64,
}

/// A live publish of the class: the instructor's camera or screen share, or
/// a student on stage. Pages view each with WHEP `?publish={id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Publish {
    pub id: String,
    /// `camera`, `screen` or `stage`.
    pub kind: String,
    pub participant_id: String,
    pub name: String,
    /// The class's main broadcast (HLS, the recording, a plain WHEP player).
    pub main: bool,
    /// Its media flows: WHEP may view it.
    pub ready: bool,
    /// RFC 3339; the list is ordered by it.
    pub started_at: String,
}

/// The room as a joiner first sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoomSnapshot {
    pub participants: Vec<Participant>,
    pub hands: Vec<Hand>,
    pub polls: Vec<Poll>,
    /// The last messages, oldest first.
    pub chat: Vec<ChatMessage>,
    pub spotlight: Option<String>,
    pub lobby_enabled: bool,
    /// Someone publishes the session's broadcast: WHEP and HLS have something to play.
    #[serde(default)]
    pub live: bool,
    /// The class's live publishes, oldest first.
    #[serde(default)]
    pub publishes: Vec<Publish>,
    /// The broadcast's layout as the instructor chose it.
    #[serde(default)]
    pub layout: Layout,
}

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// After `auth` (and admission, with a lobby): who you are and the room.
    Welcome {
        you: Participant,
        room: Box<RoomSnapshot>,
    },
    /// The lobby is on: wait for the instructor.
    Waiting,
    /// The broadcast started or stopped (within a tick, 1 s).
    Live {
        live: bool,
    },
    /// The class's live publishes changed (one started, stopped, or its
    /// media began to flow): the whole list, oldest first.
    Publishes {
        publishes: Vec<Publish>,
    },
    /// The instructor chose the broadcast's layout.
    Layout {
        layout: Layout,
    },
    Denied {
        reason: String,
    },
    Pong {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
    },
    ParticipantJoined {
        participant: Participant,
    },
    ParticipantLeft {
        participant_id: String,
    },
    /// Media state, quality, hand, stage or chat mute changed.
    ParticipantUpdated {
        participant: Participant,
    },
    /// Instructors: whether the lobby is on, and who waits in it.
    Lobby {
        enabled: bool,
        waiting: Vec<Participant>,
    },
    Chat {
        message: ChatMessage,
    },
    ChatDeleted {
        message_id: String,
    },
    Reactions {
        message_id: String,
        reactions: std::collections::BTreeMap<String, Vec<String>>,
    },
    Hands {
        hands: Vec<Hand>,
    },
    /// To the student called on; with a token for WHIP when promoted.
    CalledOn {
        #[serde(skip_serializing_if = "Option::is_none")]
        publish_token: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        whip_url: Option<String>,
    },
    /// To a participant asked to mute (their client obeys).
    MuteRequested,
    Kicked {
        reason: String,
    },
    Spotlight {
        participant_id: Option<String>,
    },
    PollOpened {
        poll: Poll,
    },
    PollResults {
        results: PollResults,
    },
    PollClosed {
        poll: Poll,
        results: PollResults,
    },
    /// Instructors: nothing happened in chat or reactions for a while.
    Alert {
        kind: String,
        message: String,
    },
    Error {
        code: String,
        message: String,
    },
}

/// A server message as the text of one WebSocket frame.
pub fn serialize(msg: &ServerMessage) -> axum::extract::ws::Utf8Bytes {
    axum::extract::ws::Utf8Bytes::from(serde_json::to_string(msg).unwrap_or_else(|_| "{}".into()))
}
