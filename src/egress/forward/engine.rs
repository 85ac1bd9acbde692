//! The forwarding engine: one thread that owns every WebRTC viewer's str0m
//! `Rtc`, the shared sockets and the producers' taps. Frames come in once per
//! producer and go out to each subscribed viewer (packetized and encrypted
//! for it: its own SSRC, sequence numbers and RTP clock); datagrams are
//! routed to their viewer by [`Demux`]; each viewer's timers are driven
//! from the same loop. Nothing here waits on anything but the command
//! channel, so no viewer waits on another.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gst_webrtc::WebRTCPeerConnectionState as Connection;
use str0m::media::Mid;
use str0m::net::{Protocol, Receive};
use str0m::Input;

use super::demux::{stun_nominates, Demux};
use super::moves::{follow_move, readmit, Moves};
use super::net::Sockets;
use super::peer::{drain, guarded, write_frame, OutTrack, Peer};
pub use super::peer::{Figures, NewPeer, PeerShared};
use super::tap::{FeedKey, Frame, Tap};
use super::timeline::Timeline;
use crate::media::sdp::Codec;
use crate::time::now_ms;

pub type PeerId = u64;

/// Keyframe requests from the engine to one producer, at most this often
/// (the producer's own limiter is the second line).
const KEYFRAME_REQUEST_EVERY: Duration = Duration::from_millis(300);
/// The longest the loop sleeps without looking at its viewers' timers.
pub(super) const MAX_SLEEP: Duration = Duration::from_millis(100);

/// A datagram read from one of the sockets.
pub struct Datagram {
    pub local: SocketAddr,
    pub source: SocketAddr,
    pub data: Vec<u8>,
    pub at: Instant,
}

/// A producer a viewer's track is fed from.
pub struct FeedSource {
    pub key: FeedKey,
    pub producer: gst_utils::StreamProducer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Track {
    Audio,
    Video,
}

pub enum Command {
    Add(Box<NewPeer>),
    Remove(PeerId),
    /// Feed a viewer's track from this producer (None: nothing).
    Attach {
        peer: PeerId,
        track: Track,
        source: Option<FeedSource>,
    },
    Frame {
        feed: FeedKey,
        frame: Frame,
    },
    Packet(Datagram),
    Stop,
}

/// What the engine lost for want of room, for the metrics.
#[derive(Debug, Default)]
pub struct EngineCounters {
    /// Frames a tap could not hand over (the engine's queue was full).
    pub frames_dropped: AtomicU64,
    /// Datagrams the kernel had no room for (a socket's send buffer full).
    pub datagrams_dropped: AtomicU64,
}

struct Feed {
    tap: Tap,
    subscribers: Vec<PeerId>,
    last_keyframe_request: Option<Instant>,
}

pub struct Engine {
    rx: Receiver<Command>,
    tx: SyncSender<Command>,
    sockets: Sockets,
    demux: Demux<PeerId>,
    peers: HashMap<PeerId, Peer>,
    feeds: HashMap<FeedKey, Feed>,
    counters: Arc<EngineCounters>,
    /// The earliest timer of any viewer.
    next_timeout: Instant,
}

impl Engine {
    pub fn new(
        rx: Receiver<Command>,
        tx: SyncSender<Command>,
        sockets: Sockets,
        counters: Arc<EngineCounters>,
    ) -> Self {
        Engine {
            rx,
            tx,
            sockets,
            demux: Demux::default(),
            peers: HashMap::new(),
            feeds: HashMap::new(),
            counters,
            next_timeout: Instant::now() + MAX_SLEEP,
        }
    }

    pub fn run(mut self) {
        loop {
            let wait = self
                .next_timeout
                .saturating_duration_since(Instant::now())
                .min(MAX_SLEEP);
            match self.rx.recv_timeout(wait) {
                Ok(Command::Stop) | Err(RecvTimeoutError::Disconnected) => break,
                Ok(command) => self.handle(command),
                Err(RecvTimeoutError::Timeout) => {}
            }
            if Instant::now() >= self.next_timeout {
                self.drive_timers();
            }
            self.sockets.flush();
        }
        for (_, peer) in self.peers.drain() {
            peer.shared.connection.send_replace(Connection::Closed);
        }
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Add(new) => self.add(*new),
            Command::Remove(id) => self.remove(id),
            Command::Attach {
                peer,
                track,
                source,
            } => self.attach(peer, track, source),
            Command::Frame { feed, frame } => self.forward(feed, &frame),
            Command::Packet(datagram) => self.receive(datagram),
            Command::Stop => {}
        }
    }

    fn add(&mut self, new: NewPeer) {
        let track = |m: Option<(Mid, Codec)>, rate: u32| {
            m.map(|(mid, codec)| OutTrack {
                mid,
                codec,
                pt: None,
                feed: None,
                timeline: Timeline::new(rate, rand::random::<u32>() >> 1),
                waiting_for_keyframe: true,
            })
        };
        let mut peer = Peer {
            rtc: new.rtc,
            ufrag: new.ufrag,
            shared: new.shared,
            audio: track(new.audio, 48_000),
            video: track(new.video, 90_000),
            next_timeout: Instant::now(),
            connected: false,
            egress: HashMap::new(),
            moves: Moves {
                offered: new.offered,
                ..Moves::default()
            },
        };
        peer.shared.connection.send_replace(Connection::Connecting);
        self.demux.add(&peer.ufrag, new.id);
        drain(&mut peer, &self.sockets, &mut Vec::new());
        self.next_timeout = self.next_timeout.min(peer.next_timeout);
        self.peers.insert(new.id, peer);
    }

