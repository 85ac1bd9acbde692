//! PostgreSQL LISTEN/NOTIFY: `SELECT pg_notify($1, $2)` on a one-connection
//! pool, and one dedicated listening connection, read by a task, for every
//! channel the process subscribes to. NOTIFY is transactional and delivered
//! in commit order to every listener, which gives one order per channel.

use std::str::FromStr;
use std::sync::Arc;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use tokio::time::timeout;

use super::remote::{Failure, Remote, Subscriber};
use super::{BrokerError, OP_TIMEOUT};

#[derive(Clone)]
pub struct PostgresBroker {
    inner: Arc<Inner>,
}

struct Inner {
    /// One connection, re-established by the pool when it dies (it is tested
    /// before each use).
    publisher: PgPool,
    remote: Remote,
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
        let remote = Remote::start(listener_options, first);
        Ok(PostgresBroker {
            inner: Arc::new(Inner { publisher, remote }),
        })
    }

    pub(super) fn remote(&self) -> &Remote {
        &self.inner.remote
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
}

impl Subscriber for Listener {
    const NAME: &'static str = "postgres broker";
    type Options = PgConnectOptions;

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
        Ok(Listener { pool, listener })
    }

    async fn next(&mut self) -> Result<(String, String), String> {
        // `try_recv` is cancel-safe: a notification is either returned or
        // left in the connection's buffer.
        match self.listener.try_recv().await {
            Ok(Some(n)) => Ok((n.channel().to_owned(), n.payload().to_owned())),
            Ok(None) => Err("connection closed".into()),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn subscribe(&mut self, channel: &str) -> Result<(), Failure> {
        // PgListener quotes the channel: LISTEN "classcast.session.<id>".
        self.listener.listen(channel).await.map_err(fatal)
    }

    async fn unsubscribe(&mut self, channel: &str) -> Result<(), Failure> {
        self.listener.unlisten(channel).await.map_err(fatal)
    }

    async fn ping(&mut self) -> Result<(), BrokerError> {
        sqlx::query("SELECT 1").execute(&mut self.listener).await?;
        Ok(())
    }

    fn close(self) {
        let Listener { pool, listener, .. } = self;
        drop(listener);
        tokio::spawn(async move {
            let _ = timeout(OP_TIMEOUT, pool.close()).await;
        });
    }
}

/// Any failed LISTEN or UNLISTEN ends the connection: a fresh one listens
/// to exactly what is wanted.
fn fatal(e: sqlx::Error) -> Failure {
    Failure {
        error: e.into(),
        fatal: true,
    }
}
