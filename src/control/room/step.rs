//! How a handler answers: the outputs and effects of one input as they
//! accumulate, and refusals (an `Error` to the sender plus `Effect::Refused`).

use super::super::protocol::{close_reason, ServerMessage};
use super::{Effect, Output, Target, CLOSE_DENIED, CLOSE_KICKED};

/// Why a message was refused: becomes `Error` + `Effect::Refused`.
#[derive(Debug)]
pub(super) struct Refusal {
    pub(super) code: &'static str,
    pub(super) message: String,
}

pub(super) type Handled = Result<(), Refusal>;

pub(super) fn refusal(code: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        code,
        message: message.into(),
    }
}

pub(super) fn forbidden(message: impl Into<String>) -> Refusal {
    refusal("forbidden", message)
}

pub(super) fn invalid(message: impl Into<String>) -> Refusal {
    refusal("invalid", message)
}

pub(super) fn not_found(message: impl Into<String>) -> Refusal {
    refusal("not_found", message)
}

/// The outputs and effects of one input, as they accumulate.
#[derive(Default)]
pub(super) struct Step {
    pub(super) out: Vec<Output>,
    pub(super) fx: Vec<Effect>,
}

impl Step {
    pub(super) fn send(&mut self, to: Target, msg: ServerMessage) {
        self.out.push(Output::Send { to, msg });
    }

    pub(super) fn to(&mut self, participant_id: &str, msg: ServerMessage) {
        self.send(Target::Participant(participant_id.to_owned()), msg);
    }

    pub(super) fn all(&mut self, msg: ServerMessage) {
        self.send(Target::All, msg);
    }

    pub(super) fn close(&mut self, connection: &str, code: u16, reason: &str) {
        self.out.push(Output::Close {
            connection: connection.to_owned(),
            code,
            reason: close_reason(reason).to_owned(),
        });
    }

    pub(super) fn effect(&mut self, effect: Effect) {
        self.fx.push(effect);
    }

    /// Tells everyone and has storage keep it.
    pub(super) fn all_and_store(&mut self, msg: ServerMessage, effect: Effect) {
        self.all(msg);
        self.effect(effect);
    }

    /// Refuses a joiner entry (banned, or denied from the lobby) and closes
    /// their connection.
    pub(super) fn deny(&mut self, participant_id: &str, connection: &str, reason: &str) {
        self.to(
            participant_id,
            ServerMessage::Denied {
                reason: reason.to_owned(),
            },
        );
        self.close(connection, CLOSE_DENIED, reason);
    }

    /// Tells a kicked participant why and closes their connection.
    pub(super) fn kicked(&mut self, participant_id: &str, connection: &str, reason: &str) {
        self.to(
            participant_id,
            ServerMessage::Kicked {
                reason: reason.to_owned(),
            },
        );
        self.close(connection, CLOSE_KICKED, reason);
    }

    /// The answer to `ping`, which anyone present may send.
    pub(super) fn pong(&mut self, to: &str, id: Option<u64>) -> Handled {
        self.to(to, ServerMessage::Pong { id });
        Ok(())
    }
}

/// `Error` to the sender and `Refused` for the log.
pub(super) fn refuse(from: &str, r: Refusal, s: &mut Step) {
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
