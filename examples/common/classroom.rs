//! Shared by ws_bench and class_bench: a classroom of WebSocket clients in one
//! session (an instructor and N students), chat at a fixed total rate from
//! random students, and the tally of what every client received (each client
//! records every `chat`; the sender gets its own message back too).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use rand::Rng;
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use classcast::auth::{Claims, Keys, Role};

type Error = Box<dyn std::error::Error>;

/// Text of a benchmark chat: `bench <seq> <send time, µs since the bench's epoch>`.
pub const PREFIX: &str = "bench ";
/// A student sends at most once per this interval (the room allows 5/s, bursts of 10).
pub const MIN_GAP_PER_SENDER: Duration = Duration::from_millis(250);
/// After the last send, how long deliveries may go without progress before we stop waiting.
pub const DRAIN_IDLE: Duration = Duration::from_secs(3);
pub const DRAIN_MAX: Duration = Duration::from_secs(30);
/// The clients' WebSocket read buffer, in bytes.
const CLIENT_READ_BUFFER: usize = 8 * 1024;
/// Connections opened at once while joining.
const JOIN_CONCURRENCY: usize = 16;
/// Every client must have its `welcome` within this.
const JOIN_LIMIT: Duration = Duration::from_secs(120);

/// Can `students` carry `rate` messages/s within the room's per-user chat limit?
pub fn students_suffice(students: usize, rate: u32) -> bool {
    let senders_needed = f64::from(rate) * MIN_GAP_PER_SENDER.as_secs_f64();
    students as f64 >= senders_needed * 2.0
}

/// The instructor's token followed by `students` student tokens for `session`.
pub fn tokens(instructor: String, session: &str, students: usize) -> Result<Vec<String>, Error> {
    let keys = Keys::hs256(super::report::SECRET.as_bytes());
    let mut tokens = vec![instructor];
    for i in 0..students {
        let id = format!("student-{i:04}");
        tokens.push(keys.sign(&Claims::new(
            &id,
            &format!("Student {i}"),
            Role::Student,
            Some(session.to_owned()),
            Duration::from_secs(3600),
        ))?);
    }
    Ok(tokens)
}

/// What one client saw.
#[derive(Default)]
pub struct Seen {
    /// (sequence number, latency in µs) of every `chat` received.
    pub chats: Vec<(u32, u32)>,
    /// Count per `type` of everything else.
    pub other: BTreeMap<String, u64>,
    /// Texts of `error` messages.
    pub errors: Vec<String>,
    /// One client only: (sequence number, the server's `at` in ms since the
    /// Unix epoch, send time in µs since our epoch) of every chat.
    pub stamped: Vec<(u32, i64, u64)>,
}

pub struct Shared {
    pub epoch: Instant,
    /// `epoch` on the wall clock, ms since the Unix epoch.
    pub epoch_wall_ms: f64,
    pub welcomed: AtomicUsize,
    pub delivered: AtomicU64,
}

fn micros_since(epoch: Instant) -> u64 {
    epoch.elapsed().as_micros() as u64
}

/// `{"type":"<t>",…` → `t` (the server writes the tag first).
fn frame_type(text: &str) -> &str {
    text.strip_prefix("{\"type\":\"")
        .and_then(|r| r.split('"').next())
        .unwrap_or("?")
}

/// The sequence number and send time in a benchmark chat frame.
fn bench_chat(text: &str) -> Option<(u32, u64)> {
    let at = text.find("\"text\":\"bench ")? + "\"text\":\"bench ".len();
    let mut parts = text.get(at..)?.split(['"', ' ']);
    let seq = parts.next()?.parse().ok()?;
    let sent = parts.next()?.parse().ok()?;
    Some((seq, sent))
}

/// The room's acceptance time of a chat (`"at"`, RFC 3339), ms since the Unix epoch.
fn server_at(text: &str) -> Option<i64> {
    let at = text.find("\"at\":\"")? + "\"at\":\"".len();
    let value = text.get(at..)?.split('"').next()?;
    classcast::time::parse_rfc3339(value)
}

type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str, token: &str) -> Result<WsStream, Error> {
    // tungstenite zero-fills its whole read buffer (128 KiB by default) before
    // every read attempt; a small one keeps the load generator light. No Nagle,
    // as in browsers.
    let config = WebSocketConfig::default().read_buffer_size(CLIENT_READ_BUFFER);
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true).await?;
    let auth = serde_json::json!({ "type": "auth", "token": token }).to_string();
    ws.send(Message::Text(auth.into())).await?;
    Ok(ws)
}

