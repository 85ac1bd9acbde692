//! Carries a session's events between server processes: opaque `String`
//! payloads on one channel per session, `classcast.session.<session_id>`.
//!
//! Three backends, chosen by [`BrokerConfig`]:
//! - **local** (the embedded default, one process): a tokio broadcast channel
//!   per session;
//! - **redis**: `PUBLISH` / `SUBSCRIBE`;
//! - **postgres**: `pg_notify` / `LISTEN`.
//!
//! Each remote backend holds one shared connection for publishing and one
//! dedicated connection for all the subscriptions of the process: the
//! channels are multiplexed over it, and every [`Subscription`] of one
//! channel in the process shares a single broker subscription, fanned out
//! locally through a broadcast channel.
//!
//! # Guarantees
//! - A payload published by any process (this one included) reaches every
//!   subscriber of the channel in every process; the local process receives
//!   its own payloads back through the broker, not by a shortcut, so all
//!   subscribers everywhere see one channel's payloads in the same order.
//! - A subscription receives every payload published after
//!   [`Broker::subscribe`] returned; one published concurrently or just before
//!   may or may not be seen.
//! - The same limits hold on every backend, so behaviour does not depend on
//!   the configuration: session ids of 1 to [`MAX_SESSION_ID_LEN`] characters
//!   from `[A-Za-z0-9_-]`, payloads of at most [`MAX_PAYLOAD_BYTES`] bytes
//!   (PostgreSQL's NOTIFY limit) without NUL bytes.
//!
//! # Outages
//! When Redis or PostgreSQL drops the subscriber connection, it is
//! reconnected with exponential backoff (logged at warn) and every channel
//! still subscribed in the process is subscribed again: existing
//! [`Subscription`]s resume without noticing. **Payloads published while the
//! connection was down are lost** for this process's subscribers (pub/sub and
//! NOTIFY keep nothing for absent listeners), and during the outage
//! `publish` and `subscribe` fail with [`BrokerError::Unavailable`] or a
//! backend error. A subscriber that falls more than [`LOCAL_BUFFER`] payloads
//! behind loses the oldest ones (logged at warn) rather than stalling the
//! others. Both count as a gap ([`Subscription::gaps`]): callers that
//! replicate state from the stream resynchronise when it grows.
//!
//! The publishing connection is re-established on demand: a publish that
//! finds it dropped retries once on a fresh connection, so a publish racing
//! a connection loss may, rarely, be delivered twice.

mod local;
mod postgres;
mod redis;
mod remote;

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use tokio::sync::{broadcast, mpsc};

use local::{Hub, LocalBroker};
use postgres::PostgresBroker;
use redis::RedisBroker;
use remote::Command;

/// Channels are `classcast.session.<session_id>`.
pub const CHANNEL_PREFIX: &str = "classcast.session.";
/// PostgreSQL channel names are identifiers of at most 63 bytes; with the
/// prefix that leaves 45 for the session id (ids are 32 hex digits).
pub const MAX_SESSION_ID_LEN: usize = 63 - CHANNEL_PREFIX.len();
/// PostgreSQL refuses NOTIFY payloads of 8000 bytes or more.
pub const MAX_PAYLOAD_BYTES: usize = 7999;
/// How many payloads a subscriber may fall behind before it loses some.
pub const LOCAL_BUFFER: usize = 1024;

/// Time allowed to connect, and for one command, before the broker is
/// considered unreachable.
const OP_TIMEOUT: Duration = Duration::from_secs(5);
/// How often an idle subscriber connection is checked.
const HEALTH_CHECK: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("invalid session id {0:?}: 1 to {MAX_SESSION_ID_LEN} characters from [A-Za-z0-9_-]")]
    InvalidSessionId(String),
    #[error("payload of {size} bytes is over the broker limit of {MAX_PAYLOAD_BYTES} bytes")]
    TooLarge { size: usize },
    #[error("payload contains a NUL byte, which the broker cannot carry")]
    NulInPayload,
    #[error("broker configuration: {0}")]
    Config(String),
    #[error("broker unavailable: {0}")]
    Unavailable(String),
    #[error("redis: {0}")]
    Redis(#[from] ::redis::RedisError),
    #[error("postgres: {0}")]
    Postgres(#[from] sqlx::Error),
}

#[derive(Debug, Clone)]
pub enum BrokerConfig {
    /// One process: in-process channels.
    Local,
    /// `redis://[user:password@]host[:port][/db]`
    Redis { url: String },
    /// `postgres://…`, the same form as the database URL.
    Postgres { url: String },
}

impl BrokerConfig {
    /// `local` (or empty), a `redis://` URL or a `postgres://` /
    /// `postgresql://` URL.
    pub fn from_url(url: &str) -> Result<Self, BrokerError> {
        let url = url.trim();
        if url.is_empty() || url == "local" {
            Ok(BrokerConfig::Local)
        } else if url.starts_with("redis://") || url.starts_with("redis+unix://") {
            Ok(BrokerConfig::Redis { url: url.into() })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(BrokerConfig::Postgres { url: url.into() })
        } else {
            Err(BrokerError::Config(
                "use `local`, a redis:// URL or a postgres:// URL".into(),
            ))
        }
    }
}

/// A handle on the process's broker; clones share the connections.
#[derive(Clone)]
pub enum Broker {
    Local(LocalBroker),
    Redis(RedisBroker),
    Postgres(PostgresBroker),
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("backend", &self.name())
            .field("channels", &self.active_channels())
            .finish()
    }
}

