//! Redis pub/sub: `PUBLISH` on a shared multiplexed connection, and one
//! dedicated RESP2 pub/sub connection, read by a task, for every channel the
//! process subscribes to.

use std::sync::Arc;

use ::redis::aio::{MultiplexedConnection, PubSubSink, PubSubStream};
use ::redis::{AsyncConnectionConfig, Client, RedisError};
use futures::StreamExt;
use tokio::sync::Mutex;
use tokio::time::timeout;

use super::remote::{Failure, Remote, Subscriber};
use super::{BrokerError, OP_TIMEOUT};

#[derive(Clone)]
pub struct RedisBroker {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    /// The publishing connection, with a generation number so that only the
    /// first publish to see it broken replaces it.
    publisher: Mutex<(u64, Option<MultiplexedConnection>)>,
    remote: Remote,
}

impl RedisBroker {
    pub(super) async fn connect(url: &str) -> Result<Self, BrokerError> {
        let client = Client::open(url)?;
        let publisher = publisher_connection(&client).await?;
        let subscriber = PubSub::connect(&client, &[]).await?;
        let remote = Remote::start(client.clone(), subscriber);
        Ok(RedisBroker {
            inner: Arc::new(Inner {
                client,
                publisher: Mutex::new((0, Some(publisher))),
                remote,
            }),
        })
    }

    pub(super) fn remote(&self) -> &Remote {
        &self.inner.remote
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

/// The dedicated RESP2 pub/sub connection.
struct PubSub {
    sink: PubSubSink,
    stream: PubSubStream,
}

impl Subscriber for PubSub {
    const NAME: &'static str = "redis broker";
    type Options = Client;

    async fn connect(client: &Client, channels: &[String]) -> Result<Self, BrokerError> {
        let mut pubsub = timeout(OP_TIMEOUT, client.get_async_pubsub())
            .await
            .map_err(|_| BrokerError::Unavailable("redis: connection timed out".into()))??;
        if !channels.is_empty() {
            timeout(OP_TIMEOUT, pubsub.subscribe(channels))
                .await
                .map_err(|_| BrokerError::Unavailable("redis: SUBSCRIBE timed out".into()))??;
        }
        let (sink, stream) = pubsub.split();
        Ok(PubSub { sink, stream })
    }

    async fn next(&mut self) -> Result<(String, String), String> {
        loop {
            let Some(message) = self.stream.next().await else {
                return Err("connection closed".into());
            };
            let channel = message.get_channel_name();
            match message.get_payload::<String>() {
                Ok(payload) => return Ok((channel.to_owned(), payload)),
                Err(e) => {
                    tracing::warn!(%channel, error = %e, "redis broker: dropped a payload that is not UTF-8")
                }
            }
        }
    }

    async fn subscribe(&mut self, channel: &str) -> Result<(), Failure> {
        self.sink.subscribe(channel).await.map_err(failure)
    }

    async fn unsubscribe(&mut self, channel: &str) -> Result<(), Failure> {
        self.sink.unsubscribe(channel).await.map_err(failure)
    }

    async fn ping(&mut self) -> Result<(), BrokerError> {
        self.sink.ping::<::redis::Value>().await?;
        Ok(())
    }
}

/// A refused command leaves the connection usable; a broken one does not.
fn failure(e: RedisError) -> Failure {
    Failure {
        fatal: broken(&e),
        error: e.into(),
    }
}
