//! The process's rooms: one task per session with local participants. The
//! task keeps a copy of the room, publishes its sockets' inputs on the
//! session's broker channel, applies every input from the channel (its own
//! included) in the channel's order, and hands each output to the local
//! sockets it addresses. Effects run in the process the input came from.
//!
//! - `envelope`: what travels on the channel, in pieces when large;
//! - `replication`: the pure machine that keeps the copy in step;
//! - `registry`: the room's local sockets and delivery to them;
//! - `effects`: storage writes, and enforcement through `MediaControl`.

mod effects;
mod envelope;
mod registry;
mod replication;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::{mpsc, Notify};

use super::broker::{Broker, BrokerError};
use super::protocol::{ClientMessage, ServerMessage};
use super::room::{Identity, Input, Output, Room, Stored, StoredPoll, Target};
use super::MediaControl;
use crate::auth::{Claims, Keys, Role};
use crate::db::Db;
use crate::ids::{ParticipantId, SessionId};
use crate::time::now_ms;
use effects::Effects;
use envelope::{Envelope, Parts};
pub use registry::ToSocket;
use registry::{LocalSocket, Registry};
use replication::{Action, Replica};

const TICK: Duration = Duration::from_secs(1);
/// A room with no local sockets for this long stops its task.
const IDLE_STOP: Duration = Duration::from_secs(30);

enum Command {
    Connect {
        connection: String,
        who: Identity,
        socket: mpsc::Sender<ToSocket>,
        too_slow: Arc<Notify>,
    },
    Disconnect {
        connection: String,
        participant_id: String,
    },
    Client {
        participant_id: String,
        message: ClientMessage,
    },
}

#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    /// This process, on the broker (new at every start).
    node: String,
    /// This server instance, stable across restarts (attendance rows).
    instance: String,
    broker: Broker,
    db: Db,
    keys: Arc<Keys>,
    media: Arc<dyn MediaControl>,
    public_url: String,
    rooms: tokio::sync::Mutex<HashMap<String, mpsc::Sender<Command>>>,
}

/// A socket's handle on its room.
pub struct Membership {
    pub connection: String,
    pub participant_id: String,
    room: mpsc::Sender<Command>,
    too_slow: Arc<Notify>,
}

impl Membership {
    /// Resolves when the room dropped this socket because its queue was
    /// full: it missed messages and must close so the client resyncs.
    pub async fn too_slow(&self) {
        self.too_slow.notified().await
    }

    /// Sends a client message into the room (rejected ones come back as errors).
    pub async fn send(&self, message: ClientMessage) {
        let _ = self
            .room
            .send(Command::Client {
                participant_id: self.participant_id.clone(),
                message,
            })
            .await;
    }

    pub async fn leave(self) {
        let _ = self
            .room
            .send(Command::Disconnect {
                connection: self.connection.clone(),
                participant_id: self.participant_id.clone(),
            })
            .await;
    }
}

/// A room task's own state beside its replica.
struct Local {
    session: SessionId,
    registry: Registry,
    effects: Effects,
}

fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

impl Hub {
    pub fn new(
        broker: Broker,
        db: Db,
        keys: Arc<Keys>,
        media: Arc<dyn MediaControl>,
        public_url: String,
        instance: String,
    ) -> Self {
        Hub {
            inner: Arc::new(Inner {
                node: new_id(),
                instance,
                broker,
                db,
                keys,
                media,
                public_url,
                rooms: tokio::sync::Mutex::new(HashMap::new()),
            }),
        }
    }

