//! The session broker against the real services: Redis on 127.0.0.1:6379 and
//! PostgreSQL on 127.0.0.1:5432 (`make test` starts both through
//! scripts/services.sh; TEST_REDIS_URL / TEST_POSTGRES_URL override them),
//! and the in-process default. Each remote test uses two `Broker`s, i.e. two
//! sets of connections, as two server processes would. Session ids are random
//! so that parallel test binaries never share a channel; nothing here affects
//! other clients of the services.

use std::time::{Duration, Instant};

use classcast::control::broker::{
    Broker, BrokerConfig, BrokerError, Subscription, LOCAL_BUFFER, MAX_PAYLOAD_BYTES,
    MAX_SESSION_ID_LEN,
};

fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn postgres_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/test".into())
}

#[derive(Debug, Clone, Copy)]
enum Backend {
    Local,
    Redis,
    Postgres,
}

fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "classcast=warn".into()),
        )
        .with_test_writer()
        .try_init();
}

async fn connect_to(config: BrokerConfig) -> Broker {
    init_logs();
    match Broker::connect(&config).await {
        Ok(broker) => broker,
        Err(e) => panic!(
            "cannot connect the {config:?} broker: {e}\n\
             Redis (127.0.0.1:6379) and PostgreSQL (127.0.0.1:5432, database `test`) must be \
             running: `make test` starts them, or run scripts/services.sh"
        ),
    }
}

async fn connect(backend: Backend) -> Broker {
    connect_to(match backend {
        Backend::Local => BrokerConfig::Local,
        Backend::Redis => BrokerConfig::Redis { url: redis_url() },
        Backend::Postgres => BrokerConfig::Postgres {
            url: postgres_url(),
        },
    })
    .await
}

/// Two brokers as two processes have them. The local broker is one process
/// by definition, so there both are handles on the same one.
async fn pair(backend: Backend) -> (Broker, Broker) {
    let a = connect(backend).await;
    let b = match backend {
        Backend::Local => a.clone(),
        _ => connect(backend).await,
    };
    (a, b)
}

fn session_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

async fn next(subscription: &mut Subscription) -> String {
    tokio::time::timeout(Duration::from_secs(10), subscription.recv())
        .await
        .expect("no payload within 10 s")
        .expect("subscription ended")
}

async fn nothing_within(subscription: &mut Subscription, wait: Duration) {
    if let Ok(payload) = tokio::time::timeout(wait, subscription.recv()).await {
        panic!("unexpected payload {payload:?}");
    }
}

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod local {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::Local).await })*
        }
        mod redis {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::Redis).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::Postgres).await })*
        }
    };
}

on_every_backend!(
    same_order_everywhere,
    channels_are_isolated,
    dropped_subscription_stops_receiving,
    limits_are_the_same_everywhere,
);

const PER_PUBLISHER: usize = 100;

