//! The accept loop: every connection gets a slot under a global and a
//! per-address cap, a deadline for its request heads, one for its request
//! bodies, and graceful shutdown. What `axum::serve` does, plus the limits a
//! public server needs (a client holding thousands of half-sent requests
//! cannot exhaust descriptors or memory).
//!
//! - A connection must deliver each request head within `header_timeout`,
//!   counted from when it opened or from the end of its previous response: so
//!   this also closes idle keep-alive connections.
//! - A request body must arrive whole within `body_timeout` of its head.
//! - Past `max_connections`, a new connection waits up to a second for a slot
//!   (at most [`MAX_WAITING`] wait at once) and is closed otherwise; past
//!   `max_per_ip` from one address it is closed at once. An upgraded
//!   connection (the classroom WebSocket) keeps its slot until it closes.
//! - On shutdown: no new connections, idle ones close, requests in flight
//!   finish (for up to [`SHUTDOWN_GRACE`]).

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::Router;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

/// How long a connection past the cap waits for a slot before it is closed.
const WAIT_FOR_SLOT: Duration = Duration::from_secs(1);
/// Connections allowed to wait for a slot at once; more are closed at once.
pub const MAX_WAITING: usize = 256;
/// How long shutdown waits for requests in flight.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// Read buffer per connection; a request head must fit (JWTs are < 2 KiB).
const MAX_BUF: usize = 64 * 1024;

/// The limits, from the command line.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    /// 0: no cap.
    pub max_connections: usize,
    /// 0: no cap.
    pub max_per_ip: usize,
}

/// Serves `app` on `listener` until `shutdown` completes, then lets requests
/// in flight finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(match limits.max_connections {
        0 => Semaphore::MAX_PERMITS,
        n => n,
    }));
    let waiting = Arc::new(Semaphore::new(MAX_WAITING));
    let per_ip = Arc::new(PerIp {
        max: limits.max_per_ip,
        counts: Mutex::new(HashMap::new()),
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_BUF);
    let (stop_tx, stop_rx) = watch::channel(false);
    // Each connection task holds a sender; all are gone when all have ended.
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // Out of descriptors: pending connections stay in the
                    // kernel's backlog until some close.
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Some(ip_guard) = per_ip.enter(peer.ip()) else {
            tracing::debug!(%peer, "closed: too many connections from this address");
            continue;
        };
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => Slot::Ready(slot),
            Err(_) => match waiting.clone().try_acquire_owned() {
                Ok(turn) => Slot::Wait(slots.clone(), turn),
                Err(_) => {
                    tracing::debug!(%peer, "closed: connection cap reached");
                    continue;
                }
            },
        };
        let connection = Connection {
            builder: builder.clone(),
            app: app.clone(),
            peer,
            body_timeout: limits.body_timeout,
            stop: stop_rx.clone(),
        };
        let done = done_tx.clone();
        tokio::spawn(async move {
            let _done = done;
            let Some(slot) = slot.get().await else {
                tracing::debug!(%peer, "closed: no connection slot freed in time");
                return;
            };
            connection.run(tcp, slot, ip_guard).await;
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    drop(done_tx);
    if tokio::time::timeout(SHUTDOWN_GRACE, done_rx.recv())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight at shutdown");
    }
}

fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

enum Slot {
    Ready(OwnedSemaphorePermit),
    /// The cap is reached: wait for a slot, holding a turn among the waiters.
    Wait(Arc<Semaphore>, OwnedSemaphorePermit),
}

impl Slot {
    async fn get(self) -> Option<OwnedSemaphorePermit> {
        match self {
            Slot::Ready(slot) => Some(slot),
            Slot::Wait(slots, _turn) => tokio::time::timeout(WAIT_FOR_SLOT, slots.acquire_owned())
                .await
                .ok()?
                .ok(),
        }
    }
}

struct Connection {
    builder: http1::Builder,
    app: Router,
    peer: SocketAddr,
    body_timeout: Duration,
    stop: watch::Receiver<bool>,
}

impl Connection {
    async fn run(mut self, tcp: TcpStream, slot: OwnedSemaphorePermit, ip: IpGuard) {
        // Small messages (WebSocket frames) go out at once, not after the
        // peer's delayed ACK (Nagle).
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY: {e}");
        }
        let io = TokioIo::new(Counted {
            tcp,
            _slot: slot,
            _ip: ip,
        });
        let (app, peer, body_timeout) = (self.app, self.peer, self.body_timeout);
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let mut req = req.map(|body| Body::new(TimedBody::new(body, body_timeout)));
            req.extensions_mut().insert(ConnectInfo(peer));
            app.clone().oneshot(req)
        });
        let conn = self.builder.serve_connection(io, service).with_upgrades();
        tokio::pin!(conn);
        let stop = &mut self.stop;
        let stopping = async move {
            // The guard `wait_for` returns must not be held across an await.
            let _ = stop.wait_for(|stop| *stop).await.map(|_| ());
        };
        let ended = tokio::select! {
            ended = conn.as_mut() => ended,
            _ = stopping => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        };
        if let Err(e) = ended {
            // Header timeouts, resets, malformed requests: the client's doing.
            tracing::debug!(%peer, "connection: {e}");
        }
    }
}

/// The socket, holding its slot and its address's count until it closes
/// (after an upgrade too).
struct Counted {
    tcp: TcpStream,
    _slot: OwnedSemaphorePermit,
    _ip: IpGuard,
}

impl AsyncRead for Counted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

/// Open connections per client address.
struct PerIp {
    max: usize,
    counts: Mutex<HashMap<IpAddr, usize>>,
}

impl PerIp {
    fn enter(self: &Arc<Self>, ip: IpAddr) -> Option<IpGuard> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let count = counts.entry(ip).or_insert(0);
        if self.max != 0 && *count >= self.max {
            return None;
        }
        *count += 1;
        Some(IpGuard {
            table: self.clone(),
            ip,
        })
    }
}

struct IpGuard {
    table: Arc<PerIp>,
    ip: IpAddr,
}

impl Drop for IpGuard {
    fn drop(&mut self) {
        let mut counts = self.table.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = counts.get_mut(&self.ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

/// A request body that must arrive whole before a deadline.
struct TimedBody {
    inner: Incoming,
    timeout: Duration,
    deadline: Instant,
    sleep: Option<Pin<Box<Sleep>>>,
}

#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub struct BodyTimeout(Duration);

impl TimedBody {
    fn new(inner: Incoming, timeout: Duration) -> Self {
        TimedBody {
            inner,
            timeout,
            deadline: Instant::now() + timeout,
            sleep: None,
        }
    }
}

impl http_body::Body for TimedBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::BoxError>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        // The timer is only made for bodies that are actually waited on.
        let deadline = this.deadline;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(BodyTimeout(this.timeout).into()))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
