//! Presence: joining, reconnecting, the welcome (the room as a member sees
//! it) and leaving.

use super::super::protocol::{RoomSnapshot, ServerMessage};
use super::{
    new_participant, Effect, Identity, Member, Output, Room, Step, Target, CLOSE_REPLACED, GUEST,
    INSTRUCTOR, STUDENT,
};

impl Room {
    pub(super) fn on_join(&mut self, who: Identity, connection: String, at_ms: i64, s: &mut Step) {
        if self.banned.contains(&who.id) {
            s.deny(&who.id, &connection, "You were removed from this session.");
            return;
        }
        if self.members.contains_key(&who.id) {
            self.reconnect_member(who, connection, s);
            return;
        }
        if let Some(pos) = self.waiting.iter().position(|w| w.who.id == who.id) {
            self.rejoin_lobby(pos, who, connection, at_ms, s);
            return;
        }
        if self.lobby_enabled && who.role != INSTRUCTOR {
            self.enter_lobby(who, connection, s);
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
    pub(super) fn admit(&mut self, who: Identity, connection: String, at_ms: i64, s: &mut Step) {
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
                room: Box::new(self.snapshot()),
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
            live: self.live_since_ms.is_some(),
            publishes: self.publishes.clone(),
            layout: self.layout,
        }
    }

    pub(super) fn on_leave(&mut self, id: &str, connection: &str, at_ms: i64, s: &mut Step) {
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
    pub(super) fn remove_member(&mut self, id: &str, at_ms: i64, kicked: bool, s: &mut Step) {
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
}