/// Reads until `stop`; sends a chat for every sequence number from `sends`,
/// stamped with the time it is written.
fn run_client(
    ws: WsStream,
    mut sends: mpsc::UnboundedReceiver<u32>,
    mut stop: watch::Receiver<bool>,
    shared: Arc<Shared>,
    stamp: bool,
) -> tokio::task::JoinHandle<Seen> {
    let (mut sink, mut stream) = ws.split();
    let writer_shared = shared.clone();
    tokio::spawn(async move {
        while let Some(seq) = sends.recv().await {
            let sent = micros_since(writer_shared.epoch);
            let text =
                serde_json::json!({ "type": "chat", "text": format!("{PREFIX}{seq} {sent}") })
                    .to_string();
            if sink.send(Message::Text(text.into())).await.is_err() {
                break;
            }
        }
    });
    tokio::spawn(async move {
        let mut seen = Seen::default();
        loop {
            tokio::select! {
                frame = stream.next() => {
                    let Some(Ok(frame)) = frame else { break };
                    let now = micros_since(shared.epoch);
                    let Message::Text(text) = frame else {
                        if let Message::Close(c) = frame {
                            seen.errors.push(format!("closed: {c:?}"));
                        }
                        continue;
                    };
                    match frame_type(&text) {
                        "chat" => match bench_chat(&text) {
                            Some((seq, sent)) => {
                                if stamp {
                                    if let Some(at) = server_at(&text) {
                                        seen.stamped.push((seq, at, sent));
                                    }
                                }
                                seen.chats.push((seq, now.saturating_sub(sent).min(u64::from(u32::MAX)) as u32));
                                shared.delivered.fetch_add(1, Ordering::Relaxed);
                            }
                            None => *seen.other.entry("chat (not ours)".into()).or_default() += 1,
                        },
                        t => {
                            if t == "welcome" {
                                shared.welcomed.fetch_add(1, Ordering::Relaxed);
                            } else if t == "error" {
                                seen.errors.push(text.to_string());
                            }
                            *seen.other.entry(t.to_owned()).or_default() += 1;
                        }
                    }
                }
                _ = stop.changed() => break,
            }
        }
        seen
    })
}

/// The connected clients; the first is the instructor, the others students.
pub struct Classroom {
    pub shared: Arc<Shared>,
    senders: Vec<mpsc::UnboundedSender<u32>>,
    handles: Vec<tokio::task::JoinHandle<Seen>>,
    stop_tx: watch::Sender<bool>,
    /// Connect → every client welcomed, seconds.
    pub join_s: f64,
}

/// Everything the clients received, message by message.
pub struct Tally {
    /// Latency (µs) of every delivery, sorted.
    pub all: Vec<u32>,
    /// Per message: the first and last receiver's latency (µs; `u32::MAX`
    /// and 0 for a message nobody got), and how many clients got it.
    pub first: Vec<u32>,
    pub last: Vec<u32>,
    pub per_message: Vec<u32>,
    pub duplicates: u64,
    /// `error` frames and close frames, deduplicated.
    pub errors: Vec<String>,
    /// Count per type of every other frame.
    pub other: BTreeMap<String, u64>,
    /// The first client's (sequence, server `at` ms, send µs) of every chat.
    pub stamped: Vec<(u32, i64, u64)>,
}

