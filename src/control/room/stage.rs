//! The stage: media state and connection quality, raised hands, calling on
//! a student (to speak, or onto the stage to publish) and demoting them.

use super::super::protocol::{Hand, MediaState, Publish, Quality, ServerMessage};
use super::{
    forbidden, invalid, not_found, rate_limited, rfc3339, take_token, Ctx, Effect, Handled,
    RaisedHand, Room, Step, GUEST, INSTRUCTOR, STUDENT,
};

impl Room {
    /// Everyone sees the publishes change (a tile appears or goes).
    pub(super) fn on_publishes(&mut self, publishes: Vec<Publish>, s: &mut Step) {
        if self.publishes != publishes {
            self.publishes = publishes.clone();
            s.all(ServerMessage::Publishes { publishes });
        }
    }

    pub(super) fn on_quality(
        &mut self,
        participant_id: &str,
        quality: Option<Quality>,
        s: &mut Step,
    ) {
        if let Some(m) = self.members.get_mut(participant_id) {
            if m.participant.quality != quality {
                m.participant.quality = quality;
                let participant = m.participant.clone();
                s.all(ServerMessage::ParticipantUpdated { participant });
            }
        }
    }

    pub(super) fn media_state(&mut self, c: &Ctx<'_>, media: MediaState, s: &mut Step) -> Handled {
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

    pub(super) fn raise_hand(&mut self, c: &Ctx<'_>, s: &mut Step) -> Handled {
        let (from, role, at_ms) = (c.from, c.role, c.at_ms);
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

    pub(super) fn lower_hand(&mut self, c: &Ctx<'_>, s: &mut Step) -> Handled {
        if c.role != STUDENT {
            return Err(forbidden("Only students raise and lower hands."));
        }
        self.take_signal(c.from, c.at_ms)?;
        if self.remove_hand(c.from) {
            self.hands_update(s);
            self.updated(c.from, s);
        }
        Ok(())
    }

    pub(super) fn call_on(&mut self, participant_id: String, stage: bool, s: &mut Step) -> Handled {
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
        let name = m.participant.name.clone();
        if stage {
            m.participant.on_stage = true;
        }
        if self.remove_hand(&id) {
            self.hands_update(s);
        }
        self.updated(&id, s);
        if stage {
            s.effect(Effect::Promote {
                participant_id: id,
                name,
            });
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

    pub(super) fn demote(&mut self, participant_id: String, s: &mut Step) -> Handled {
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

    /// One token from the sender's bucket for hands and media state.
    pub(super) fn take_signal(&mut self, from: &str, at_ms: i64) -> Handled {
        if take_token(&mut self.signal_buckets, from, at_ms) {
            Ok(())
        } else {
            Err(rate_limited("hand or media updates"))
        }
    }

    /// Lowers a hand; whether one was raised.
    pub(super) fn remove_hand(&mut self, id: &str) -> bool {
        let before = self.hands.len();
        self.hands.retain(|h| h.participant_id != id);
        if let Some(m) = self.members.get_mut(id) {
            m.participant.hand_raised = false;
        }
        self.hands.len() != before
    }

    pub(super) fn hand_list(&self) -> Vec<Hand> {
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

    pub(super) fn hands_update(&self, s: &mut Step) {
        s.all(ServerMessage::Hands {
            hands: self.hand_list(),
        });
    }
}
