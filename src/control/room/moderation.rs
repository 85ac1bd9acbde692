//! The instructor's hand on the room: muting (chat or microphones),
//! kicking (which bans the rejoin), the spotlight and the broadcast layout.

use super::super::protocol::{Layout, ServerMessage};
use super::{invalid, not_found, Ctx, Effect, Handled, Room, Step, INSTRUCTOR};

impl Room {
    pub(super) fn mute_chat(&mut self, participant_id: &str, muted: bool, s: &mut Step) -> Handled {
        let m = self.member_mut(participant_id)?;
        m.participant.chat_muted = muted;
        self.updated(participant_id, s);
        Ok(())
    }

    /// Asks everyone but the instructors to mute, and stops forwarding the
    /// stage's audio.
    pub(super) fn mute_all(&mut self, s: &mut Step) -> Handled {
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

    pub(super) fn mute(&mut self, participant_id: String, s: &mut Step) -> Handled {
        let on_stage = self.member(&participant_id)?.participant.on_stage;
        s.to(&participant_id, ServerMessage::MuteRequested);
        if on_stage {
            s.effect(Effect::MuteMedia { participant_id });
        }
        Ok(())
    }

    /// Removes a member or someone waiting, and bans their rejoin.
    pub(super) fn kick(
        &mut self,
        c: &Ctx<'_>,
        id: &str,
        reason: Option<String>,
        s: &mut Step,
    ) -> Handled {
        if id == c.from {
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
            s.kicked(id, &connection, &reason);
            self.banned.insert(id.to_owned());
            self.remove_member(id, c.at_ms, true, s);
        } else if let Some(pos) = self.waiting.iter().position(|w| w.who.id == id) {
            let w = self.waiting.remove(pos);
            s.kicked(id, &w.connection, &reason);
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

    /// Spotlights a member, or (no id) nobody.
    pub(super) fn set_spotlight(
        &mut self,
        participant_id: Option<String>,
        s: &mut Step,
    ) -> Handled {
        if let Some(pid) = &participant_id {
            self.member(pid)?;
        }
        self.spotlight = participant_id.clone();
        s.all(ServerMessage::Spotlight { participant_id });
        Ok(())
    }

    /// The broadcast's layout: everyone sees the choice, storage keeps it
    /// and the composition follows it (an effect).
    pub(super) fn set_layout(&mut self, layout: Layout, s: &mut Step) -> Handled {
        if self.layout != layout {
            self.layout = layout;
            s.all(ServerMessage::Layout { layout });
            s.effect(Effect::StoreLayout { layout });
        }
        Ok(())
    }
}