    fn remove(&mut self, id: PeerId) {
        let Some(mut peer) = self.peers.remove(&id) else {
            return;
        };
        for track in [Track::Audio, Track::Video] {
            self.unsubscribe(id, &mut peer, track);
        }
        self.demux.remove(&peer.ufrag);
        let sockets = &self.sockets;
        guarded(&mut peer, |peer| {
            // RTCP BYE and the DTLS close, sent now.
            let _ = peer.rtc.close();
            drain(peer, sockets, &mut Vec::new());
        });
        peer.rtc.disconnect();
        peer.shared.connection.send_replace(Connection::Closed);
    }

    fn unsubscribe(&mut self, id: PeerId, peer: &mut Peer, track: Track) {
        let out = match track {
            Track::Audio => peer.audio.as_mut(),
            Track::Video => peer.video.as_mut(),
        };
        let Some(key) = out.and_then(|t| t.feed.take()) else {
            return;
        };
        if let Some(feed) = self.feeds.get_mut(&key) {
            feed.subscribers.retain(|p| *p != id);
            if feed.subscribers.is_empty() {
                // The tap's probe goes with it.
                self.feeds.remove(&key);
            }
        }
    }

    fn attach(&mut self, id: PeerId, track: Track, source: Option<FeedSource>) {
        let Some(mut peer) = self.peers.remove(&id) else {
            return;
        };
        self.unsubscribe(id, &mut peer, track);
        if let Some(source) = source {
            let out = match track {
                Track::Audio => peer.audio.as_mut(),
                Track::Video => peer.video.as_mut(),
            };
            if let Some(out) = out {
                let feed = match self.feeds.entry(source.key) {
                    std::collections::hash_map::Entry::Occupied(e) => Some(e.into_mut()),
                    std::collections::hash_map::Entry::Vacant(e) => Tap::install(
                        &source.producer,
                        source.key,
                        self.tx.clone(),
                        self.counters.clone(),
                    )
                    .map(|tap| {
                        e.insert(Feed {
                            tap,
                            subscribers: Vec::new(),
                            last_keyframe_request: None,
                        })
                    }),
                };
                if let Some(feed) = feed {
                    feed.subscribers.push(id);
                    out.feed = Some(source.key);
                    out.waiting_for_keyframe = track == Track::Video;
                    if track == Track::Video {
                        request_keyframe(feed);
                    }
                }
            }
        }
        self.peers.insert(id, peer);
    }

    /// One frame of one producer to each of its viewers.
    fn forward(&mut self, key: FeedKey, frame: &Frame) {
        let Some(feed) = self.feeds.get_mut(&key) else {
            return;
        };
        let mut keyframes = Vec::new();
        let mut wants_keyframe = false;
        for id in &feed.subscribers {
            let Some(peer) = self.peers.get_mut(id) else {
                continue;
            };
            let sockets = &self.sockets;
            guarded(peer, |peer| {
                wants_keyframe |= write_frame(peer, key, frame);
                drain(peer, sockets, &mut keyframes);
            });
            self.next_timeout = self.next_timeout.min(peer.next_timeout);
        }
        if wants_keyframe {
            request_keyframe(feed);
        }
        self.request_keyframes(keyframes);
    }

    fn receive(&mut self, datagram: Datagram) {
        let Some(id) = self.demux.route(datagram.source, &datagram.data) else {
            return;
        };
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        let Ok(receive) = Receive::new(
            Protocol::Udp,
            datagram.source,
            datagram.local,
            &datagram.data,
        ) else {
            return;
        };
        peer.shared.update(|f| f.last_heard_ms = now_ms() as u64);
        let mut keyframes = Vec::new();
        let sockets = &self.sockets;
        let nominates = stun_nominates(&datagram.data);
        guarded(peer, |peer| {
            if nominates {
                readmit(peer, datagram.source);
            }
            peer.moves.answered = None;
            if let Err(e) = peer.rtc.handle_input(Input::Receive(datagram.at, receive)) {
                tracing::debug!(peer = id, "WebRTC input: {e}");
            }
            drain(peer, sockets, &mut keyframes);
            follow_move(
                peer,
                datagram.source,
                datagram.at,
                nominates,
                sockets,
                &mut keyframes,
            );
        });
        self.next_timeout = self.next_timeout.min(peer.next_timeout);
        self.request_keyframes(keyframes);
    }

    fn drive_timers(&mut self) {
        let now = Instant::now();
        let mut next = now + MAX_SLEEP;
        let mut keyframes = Vec::new();
        let mut dead = Vec::new();
        for (id, peer) in &mut self.peers {
            if peer.next_timeout <= now {
                let sockets = &self.sockets;
                guarded(peer, |peer| {
                    if let Err(e) = peer.rtc.handle_input(Input::Timeout(now)) {
                        tracing::debug!(peer = id, "WebRTC timer: {e}");
                    }
                    drain(peer, sockets, &mut keyframes);
                });
            }
            if !peer.rtc.is_alive() {
                dead.push(*id);
            }
            next = next.min(peer.next_timeout);
        }
        self.next_timeout = next;
        self.request_keyframes(keyframes);
        for id in dead {
            self.remove(id);
        }
    }

    /// Viewers' PLIs and FIRs, to the producers feeding their video.
    fn request_keyframes(&mut self, feeds: Vec<FeedKey>) {
        for key in feeds {
            if let Some(feed) = self.feeds.get_mut(&key) {
                request_keyframe(feed);
            }
        }
    }
}

fn request_keyframe(feed: &mut Feed) {
    let now = Instant::now();
    if feed
        .last_keyframe_request
        .is_some_and(|t| now.duration_since(t) < KEYFRAME_REQUEST_EVERY)
    {
        return;
    }
    feed.last_keyframe_request = Some(now);
    feed.tap.request_keyframe();
}
