//! The lobby: joiners wait there while it is on, until an instructor admits
//! or denies them. A participant waiting may only `ping`.

use super::super::protocol::{ClientMessage, ServerMessage};
use super::{
    forbidden, new_participant, not_found, refuse, Effect, Handled, Identity, Room, Step, Target,
    Waiter, CLOSE_REPLACED, INSTRUCTOR,
};

impl Room {
    /// A joiner when the lobby is on.
    pub(super) fn enter_lobby(&mut self, who: Identity, connection: String, s: &mut Step) {
        let id = who.id.clone();
        self.waiting.push(Waiter { who, connection });
        s.to(&id, ServerMessage::Waiting);
        self.lobby_update(s);
    }

    /// Someone already waiting joins again (at `pos` in the lobby): the old
    /// connection is replaced; an instructor walks straight in.
    pub(super) fn rejoin_lobby(
        &mut self,
        pos: usize,
        who: Identity,
        connection: String,
        at_ms: i64,
        s: &mut Step,
    ) {
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
    }

    /// A message from someone not admitted: answered only when they wait in
    /// the lobby (otherwise there is nobody to answer).
    pub(super) fn message_while_waiting(&mut self, from: &str, msg: ClientMessage, s: &mut Step) {
        if !self.waiting.iter().any(|w| w.who.id == from) {
            return;
        }
        let result = match msg {
            ClientMessage::Ping { id } => s.pong(from, id),
            _ => Err(forbidden(
                "You are waiting in the lobby until the instructor admits you.",
            )),
        };
        if let Err(r) = result {
            refuse(from, r, s);
        }
    }

    pub(super) fn set_lobby(&mut self, enabled: bool, at_ms: i64, s: &mut Step) -> Handled {
        self.lobby_enabled = enabled;
        s.effect(Effect::StoreLobby { enabled });
        if !enabled {
            self.admit_waiting(None, at_ms, s);
        }
        self.lobby_update(s);
        Ok(())
    }

    /// `admit`: one participant waiting, or (no id) everyone.
    pub(super) fn admit_request(
        &mut self,
        participant_id: Option<String>,
        at_ms: i64,
        s: &mut Step,
    ) -> Handled {
        if let Some(pid) = &participant_id {
            if !self.waiting.iter().any(|w| &w.who.id == pid) {
                return Err(not_found("Nobody with that id waits in the lobby."));
            }
        }
        self.admit_waiting(participant_id.as_deref(), at_ms, s);
        self.lobby_update(s);
        Ok(())
    }

    pub(super) fn deny(&mut self, participant_id: &str, s: &mut Step) -> Handled {
        let Some(pos) = self.waiting.iter().position(|w| w.who.id == participant_id) else {
            return Err(not_found("Nobody with that id waits in the lobby."));
        };
        let w = self.waiting.remove(pos);
        s.deny(
            &w.who.id,
            &w.connection,
            "The instructor did not admit you.",
        );
        self.lobby_update(s);
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

    pub(super) fn lobby_message(&self) -> ServerMessage {
        ServerMessage::Lobby {
            enabled: self.lobby_enabled,
            waiting: self
                .waiting
                .iter()
                .map(|w| new_participant(&w.who))
                .collect(),
        }
    }

    /// The lobby as it is now, to the instructors.
    pub(super) fn lobby_update(&self, s: &mut Step) {
        s.send(Target::Instructors, self.lobby_message());
    }
}