/// A and B publish 100 numbered payloads each, concurrently; a subscriber on
/// each sees all 200, in one common order that keeps each publisher's order.
async fn same_order_everywhere(backend: Backend) {
    let (a, b) = pair(backend).await;
    let session = session_id();
    let base = Instant::now();
    let collect = |mut subscription: Subscription| {
        tokio::spawn(async move {
            let mut seen = Vec::with_capacity(2 * PER_PUBLISHER);
            let mut latencies = Vec::with_capacity(2 * PER_PUBLISHER);
            while seen.len() < 2 * PER_PUBLISHER {
                let payload = next(&mut subscription).await;
                let received = base.elapsed().as_nanos() as u64;
                let (label, sent) = payload.rsplit_once(' ').expect("label and time");
                let sent: u64 = sent.parse().expect("time");
                latencies.push(Duration::from_nanos(received - sent));
                seen.push(label.to_owned());
            }
            (seen, latencies, subscription)
        })
    };
    let on_a = collect(a.subscribe(&session).await.expect("subscribe on A"));
    let on_b = collect(b.subscribe(&session).await.expect("subscribe on B"));

    let publish_all = |broker: Broker, name: &'static str, session: String| {
        tokio::spawn(async move {
            for i in 0..PER_PUBLISHER {
                let sent = base.elapsed().as_nanos();
                broker
                    .publish(&session, format!("{name}{i} {sent}"))
                    .await
                    .expect("publish");
                if i % 10 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        })
    };
    let from_a = publish_all(a.clone(), "A", session.clone());
    let from_b = publish_all(b.clone(), "B", session.clone());
    from_a.await.expect("A publishes");
    from_b.await.expect("B publishes");
    let (seen_a, mut latencies, mut sub_a) = on_a.await.expect("collect on A");
    let (seen_b, latencies_b, mut sub_b) = on_b.await.expect("collect on B");

    assert_eq!(seen_a, seen_b, "both subscribers see one order");
    for name in ["A", "B"] {
        let own: Vec<_> = seen_a.iter().filter(|l| l.starts_with(name)).collect();
        let expected: Vec<_> = (0..PER_PUBLISHER).map(|i| format!("{name}{i}")).collect();
        assert_eq!(
            own,
            expected.iter().collect::<Vec<_>>(),
            "{name}'s payloads all arrive in its order"
        );
    }
    let switches = seen_a.windows(2).filter(|w| w[0][..1] != w[1][..1]).count();
    nothing_within(&mut sub_a, Duration::from_millis(200)).await;
    nothing_within(&mut sub_b, Duration::from_millis(10)).await;

    latencies.extend(latencies_b);
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    eprintln!(
        "broker {}: publish→receive over {} receipts: p50 {:?}, p95 {:?}, max {:?} \
         ({switches} A/B switches in the common order)",
        a.name(),
        latencies.len(),
        at(0.5),
        at(0.95),
        at(1.0),
    );
}

async fn channels_are_isolated(backend: Backend) {
    let (a, b) = pair(backend).await;
    let (one, two) = (session_id(), session_id());
    let mut sub_one = b.subscribe(&one).await.expect("subscribe one");
    let mut sub_two = b.subscribe(&two).await.expect("subscribe two");
    a.publish(&two, "for two".into()).await.expect("publish");
    a.publish(&one, "for one".into()).await.expect("publish");
    a.publish(&two, "end two".into()).await.expect("publish");
    assert_eq!(next(&mut sub_one).await, "for one");
    assert_eq!(next(&mut sub_two).await, "for two");
    assert_eq!(next(&mut sub_two).await, "end two");
    nothing_within(&mut sub_one, Duration::from_millis(200)).await;
    // A session whose id extends another's shares nothing with it.
    let longer = format!("{one}x");
    let mut sub_longer = b.subscribe(&longer).await.expect("subscribe longer");
    a.publish(&one, "only one".into()).await.expect("publish");
    assert_eq!(next(&mut sub_one).await, "only one");
    nothing_within(&mut sub_longer, Duration::from_millis(200)).await;
}