impl Broker {
    /// Connects the publishing and the subscriber connections (fails when the
    /// broker is unreachable) and starts the task that reads the latter.
    pub async fn connect(config: &BrokerConfig) -> Result<Broker, BrokerError> {
        Ok(match config {
            BrokerConfig::Local => Broker::Local(LocalBroker::new()),
            BrokerConfig::Redis { url } => Broker::Redis(RedisBroker::connect(url).await?),
            BrokerConfig::Postgres { url } => Broker::Postgres(PostgresBroker::connect(url).await?),
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Broker::Local(_) => "local",
            Broker::Redis(_) => "redis",
            Broker::Postgres(_) => "postgres",
        }
    }

    /// Publishes on the session's channel. Every subscriber of that channel,
    /// in every process, including this one, receives it; all subscribers see
    /// one channel's messages in the same order.
    pub async fn publish(&self, session_id: &str, payload: String) -> Result<(), BrokerError> {
        let channel = channel_name(session_id)?;
        check_payload(&payload)?;
        match self {
            Broker::Local(b) => {
                b.publish(&channel, payload);
                Ok(())
            }
            Broker::Redis(b) => b.publish(&channel, payload).await,
            Broker::Postgres(b) => b.publish(&channel, payload).await,
        }
    }

    /// A stream of the channel's payloads from now on, in order. Dropping it
    /// unsubscribes (the broker subscription goes when the process's last
    /// subscription of the channel goes).
    pub async fn subscribe(&self, session_id: &str) -> Result<Subscription, BrokerError> {
        let channel = channel_name(session_id)?;
        match self {
            Broker::Local(b) => Ok(Subscription::new(session_id, b.hub(), &channel, None)),
            Broker::Redis(b) => b.remote().subscribe(session_id, channel).await,
            Broker::Postgres(b) => b.remote().subscribe(session_id, channel).await,
        }
    }

    /// Channels this process is subscribed to (for metrics and tests).
    pub fn active_channels(&self) -> usize {
        match self {
            Broker::Local(b) => b.hub().len(),
            Broker::Redis(b) => b.remote().hub().len(),
            Broker::Postgres(b) => b.remote().hub().len(),
        }
    }
}

/// `classcast.session.<session_id>`, once the id is checked.
pub fn channel_name(session_id: &str) -> Result<String, BrokerError> {
    let valid = !session_id.is_empty()
        && session_id.len() <= MAX_SESSION_ID_LEN
        && session_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid {
        Ok(format!("{CHANNEL_PREFIX}{session_id}"))
    } else {
        // Bounded, so a hostile id does not flood the logs.
        let shown: String = session_id.chars().take(80).collect();
        Err(BrokerError::InvalidSessionId(shown))
    }
}

fn check_payload(payload: &str) -> Result<(), BrokerError> {
    if payload.len() > MAX_PAYLOAD_BYTES {
        return Err(BrokerError::TooLarge {
            size: payload.len(),
        });
    }
    if payload.contains('\0') {
        return Err(BrokerError::NulInPayload);
    }
    Ok(())
}

/// Payloads of one session's channel, in the broker's order. A
/// [`futures::Stream`] of `String`s, or use [`Subscription::recv`]. It never
/// ends on its own: across broker outages it resumes (see the module docs for
/// what may be lost). Dropping it unsubscribes.
pub struct Subscription {
    session_id: String,
    payloads: BoxStream<'static, String>,
    gaps: Arc<AtomicU64>,
    _membership: Membership,
}

impl Subscription {
    fn new(
        session_id: &str,
        hub: &Arc<Hub>,
        channel: &str,
        commands: Option<mpsc::UnboundedSender<Command>>,
    ) -> Self {
        let (receiver, gaps) = hub.join(channel);
        Subscription {
            session_id: session_id.to_owned(),
            payloads: payloads(receiver, channel.to_owned(), gaps.clone()),
            gaps,
            _membership: Membership {
                hub: hub.clone(),
                channel: channel.to_owned(),
                commands,
            },
        }
    }

    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// How many times payloads may have been lost so far (this subscription
    /// fell behind, or the broker connection was down): a caller that
    /// replicates state resynchronises when it grows.
    pub fn gaps(&self) -> u64 {
        self.gaps.load(Ordering::Relaxed)
    }