impl Classroom {
    /// Connects one client per token to the session socket `url`, a few at a
    /// time (each starts reading as soon as it is up), and waits until all
    /// are welcomed.
    pub async fn join(url: &str, tokens: &[String]) -> Result<Self, Error> {
        let shared = Arc::new(Shared {
            epoch: Instant::now(),
            epoch_wall_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_secs_f64()
                * 1000.0,
            welcomed: AtomicUsize::new(0),
            delivered: AtomicU64::new(0),
        });
        let (stop_tx, stop_rx) = watch::channel(false);
        let joined_at = Instant::now();
        let mut senders = Vec::with_capacity(tokens.len());
        let mut handles = Vec::with_capacity(tokens.len());
        let mut connected = futures::stream::iter(tokens.iter().map(|t| connect(url, t)))
            .buffered(JOIN_CONCURRENCY);
        while let Some(ws) = connected.next().await {
            let (tx, rx) = mpsc::unbounded_channel();
            let stamp = handles.is_empty();
            handles.push(run_client(ws?, rx, stop_rx.clone(), shared.clone(), stamp));
            senders.push(tx);
        }
        drop(connected);
        while shared.welcomed.load(Ordering::Relaxed) < tokens.len() {
            if joined_at.elapsed() > JOIN_LIMIT {
                return Err(format!(
                    "only {} of {} clients welcomed after {JOIN_LIMIT:?}",
                    shared.welcomed.load(Ordering::Relaxed),
                    tokens.len()
                )
                .into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(Classroom {
            shared,
            senders,
            handles,
            stop_tx,
            join_s: joined_at.elapsed().as_secs_f64(),
        })
    }

    /// Clients, the instructor included: each message is due to all of them.
    pub fn receivers(&self) -> usize {
        self.senders.len()
    }

    /// Sends `rate` chats a second for `seconds` from random students (never
    /// one that sent within `MIN_GAP_PER_SENDER`), calling `each_second`
    /// once a second. Returns the number sent and the window's length.
    pub async fn chat(
        &self,
        rate: u32,
        seconds: u32,
        mut each_second: impl FnMut(),
    ) -> Result<(u64, Duration), Error> {
        let receivers = self.receivers();
        if receivers < 2 || !students_suffice(receivers - 1, rate) {
            return Err(format!(
                "{} students cannot carry {rate} messages/s within the chat rate limit",
                receivers.saturating_sub(1)
            )
            .into());
        }
        let total = u64::from(rate) * u64::from(seconds);
        let interval = Duration::from_secs(1) / rate;
        let mut last_sent: Vec<Option<Instant>> = vec![None; receivers];
        let mut rng = rand::thread_rng();
        let start = tokio::time::Instant::now();
        for seq in 0..total {
            tokio::time::sleep_until(start + interval * seq as u32).await;
            let now = Instant::now();
            // A random student (index 1..), not one that sent in the last 250 ms.
            let sender = loop {
                let i = rng.gen_range(1..receivers);
                if last_sent[i].is_none_or(|t| now.duration_since(t) >= MIN_GAP_PER_SENDER) {
                    break i;
                }
            };
            last_sent[sender] = Some(now);
            self.senders[sender].send(seq as u32)?;
            if seq % u64::from(rate) == 0 {
                each_second();
            }
        }
        Ok((total, start.elapsed()))
    }

    /// Waits until `expected` deliveries arrived, or they stopped coming
    /// (`DRAIN_IDLE` without progress, `DRAIN_MAX` in all).
    pub async fn drain(&self, expected: u64) {
        let drain_start = Instant::now();
        let mut last = (
            self.shared.delivered.load(Ordering::Relaxed),
            Instant::now(),
        );
        loop {
            let d = self.shared.delivered.load(Ordering::Relaxed);
            if d >= expected || drain_start.elapsed() > DRAIN_MAX {
                break;
            }
            if d != last.0 {
                last = (d, Instant::now());
            } else if last.1.elapsed() > DRAIN_IDLE {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops every client and tallies the `total` messages sent.
    pub async fn finish(self, total: u64) -> Result<Tally, Error> {
        let _ = self.stop_tx.send(true);
        drop(self.senders);
        let total = total as usize;
        let mut t = Tally {
            all: Vec::new(),
            first: vec![u32::MAX; total],
            last: vec![0; total],
            per_message: vec![0; total],
            duplicates: 0,
            errors: Vec::new(),
            other: BTreeMap::new(),
            stamped: Vec::new(),
        };
        for h in self.handles {
            let seen = h.await?;
            t.stamped.extend(seen.stamped);
            let mut mine = vec![false; total];
            for (seq, lat) in seen.chats {
                let Some(slot) = mine.get_mut(seq as usize) else {
                    continue;
                };
                if *slot {
                    t.duplicates += 1;
                    continue;
                }
                *slot = true;
                let s = seq as usize;
                t.per_message[s] += 1;
                t.first[s] = t.first[s].min(lat);
                t.last[s] = t.last[s].max(lat);
                t.all.push(lat);
            }
            for (k, v) in seen.other {
                *t.other.entry(k).or_insert(0) += v;
            }
            t.errors.extend(seen.errors);
        }
        t.all.sort_unstable();
        t.errors.sort();
        t.errors.dedup();
        Ok(t)
    }
}

impl Tally {
    pub fn delivered(&self) -> u64 {
        self.all.len() as u64
    }

    /// First / last receiver's latencies (µs) of the messages someone got, sorted.
    pub fn first_last_sorted(&self) -> (Vec<u32>, Vec<u32>) {
        let reached: Vec<usize> = (0..self.per_message.len())
            .filter(|&s| self.per_message[s] > 0)
            .collect();
        let mut first: Vec<u32> = reached.iter().map(|&s| self.first[s]).collect();
        let mut last: Vec<u32> = reached.iter().map(|&s| self.last[s]).collect();
        first.sort_unstable();
        last.sort_unstable();
        (first, last)
    }
}