    pub fn broker_name(&self) -> &'static str {
        self.inner.broker.name()
    }

    /// Joins an authenticated socket to its session's room.
    pub async fn join(
        &self,
        session_id: &str,
        claims: &Claims,
        socket: mpsc::Sender<ToSocket>,
    ) -> Membership {
        let connection = format!("{}:{}", self.inner.node, new_id());
        let who = Identity {
            id: claims.sub.clone(),
            name: claims.name.clone(),
            role: claims.role.as_str().to_owned(),
        };
        let room = self.room(session_id).await;
        let too_slow = Arc::new(Notify::new());
        let _ = room
            .send(Command::Connect {
                connection: connection.clone(),
                who: who.clone(),
                socket,
                too_slow: too_slow.clone(),
            })
            .await;
        Membership {
            connection,
            participant_id: who.id,
            room,
            too_slow,
        }
    }

    /// The session's room task, started if needed.
    async fn room(&self, session_id: &str) -> mpsc::Sender<Command> {
        let mut rooms = self.inner.rooms.lock().await;
        if let Some(tx) = rooms.get(session_id).filter(|tx| !tx.is_closed()) {
            return tx.clone();
        }
        let (tx, rx) = mpsc::channel(1024);
        rooms.insert(session_id.to_owned(), tx.clone());
        let hub = self.clone();
        let session = SessionId::from(session_id);
        tokio::spawn(async move {
            if let Err(e) = hub.run_room(&session, rx).await {
                tracing::error!(session = %session, "room stopped: {e}");
            }
            let mut rooms = hub.inner.rooms.lock().await;
            if rooms.get(session.as_str()).is_some_and(|tx| tx.is_closed()) {
                rooms.remove(session.as_str());
            }
        });
        tx
    }

    /// Publishes an envelope on the session's channel, in pieces when it is
    /// over the broker's limit; whether it all went out (failures logged).
    async fn publish(&self, session: &SessionId, envelope: &Envelope) -> bool {
        let payloads = match envelope::encode(envelope, new_id) {
            Ok(payloads) => payloads,
            Err(e) => {
                tracing::error!("{e}");
                return false;
            }
        };
        for payload in payloads {
            if let Err(e) = self.inner.broker.publish(session, payload).await {
                tracing::warn!(session = %session, "broker publish: {e}");
                return false;
            }
        }
        true
    }

    /// Publishes one of this process's inputs to every copy of the room.
    async fn publish_input(&self, session: &SessionId, input: Input) -> bool {
        let envelope = Envelope::Input {
            origin: self.inner.node.clone(),
            input,
        };
        self.publish(session, &envelope).await
    }

    async fn run_room(
        &self,
        session: &SessionId,
        mut commands: mpsc::Receiver<Command>,
    ) -> Result<(), BrokerError> {
        let mut channel = self.inner.broker.subscribe(session).await?;
        let (mut replica, actions) = Replica::join(
            &self.inner.node,
            session,
            channel.gaps(),
            new_id(),
            Instant::now(),
        );
        let mut local = Local {
            session: session.clone(),
            registry: Registry::default(),
            effects: Effects::start(self, session),
        };
        self.act(&mut local, &replica, actions).await;
        let mut parts = Parts::default();
        // Sockets join once the room is there.
        let mut pending_commands: Vec<Command> = Vec::new();
        while let Some(until) = replica.joining_until() {
            tokio::select! {
                _ = tokio::time::sleep_until(until.into()) => {
                    let room = self.restore(session).await;
                    let actions = replica.restored(room);
                    self.act(&mut local, &replica, actions).await;
                }
                Some(payload) = channel.next() => {
                    let Some(envelope) = parts.envelope(&payload) else { continue };
                    let actions = replica.envelope(envelope);
                    self.act(&mut local, &replica, actions).await;
                }
                Some(command) = commands.recv() => pending_commands.push(command),
            }
        }
        for command in pending_commands {
            self.on_command(&mut local, command).await;
        }
        let mut tick = tokio::time::interval(TICK);
        let mut idle_since: Option<tokio::time::Instant> = None;
        loop {
            tokio::select! {
                command = commands.recv() => {
                    match command {
                        Some(c) => self.on_command(&mut local, c).await,
                        None => break,
                    }
                }
                payload = channel.next() => {
                    let Some(payload) = payload else { break };
                    if let Some(envelope) = parts.envelope(&payload) {
                        let actions = replica.envelope(envelope);
                        self.act(&mut local, &replica, actions).await;
                    }
                }
                _ = tick.tick() => {
                    // Payloads lost for this process (a broker outage, or
                    // its receiver lagged behind) show as a grown gap count:
                    // the replica asks the other processes for the room. At
                    // most once a tick, so a process that is behind does not
                    // add a storm of copies to the channel.
                    let actions = replica.gaps(channel.gaps(), new_id(), Instant::now());
                    self.act(&mut local, &replica, actions).await;
                    self.publish_quality(&mut local).await;
                    let publishes = self.inner.media.publishes(session);
                    // This process holds the class's broadcast.
                    let publishing = publishes.iter().any(|p| p.main);
                    let actions = replica.publishes(publishes);
                    self.act(&mut local, &replica, actions).await;
                    let actions = replica.tick(Instant::now(), now_ms(), publishing);
                    self.act(&mut local, &replica, actions).await;
                    if local.registry.is_empty() {
                        let since = *idle_since.get_or_insert_with(tokio::time::Instant::now);
                        if since.elapsed() > IDLE_STOP {
                            break;
                        }
                    } else {
                        idle_since = None;
                    }
                }
            }
        }
        Ok(())
    }

    /// Carries out the replica's actions, in order.
    async fn act(&self, local: &mut Local, replica: &Replica, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Publish(envelope) => {
                    self.publish(&local.session, &envelope).await;
                }
                Action::Deliver(outputs) => local.registry.deliver(outputs),
                Action::RunEffects(effects) => local.effects.run(effects).await,
                Action::Enforce {
                    participant_id,
                    action,
                } => {
                    let participant = ParticipantId::from(participant_id);
                    effects::enforce(&*self.inner.media, &local.session, &participant, action).await
                }
                Action::Promote { participant_id } => {
                    let participant = ParticipantId::from(participant_id);
                    self.inner.media.promote(&local.session, &participant)
                }
                Action::Layout { layout } => self.inner.media.set_layout(&local.session, layout),
                Action::Resynced => {
                    let admitted = local.registry.admitted();
                    let outputs = replica.welcome_again(admitted.iter().map(String::as_str));
                    local.registry.deliver(outputs);
                }
            }
        }
    }

    /// The room as storage kept it (see `Room::restore`). What cannot be
    /// read is logged and left out: the class goes on without it.
    async fn restore(&self, session_id: &str) -> Room {
        let db = &self.inner.db;
        let mut stored = Stored::default();
        match db.chat_history(session_id, super::room::HISTORY).await {
            Ok(chat) => stored.chat = chat.into_iter().map(Into::into).collect(),
            Err(e) => tracing::warn!(session = %session_id, "restoring the room's chat: {e}"),
        }
        match tokio::try_join!(db.polls(session_id), db.poll_answers(session_id)) {
            Ok((polls, mut answers)) => {
                stored.polls = polls
                    .into_iter()
                    .map(|p| StoredPoll {
                        answers: answers.remove(&p.id).unwrap_or_default(),
                        closes_at_ms: p.closes_at,
                        poll: (&p).into(),
                    })
                    .collect();
            }
            Err(e) => tracing::warn!(session = %session_id, "restoring the room's polls: {e}"),
        }
        match db.lobby_enabled(session_id).await {
            Ok(enabled) => stored.lobby_enabled = enabled,
            Err(e) => tracing::warn!(session = %session_id, "restoring the room's lobby: {e}"),
        }
        match db.layout(session_id).await {
            Ok(layout) => stored.layout = layout,
            Err(e) => tracing::warn!(session = %session_id, "restoring the broadcast layout: {e}"),
        }
        match db.bans(session_id).await {
            Ok(banned) => stored.banned = banned,
            Err(e) => tracing::warn!(session = %session_id, "restoring the room's bans: {e}"),
        }
        Room::restore(session_id, stored)
    }

    /// Local participants' connection quality, from their WebRTC figures,
    /// into the room when it changes (through the broker, like any input).
    async fn publish_quality(&self, local: &mut Local) {
        for participant_id in local.registry.admitted() {
            let participant = ParticipantId::from(participant_id);
            let quality = self
                .inner
                .media
                .link(&local.session, &participant)
                .map(|link| link.quality());
            if !local.registry.quality_changed(&participant, quality) {
                continue;
            }
            let input = Input::Quality {
                participant_id: participant.into_string(),
                quality,
            };
            self.publish_input(&local.session, input).await;
        }
    }

    async fn on_command(&self, local: &mut Local, command: Command) {
        let input = match command {
            Command::Connect {
                connection,
                who,
                socket,
                too_slow,
            } => {
                local.registry.connect(
                    connection.clone(),
                    LocalSocket {
                        participant_id: who.id.clone(),
                        instructor: who.role == Role::Instructor.as_str(),
                        admitted: false,
                        socket,
                        too_slow,
                    },
                );
                Input::Join {
                    who,
                    connection,
                    at_ms: now_ms(),
                }
            }
            Command::Disconnect {
                connection,
                participant_id,
            } => {
                local.registry.disconnect(&connection);
                Input::Leave {
                    participant_id,
                    connection,
                    at_ms: now_ms(),
                }
            }
            Command::Client {
                participant_id,
                message,
            } => {
                let input = Input::Message {
                    from: participant_id.clone(),
                    msg: message,
                    id: new_id(),
                    at_ms: now_ms(),
                };
                if !self.publish_input(&local.session, input).await {
                    // Not silently lost: the sender hears it did not go out.
                    let error = ServerMessage::Error {
                        code: "not_delivered".into(),
                        message: "The server could not pass your message on; send it again.".into(),
                    };
                    local.registry.deliver(vec![Output::Send {
                        to: Target::Participant(participant_id),
                        msg: error,
                    }]);
                }
                return;
            }
        };
        self.publish_input(&local.session, input).await;
    }
}
