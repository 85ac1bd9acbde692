//! Redis pub/sub: `PUBLISH` on a shared multiplexed connection, and one
//! dedicated RESP2 pub/sub connection, read by a task, for every channel the
//! process subscribes to.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use ::redis::aio::{MultiplexedConnection, PubSub};
use ::redis::{AsyncConnectionConfig, Client, RedisError};
use futures::StreamExt;
use tokio::sync::{mpsc, Mutex};
use tokio::time::timeout;

use super::local::Hub;
use super::{wait_refusing, Backoff, BrokerError, Command, HEALTH_CHECK, OP_TIMEOUT};

#[derive(Clone)]
pub struct RedisBroker {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    /// The publishing connection, with a generation number so that only the
    /// first publish to see it broken replaces it.
    publisher: Mutex<(u64, Option<MultiplexedConnection>)>,
    hub: Arc<Hub>,
    commands: mpsc::UnboundedSender<Command>,
}

impl RedisBroker {
    pub(super) async fn connect(url: &str) -> Result<Self, BrokerError> {
        let client = Client::open(url)?;
        let publisher = publisher_connection(&client).await?;
        let subscriber = subscriber_connection(&client).await?;
        let hub = Arc::new(Hub::default());
        let (commands, requests) = mpsc::unbounded_channel();
        tokio::spawn(run_subscriber(
            client.clone(),
            hub.clone(),
            requests,
            subscriber,
        ));
        Ok(RedisBroker {
            inner: Arc::new(Inner {
                client,
                publisher: Mutex::new((0, Some(publisher))),
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
        let (generation, mut connection) = self.publisher().await?;
        let published: Result<usize, RedisError> = ::redis::cmd("PUBLISH")
            .arg(channel)
            .arg(&payload)
            .query_async(&mut connection)
            .await;
        match published {
            Ok(_) => Ok(()),
            Err(e) if broken(&e) => {
                tracing::warn!(error = %e, "redis broker: publishing connection lost; reconnecting");
                self.discard_publisher(generation).await;
                let (_, mut connection) = self.publisher().await?;
                ::redis::cmd("PUBLISH")
                    .arg(channel)
                    .arg(&payload)
                    .query_async::<usize>(&mut connection)
                    .await?;
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The publishing connection, connected again if it was discarded.
    async fn publisher(&self) -> Result<(u64, MultiplexedConnection), BrokerError> {
        let mut slot = self.inner.publisher.lock().await;
        if let Some(connection) = &slot.1 {
            return Ok((slot.0, connection.clone()));
        }
        let connection = publisher_connection(&self.inner.client).await?;
        slot.0 += 1;
        slot.1 = Some(connection.clone());
        Ok((slot.0, connection))
    }

    async fn discard_publisher(&self, generation: u64) {
        let mut slot = self.inner.publisher.lock().await;
        if slot.0 == generation {
            slot.1 = None;
        }
    }
}

fn broken(e: &RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error()
}

async fn publisher_connection(client: &Client) -> Result<MultiplexedConnection, BrokerError> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(OP_TIMEOUT))
        .set_response_timeout(Some(OP_TIMEOUT));
    Ok(client
        .get_multiplexed_async_connection_with_config(&config)
        .await?)
}

async fn subscriber_connection(client: &Client) -> Result<PubSub, BrokerError> {
    timeout(OP_TIMEOUT, client.get_async_pubsub())
        .await
        .map_err(|_| BrokerError::Unavailable("redis: connection timed out".into()))?
        .map_err(BrokerError::from)
}

/// Owns the subscriber connection: delivers its messages to the hub, applies
/// (un)subscriptions, and reconnects with backoff when it drops. Ends when
/// the broker and all its subscriptions are gone.
async fn run_subscriber(
    client: Client,
    hub: Arc<Hub>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    first: PubSub,
) {
    let mut backoff = Backoff::new();
    // A fresh connection is subscribed to nothing.
    let mut connection = Some((first, HashSet::new()));
    loop {
        let (pubsub, subscribed) = match connection.take() {
            Some(connected) => connected,
            None => match reconnect(&client, &hub, &mut commands, &mut backoff).await {
                Some(connected) => connected,
                None => return,
            },
        };
        let connected_at = Instant::now();
        let Some(reason) = serve(pubsub, subscribed, &hub, &mut commands).await else {
            return;
        };
        if connected_at.elapsed() >= Backoff::STABLE {
            backoff.reset();
        }
        tracing::warn!(
            reason = %reason,
            channels = hub.len(),
            "redis broker: subscriber connection lost; reconnecting (messages published meanwhile are lost)"
        );
    }
}

/// Connects and subscribes to every channel the process still wants;
/// returns the connection and what it is subscribed to.
async fn reconnect(
    client: &Client,
    hub: &Hub,
    commands: &mut mpsc::UnboundedReceiver<Command>,
    backoff: &mut Backoff,
) -> Option<(PubSub, HashSet<String>)> {
    let down_since = Instant::now();
    loop {
        if !wait_refusing(backoff.next_delay(), commands).await {
            return None;
        }
        let attempt = async {
            let mut pubsub = subscriber_connection(client).await?;
            let channels = hub.channels();
            if !channels.is_empty() {
                timeout(OP_TIMEOUT, pubsub.subscribe(&channels))
                    .await
                    .map_err(|_| BrokerError::Unavailable("redis: SUBSCRIBE timed out".into()))??;
            }
            Ok::<_, BrokerError>((pubsub, channels))
        };
        match attempt.await {
            Ok((pubsub, channels)) => {
                tracing::warn!(
                    channels = channels.len(),
                    down_ms = down_since.elapsed().as_millis() as u64,
                    "redis broker: subscriber reconnected; subscriptions resumed"
                );
                hub.mark_gaps();
                return Some((pubsub, channels.into_iter().collect()));
            }
            Err(e) => tracing::warn!(error = %e, "redis broker: reconnecting failed; retrying"),
        }
    }
}

/// Runs one connection, subscribed to `subscribed`, until it fails
/// (`Some(reason)`) or the broker is gone (`None`).
async fn serve(
    pubsub: PubSub,
    mut subscribed: HashSet<String>,
    hub: &Hub,
    commands: &mut mpsc::UnboundedReceiver<Command>,
) -> Option<String> {
    let (mut sink, mut stream) = pubsub.split();
    let mut health = tokio::time::interval(HEALTH_CHECK);
    health.reset();
    loop {
        tokio::select! {
            message = stream.next() => {
                let Some(message) = message else {
                    return Some("connection closed".into());
                };
                let channel = message.get_channel_name();
                match message.get_payload::<String>() {
                    Ok(payload) => hub.deliver(channel, payload),
                    Err(e) => tracing::warn!(%channel, error = %e, "redis broker: dropped a payload that is not UTF-8"),
                }
            }
            command = commands.recv() => match command? {
                Command::Subscribe { channel, done } => {
                    if subscribed.contains(&channel) {
                        let _ = done.send(Ok(()));
                        continue;
                    }
                    match timeout(OP_TIMEOUT, sink.subscribe(&channel)).await {
                        Ok(Ok(())) => {
                            subscribed.insert(channel);
                            let _ = done.send(Ok(()));
                        }
                        Ok(Err(e)) => {
                            let reason = format!("SUBSCRIBE failed: {e}");
                            let fatal = broken(&e);
                            let _ = done.send(Err(e.into()));
                            if fatal {
                                return Some(reason);
                            }
                        }
                        Err(_) => {
                            let _ = done.send(Err(BrokerError::Unavailable("redis: SUBSCRIBE timed out".into())));
                            return Some("SUBSCRIBE timed out".into());
                        }
                    }
                }
                Command::Unsubscribe { channel } => {
                    if hub.is_wanted(&channel) || !subscribed.remove(&channel) {
                        continue;
                    }
                    match timeout(OP_TIMEOUT, sink.unsubscribe(&channel)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) if !broken(&e) => {
                            tracing::warn!(%channel, error = %e, "redis broker: UNSUBSCRIBE failed");
                        }
                        Ok(Err(e)) => return Some(format!("UNSUBSCRIBE failed: {e}")),
                        Err(_) => return Some("UNSUBSCRIBE timed out".into()),
                    }
                }
            },
            _ = health.tick() => {
                match timeout(OP_TIMEOUT, sink.ping::<::redis::Value>()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => return Some(format!("PING failed: {e}")),
                    Err(_) => return Some("PING timed out".into()),
                }
            }
        }
    }
}
