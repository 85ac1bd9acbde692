//! What the two remote backends share: the requests to their subscriber
//! task, and that task's life — deliver payloads to the local fan-out,
//! apply (un)subscriptions, check the connection's health, and reconnect
//! with backoff when it drops, subscribing again to every channel still
//! wanted. A backend supplies only its connection ([`Subscriber`]).

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio::time::timeout;

use super::local::Hub;
use super::{BrokerError, Subscription, HEALTH_CHECK, OP_TIMEOUT};

/// Requests to a remote backend's subscriber task.
pub(super) enum Command {
    /// Make sure the broker connection is subscribed to `channel`; answers
    /// once the broker confirmed.
    Subscribe {
        channel: String,
        done: oneshot::Sender<Result<(), BrokerError>>,
    },
    /// The process's last subscription of `channel` went (ignored when one
    /// came back since).
    Unsubscribe { channel: String },
}

/// A remote backend's local end: the fan-out its subscriber task feeds,
/// and the way to that task.
pub(super) struct Remote {
    hub: Arc<Hub>,
    commands: mpsc::UnboundedSender<Command>,
}

impl Remote {
    /// Starts the subscriber task on `first`, a connection subscribed to
    /// nothing yet.
    pub(super) fn start<S: Subscriber>(options: S::Options, first: S) -> Self {
        let hub = Arc::new(Hub::default());
        let (commands, requests) = mpsc::unbounded_channel();
        tokio::spawn(run_subscriber(options, hub.clone(), requests, first));
        Remote { hub, commands }
    }

    pub(super) fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    pub(super) async fn subscribe(
        &self,
        session_id: &str,
        channel: String,
    ) -> Result<Subscription, BrokerError> {
        // Join the local fan-out first, so nothing the broker delivers after
        // its confirmation can miss this subscription.
        let subscription =
            Subscription::new(session_id, &self.hub, &channel, Some(self.commands.clone()));
        let (done, confirmed) = oneshot::channel();
        self.commands
            .send(Command::Subscribe { channel, done })
            .map_err(|_| BrokerError::Unavailable("subscriber task stopped".into()))?;
        match confirmed.await {
            Ok(Ok(())) => Ok(subscription),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(BrokerError::Unavailable("subscriber task stopped".into())),
        }
    }
}

/// A backend's subscriber connection, as [`run_subscriber`] drives it.
/// Every method but `connect` acts on one live connection; an error from
/// one that [`Failure::fatal`] marks ends the connection.
pub(super) trait Subscriber: Sized + Send + 'static {
    /// The backend in logs: `redis broker`.
    const NAME: &'static str;
    /// What connecting takes.
    type Options: Send + Sync + 'static;

    /// A fresh connection, subscribed to `channels`.
    fn connect(
        options: &Self::Options,
        channels: &[String],
    ) -> impl Future<Output = Result<Self, BrokerError>> + Send;
    /// The next `(channel, payload)`; `Err(reason)` when the connection
    /// failed. Cancel-safe: a payload is either returned or kept.
    fn next(&mut self) -> impl Future<Output = Result<(String, String), String>> + Send;
    fn subscribe(&mut self, channel: &str) -> impl Future<Output = Result<(), Failure>> + Send;
    fn unsubscribe(&mut self, channel: &str) -> impl Future<Output = Result<(), Failure>> + Send;
    /// A round trip on an idle connection.
    fn ping(&mut self) -> impl Future<Output = Result<(), BrokerError>> + Send;
    /// Lets the connection go (it failed, or the broker is gone).
    fn close(self) {}
}

/// A command that failed on the connection.
pub(super) struct Failure {
    pub(super) error: BrokerError,
    /// The connection is unusable: reconnect.
    pub(super) fatal: bool,
}

/// Owns the subscriber connection (`first`, subscribed to nothing yet) until
/// the broker and all its subscriptions are gone.
async fn run_subscriber<S: Subscriber>(
    options: S::Options,
    hub: Arc<Hub>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    first: S,
) {
    let mut backoff = Backoff::new();
    let mut connection = (first, HashSet::new());
    loop {
        let connected_at = Instant::now();
        let (subscriber, subscribed) = connection;
        let Some(reason) = serve(subscriber, subscribed, &hub, &mut commands).await else {
            return;
        };
        if connected_at.elapsed() >= Backoff::STABLE {
            backoff.reset();
        }
        tracing::warn!(
            reason = %reason,
            channels = hub.len(),
            "{}: subscriber connection lost; reconnecting (payloads published meanwhile are lost)",
            S::NAME
        );
        connection = match reconnect(&options, &hub, &mut commands, &mut backoff).await {
            Some(connected) => connected,
            None => return,
        };
    }
}

