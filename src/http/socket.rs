//! `GET /ws/sessions/{id}`: the thin socket layer. Authenticates (first
//! message `auth`, or a `classcast.jwt.<token>` subprotocol), then moves
//! frames between the socket and the room; validates every frame; keeps the
//! connection alive with pings and drops it when the peer goes silent.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use futures::SinkExt;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::state::AppState;
use super::ApiError;
use crate::auth::policy::{Capability, Denied};
use crate::auth::Claims;
use crate::control::hub::ToSocket;
use crate::control::protocol::{close_reason, parse, serialize, ClientMessage, ServerMessage};
use crate::control::room::{take_token, Bucket, CLOSE_DENIED};

/// The first message must come this soon.
const AUTH_WAIT: Duration = Duration::from_secs(5);
const PING_EVERY: Duration = Duration::from_secs(20);
/// Nothing at all from the peer for this long: it is gone.
const SILENCE_LIMIT: Duration = Duration::from_secs(60);
/// More bad frames or refused messages than this within `ABUSE_WINDOW`
/// closes the socket.
const ABUSE_LIMIT: usize = 20;
const ABUSE_WINDOW: Duration = Duration::from_secs(10);
/// Messages queued for a socket that reads too slowly.
const SOCKET_QUEUE: usize = 512;
/// The socket's read buffer. tungstenite zero-fills all of it before every
/// read attempt, and `serve` attempts a read after each message it sends:
/// the 128 KiB default made memset 40 % of the server's CPU with 500
/// clients in a room (examples/ws_bench.rs). Larger frames are still read,
/// over several reads.
const READ_BUFFER: usize = 4 * 1024;

/// Queued messages written to a socket before one flush.
const WRITE_BATCH: usize = 64;

/// Frames above this end the connection outright.
const HARD_FRAME_CAP: usize = 1024 * 1024;
/// After our close frame, how long we wait for the peer's (and at most how
/// long sending it may take: a peer that reads nothing must not hold us).
const CLOSE_WAIT: Duration = Duration::from_secs(1);
/// A batch of queued messages not written within this time: the peer does
/// not read, so it is closed as too slow.
const WRITE_STALL: Duration = Duration::from_secs(10);

pub const CLOSE_UNAUTHENTICATED: u16 = 4401;
pub const CLOSE_ABUSIVE: u16 = 4400;
/// The socket could not keep up with the room and missed messages: the
/// client reconnects and gets the room again in `welcome`.
pub const CLOSE_TOO_SLOW: u16 = 4008;
const TOO_SLOW_REASON: &str = "too slow: reconnect to get the room again";
/// What a banned participant's client is told, as the room tells it.
const REMOVED_REASON: &str = "You were removed from this session.";
pub const SUBPROTOCOL_PREFIX: &str = "classcast.jwt.";

pub fn router() -> Router<AppState> {
    Router::new().route("/ws/sessions/{id}", get(upgrade))
}

async fn upgrade(
    State(state): State<AppState>,
    Path(session_id): Path<String>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    // A token offered as a subprotocol is echoed back, as browsers require.
    let offered = headers
        .get("sec-websocket-protocol")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(',')
                .map(str::trim)
                .find(|p| p.starts_with(SUBPROTOCOL_PREFIX))
                .map(str::to_owned)
        });
    // Frames up to the hard cap are read and answered (`too_large` beyond
    // MAX_FRAME_BYTES); beyond it the connection is dropped.
    let ws = ws
        .read_buffer_size(READ_BUFFER)
        .max_message_size(HARD_FRAME_CAP)
        .max_frame_size(HARD_FRAME_CAP);
    let ws = match &offered {
        Some(p) => ws.protocols([p.clone()]),
        None => ws,
    };
    let token = offered.map(|p| p[SUBPROTOCOL_PREFIX.len()..].to_owned());
    ws.on_upgrade(move |socket| serve(state, session_id, token, socket))
}

fn text(msg: &ServerMessage) -> Message {
    Message::Text(serialize(msg))
}

/// How a batch of queued messages went out.
enum Written {
    /// With how many refusals (`error`s from the room) among them.
    Sent {
        refused: usize,
    },
    Failed,
    /// The room closed the socket (replaced, kicked).
    Closed,
}

/// Writes `first` and what else is already queued (up to `WRITE_BATCH`),
/// then flushes once. A socket that fell behind catches up with one write
/// for many messages instead of one write each: under load the cost per
/// message falls as the queue grows, and the backlog drains.
async fn write_queued(
    socket: &mut WebSocket,
    first: ToSocket,
    rx: &mut mpsc::Receiver<ToSocket>,
) -> Written {
    let mut next = Some(first);
    let mut written = 0;
    let mut refused = 0;
    while let Some(item) = next.take() {
        match item {
            ToSocket::Message(t) => {
                if socket.feed(Message::Text(t)).await.is_err() {
                    return Written::Failed;
                }
                written += 1;
            }
            ToSocket::Refused(t) => {
                if socket.feed(Message::Text(t)).await.is_err() {
                    return Written::Failed;
                }
                written += 1;
                refused += 1;
            }
            ToSocket::Close { code, reason } => {
                if socket.flush().await.is_err() {
                    return Written::Failed;
                }
                close_frame(socket, code, &reason).await;
                return Written::Closed;
            }
        }
        if written < WRITE_BATCH {
            next = rx.try_recv().ok();
        }
    }
    match socket.flush().await {
        Ok(()) => Written::Sent { refused },
        Err(_) => Written::Failed,
    }
}

