//! `GET /ws/sessions/{id}`: the thin socket layer. Authenticates (first
//! message `auth`, or a `classcast.jwt.<token>` subprotocol), then moves
//! frames between the socket and the room; validates every frame; keeps the
//! connection alive with pings and drops it when the peer goes silent.

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

use super::hub::ToSocket;
use super::protocol::{serialize, ClientMessage, ServerMessage, MAX_FRAME_BYTES};
use crate::auth::policy::{Capability, Denied};
use crate::auth::Claims;
use crate::http::ApiError;
use crate::state::AppState;

/// The first message must come this soon.
const AUTH_WAIT: Duration = Duration::from_secs(5);
const PING_EVERY: Duration = Duration::from_secs(20);
/// Nothing at all from the peer for this long: it is gone.
const SILENCE_LIMIT: Duration = Duration::from_secs(60);
/// More bad frames than this within `ABUSE_WINDOW` closes the socket.
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
/// After our close frame, how long we wait for the peer's.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

pub const CLOSE_UNAUTHENTICATED: u16 = 4401;
pub const CLOSE_ABUSIVE: u16 = 4400;
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
    Sent,
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
    while let Some(item) = next.take() {
        match item {
            ToSocket::Message(t) => {
                if socket.feed(Message::Text(t)).await.is_err() {
                    return Written::Failed;
                }
                written += 1;
            }
            ToSocket::Close { code, reason } => {
                if socket.flush().await.is_err() {
                    return Written::Failed;
                }
                close_frame(socket, code, Utf8Bytes::from(reason)).await;
                return Written::Closed;
            }
        }
        if written < WRITE_BATCH {
            next = rx.try_recv().ok();
        }
    }
    match socket.flush().await {
        Ok(()) => Written::Sent,
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
    close_frame(&mut socket, code, Utf8Bytes::from(reason.to_owned())).await;
}

/// Sends a close frame, then reads (and drops) what the peer still sends
/// until its close frame, for at most `CLOSE_WAIT`. Dropping the connection
/// right after our close frame resets it when the peer's data (a pong, a
/// message in flight) is still unread, and the peer then loses the close
/// frame with its code and reason.
async fn close_frame(socket: &mut WebSocket, code: u16, reason: Utf8Bytes) {
    if socket
        .send(Message::Close(Some(CloseFrame { code, reason })))
        .await
        .is_err()
    {
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
    let mut claims = crate::auth::verify_token(state, token)
        .await
        .map_err(|e| unauthenticated(e.to_string()))?;
    match crate::http::authorize(state, &claims, session_id, Capability::See).await {
        Ok((_, role)) => {
            claims.role = role;
            Ok(claims)
        }
        Err(ApiError::Denied(Denied::Banned)) => Err((
            super::room::CLOSE_DENIED,
            "you were removed from this session".into(),
        )),
        Err(e) if e.status().is_server_error() => {
            tracing::warn!(session = %session_id, "socket access check: {e}");
            Err(unauthenticated("try again later".into()))
        }
        Err(e) => Err(unauthenticated(e.to_string())),
    }
}

async fn serve(state: AppState, session_id: String, token: Option<String>, mut socket: WebSocket) {
    let token = match token {
        Some(t) => t,
        None => match tokio::time::timeout(AUTH_WAIT, socket.recv()).await {
            Ok(Some(Ok(Message::Text(t)))) => match serde_json::from_str::<ClientMessage>(&t) {
                Ok(ClientMessage::Auth { token }) => token,
                _ => {
                    return close(
                        socket,
                        CLOSE_UNAUTHENTICATED,
                        "the first message must be auth",
                    )
                    .await
                }
            },
            Ok(_) => {
                return close(
                    socket,
                    CLOSE_UNAUTHENTICATED,
                    "the first message must be auth",
                )
                .await
            }
            Err(_) => return close(socket, CLOSE_UNAUTHENTICATED, "no auth message in 5 s").await,
        },
    };
    let claims = match authenticate(&state, &session_id, &token).await {
        Ok(c) => c,
        Err((code, reason)) => return close(socket, code, &reason).await,
    };
    let (tx, mut rx) = mpsc::channel::<ToSocket>(SOCKET_QUEUE);
    let membership = state.hub.join(&session_id, &claims, tx).await;
    let mut ping = tokio::time::interval(PING_EVERY);
    let mut heard = Instant::now();
    let mut bad: Vec<Instant> = Vec::new();
    let mut closed_by_room = false;
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(first) => match write_queued(&mut socket, first, &mut rx).await {
                    Written::Sent => {}
                    Written::Failed => break,
                    Written::Closed => { closed_by_room = true; break; }
                },
                None => break,
            },
            incoming = socket.recv() => {
                let Some(Ok(frame)) = incoming else { break };
                heard = Instant::now();
                let reply = match frame {
                    Message::Text(t) if t.len() > MAX_FRAME_BYTES => Some(error(
                        "too_large",
                        format!("messages are limited to {MAX_FRAME_BYTES} bytes"),
                    )),
                    Message::Text(t) => match serde_json::from_str::<ClientMessage>(&t) {
                        Ok(ClientMessage::Ping { id }) => Some(ServerMessage::Pong { id }),
                        Ok(ClientMessage::Auth { .. }) => Some(error("bad_message", "already authenticated")),
                        Ok(message) => { membership.send(message).await; None }
                        Err(e) => Some(error("bad_message", format!("not a message: {e}"))),
                    },
                    Message::Binary(_) => Some(error("bad_message", "messages are JSON text frames")),
                    Message::Close(_) => break,
                    Message::Ping(_) | Message::Pong(_) => None,
                };
                if let Some(reply) = reply {
                    if matches!(reply, ServerMessage::Error { .. }) {
                        let now = Instant::now();
                        bad.retain(|t| now.duration_since(*t) < ABUSE_WINDOW);
                        bad.push(now);
                        if bad.len() > ABUSE_LIMIT {
                            tracing::info!(session = %session_id, participant = %claims.sub, "closing an abusive socket");
                            close_frame(&mut socket, CLOSE_ABUSIVE, Utf8Bytes::from_static("too many bad messages")).await;
                            break;
                        }
                    }
                    if socket.send(text(&reply)).await.is_err() { break; }
                }
            }
            _ = ping.tick() => {
                if heard.elapsed() > SILENCE_LIMIT { break; }
                if socket.send(Message::Ping(Default::default())).await.is_err() { break; }
            }
        }
    }
    // A socket the room closed (replaced, kicked) has already left it.
    if !closed_by_room {
        membership.leave().await;
    }
}
