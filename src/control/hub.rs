//! The process's rooms: one task per session with local participants. The
//! task keeps a copy of the room, publishes its sockets' inputs on the
//! session's broker channel, applies every input from the channel (its own
//! included) in the channel's order, and hands each output to the local
//! sockets it addresses. Effects run in the process the input came from.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, Notify};

use super::broker::{Broker, MAX_PAYLOAD_BYTES};
use super::protocol::{serialize, ClientMessage, Quality, ServerMessage};
use super::room::{Effect, Identity, Input, Output, Room, Stored, StoredPoll, Target};
use super::stored::{chat_row, poll_row};
use crate::auth::{Claims, Keys, Role};
use crate::db::Db;
use crate::egress::Egress;
use crate::ingest::Ingest;
use crate::time::now_ms;

/// What a socket receives from its room. Messages come serialized: a
/// message to the whole room is written once, not once per receiver.
#[derive(Debug, Clone)]
pub enum ToSocket {
    Message(Utf8Bytes),
    /// An `error` answering one of the socket's messages: it counts toward
    /// the socket's abuse limit like a frame that does not parse.
    Refused(Utf8Bytes),
    Close {
        code: u16,
        reason: String,
    },
}

/// One message on a session's broker channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "envelope", rename_all = "snake_case")]
enum Envelope {
    Input {
        origin: String,
        input: Input,
    },
    /// A process that starts the room asks for a copy.
    SyncRequest {
        origin: String,
        nonce: String,
    },
    /// One piece of a room copy: the whole room (chat history included)
    /// exceeds what one broker message may carry (PostgreSQL: 8000 bytes).
    SnapshotPart {
        nonce: String,
        index: usize,
        total: usize,
        data: String,
    },
    /// An action on a participant's media, run by whichever process holds
    /// their WHIP/WHEP resources.
    Enforce {
        participant_id: String,
        action: Enforcement,
    },
    /// Someone publishes (or stopped) in the process that holds the publish.
    Live {
        live: bool,
    },
    /// A message for one participant, wherever their socket is.
    Direct {
        participant_id: String,
        message: ServerMessage,
    },
    /// One piece of an envelope too large for one broker message (a long
    /// chat message full of characters JSON escapes); applied when the last
    /// piece arrives, so every process applies it at the same point.
    Part {
        id: String,
        index: usize,
        total: usize,
        data: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Enforcement {
    Kick,
    Demote,
    MuteAudio,
}

/// A room copy (or an oversized envelope) is sent in pieces of at most this
/// many bytes once escaped as a JSON string: with the envelope around it,
/// one piece stays under the broker's limit.
const SNAPSHOT_PIECE: usize = 6000;
/// Pieces of oversized envelopes being put together at once (only server
/// processes publish on the channel; this bounds a confused one).
const MAX_PARTIAL_ENVELOPES: usize = 64;
/// Batches of effects waiting for storage: beyond this the room waits for
/// the database instead of queueing without bound.
const EFFECTS_QUEUE: usize = 256;

/// How long a new room waits for another process's copy.
const SYNC_WAIT: Duration = Duration::from_millis(700);
const TICK: Duration = Duration::from_secs(1);
/// A room with no local sockets for this long stops its task.
const IDLE_STOP: Duration = Duration::from_secs(30);
/// Publish tokens handed to promoted students.
const STAGE_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);

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
    ingest: Ingest,
    egress: Egress,
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

impl Hub {
    pub fn new(
        broker: Broker,
        db: Db,
        keys: Arc<Keys>,
        ingest: Ingest,
        egress: Egress,
        public_url: String,
        instance: String,
    ) -> Self {
        Hub {
            inner: Arc::new(Inner {
                node: uuid::Uuid::new_v4().simple().to_string(),
                instance,
                broker,
                db,
                keys,
                ingest,
                egress,
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
        let connection = format!("{}:{}", self.inner.node, uuid::Uuid::new_v4().simple());
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
        let session = session_id.to_owned();
        tokio::spawn(async move {
            if let Err(e) = hub.run_room(&session, rx).await {
                tracing::error!(session = %session, "room stopped: {e}");
            }
            let mut rooms = hub.inner.rooms.lock().await;
            if rooms.get(&session).is_some_and(|tx| tx.is_closed()) {
                rooms.remove(&session);
            }
        });
        tx
    }

    /// Publishes an envelope on the session's channel, in pieces when it is
    /// over the broker's limit; whether it all went out (failures logged).
    async fn publish(&self, session_id: &str, envelope: &Envelope) -> bool {
        let payload = match serde_json::to_string(envelope) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!("envelope: {e}");
                return false;
            }
        };
        let payloads = if payload.len() > MAX_PAYLOAD_BYTES {
            let id = uuid::Uuid::new_v4().simple().to_string();
            let pieces = split_escaped(&payload, SNAPSHOT_PIECE);
            let total = pieces.len();
            let mut out = Vec::with_capacity(total);
            for (index, data) in pieces.into_iter().enumerate() {
                let part = Envelope::Part {
                    id: id.clone(),
                    index,
                    total,
                    data,
                };
                match serde_json::to_string(&part) {
                    Ok(p) => out.push(p),
                    Err(e) => {
                        tracing::error!("envelope part: {e}");
                        return false;
                    }
                }
            }
            out
        } else {
            vec![payload]
        };
        for payload in payloads {
            if let Err(e) = self.inner.broker.publish(session_id, payload).await {
                tracing::warn!(session = %session_id, "broker publish: {e}");
                return false;
            }
        }
        true
    }

    async fn run_room(
        &self,
        session_id: &str,
        mut commands: mpsc::Receiver<Command>,
    ) -> Result<(), super::broker::BrokerError> {
        let mut channel = self.inner.broker.subscribe(session_id).await?;
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        self.publish(
            session_id,
            &Envelope::SyncRequest {
                origin: self.inner.node.clone(),
                nonce: nonce.clone(),
            },
        )
        .await;
        // Until a copy arrives (or nobody answers), inputs after our request
        // wait here; the copy already holds everything before it.
        let mut room: Option<Room> = None;
        let mut pieces = SnapshotPieces::default();
        let mut held: Vec<Envelope> = Vec::new();
        let mut after_request = false;
        let deadline = tokio::time::sleep(SYNC_WAIT);
        tokio::pin!(deadline);
        let mut pending_commands: Vec<Command> = Vec::new();
        let mut parts = Parts::default();
        while room.is_none() {
            tokio::select! {
                _ = &mut deadline => {
                    room = Some(self.restore(session_id).await);
                }
                Some(payload) = channel.next() => {
                    let Some(envelope) = parts.envelope(&payload) else { continue };
                    match envelope {
                        Envelope::SyncRequest { nonce: n, .. } if n == nonce => after_request = true,
                        Envelope::SnapshotPart { nonce: n, index, total, data } if n == nonce => {
                            room = pieces.add(session_id, index, total, data);
                        }
                        other if after_request => held.push(other),
                        _ => {}
                    }
                }
                Some(command) = commands.recv() => pending_commands.push(command),
            }
        }
        let mut room = room.unwrap_or_else(|| Room::new(session_id));
        let mut local = Local {
            effects: Some(self.effects_worker(session_id)),
            ..Local::default()
        };
        for envelope in held {
            self.on_envelope(session_id, &mut room, &mut local, envelope)
                .await;
        }
        for command in pending_commands {
            self.on_command(session_id, &mut local, command).await;
        }
        let mut tick = tokio::time::interval(TICK);
        let mut idle_since: Option<tokio::time::Instant> = None;
        let mut seen_gaps = channel.gaps();
        let mut resync: Option<Resync> = None;
        loop {
            tokio::select! {
                command = commands.recv() => {
                    match command {
                        Some(c) => self.on_command(session_id, &mut local, c).await,
                        None => break,
                    }
                }
                payload = channel.next() => {
                    let Some(payload) = payload else { break };
                    if let Some(e) = parts.envelope(&payload) {
                        if let Some(copy) = resync.as_mut().and_then(|r| r.offer(session_id, &e)) {
                            tracing::info!(session = %session_id, "room copy resynchronised after a broker gap");
                            room = copy;
                            resync = None;
                            // This process's members may have missed
                            // messages: they get the room again.
                            let admitted: std::collections::BTreeSet<String> = local
                                .sockets
                                .values()
                                .filter(|s| s.admitted)
                                .map(|s| s.participant_id.clone())
                                .collect();
                            let outputs = room.welcome_again(admitted.iter().map(String::as_str));
                            self.deliver(&mut local, outputs).await;
                        }
                        self.on_envelope(session_id, &mut room, &mut local, e).await
                    }
                }
                _ = tick.tick() => {
                    // Payloads were lost for this process (broker outage, or
                    // it fell behind): ask the other processes for a copy.
                    let gaps = channel.gaps();
                    if gaps != seen_gaps {
                        seen_gaps = gaps;
                        let r = Resync::new();
                        tracing::warn!(session = %session_id, "broker gap: asking the other processes for the room");
                        self.publish(
                            session_id,
                            &Envelope::SyncRequest { origin: self.inner.node.clone(), nonce: r.nonce.clone() },
                        )
                        .await;
                        resync = Some(r);
                    } else if resync.as_ref().is_some_and(Resync::expired) {
                        // Nobody answered: this copy is the only one.
                        resync = None;
                    }
                    self.publish_quality(session_id, &mut local).await;
                    // The process holding the publish tells the others, so
                    // every copy of the room knows the class is live.
                    let here = self.inner.ingest.publisher(session_id).is_some();
                    if local.announced_live != Some(here) {
                        local.announced_live = Some(here);
                        if here || local.cluster_live {
                            self.publish(session_id, &Envelope::Live { live: here }).await;
                        }
                    }
                    let live = here || local.cluster_live;
                    let (outputs, effects) = room.apply(Input::Tick { at_ms: now_ms(), live });
                    self.deliver(&mut local, outputs).await;
                    // Every process runs a tick's effects: they are idempotent.
                    local.run_effects(effects).await;
                    if local.sockets.is_empty() {
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
        match db.bans(session_id).await {
            Ok(banned) => stored.banned = banned,
            Err(e) => tracing::warn!(session = %session_id, "restoring the room's bans: {e}"),
        }
        Room::restore(session_id, stored)
    }

    /// Local participants' connection quality, from their WebRTC figures,
    /// into the room when it changes (through the broker, like any input).
    async fn publish_quality(&self, session_id: &str, local: &mut Local) {
        let participants: Vec<String> = local
            .sockets
            .values()
            .filter(|s| s.admitted)
            .map(|s| s.participant_id.clone())
            .collect();
        for participant_id in participants {
            let quality = self.quality_of(session_id, &participant_id);
            if local.quality.get(&participant_id) == Some(&quality) {
                continue;
            }
            local.quality.insert(participant_id.clone(), quality);
            let input = Input::Quality {
                participant_id,
                quality,
            };
            self.publish(
                session_id,
                &Envelope::Input {
                    origin: self.inner.node.clone(),
                    input,
                },
            )
            .await;
        }
    }

    fn quality_of(&self, session_id: &str, participant_id: &str) -> Option<Quality> {
        if let Some(v) = self.inner.egress.user_stats(session_id, participant_id) {
            if v.connection_state != "connected" {
                return Some(Quality::Red);
            }
            return Some(quality_from(v.fraction_lost.unwrap_or(0.0), v.rtt_ms));
        }
        let publisher = self.inner.ingest.publisher(session_id)?;
        if publisher.publisher_id() != participant_id {
            return None;
        }
        let status = publisher.status(now_ms() as u64);
        Some(if status.connection_state == "connected" {
            Quality::Green
        } else {
            Quality::Red
        })
    }

    async fn on_command(&self, session_id: &str, local: &mut Local, command: Command) {
        let input = match command {
            Command::Connect {
                connection,
                who,
                socket,
                too_slow,
            } => {
                local.sockets.insert(
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
                local.sockets.remove(&connection);
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
                    id: uuid::Uuid::new_v4().simple().to_string(),
                    at_ms: now_ms(),
                };
                let envelope = Envelope::Input {
                    origin: self.inner.node.clone(),
                    input,
                };
                if !self.publish(session_id, &envelope).await {
                    // Not silently lost: the sender hears it did not go out.
                    let error = ServerMessage::Error {
                        code: "not_delivered".into(),
                        message: "The server could not pass your message on; send it again.".into(),
                    };
                    self.deliver(
                        local,
                        vec![Output::Send {
                            to: Target::Participant(participant_id),
                            msg: error,
                        }],
                    )
                    .await;
                }
                return;
            }
        };
        self.publish(
            session_id,
            &Envelope::Input {
                origin: self.inner.node.clone(),
                input,
            },
        )
        .await;
    }

    async fn on_envelope(
        &self,
        session_id: &str,
        room: &mut Room,
        local: &mut Local,
        envelope: Envelope,
    ) {
        match envelope {
            Envelope::Input { origin, input } => {
                let (outputs, effects) = room.apply(input);
                self.deliver(local, outputs).await;
                if origin == self.inner.node {
                    local.run_effects(effects).await;
                }
            }
            Envelope::SyncRequest { origin, nonce } if origin != self.inner.node => {
                let text = room.export().to_string();
                let pieces = split_escaped(&text, SNAPSHOT_PIECE);
                let total = pieces.len();
                for (index, data) in pieces.into_iter().enumerate() {
                    let part = Envelope::SnapshotPart {
                        nonce: nonce.clone(),
                        index,
                        total,
                        data,
                    };
                    self.publish(session_id, &part).await;
                }
            }
            Envelope::Enforce {
                participant_id,
                action,
            } => self.enforce(session_id, &participant_id, action).await,
            Envelope::Live { live } => local.cluster_live = live,
            Envelope::Direct {
                participant_id,
                message,
            } => {
                if let ServerMessage::CalledOn {
                    publish_token: Some(_),
                    ..
                } = &message
                {
                    self.inner
                        .egress
                        .set_promoted(session_id, &participant_id, true);
                }
                self.deliver(
                    local,
                    vec![Output::Send {
                        to: Target::Participant(participant_id),
                        msg: message,
                    }],
                )
                .await;
            }
            _ => {}
        }
    }

    async fn deliver(&self, local: &mut Local, outputs: Vec<Output>) {
        deliver(local, outputs);
    }
    /// Runs a room's effects (storage, enforcement) in order on a task of
    /// their own: the room goes on with its next input while a write waits
    /// for the database.
    fn effects_worker(&self, session_id: &str) -> mpsc::Sender<Vec<Effect>> {
        let (tx, mut rx) = mpsc::channel::<Vec<Effect>>(EFFECTS_QUEUE);
        let hub = self.clone();
        let session = session_id.to_owned();
        tokio::spawn(async move {
            while let Some(effects) = rx.recv().await {
                hub.run_effects(&session, effects).await;
            }
        });
        tx
    }

    async fn run_effects(&self, session_id: &str, effects: Vec<Effect>) {
        let db = &self.inner.db;
        for effect in effects {
            let at = now_ms();
            let result = match effect {
                Effect::StoreChat(m) => done(db.store_chat(session_id, &chat_row(&m, at)).await),
                Effect::DeleteChat { message_id } => done(db.delete_chat(&message_id, at).await),
                Effect::StoreReaction {
                    message_id,
                    participant_id,
                    emoji,
                } => done(
                    db.store_reaction(&message_id, &participant_id, &emoji, at)
                        .await,
                ),
                Effect::RemoveReaction {
                    message_id,
                    participant_id,
                    emoji,
                } => done(
                    db.remove_reaction(&message_id, &participant_id, &emoji)
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
                Effect::Kick { participant_id } => {
                    self.enforce_everywhere(session_id, participant_id.clone(), Enforcement::Kick)
                        .await;
                    done(db.ban(session_id, &participant_id, at).await)
                }
                Effect::Promote { participant_id } => {
                    self.promote(session_id, &participant_id).await;
                    Ok(())
                }
                Effect::Demote { participant_id } => {
                    self.enforce_everywhere(session_id, participant_id, Enforcement::Demote)
                        .await;
                    Ok(())
                }
                Effect::MuteMedia { participant_id } => {
                    self.enforce_everywhere(session_id, participant_id, Enforcement::MuteAudio)
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
        session_id: &str,
        participant_id: String,
        action: Enforcement,
    ) {
        self.publish(
            session_id,
            &Envelope::Enforce {
                participant_id,
                action,
            },
        )
        .await;
    }

    /// Runs an enforcement on this process's resources of the participant.
    async fn enforce(&self, session_id: &str, participant_id: &str, action: Enforcement) {
        match action {
            Enforcement::Kick => self.kick(session_id, participant_id).await,
            Enforcement::Demote => {
                self.inner
                    .egress
                    .set_promoted(session_id, participant_id, false);
                self.end_publish_of(session_id, participant_id, "demoted")
                    .await
            }
            Enforcement::MuteAudio => {
                if let Some(p) = self.inner.ingest.publisher(session_id) {
                    if p.publisher_id() == participant_id {
                        p.set_audio_muted(true);
                    }
                }
            }
        }
    }

    /// A short-lived token that lets the student publish into this session.
    async fn promote(&self, session_id: &str, participant_id: &str) {
        let mut claims = Claims::new(
            participant_id,
            participant_id,
            Role::Student,
            Some(session_id.to_owned()),
            STAGE_TOKEN_TTL,
        );
        claims.stage = true;
        let message = match self.inner.keys.sign(&claims) {
            Ok(token) => ServerMessage::CalledOn {
                publish_token: Some(token),
                whip_url: Some(format!("{}/whip/{session_id}", self.inner.public_url)),
            },
            Err(e) => {
                tracing::error!("signing a stage token: {e}");
                return;
            }
        };
        self.publish(
            session_id,
            &Envelope::Direct {
                participant_id: participant_id.to_owned(),
                message,
            },
        )
        .await;
    }

    async fn end_publish_of(&self, session_id: &str, participant_id: &str, reason: &str) {
        if let Some(p) = self.inner.ingest.publisher(session_id) {
            if p.publisher_id() == participant_id {
                let _ = self.inner.ingest.stop(session_id, None, reason).await;
            }
        }
    }

    async fn kick(&self, session_id: &str, participant_id: &str) {
        self.inner
            .egress
            .set_promoted(session_id, participant_id, false);
        self.end_publish_of(session_id, participant_id, "kicked")
            .await;
        self.inner
            .egress
            .stop_user(session_id, participant_id, "kicked")
            .await;
    }
}

/// Hands each output to the local sockets it addresses (without waiting:
/// a full queue closes that socket as too slow).
fn deliver(local: &mut Local, outputs: Vec<Output>) {
    let mut too_slow: Vec<String> = Vec::new();

    for output in outputs {
        match output {
            Output::Send { to, msg } => {
                if matches!(msg, ServerMessage::Welcome { .. }) {
                    if let Target::Participant(p) = &to {
                        for s in local.sockets.values_mut() {
                            if &s.participant_id == p {
                                s.admitted = true;
                            }
                        }
                    }
                }
                let mut serialized: Option<Utf8Bytes> = None;
                let refusal = matches!(msg, ServerMessage::Error { .. });
                for (connection, s) in &local.sockets {
                    let addressed = match &to {
                        Target::All => s.admitted,
                        Target::AllExcept(p) => s.admitted && &s.participant_id != p,
                        Target::Participant(p) => &s.participant_id == p,
                        Target::Instructors => s.admitted && s.instructor,
                    };
                    if !addressed || too_slow.contains(connection) {
                        continue;
                    }
                    let text = serialized.get_or_insert_with(|| serialize(&msg)).clone();
                    let item = if refusal {
                        ToSocket::Refused(text)
                    } else {
                        ToSocket::Message(text)
                    };
                    // A socket that cannot keep up never holds up the
                    // room: its queue is bounded, and once full the
                    // socket is let go (it closes with 4008 and its
                    // client reconnects to a fresh `welcome`) rather
                    // than going on with a hole in what it was sent.
                    if let Err(mpsc::error::TrySendError::Full(_)) = s.socket.try_send(item) {
                        tracing::info!(participant = %s.participant_id, "socket queue full; closing it as too slow");
                        s.too_slow.notify_one();
                        too_slow.push(connection.clone());
                    }
                }
            }
            Output::Close {
                connection,
                code,
                reason,
            } => {
                if let Some(s) = local.sockets.remove(&connection) {
                    if let Err(mpsc::error::TrySendError::Full(_)) =
                        s.socket.try_send(ToSocket::Close { code, reason })
                    {
                        s.too_slow.notify_one();
                    }
                }
            }
        }
    }
    // Its socket leaves the room when it closes (`Membership::leave`).
    for connection in too_slow {
        local.sockets.remove(&connection);
    }
}

/// A storage step's outcome, without its value.
fn done<T>(r: Result<T, crate::db::DbError>) -> Result<(), crate::db::DbError> {
    r.map(|_| ())
}

struct LocalSocket {
    participant_id: String,
    instructor: bool,
    /// Welcomed into the room (not waiting in the lobby).
    admitted: bool,
    socket: mpsc::Sender<ToSocket>,
    /// Told when the socket's queue overflowed.
    too_slow: Arc<Notify>,
}

#[derive(Default)]
struct Local {
    sockets: HashMap<String, LocalSocket>,
    /// The quality last published per local participant.
    quality: HashMap<String, Option<Quality>>,
    /// Some process holds a live publish (from `Envelope::Live`).
    cluster_live: bool,
    /// What this process last said about its own publish.
    announced_live: Option<bool>,
    /// The room's effects worker.
    effects: Option<mpsc::Sender<Vec<Effect>>>,
}

impl Local {
    /// Queues effects for the worker; waits while its queue is full (the
    /// database is behind), which slows the room's inputs down to its pace.
    async fn run_effects(&self, effects: Vec<Effect>) {
        if effects.is_empty() {
            return;
        }
        if let Some(worker) = &self.effects {
            let _ = worker.send(effects).await;
        }
    }
}

/// Envelopes from broker payloads, putting oversized ones back together
/// from their `Envelope::Part`s.
#[derive(Default)]
struct Parts {
    /// By envelope id, in arrival order of the first piece.
    partial: Vec<(String, SnapshotPieces)>,
}

impl Parts {
    /// The payload's envelope: `None` for a bad payload or a piece that does
    /// not complete its envelope.
    fn envelope(&mut self, payload: &str) -> Option<Envelope> {
        let envelope = match serde_json::from_str::<Envelope>(payload) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!("bad envelope on the broker: {e}");
                return None;
            }
        };
        let Envelope::Part {
            id,
            index,
            total,
            data,
        } = envelope
        else {
            return Some(envelope);
        };
        let pos = match self.partial.iter().position(|(i, _)| *i == id) {
            Some(pos) => pos,
            None => {
                if self.partial.len() >= MAX_PARTIAL_ENVELOPES {
                    self.partial.remove(0);
                }
                self.partial.push((id, SnapshotPieces::default()));
                self.partial.len() - 1
            }
        };
        let text = self.partial.get_mut(pos)?.1.add_text(index, total, data)?;
        self.partial.remove(pos);
        match serde_json::from_str::<Envelope>(&text) {
            // Pieces do not nest.
            Ok(Envelope::Part { .. }) => None,
            Ok(e) => Some(e),
            Err(e) => {
                tracing::warn!("bad envelope from pieces on the broker: {e}");
                None
            }
        }
    }
}

/// A room copy arriving in pieces (`Envelope::SnapshotPart`).
#[derive(Default)]
struct SnapshotPieces(Vec<Option<String>>);

impl SnapshotPieces {
    /// Adds one piece; the room once every piece is in and it imports.
    fn add(&mut self, session_id: &str, index: usize, total: usize, data: String) -> Option<Room> {
        let text = self.add_text(index, total, data)?;
        serde_json::from_str(&text)
            .ok()
            .and_then(|copy| Room::import(session_id, &copy))
    }

    /// Adds one piece; the whole text once every piece is in.
    fn add_text(&mut self, index: usize, total: usize, data: String) -> Option<String> {
        if self.0.len() != total {
            self.0 = vec![None; total.min(10_000)];
        }
        if let Some(slot) = self.0.get_mut(index) {
            *slot = Some(data);
        }
        if self.0.is_empty() || !self.0.iter().all(Option::is_some) {
            return None;
        }
        Some(self.0.iter().flatten().map(String::as_str).collect())
    }
}

/// A copy of the room asked for after the broker lost payloads for this
/// process. Inputs seen after the request go on being applied to the
/// current copy (its sockets see them); they are applied again, silently,
/// to the copy that arrives, which holds everything before the request.
struct Resync {
    nonce: String,
    pieces: SnapshotPieces,
    after_request: bool,
    held: Vec<Input>,
    deadline: tokio::time::Instant,
}

impl Resync {
    fn new() -> Self {
        Resync {
            nonce: uuid::Uuid::new_v4().simple().to_string(),
            pieces: SnapshotPieces::default(),
            after_request: false,
            held: Vec::new(),
            deadline: tokio::time::Instant::now() + SYNC_WAIT,
        }
    }

    fn expired(&self) -> bool {
        tokio::time::Instant::now() > self.deadline
    }

    /// Takes in one envelope; the fresh room once its copy is complete.
    fn offer(&mut self, session_id: &str, envelope: &Envelope) -> Option<Room> {
        match envelope {
            Envelope::SyncRequest { nonce, .. } if *nonce == self.nonce => {
                self.after_request = true;
                None
            }
            Envelope::Input { input, .. } if self.after_request => {
                self.held.push(input.clone());
                None
            }
            Envelope::SnapshotPart {
                nonce,
                index,
                total,
                data,
            } if *nonce == self.nonce => {
                let mut room = self.pieces.add(session_id, *index, *total, data.clone())?;
                for input in self.held.drain(..) {
                    let _ = room.apply(input);
                }
                Some(room)
            }
            _ => None,
        }
    }
}

/// `text` in pieces that take at most `max` bytes each once escaped as a
/// JSON string (a piece travels inside an envelope: `"` and `\` double,
/// control characters grow to six bytes), cut at character boundaries.
fn split_escaped(text: &str, max: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    let mut size = 0;
    for c in text.chars() {
        let escaped = match c {
            '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
            c if (c as u32) < 0x20 => 6,
            c => c.len_utf8(),
        };
        if size + escaped > max && !current.is_empty() {
            pieces.push(std::mem::take(&mut current));
            size = 0;
        }
        current.push(c);
        size += escaped;
    }
    pieces.push(current);
    pieces
}

/// Green, yellow or red from a viewer's loss and round trip.
fn quality_from(fraction_lost: f64, rtt_ms: Option<f64>) -> Quality {
    let rtt = rtt_ms.unwrap_or(0.0);
    if fraction_lost > 0.10 || rtt > 400.0 {
        Quality::Red
    } else if fraction_lost > 0.02 || rtt > 150.0 {
        Quality::Yellow
    } else {
        Quality::Green
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_is_cut_into_pieces_that_join_back() {
        let text = "é".repeat(5000) + "abc";
        let pieces = split_escaped(&text, 6000);
        assert!(pieces.len() > 1);
        assert!(pieces.iter().all(|p| p.len() <= 6000));
        assert_eq!(pieces.concat(), text);
        assert_eq!(split_escaped("", 10), vec![String::new()]);
    }

    #[test]
    fn pieces_fit_once_escaped_and_oversized_envelopes_join_back() {
        // Quotes and control characters grow when a piece is escaped again.
        let text = "\"\\\u{1}é😀".repeat(3000);
        let pieces = split_escaped(&text, SNAPSHOT_PIECE);
        assert_eq!(pieces.concat(), text);
        for p in &pieces {
            let escaped = serde_json::to_string(p).expect("json").len() - 2;
            assert!(escaped <= SNAPSHOT_PIECE, "{escaped}");
        }
        // An envelope over the broker limit goes in parts, each under it,
        // and comes back whole, whatever else is interleaved.
        let envelope = Envelope::Direct {
            participant_id: "p".into(),
            message: ServerMessage::Alert {
                kind: "k".into(),
                message: text.clone(),
            },
        };
        let payload = serde_json::to_string(&envelope).expect("json");
        assert!(payload.len() > MAX_PAYLOAD_BYTES);
        let pieces = split_escaped(&payload, SNAPSHOT_PIECE);
        let total = pieces.len();
        let mut parts = Parts::default();
        let mut got = None;
        for (index, data) in pieces.into_iter().enumerate() {
            let part = serde_json::to_string(&Envelope::Part {
                id: "x".into(),
                index,
                total,
                data,
            })
            .expect("json");
            assert!(part.len() <= MAX_PAYLOAD_BYTES, "{}", part.len());
            assert!(parts
                .envelope(r#"{"envelope":"live","live":true}"#)
                .is_some());
            got = parts.envelope(&part);
            assert_eq!(got.is_some(), index + 1 == total);
        }
        match got {
            Some(Envelope::Direct {
                message: ServerMessage::Alert { message, .. },
                ..
            }) => {
                assert_eq!(message, text)
            }
            other => panic!("{other:?}"),
        }
    }

    fn socket(
        local: &mut Local,
        connection: &str,
        queue: usize,
    ) -> (mpsc::Receiver<ToSocket>, Arc<Notify>) {
        let (tx, rx) = mpsc::channel(queue);
        let too_slow = Arc::new(Notify::new());
        local.sockets.insert(
            connection.into(),
            LocalSocket {
                participant_id: connection.into(),
                instructor: false,
                admitted: true,
                socket: tx,
                too_slow: too_slow.clone(),
            },
        );
        (rx, too_slow)
    }

    fn to_all(n: usize) -> Vec<Output> {
        (0..n)
            .map(|_| Output::Send {
                to: Target::All,
                msg: ServerMessage::MuteRequested,
            })
            .collect()
    }

    #[tokio::test]
    async fn a_socket_whose_queue_fills_is_let_go_not_left_with_holes() {
        let mut local = Local::default();
        let (mut slow_rx, slow) = socket(&mut local, "slow", 4);
        let (mut fast_rx, _) = socket(&mut local, "fast", 64);
        deliver(&mut local, to_all(6));
        // Told to close, and no longer fed: nothing after the hole.
        tokio::time::timeout(Duration::from_secs(5), slow.notified())
            .await
            .expect("the slow socket is told");
        assert!(!local.sockets.contains_key("slow"));
        deliver(&mut local, to_all(1));
        let mut got = 0;
        while slow_rx.try_recv().is_ok() {
            got += 1;
        }
        assert_eq!(got, 4, "what fitted, then nothing");
        // The others get everything.
        let mut got = 0;
        while fast_rx.try_recv().is_ok() {
            got += 1;
        }
        assert_eq!(got, 7);
    }

    #[test]
    fn refusals_are_marked_for_the_abuse_count() {
        let mut local = Local::default();
        let (mut rx, _) = socket(&mut local, "a", 4);
        deliver(
            &mut local,
            vec![Output::Send {
                to: Target::Participant("a".into()),
                msg: ServerMessage::Error {
                    code: "rate_limited".into(),
                    message: "m".into(),
                },
            }],
        );
        assert!(matches!(rx.try_recv(), Ok(ToSocket::Refused(_))));
    }

    #[test]
    fn quality_follows_loss_and_round_trip() {
        assert_eq!(quality_from(0.0, Some(20.0)), Quality::Green);
        assert_eq!(quality_from(0.05, None), Quality::Yellow);
        assert_eq!(quality_from(0.0, Some(200.0)), Quality::Yellow);
        assert_eq!(quality_from(0.2, Some(20.0)), Quality::Red);
        assert_eq!(quality_from(0.0, Some(900.0)), Quality::Red);
    }
}