/// Connects and subscribes to every channel the process still wants;
/// returns the connection and what it is subscribed to.
async fn reconnect<S: Subscriber>(
    options: &S::Options,
    hub: &Hub,
    commands: &mut mpsc::UnboundedReceiver<Command>,
    backoff: &mut Backoff,
) -> Option<(S, HashSet<String>)> {
    let down_since = Instant::now();
    loop {
        if !wait_refusing(backoff.next_delay(), commands).await {
            return None;
        }
        let channels = hub.channels();
        match S::connect(options, &channels).await {
            Ok(subscriber) => {
                tracing::warn!(
                    channels = channels.len(),
                    down_ms = down_since.elapsed().as_millis() as u64,
                    "{}: subscriber reconnected; subscriptions resumed",
                    S::NAME
                );
                hub.mark_gaps();
                return Some((subscriber, channels.into_iter().collect()));
            }
            Err(e) => tracing::warn!(error = %e, "{}: reconnecting failed; retrying", S::NAME),
        }
    }
}

/// Runs one connection, subscribed to `subscribed`, until it fails
/// (`Some(reason)`) or the broker is gone (`None`).
async fn serve<S: Subscriber>(
    mut subscriber: S,
    mut subscribed: HashSet<String>,
    hub: &Hub,
    commands: &mut mpsc::UnboundedReceiver<Command>,
) -> Option<String> {
    let mut health = tokio::time::interval(HEALTH_CHECK);
    health.reset();
    let outcome = loop {
        tokio::select! {
            received = subscriber.next() => match received {
                Ok((channel, payload)) => hub.deliver(&channel, payload),
                Err(reason) => break Some(reason),
            },
            command = commands.recv() => match command {
                None => break None,
                Some(Command::Subscribe { channel, done }) => {
                    if subscribed.contains(&channel) {
                        let _ = done.send(Ok(()));
                        continue;
                    }
                    match timeout(OP_TIMEOUT, subscriber.subscribe(&channel)).await {
                        Ok(Ok(())) => {
                            subscribed.insert(channel);
                            let _ = done.send(Ok(()));
                        }
                        Ok(Err(Failure { error, fatal })) => {
                            let reason = format!("SUBSCRIBE failed: {error}");
                            let _ = done.send(Err(error));
                            if fatal {
                                break Some(reason);
                            }
                        }
                        Err(_) => {
                            let timed_out = format!("{}: SUBSCRIBE timed out", S::NAME);
                            let _ = done.send(Err(BrokerError::Unavailable(timed_out)));
                            break Some("SUBSCRIBE timed out".into());
                        }
                    }
                }
                Some(Command::Unsubscribe { channel }) => {
                    if hub.is_wanted(&channel) || !subscribed.remove(&channel) {
                        continue;
                    }
                    match timeout(OP_TIMEOUT, subscriber.unsubscribe(&channel)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(Failure { error, fatal: false })) => {
                            tracing::warn!(%channel, %error, "{}: UNSUBSCRIBE failed", S::NAME);
                        }
                        Ok(Err(Failure { error, .. })) => break Some(format!("UNSUBSCRIBE failed: {error}")),
                        Err(_) => break Some("UNSUBSCRIBE timed out".into()),
                    }
                }
            },
            _ = health.tick() => {
                match timeout(OP_TIMEOUT, subscriber.ping()).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => break Some(format!("health check failed: {e}")),
                    Err(_) => break Some("health check timed out".into()),
                }
            }
        }
    };
    subscriber.close();
    outcome
}

/// Exponential reconnection delays: 0, then 100 ms doubling up to 5 s, with
/// up to 25 % jitter so processes do not reconnect in step.
struct Backoff {
    next: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(5);
    /// A connection that lived this long resets the delays.
    const STABLE: Duration = Duration::from_secs(10);

    fn new() -> Self {
        Backoff {
            next: Duration::ZERO,
        }
    }

    fn reset(&mut self) {
        self.next = Duration::ZERO;
    }

    fn next_delay(&mut self) -> Duration {
        use rand::Rng;
        let delay = self.next;
        self.next = (delay * 2).clamp(Self::FIRST, Self::MAX);
        let jitter = delay.mul_f64(rand::thread_rng().gen_range(0.0..0.25));
        delay + jitter
    }
}

/// Waits `delay` while refusing subscriptions (the connection is down).
/// `false` when the broker and all its subscriptions are gone.
async fn wait_refusing(delay: Duration, commands: &mut mpsc::UnboundedReceiver<Command>) -> bool {
    let sleep = tokio::time::sleep(delay);
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            _ = &mut sleep => return true,
            command = commands.recv() => match command {
                None => return false,
                Some(command) => refuse(command),
            },
        }
    }
}

fn refuse(command: Command) {
    if let Command::Subscribe { done, .. } = command {
        let _ = done.send(Err(BrokerError::Unavailable(
            "reconnecting to the broker".into(),
        )));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_resets() {
        let mut backoff = Backoff::new();
        assert_eq!(backoff.next_delay(), Duration::ZERO);
        let second = backoff.next_delay();
        assert!(second >= Backoff::FIRST && second < Backoff::FIRST * 2);
        for _ in 0..20 {
            assert!(backoff.next_delay() <= Backoff::MAX.mul_f64(1.25));
        }
        backoff.reset();
        assert_eq!(backoff.next_delay(), Duration::ZERO);
    }
}