async fn dropped_subscription_stops_receiving(backend: Backend) {
    let (a, b) = pair(backend).await;
    let session = session_id();
    let mut first = b.subscribe(&session).await.expect("subscribe");
    let mut second = b.subscribe(&session).await.expect("subscribe again");
    assert_eq!(
        b.active_channels(),
        1,
        "one broker subscription per channel"
    );
    a.publish(&session, "both".into()).await.expect("publish");
    assert_eq!(next(&mut first).await, "both");
    assert_eq!(next(&mut second).await, "both");

    drop(first);
    a.publish(&session, "second only".into())
        .await
        .expect("publish");
    assert_eq!(next(&mut second).await, "second only");
    assert_eq!(b.active_channels(), 1);

    drop(second);
    assert_eq!(b.active_channels(), 0, "the last subscription leaves");
    if let Backend::Redis = backend {
        let mut admin = redis_admin().await;
        let channel = format!("classcast.session.{session}");
        eventually("Redis has no subscriber left", async || {
            let counts: Vec<(String, usize)> = ::redis::cmd("PUBSUB")
                .arg("NUMSUB")
                .arg(&channel)
                .query_async(&mut admin)
                .await
                .expect("PUBSUB NUMSUB");
            counts == [(channel.clone(), 0)]
        })
        .await;
    } else {
        // Let the subscriber task process the UNLISTEN.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    a.publish(&session, "nobody".into()).await.expect("publish");

    let mut third = b.subscribe(&session).await.expect("subscribe later");
    a.publish(&session, "later".into()).await.expect("publish");
    assert_eq!(
        next(&mut third).await,
        "later",
        "a new subscription starts from now"
    );
}

async fn limits_are_the_same_everywhere(backend: Backend) {
    let (a, b) = pair(backend).await;
    let session = session_id();
    let mut subscription = b.subscribe(&session).await.expect("subscribe");

    let largest = "x".repeat(MAX_PAYLOAD_BYTES);
    a.publish(&session, largest.clone())
        .await
        .expect("the largest payload passes");
    assert_eq!(next(&mut subscription).await, largest);
    let unicode = "é✓".repeat(100);
    a.publish(&session, unicode.clone()).await.expect("unicode");
    assert_eq!(next(&mut subscription).await, unicode);

    for too_large in [
        "x".repeat(MAX_PAYLOAD_BYTES + 1),
        "é".repeat(MAX_PAYLOAD_BYTES / 2 + 1),
    ] {
        let size = too_large.len();
        match a.publish(&session, too_large).await {
            Err(BrokerError::TooLarge { size: reported }) => assert_eq!(reported, size),
            other => panic!("{size} bytes: {other:?}"),
        }
    }
    assert!(matches!(
        a.publish(&session, "a\0b".into()).await,
        Err(BrokerError::NulInPayload)
    ));

    let too_long = "a".repeat(MAX_SESSION_ID_LEN + 1);
    for bad in [
        "",
        too_long.as_str(),
        "a b",
        "a.b",
        "a\"b",
        "x*",
        "é",
        "a\0",
    ] {
        assert!(
            matches!(
                a.publish(bad, "p".into()).await,
                Err(BrokerError::InvalidSessionId(_))
            ),
            "publish to {bad:?}"
        );
        assert!(
            matches!(
                b.subscribe(bad).await,
                Err(BrokerError::InvalidSessionId(_))
            ),
            "subscribe to {bad:?}"
        );
    }
    // The longest id is fine (PostgreSQL channel names stop at 63 bytes).
    let longest = "0123456789-abcdefghij_".repeat(3)[..MAX_SESSION_ID_LEN].to_owned();
    let mut sub_longest = b.subscribe(&longest).await.expect("subscribe longest");
    a.publish(&longest, "long".into()).await.expect("publish");
    assert_eq!(next(&mut sub_longest).await, "long");

    // Nothing above reached the subscriber.
    nothing_within(&mut subscription, Duration::from_millis(200)).await;
}

#[tokio::test]
async fn local_subscriber_that_falls_behind_loses_the_oldest_and_continues() {
    let broker = connect(Backend::Local).await;
    let session = session_id();
    let mut slow = broker.subscribe(&session).await.expect("subscribe");
    let total = LOCAL_BUFFER + 100;
    for i in 0..total {
        broker
            .publish(&session, i.to_string())
            .await
            .expect("publish");
    }
    for i in (total - LOCAL_BUFFER)..total {
        assert_eq!(next(&mut slow).await, i.to_string());
    }
    broker
        .publish(&session, "more".into())
        .await
        .expect("publish");
    assert_eq!(next(&mut slow).await, "more");
}

#[tokio::test]
async fn subscriptions_are_streams() {
    use futures::StreamExt;
    let broker = connect(Backend::Local).await;
    let session = session_id();
    let subscription = broker.subscribe(&session).await.expect("subscribe");
    for i in 0..3 {
        broker
            .publish(&session, format!("p{i}"))
            .await
            .expect("publish");
    }
    let got: Vec<String> = subscription.take(3).collect().await;
    assert_eq!(got, ["p0", "p1", "p2"]);
}

#[tokio::test]
async fn unreachable_brokers_fail_to_connect() {
    for config in [
        BrokerConfig::Redis {
            url: "redis://127.0.0.1:1".into(),
        },
        BrokerConfig::Postgres {
            url: "postgres://postgres@127.0.0.1:1/test".into(),
        },
    ] {
        let started = Instant::now();
        let result = Broker::connect(&config).await;
        assert!(result.is_err(), "{config:?} connected");
        assert!(started.elapsed() < Duration::from_secs(15));
    }
    assert!(matches!(
        BrokerConfig::from_url("redis://127.0.0.1:6379"),
        Ok(BrokerConfig::Redis { .. })
    ));
}

async fn redis_admin() -> ::redis::aio::MultiplexedConnection {
    let url = redis_url();
    let client = ::redis::Client::open(url.as_str()).expect("Redis URL");
    client
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "Redis at {url} is not reachable (make test / scripts/services.sh start it): {e}"
            )
        })
}

