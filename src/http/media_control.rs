//! The control plane's media actions (`control::MediaControl`) over this
//! process's ingest and egress: http is the first layer above both.

use futures::future::BoxFuture;
use futures::FutureExt;
use std::sync::Arc;

use crate::compose::Composer;
use crate::control::protocol::{Layout, Publish};
use crate::control::{LinkStats, MediaControl};
use crate::egress::Egress;
use crate::ids::{ParticipantId, SessionId};
use crate::ingest::Ingest;
use crate::time::{now_ms, rfc3339};

#[derive(Clone)]
pub struct MediaPlanes {
    ingest: Ingest,
    egress: Egress,
    composer: Composer,
}

impl MediaPlanes {
    pub fn new(ingest: Ingest, egress: Egress, composer: Composer) -> Self {
        MediaPlanes {
            ingest,
            egress,
            composer,
        }
    }

    /// Off the stage: no longer promoted, and whatever the participant
    /// publishes in the session ends.
    async fn off_stage(&self, session: &SessionId, participant: &ParticipantId, reason: &str) {
        self.egress.set_promoted(session, participant, false);
        self.ingest.stop_user(session, participant, reason).await;
    }
}

impl MediaControl for MediaPlanes {
    fn publishes(&self, session: &SessionId) -> Vec<Publish> {
        publishes(&self.ingest, session)
    }

    fn link(&self, session: &SessionId, participant: &ParticipantId) -> Option<LinkStats> {
        if let Some(v) = self.egress.user_stats(session, participant) {
            return Some(LinkStats {
                connected: v.connection_state == "connected",
                fraction_lost: v.fraction_lost.unwrap_or(0.0),
                rtt_ms: v.rtt_ms,
            });
        }
        let publisher = self.ingest.publishes_by(session, participant).pop()?;
        let status = publisher.status(now_ms() as u64);
        Some(LinkStats {
            connected: status.connection_state == "connected",
            fraction_lost: 0.0,
            rtt_ms: None,
        })
    }

    fn promote(&self, session: &SessionId, participant: &ParticipantId) {
        self.egress.set_promoted(session, participant, true);
    }

    fn demote<'a>(
        &'a self,
        session: &'a SessionId,
        participant: &'a ParticipantId,
    ) -> BoxFuture<'a, ()> {
        self.off_stage(session, participant, "demoted").boxed()
    }

    fn kick<'a>(
        &'a self,
        session: &'a SessionId,
        participant: &'a ParticipantId,
    ) -> BoxFuture<'a, ()> {
        async move {
            self.off_stage(session, participant, "kicked").await;
            self.egress.stop_user(session, participant, "kicked").await;
        }
        .boxed()
    }

    fn mute_audio(&self, session: &SessionId, participant: &ParticipantId) {
        for p in self.ingest.publishes_by(session, participant) {
            p.set_audio_muted(true);
        }
    }

    fn set_layout(&self, session: &SessionId, layout: Layout) {
        self.composer.set_layout(session, layout);
    }
}

/// A session's live publishes as the socket and the session API show them.
pub fn publishes(ingest: &Ingest, session: &str) -> Vec<Publish> {
    let main = ingest.publisher(session);
    ingest
        .publishes_of(session)
        .iter()
        .map(|p| Publish {
            id: p.event_id().to_owned(),
            kind: p.kind().as_str().to_owned(),
            participant_id: p.publisher_id().to_owned(),
            name: p.publisher_name().to_owned(),
            main: main.as_ref().is_some_and(|m| Arc::ptr_eq(m, p)),
            ready: p.ready_producers().is_some(),
            started_at: rfc3339(p.started_at_ms()),
        })
        .collect()
}