fn error(code: &str, message: impl Into<String>) -> ServerMessage {
    ServerMessage::Error {
        code: code.into(),
        message: message.into(),
    }
}

async fn close(mut socket: WebSocket, code: u16, reason: &str) {
    close_frame(&mut socket, code, reason).await;
}

/// Sends a close frame, then reads (and drops) what the peer still sends
/// until its close frame, for at most `CLOSE_WAIT`. Dropping the connection
/// right after our close frame resets it when the peer's data (a pong, a
/// message in flight) is still unread, and the peer then loses the close
/// frame with its code and reason. The reason is cut to fit the frame: a
/// longer one cannot be sent, and the peer would see 1006 without the code.
async fn close_frame(socket: &mut WebSocket, code: u16, reason: &str) {
    let reason = Utf8Bytes::from(close_reason(reason).to_owned());
    let sent = tokio::time::timeout(
        CLOSE_WAIT,
        socket.send(Message::Close(Some(CloseFrame { code, reason }))),
    )
    .await;
    if !matches!(sent, Ok(Ok(()))) {
        return;
    }
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        while let Some(Ok(frame)) = socket.recv().await {
            if matches!(frame, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

/// Checks the token and the session with the access policy; the close code
/// and reason on failure. The claims come back with the role the policy
/// gave: an instructor token is the instructor only in its own sessions
/// (elsewhere it is refused), a kicked participant is refused.
async fn authenticate(
    state: &AppState,
    session_id: &str,
    token: &str,
) -> Result<Claims, (u16, String)> {
    let unauthenticated = |e: String| (CLOSE_UNAUTHENTICATED, e);
    let mut claims = super::verify_token(state, token)
        .await
        .map_err(|e| unauthenticated(e.to_string()))?;
    match super::authorize(state, &claims, session_id, Capability::See).await {
        Ok((_, role)) => {
            claims.role = role;
            Ok(claims)
        }
        Err(ApiError::Denied(Denied::Banned)) => Err((
            crate::control::room::CLOSE_DENIED,
            "you were removed from this session".into(),
        )),
        Err(e) if e.status().is_server_error() => {
            tracing::warn!(session = %session_id, "socket access check: {e}");
            Err(unauthenticated("try again later".into()))
        }
        Err(e) => Err(unauthenticated(e.to_string())),
    }
}

/// Logs a refusal the way the room logs its own (`Effect::Refused`): with
/// the session and participant, never the token or the frame.
fn log_refusal(session_id: &str, participant: &str, code: &str) {
    tracing::info!(session = %session_id, participant = %participant, %code, "control message refused");
}

/// Bad frames and refused messages in the last `ABUSE_WINDOW`; time is an
/// input, so the rule is tested without a socket.
#[derive(Default)]
struct Abuse {
    bad: VecDeque<Duration>,
}

impl Abuse {
    /// Counts `n` bad messages at `now` (time since the socket opened);
    /// whether the socket is now over the limit.
    fn record(&mut self, now: Duration, n: usize) -> bool {
        while self
            .bad
            .front()
            .is_some_and(|t| now.saturating_sub(*t) >= ABUSE_WINDOW)
        {
            self.bad.pop_front();
        }
        for _ in 0..n.min(ABUSE_LIMIT + 1) {
            self.bad.push_back(now);
        }
        while self.bad.len() > ABUSE_LIMIT + 1 {
            self.bad.pop_front();
        }
        self.bad.len() > ABUSE_LIMIT
    }
}

/// The first message, when the token did not come as a subprotocol: the
/// token, or the close reason.
async fn await_auth(socket: &mut WebSocket) -> Result<String, &'static str> {
    match tokio::time::timeout(AUTH_WAIT, socket.recv()).await {
        Ok(Some(Ok(Message::Text(t)))) => match parse(&t) {
            Ok(ClientMessage::Auth { token }) => Ok(token),
            _ => Err("the first message must be auth"),
        },
        Ok(_) => Err("the first message must be auth"),
        Err(_) => Err("no auth message in 5 s"),
    }
}

async fn serve(state: AppState, session_id: String, token: Option<String>, mut socket: WebSocket) {
    let token = match token {
        Some(t) => t,
        None => match await_auth(&mut socket).await {
            Ok(t) => t,
            Err(reason) => {
                log_refusal(&session_id, "-", "unauthenticated");
                return close(socket, CLOSE_UNAUTHENTICATED, reason).await;
            }
        },
    };
    let claims = match authenticate(&state, &session_id, &token).await {
        Ok(c) => c,
        Err((code, reason)) => {
            if code == CLOSE_DENIED {
                // The same answer as the room's own ban list gives.
                log_refusal(&session_id, "-", "denied");
                let denied = ServerMessage::Denied {
                    reason: REMOVED_REASON.into(),
                };
                let sent = tokio::time::timeout(CLOSE_WAIT, socket.send(text(&denied))).await;
                if !matches!(sent, Ok(Ok(()))) {
                    return;
                }
            } else {
                log_refusal(&session_id, "-", "unauthenticated");
            }
            return close(socket, code, &reason).await;
        }
    };
    let participant = claims.sub.clone();
    let (tx, mut rx) = mpsc::channel::<ToSocket>(SOCKET_QUEUE);
    let membership = state.hub.join(&session_id, &claims, tx).await;
    let mut ping = tokio::time::interval(PING_EVERY);
    let opened = Instant::now();
    let mut heard = Instant::now();
    let mut abuse = Abuse::default();
    let mut pings: BTreeMap<String, Bucket> = BTreeMap::new();
    let mut closed_by_room = false;
    loop {
        // Bad messages this turn: frames that do not parse here, and
        // refusals from the room.
        let mut bad = 0;
        tokio::select! {
            out = rx.recv() => match out {
                Some(first) => match tokio::time::timeout(WRITE_STALL, write_queued(&mut socket, first, &mut rx)).await {
                    Ok(Written::Sent { refused }) => bad = refused,
                    Ok(Written::Failed) => break,
                    Ok(Written::Closed) => { closed_by_room = true; break; }
                    Err(_) => {
                        tracing::info!(session = %session_id, participant = %participant, "closing a socket that does not read");
                        close_frame(&mut socket, CLOSE_TOO_SLOW, TOO_SLOW_REASON).await;
                        break;
                    }
                },
                None => break,
            },
            _ = membership.too_slow() => {
                close_frame(&mut socket, CLOSE_TOO_SLOW, TOO_SLOW_REASON).await;
                break;
            }
            incoming = socket.recv() => {
                let Some(Ok(frame)) = incoming else { break };
                heard = Instant::now();
                let reply = match frame {
                    Message::Text(t) => match parse(&t) {
                        Ok(ClientMessage::Ping { id }) => {
                            let at_ms = i64::try_from(opened.elapsed().as_millis()).unwrap_or(i64::MAX);
                            if take_token(&mut pings, "ping", at_ms) {
                                Some(ServerMessage::Pong { id })
                            } else {
                                Some(error("rate_limited", "Too many pings: at most 5 a second, bursts of 10."))
                            }
                        }
                        Ok(ClientMessage::Auth { .. }) => Some(error("bad_message", "already authenticated")),
                        Ok(message) => { membership.send(message).await; None }
                        Err(e) => Some(error(e.code(), e.to_string())),
                    },
                    Message::Binary(_) => Some(error("bad_message", "messages are JSON text frames")),
                    Message::Close(_) => break,
                    Message::Ping(_) | Message::Pong(_) => None,
                };
                if let Some(reply) = reply {
                    if let ServerMessage::Error { code, .. } = &reply {
                        log_refusal(&session_id, &participant, code);
                        bad = 1;
                    }
                    if socket.send(text(&reply)).await.is_err() { break; }
                }
            }
            _ = ping.tick() => {
                if heard.elapsed() > SILENCE_LIMIT { break; }
                if socket.send(Message::Ping(Default::default())).await.is_err() { break; }
            }
        }
        if bad > 0 && abuse.record(opened.elapsed(), bad) {
            tracing::info!(session = %session_id, participant = %participant, "closing an abusive socket");
            close_frame(&mut socket, CLOSE_ABUSIVE, "too many bad messages").await;
            break;
        }
    }
    // A socket the room closed (replaced, kicked) has already left it.
    if !closed_by_room {
        membership.leave().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abuse_counts_bad_messages_in_a_sliding_window() {
        let mut a = Abuse::default();
        let s = Duration::from_secs;
        for _ in 0..ABUSE_LIMIT {
            assert!(!a.record(s(1), 1));
        }
        assert!(a.record(s(2), 1), "the 21st within 10 s");
        let mut a = Abuse::default();
        assert!(!a.record(s(0), ABUSE_LIMIT));
        // The first ones left the window.
        assert!(!a.record(s(10), 1));
        assert!(a.record(s(11), ABUSE_LIMIT));
        // A huge batch stays bounded.
        let mut a = Abuse::default();
        assert!(a.record(s(0), usize::MAX));
        assert!(a.bad.len() <= ABUSE_LIMIT + 1);
    }
}
