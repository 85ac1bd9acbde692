//! What the control plane asks of this process's media: the room's
//! enforcement (kick, demote, mute, promote) and the figures behind a
//! participant's connection quality. A trait, so that `control` stays
//! beside the media layers instead of above them; `http` implements it over
//! ingest and egress.

use futures::future::BoxFuture;

use super::protocol::Quality;
use crate::ids::{ParticipantId, SessionId};

/// A participant's link as this process's WebRTC figures see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkStats {
    pub connected: bool,
    /// Share of packets lost, 0–1.
    pub fraction_lost: f64,
    pub rtt_ms: Option<f64>,
}

impl LinkStats {
    /// Green, yellow or red from the loss and the round trip.
    pub fn quality(&self) -> Quality {
        let rtt = self.rtt_ms.unwrap_or(0.0);
        if !self.connected || self.fraction_lost > 0.10 || rtt > 400.0 {
            Quality::Red
        } else if self.fraction_lost > 0.02 || rtt > 150.0 {
            Quality::Yellow
        } else {
            Quality::Green
        }
    }
}

/// This process's media of a session's participants. Each call acts only
/// on what this process holds (another process holding the participant's
/// media runs the same call from its copy of the room).
pub trait MediaControl: Send + Sync {
    /// The session's publishes this process holds, oldest first (`main`:
    /// the class's broadcast).
    fn publishes(&self, session: &SessionId) -> Vec<super::protocol::Publish>;

    /// The participant's link, when this process carries their media (as a
    /// viewer first, else as the publisher).
    fn link(&self, session: &SessionId, participant: &ParticipantId) -> Option<LinkStats>;

    /// The participant was handed a publish token: their viewer knows it is
    /// on stage.
    fn promote(&self, session: &SessionId, participant: &ParticipantId);

    /// Back to the audience: no longer promoted, and their publish ends.
    fn demote<'a>(
        &'a self,
        session: &'a SessionId,
        participant: &'a ParticipantId,
    ) -> BoxFuture<'a, ()>;

    /// Out of the class: demoted, and their viewer stopped too.
    fn kick<'a>(
        &'a self,
        session: &'a SessionId,
        participant: &'a ParticipantId,
    ) -> BoxFuture<'a, ()>;

    /// Mutes the participant's published audio.
    fn mute_audio(&self, session: &SessionId, participant: &ParticipantId);

    /// The instructor chose the broadcast's layout: the session's
    /// composition (if this process makes it) follows.
    fn set_layout(&self, session: &SessionId, layout: super::protocol::Layout);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(connected: bool, fraction_lost: f64, rtt_ms: Option<f64>) -> LinkStats {
        LinkStats {
            connected,
            fraction_lost,
            rtt_ms,
        }
    }

    #[test]
    fn quality_follows_loss_and_round_trip() {
        assert_eq!(link(true, 0.0, Some(20.0)).quality(), Quality::Green);
        assert_eq!(link(true, 0.05, None).quality(), Quality::Yellow);
        assert_eq!(link(true, 0.0, Some(200.0)).quality(), Quality::Yellow);
        assert_eq!(link(true, 0.2, Some(20.0)).quality(), Quality::Red);
        assert_eq!(link(true, 0.0, Some(900.0)).quality(), Quality::Red);
        assert_eq!(link(false, 0.0, None).quality(), Quality::Red);
        // A publisher's link: only its state is known.
        assert_eq!(link(true, 0.0, None).quality(), Quality::Green);
    }
}