/// Publishes numbered payloads from `publisher` until one arrives at
/// `subscription` (the payloads sent while it reconnects are lost, by design).
async fn resumes(publisher: &Broker, session: &str, subscription: &mut Subscription) -> Duration {
    let started = Instant::now();
    let mut sent = 0u32;
    loop {
        publisher
            .publish(session, format!("after {sent}"))
            .await
            .expect("publish on the healthy broker");
        sent += 1;
        if let Ok(payload) =
            tokio::time::timeout(Duration::from_millis(20), subscription.recv()).await
        {
            let payload = payload.expect("subscription ended");
            assert!(payload.starts_with("after "), "{payload:?}");
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the subscription did not resume within 15 s"
        );
    }
}

/// Kills B's subscriber connection from a Redis admin connection; B
/// reconnects, resubscribes and receives later payloads. B connects as a
/// user of its own so that `CLIENT KILL USER … TYPE pubsub` touches no other
/// client of this Redis (parallel tests included).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_subscription_resumes_after_its_connection_is_killed() {
    let mut admin = redis_admin().await;
    let user = format!("classcast-test-{}", session_id());
    let password = session_id();
    let _: () = ::redis::cmd("ACL")
        .arg("SETUSER")
        .arg(&user)
        .arg("on")
        .arg(format!(">{password}"))
        .arg("~*")
        .arg("&*")
        .arg("+@all")
        .query_async(&mut admin)
        .await
        .expect("ACL SETUSER");
    let user_url = redis_url().replacen("redis://", &format!("redis://{user}:{password}@"), 1);

    let a = connect(Backend::Redis).await;
    let b = connect_to(BrokerConfig::Redis { url: user_url }).await;
    let session = session_id();
    let mut subscription = b.subscribe(&session).await.expect("subscribe");
    a.publish(&session, "before".into()).await.expect("publish");
    assert_eq!(next(&mut subscription).await, "before");

    let killed: usize = ::redis::cmd("CLIENT")
        .arg("KILL")
        .arg("USER")
        .arg(&user)
        .arg("TYPE")
        .arg("pubsub")
        .query_async(&mut admin)
        .await
        .expect("CLIENT KILL");
    assert_eq!(killed, 1, "B's one subscriber connection");
    let took = resumes(&a, &session, &mut subscription).await;
    eprintln!("redis subscription resumed {took:?} after CLIENT KILL");

    // B's publishing connection was untouched; kill it too: the next publish
    // reconnects.
    let killed: usize = ::redis::cmd("CLIENT")
        .arg("KILL")
        .arg("USER")
        .arg(&user)
        .arg("TYPE")
        .arg("normal")
        .query_async(&mut admin)
        .await
        .expect("CLIENT KILL");
    assert_eq!(killed, 1, "B's one publishing connection");
    let mut on_a = a.subscribe(&session).await.expect("subscribe on A");
    b.publish(&session, "from B again".into())
        .await
        .expect("B publishes on a new connection");
    assert_eq!(next(&mut on_a).await, "from B again");
    loop {
        // Skip the tail of `resumes`' probes, if any.
        let payload = next(&mut subscription).await;
        if payload == "from B again" {
            break;
        }
        assert!(payload.starts_with("after "), "{payload:?}");
    }

    let _: usize = ::redis::cmd("ACL")
        .arg("DELUSER")
        .arg(&user)
        .query_async(&mut admin)
        .await
        .expect("ACL DELUSER");
}

