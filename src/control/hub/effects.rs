//! Running a room's effects: storage writes, and enforcement on the
//! participants' media (through the broker, so that the process holding
//! their media acts, and then through [`MediaControl`]).

use std::time::Duration;

use tokio::sync::mpsc;

use super::super::protocol::ServerMessage;
use super::super::room::Effect;
use super::super::stored::{chat_row, poll_row};
use super::envelope::{Enforcement, Envelope};
use super::Hub;
use crate::auth::{Claims, Role};
use crate::control::MediaControl;
use crate::ids::{ParticipantId, SessionId};
use crate::time::now_ms;

/// Batches of effects waiting for storage: beyond this the room waits for
/// the database instead of queueing without bound.
const EFFECTS_QUEUE: usize = 256;
/// Publish tokens handed to promoted students.
const STAGE_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);

/// A room's effects worker: effects run in order on a task of their own, so
/// the room goes on with its next input while a write waits for the database.
pub(super) struct Effects(mpsc::Sender<Vec<Effect>>);

impl Effects {
    pub(super) fn start(hub: &Hub, session: &SessionId) -> Self {
        let (tx, mut rx) = mpsc::channel::<Vec<Effect>>(EFFECTS_QUEUE);
        let hub = hub.clone();
        let session = session.clone();
        tokio::spawn(async move {
            while let Some(effects) = rx.recv().await {
                hub.run_effects(&session, effects).await;
            }
        });
        Effects(tx)
    }

    /// Queues effects for the worker; waits while its queue is full (the
    /// database is behind), which slows the room's inputs down to its pace.
    pub(super) async fn run(&self, effects: Vec<Effect>) {
        if !effects.is_empty() {
            let _ = self.0.send(effects).await;
        }
    }
}

impl Hub {
    async fn run_effects(&self, session: &SessionId, effects: Vec<Effect>) {
        let db = &self.inner.db;
        let session_id = session.as_str();
        for effect in effects {
            let at = now_ms();
            let result = match effect {
                Effect::StoreChat(m) => done(db.store_chat(session_id, &chat_row(&m, at)).await),
                Effect::DeleteChat { message_id } => done(db.delete_chat(&message_id, at).await),
                Effect::StoreReaction(r) => done(
                    db.store_reaction(&r.message_id, &r.participant_id, &r.emoji, at)
                        .await,
                ),
                Effect::RemoveReaction(r) => done(
                    db.remove_reaction(&r.message_id, &r.participant_id, &r.emoji)
                        .await,
                ),
                Effect::Joined { who, at_ms } => done(
                    db.attendance_join(
                        session_id,
                        &who.id,
                        &who.name,
                        &who.role,
                        &self.inner.instance,
                        at_ms,
                    )
                    .await,
                ),
                Effect::Left {
                    participant_id,
                    at_ms,
                } => done(
                    db.attendance_leave(session_id, &participant_id, at_ms)
                        .await,
                ),
                Effect::HandRaised {
                    participant_id,
                    at_ms,
                } => done(db.record_hand(session_id, &participant_id, at_ms).await),
                Effect::StorePoll(poll) => {
                    let closes = poll
                        .closes_at
                        .as_deref()
                        .and_then(crate::time::parse_rfc3339);
                    done(
                        db.store_poll(&poll_row(session_id, &poll, at, closes))
                            .await,
                    )
                }
                Effect::StoreAnswer {
                    poll_id,
                    participant_id,
                    choices,
                } => done(
                    db.store_answer(&poll_id, &participant_id, &choices, at)
                        .await,
                ),
                Effect::ClosePoll { poll, results } => {
                    done(db.close_poll(&poll.id, &(&results).into(), at).await)
                }
                Effect::StoreLobby { enabled } => done(db.set_lobby(session_id, enabled, at).await),
                Effect::StoreLayout { layout } => {
                    let stored = db.set_layout(session_id, layout, at).await;
                    // Told after the write: a process that starts composing
                    // later reads it from storage.
                    self.publish(session, &Envelope::Layout { layout }).await;
                    done(stored)
                }
                Effect::Kick { participant_id } => {
                    self.enforce_everywhere(session, participant_id.clone(), Enforcement::Kick)
                        .await;
                    done(db.ban(session_id, &participant_id, at).await)
                }
                Effect::Promote {
                    participant_id,
                    name,
                } => {
                    self.hand_stage_token(session, &participant_id, &name).await;
                    Ok(())
                }
                Effect::Demote { participant_id } => {
                    self.enforce_everywhere(session, participant_id, Enforcement::Demote)
                        .await;
                    Ok(())
                }
                Effect::MuteMedia { participant_id } => {
                    self.enforce_everywhere(session, participant_id, Enforcement::MuteAudio)
                        .await;
                    Ok(())
                }
                Effect::Refused {
                    participant_id,
                    code,
                } => {
                    tracing::info!(session = %session_id, participant = %participant_id, %code, "control message refused");
                    Ok(())
                }
            };
            if let Err(e) = result {
                tracing::warn!(session = %session_id, "storing a room effect: {e}");
            }
        }
    }

    async fn enforce_everywhere(
        &self,
        session: &SessionId,
        participant_id: String,
        action: Enforcement,
    ) {
        self.publish(
            session,
            &Envelope::Enforce {
                participant_id,
                action,
            },
        )
        .await;
    }

    /// A short-lived token that lets the student publish into this
    /// session, sent to them wherever their socket is.
    async fn hand_stage_token(&self, session: &SessionId, participant_id: &str, name: &str) {
        let mut claims = Claims::new(
            participant_id,
            name,
            Role::Student,
            Some(session.to_string()),
            STAGE_TOKEN_TTL,
        );
        claims.stage = true;
        let message = match self.inner.keys.sign(&claims) {
            Ok(token) => ServerMessage::CalledOn {
                publish_token: Some(token),
                whip_url: Some(format!("{}/whip/{session}", self.inner.public_url)),
            },
            Err(e) => {
                tracing::error!("signing a stage token: {e}");
                return;
            }
        };
        self.publish(
            session,
            &Envelope::Direct {
                participant_id: participant_id.to_owned(),
                message,
            },
        )
        .await;
    }
}

/// Runs an enforcement on this process's media of the participant.
pub(super) async fn enforce(
    media: &dyn MediaControl,
    session: &SessionId,
    participant: &ParticipantId,
    action: Enforcement,
) {
    match action {
        Enforcement::Kick => media.kick(session, participant).await,
        Enforcement::Demote => media.demote(session, participant).await,
        Enforcement::MuteAudio => media.mute_audio(session, participant),
    }
}

/// A storage step's outcome, without its value.
fn done<T>(r: Result<T, crate::db::DbError>) -> Result<(), crate::db::DbError> {
    r.map(|_| ())
}