    /// The next payload (cancel-safe). `None` only if the broker is gone.
    pub async fn recv(&mut self) -> Option<String> {
        self.payloads.next().await
    }
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("session_id", &self.session_id)
            .finish_non_exhaustive()
    }
}

impl Stream for Subscription {
    type Item = String;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<String>> {
        self.payloads.poll_next_unpin(cx)
    }
}

fn payloads(
    receiver: broadcast::Receiver<String>,
    channel: String,
    gaps: Arc<AtomicU64>,
) -> BoxStream<'static, String> {
    futures::stream::unfold((receiver, channel, gaps), |(mut receiver, channel, gaps)| async move {
        loop {
            match receiver.recv().await {
                Ok(payload) => return Some((payload, (receiver, channel, gaps))),
                Err(broadcast::error::RecvError::Lagged(skipped)) => {
                    gaps.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%channel, skipped, "broker subscriber fell behind; payloads lost");
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
    .boxed()
}

/// Leaves the local fan-out on drop and, for the last subscription of a
/// channel, tells the subscriber task to unsubscribe at the broker.
struct Membership {
    hub: Arc<Hub>,
    channel: String,
    commands: Option<mpsc::UnboundedSender<Command>>,
}

impl Drop for Membership {
    fn drop(&mut self) {
        if self.hub.leave(&self.channel) {
            if let Some(commands) = &self.commands {
                let _ = commands.send(Command::Unsubscribe {
                    channel: std::mem::take(&mut self.channel),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids() {
        assert_eq!(
            channel_name("0123abcdef").expect("valid"),
            "classcast.session.0123abcdef"
        );
        assert!(channel_name("a-b_C9").is_ok());
        assert!(channel_name(&"a".repeat(MAX_SESSION_ID_LEN)).is_ok());
        for bad in ["", "a b", "a.b", "a\"b", "é", "a\0", "*"] {
            assert!(
                matches!(channel_name(bad), Err(BrokerError::InvalidSessionId(_))),
                "{bad:?}"
            );
        }
        assert!(channel_name(&"a".repeat(MAX_SESSION_ID_LEN + 1)).is_err());
        assert_eq!(
            CHANNEL_PREFIX.len() + MAX_SESSION_ID_LEN,
            63,
            "PostgreSQL's identifier limit"
        );
    }

    #[test]
    fn payload_limits() {
        assert!(check_payload(&"x".repeat(MAX_PAYLOAD_BYTES)).is_ok());
        assert!(matches!(
            check_payload(&"x".repeat(MAX_PAYLOAD_BYTES + 1)),
            Err(BrokerError::TooLarge { size: 8000 })
        ));
        assert!(matches!(
            check_payload("a\0b"),
            Err(BrokerError::NulInPayload)
        ));
    }

    #[test]
    fn config_from_url() {
        assert!(matches!(
            BrokerConfig::from_url("local"),
            Ok(BrokerConfig::Local)
        ));
        assert!(matches!(
            BrokerConfig::from_url("redis://127.0.0.1:6379"),
            Ok(BrokerConfig::Redis { .. })
        ));
        assert!(matches!(
            BrokerConfig::from_url("postgresql://u@h/db"),
            Ok(BrokerConfig::Postgres { .. })
        ));
        assert!(BrokerConfig::from_url("amqp://h").is_err());
    }

    #[tokio::test]
    async fn a_lagged_receiver_counts_a_gap_and_goes_on() {
        let (sender, receiver) = broadcast::channel(2);
        let gaps = Arc::new(AtomicU64::new(0));
        let mut stream = payloads(receiver, "c".into(), gaps.clone());
        for i in 0..5 {
            sender.send(i.to_string()).expect("a receiver");
        }
        // The oldest are lost, counted as one gap (the replica resyncs on
        // it); the stream goes on with what is left instead of ending.
        assert_eq!(stream.next().await.as_deref(), Some("3"));
        assert_eq!(gaps.load(Ordering::Relaxed), 1);
        assert_eq!(stream.next().await.as_deref(), Some("4"));
        drop(sender);
        assert_eq!(stream.next().await, None);
    }
}
