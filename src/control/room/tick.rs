//! Time: polls closing (on their deadline, or when the instructor closes
//! one) and the quiet alert. A tick runs in every process, so what it does
//! is idempotent.

use super::super::protocol::ServerMessage;
use super::{invalid, not_found, Handled, Room, Step, Target, INSTRUCTOR, QUIET_MS};

impl Room {
    pub(super) fn on_tick(&mut self, at_ms: i64, live: bool, s: &mut Step) {
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

        if live != self.live_since_ms.is_some() {
            s.send(Target::All, ServerMessage::Live { live });
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
    pub(super) fn activity(&mut self, at_ms: i64) {
        self.last_activity_ms = Some(self.last_activity_ms.map_or(at_ms, |a| a.max(at_ms)));
        self.quiet_alerted = false;
    }

    /// `close_poll` from the instructor, before its deadline.
    pub(super) fn close_poll_now(&mut self, poll_id: &str, s: &mut Step) -> Handled {
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