/// Terminates B's listening backend; B reconnects, LISTENs again and
/// receives later notifications. The backend is found by B's channel, which
/// is random, so no other client is touched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_subscription_resumes_after_its_connection_is_killed() {
    use sqlx::Connection;
    let url = postgres_url();
    let mut admin = sqlx::PgConnection::connect(&url).await.unwrap_or_else(|e| {
        panic!(
            "PostgreSQL at {url} is not reachable (make test / scripts/services.sh start it): {e}"
        )
    });
    let (a, b) = pair(Backend::Postgres).await;
    let session = session_id();
    let mut subscription = b.subscribe(&session).await.expect("subscribe");
    a.publish(&session, "before".into()).await.expect("publish");
    assert_eq!(next(&mut subscription).await, "before");

    let channel = format!("classcast.session.{session}");
    let listeners = async |admin: &mut sqlx::PgConnection| -> Vec<i32> {
        sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity \
             WHERE application_name = 'classcast-broker-listener' AND query LIKE '%' || $1 || '%'",
        )
        .bind(&channel)
        .fetch_all(admin)
        .await
        .expect("pg_stat_activity")
    };
    let before = listeners(&mut admin).await;
    assert_eq!(before.len(), 1, "B's one listening connection: {before:?}");
    let terminated: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(before[0])
        .fetch_one(&mut admin)
        .await
        .expect("pg_terminate_backend");
    assert!(terminated);
    // Termination is asynchronous: wait for B to LISTEN on a new backend,
    // then show that notifications flow again.
    eventually("B listens on a new connection", async || {
        let now = listeners(&mut admin).await;
        now.len() == 1 && now != before
    })
    .await;
    let took = resumes(&a, &session, &mut subscription).await;
    eprintln!("postgres subscription resumed {took:?} after pg_terminate_backend");

    b.publish(&session, "from B".into()).await.expect("publish");
    loop {
        let payload = next(&mut subscription).await;
        if payload == "from B" {
            break;
        }
        assert!(payload.starts_with("after "), "{payload:?}");
    }
}

/// A private redis-server on a free port, killed on drop.
struct PrivateRedis {
    port: u16,
    child: std::process::Child,
}

impl PrivateRedis {
    fn start_on(port: u16) -> Self {
        let child = std::process::Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--port", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run redis-server (scripts/install-deps.sh test installs it): {e}")
            });
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        PrivateRedis { port, child }
    }

    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        Self::start_on(port)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn stop(mut self) -> u16 {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.port
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A whole outage, on a Redis of the test's own: while it is down, publish
/// and subscribe fail; when it is back on the same address, both brokers
/// reconnect (with backoff) and the existing subscription resumes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_fails_fast_then_everything_resumes() {
    let server = PrivateRedis::start();
    let url = server.url();
    let a = connect_to(BrokerConfig::Redis { url: url.clone() }).await;
    let b = connect_to(BrokerConfig::Redis { url }).await;
    let session = session_id();
    let mut subscription = b.subscribe(&session).await.expect("subscribe");
    a.publish(&session, "before".into()).await.expect("publish");
    assert_eq!(next(&mut subscription).await, "before");

    let port = server.stop();
    let started = Instant::now();
    assert!(a.publish(&session, "lost".into()).await.is_err());
    // Give B's subscriber time to notice and start backing off.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(b.subscribe(&session_id()).await.is_err());
    assert!(started.elapsed() < Duration::from_secs(8), "fails fast");
    tokio::time::sleep(Duration::from_millis(700)).await;

    let _server = PrivateRedis::start_on(port);
    let took = resumes(&a, &session, &mut subscription).await;
    eprintln!("redis subscription resumed {took:?} after the server came back");
    let later = session_id();
    let mut on_later = b
        .subscribe(&later)
        .await
        .expect("subscribe after the outage");
    a.publish(&later, "new".into()).await.expect("publish");
    assert_eq!(next(&mut on_later).await, "new");
}
