//! Following the ingest: a publish that ends takes its viewers with it, and
//! a follower that lagged behind the ingest's events reconciles.

use super::Egress;
use crate::ids::{ResourceId, SessionId};
use crate::ingest::{Ingest, IngestEvent};
use crate::media::follow::{self, Heard};

impl Egress {
    /// Closes the session's viewers when its publisher stops: their tracks
    /// end, and players offer again once the instructor is back.
    pub fn follow(&self, ingest: &Ingest) -> tokio::task::JoinHandle<()> {
        let egress = self.clone();
        let mut events = ingest.subscribe();
        tokio::spawn(async move {
            while let Some(heard) = follow::next(&mut events).await {
                match heard {
                    Heard::Event(IngestEvent::Stopped {
                        session_id,
                        resource_id,
                        ..
                    }) => {
                        egress
                            .stop_publish_viewers(&session_id, &resource_id, "publisher-left")
                            .await;
                    }
                    Heard::Event(_) => {}
                    Heard::Lagged { missed } => {
                        tracing::warn!("egress missed {missed} ingest events; reconciling");
                        egress.reconcile().await;
                    }
                }
            }
        })
    }

    /// Closes the viewers of publishes that ended (a missed stop, or a
    /// reconnect whose new publish they do not follow).
    async fn reconcile(&self) {
        let publishes = self.inner.ingest.publishers().into_iter().map(|p| {
            (
                SessionId::from(p.session_id()),
                ResourceId::from(p.resource_id()),
            )
        });
        let followed: Vec<(SessionId, ResourceId, ResourceId)> = self
            .viewers()
            .iter()
            .flat_map(|(session, slots)| {
                slots.values().filter_map(move |e| {
                    let v = e.live()?;
                    let info = v.info();
                    Some((
                        session.clone(),
                        info.publish_id.clone(),
                        info.resource_id.clone(),
                    ))
                })
            })
            .collect();
        let plan = follow::reconcile(
            publishes,
            followed
                .iter()
                .map(|(s, publish, _)| (s.clone(), publish.clone())),
        );
        for (session_id, publish_id, resource_id) in &followed {
            if plan
                .stop
                .contains(&(session_id.clone(), publish_id.clone()))
            {
                let _ = self.stop(session_id, resource_id, "publisher-left").await;
            }
        }
    }
}
