//! PostgreSQL LISTEN/NOTIFY: `SELECT pg_notify($1, $2)` on a one-connection
//! pool, and one dedicated listening connection, read by a task, for every
//! channel the process subscribes to. NOTIFY is transactional and delivered
//! in commit order to every listener, which gives one order per channel.

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use tokio::sync::mpsc;
use tokio::time::timeout;

use super::local::Hub;
use super::{wait_refusing, Backoff, BrokerError, Command, HEALTH_CHECK, OP_TIMEOUT};

#[derive(Clone)]
pub struct PostgresBroker {
    inner: Arc<Inner>,
}

struct Inner {
    /// One connection, re-established by the pool when it dies (it is tested
    /// before each use).
    publisher: PgPool,
    hub: Arc<Hub>,
    commands: mpsc::UnboundedSender<Command>,
}

impl PostgresBroker {
    pub(super) async fn connect(url: &str) -> Result<Self, BrokerError> {
        let options =
            PgConnectOptions::from_str(url)?.application_name("classcast-broker-publisher");
        let publisher = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .acquire_timeout(OP_TIMEOUT)
            .connect_with(options)
            .await?;
        let listener_options =
            PgConnectOptions::from_str(url)?.application_name("classcast-broker-listener");
        let first = Listener::connect(&listener_options, &[]).await?;
        let hub = Arc::new(Hub::default());
        let (commands, requests) = mpsc::unbounded_channel();
        tokio::spawn(run_listener(listener_options, hub.clone(), requests, first));
        Ok(PostgresBroker {
            inner: Arc::new(Inner {
                publisher,
                hub,
                commands,
            }),
        })
    }

    pub(super) fn hub(&self) -> &Arc<Hub> {
        &self.inner.hub
    }

    pub(super) fn commands(&self) -> &mpsc::UnboundedSender<Command> {
        &self.inner.commands
    }

    pub(super) async fn publish(&self, channel: &str, payload: String) -> Result<(), BrokerError> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(channel)
            .bind(payload)
            .execute(&self.inner.publisher)
            .await?;
        Ok(())
    }
}

/// A listening connection in its own one-connection pool, so that a
/// replaced connection is closed rather than reused with stale LISTENs.
struct Listener {
    pool: PgPool,
    listener: PgListener,
    /// The channels it LISTENs to.
    listening: HashSet<String>,
}

impl Listener {
    async fn connect(options: &PgConnectOptions, channels: &[String]) -> Result<Self, BrokerError> {
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .acquire_timeout(OP_TIMEOUT)
            .max_lifetime(None)
            .idle_timeout(None)
            .connect_with(options.clone())
            .await?;
        let mut listener = PgListener::connect_with(&pool).await?;
        // Reconnections are ours (with backoff), not sqlx's.
        listener.eager_reconnect(false);
        listener.ignore_pool_close_event(true);
        if !channels.is_empty() {
            timeout(
                OP_TIMEOUT,
                listener.listen_all(channels.iter().map(String::as_str)),
            )
            .await
            .map_err(|_| BrokerError::Unavailable("postgres: LISTEN timed out".into()))??;
        }
        Ok(Listener {
            pool,
            listener,
            listening: channels.iter().cloned().collect(),
        })
    }

    fn close(self) {
        let Listener { pool, listener, .. } = self;
        drop(listener);
        tokio::spawn(async move {
            let _ = timeout(OP_TIMEOUT, pool.close()).await;
        });
    }
}

/// Owns the listening connection: delivers notifications to the hub, applies
/// (un)subscriptions, and reconnects with backoff when it drops. Ends when
/// the broker and all its subscriptions are gone.
async fn run_listener(
    options: PgConnectOptions,
    hub: Arc<Hub>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    first: Listener,
) {
    let mut backoff = Backoff::new();
    let mut connection = Some(first);
    loop {
        let mut listener = match connection.take() {
            Some(listener) => listener,
            None => match reconnect(&options, &hub, &mut commands, &mut backoff).await {
                Some(listener) => listener,
                None => return,
            },
        };
        let connected_at = Instant::now();
        let listening = std::mem::take(&mut listener.listening);
        let outcome = serve(&mut listener.listener, listening, &hub, &mut commands).await;
        listener.close();
        let Some(reason) = outcome else {
            return;
        };
        if connected_at.elapsed() >= Backoff::STABLE {
            backoff.reset();
        }
        tracing::warn!(
            reason = %reason,
            channels = hub.len(),
            "postgres broker: listening connection lost; reconnecting (notifications sent meanwhile are lost)"
        );
    }
}

async fn reconnect(
    options: &PgConnectOptions,
    hub: &Hub,
    commands: &mut mpsc::UnboundedReceiver<Command>,
    backoff: &mut Backoff,
) -> Option<Listener> {
    let down_since = Instant::now();
    loop {
        if !wait_refusing(backoff.next_delay(), commands).await {
            return None;
        }
        let channels = hub.channels();
        match Listener::connect(options, &channels).await {
            Ok(listener) => {
                tracing::warn!(
                    channels = channels.len(),
                    down_ms = down_since.elapsed().as_millis() as u64,
                    "postgres broker: listener reconnected; subscriptions resumed"
                );
                hub.mark_gaps();
                return Some(listener);
            }
            Err(e) => tracing::warn!(error = %e, "postgres broker: reconnecting failed; retrying"),
        }
    }
}

/// Runs one connection, listening to `listening`, until it fails
/// (`Some(reason)`) or the broker is gone (`None`).
async fn serve(
    listener: &mut PgListener,
    mut listening: HashSet<String>,
    hub: &Hub,
    commands: &mut mpsc::UnboundedReceiver<Command>,
) -> Option<String> {
    let mut health = tokio::time::interval(HEALTH_CHECK);
    health.reset();
    loop {
        // `try_recv` is cancel-safe: a notification is either returned or
        // left in the connection's buffer.
        tokio::select! {
            notification = listener.try_recv() => match notification {
                Ok(Some(notification)) => {
                    hub.deliver(notification.channel(), notification.payload().to_owned());
                }
                Ok(None) => return Some("connection closed".into()),
                Err(e) => return Some(e.to_string()),
            },
            command = commands.recv() => match command? {
                Command::Subscribe { channel, done } => {
                    if listening.contains(&channel) {
                        let _ = done.send(Ok(()));
                        continue;
                    }
                    // PgListener quotes the channel: LISTEN "classcast.session.<id>".
                    match timeout(OP_TIMEOUT, listener.listen(&channel)).await {
                        Ok(Ok(())) => {
                            listening.insert(channel);
                            let _ = done.send(Ok(()));
                        }
                        Ok(Err(e)) => {
                            let reason = format!("LISTEN failed: {e}");
                            let _ = done.send(Err(e.into()));
                            return Some(reason);
                        }
                        Err(_) => {
                            let _ = done.send(Err(BrokerError::Unavailable("postgres: LISTEN timed out".into())));
                            return Some("LISTEN timed out".into());
                        }
                    }
                }
                Command::Unsubscribe { channel } => {
                    if hub.is_wanted(&channel) || !listening.remove(&channel) {
                        continue;
                    }
                    match timeout(OP_TIMEOUT, listener.unlisten(&channel)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => return Some(format!("UNLISTEN failed: {e}")),
                        Err(_) => return Some("UNLISTEN timed out".into()),
                    }
                }
            },
            _ = health.tick() => {
                match timeout(OP_TIMEOUT, sqlx::query("SELECT 1").execute(&mut *listener)).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return Some(format!("health check failed: {e}")),
                    Err(_) => return Some("health check timed out".into()),
                }
            }
        }
    }
}
