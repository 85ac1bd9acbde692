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
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst_webrtc::WebRTCPeerConnectionState as Connection;
use str0m::format::Codec as RtcCodec;
use str0m::media::{Frequency, MediaTime, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, CandidateKind, Event, IceConnectionState, Input, Output, Rtc};
use tokio::sync::watch;

use super::demux::{stun_binding_success, stun_nominates, Demux};
use super::net::Sockets;
use super::tap::{FeedKey, Frame, Tap};
use super::timeline::Timeline;
use crate::media::sdp::Codec;
use crate::time::now_ms;

pub type PeerId = u64;

/// Keyframe requests from the engine to one producer, at most this often
/// (the producer's own limiter is the second line).
const KEYFRAME_REQUEST_EVERY: Duration = Duration::from_millis(300);
/// Timeouts already due that one drain answers at once (a 1080p keyframe
/// is a few hundred packets); past it the loop's timers take over.
const MAX_DUE_NOW: usize = 1024;
/// The longest the loop sleeps without looking at its viewers' timers.
const MAX_SLEEP: Duration = Duration::from_millis(100);
/// A viewer that nominated another address moves there once its current
/// one has been silent this long (a live viewer sends RTCP every second or
/// so, and consent checks).
const MOVE_AFTER_SILENCE: Duration = Duration::from_secs(1);
/// Addresses a viewer moved away from that it may come back to.
const MAX_LEFT: usize = 4;

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

/// What the engine tells the rest of the server about one viewer.
#[derive(Debug, Default, Clone)]
pub struct Figures {
    pub bytes_sent: u64,
    pub packets_sent: u64,
    pub nacks_received: u64,
    pub plis_received: u64,
    pub fraction_lost: Option<f64>,
    pub rtt_ms: Option<f64>,
    pub remb_bps: Option<u64>,
    /// When the last REMB came (ms since the epoch).
    pub remb_at_ms: u64,
    pub frames_forwarded: u64,
    pub frames_dropped: u64,
    /// Wall clock (ms since the epoch) of the first video frame sent.
    pub first_frame_at_ms: Option<u64>,
    /// Wall clock of the last datagram from the viewer (STUN, RTCP).
    pub last_heard_ms: u64,
}

/// Shared between the engine and the viewer's handle.
pub struct PeerShared {
    pub connection: watch::Sender<Connection>,
    pub figures: Mutex<Figures>,
}

impl PeerShared {
    pub fn new() -> Arc<Self> {
        Arc::new(PeerShared {
            connection: watch::channel(Connection::New).0,
            figures: Mutex::new(Figures::default()),
        })
    }

    fn update(&self, f: impl FnOnce(&mut Figures)) {
        if let Ok(mut figures) = self.figures.lock() {
            f(&mut figures);
        }
    }
}

/// A negotiated viewer handed to the engine.
pub struct NewPeer {
    pub id: PeerId,
    pub rtc: Rtc,
    pub ufrag: String,
    pub shared: Arc<PeerShared>,
    pub audio: Option<(Mid, Codec)>,
    pub video: Option<(Mid, Codec)>,
    /// The candidates in the viewer's offer.
    pub offered: Vec<Candidate>,
}

/// What the engine lost for want of room, for the metrics.
#[derive(Debug, Default)]
pub struct EngineCounters {
    /// Frames a tap could not hand over (the engine's queue was full).
    pub frames_dropped: AtomicU64,
    /// Datagrams the kernel had no room for (a socket's send buffer full).
    pub datagrams_dropped: AtomicU64,
}

struct OutTrack {
    mid: Mid,
    codec: Codec,
    pt: Option<Pt>,
    feed: Option<FeedKey>,
    timeline: Timeline,
    /// Video: nothing is sent until a keyframe (after a join or a switch).
    waiting_for_keyframe: bool,
}

struct Peer {
    rtc: Rtc,
    ufrag: String,
    shared: Arc<PeerShared>,
    audio: Option<OutTrack>,
    video: Option<OutTrack>,
    next_timeout: Instant,
    connected: bool,
    /// Stats of the interval, summed over its media.
    egress: HashMap<Mid, (u64, u64, u64, u64, Option<f32>)>,
    moves: Moves,
}

/// Following a viewer whose address moved (see [`follow_move`]).
#[derive(Default)]
struct Moves {
    offered: Vec<Candidate>,
    /// Where the viewer's media goes, and when that address was last heard.
    route: Option<(SocketAddr, Instant)>,
    /// The address the last binding success went to.
    answered: Option<SocketAddr>,
    /// Another address the viewer nominated (str0m answered the request).
    nominated: Option<SocketAddr>,
    /// Addresses dropped by a move: a nomination from one lets it back in.
    left: Vec<SocketAddr>,
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

/// Runs `f` on one viewer; a panic inside str0m (a bug its authors ask to
/// be contained this way) ends that viewer, not the engine and the others.
fn guarded(peer: &mut Peer, f: impl FnOnce(&mut Peer)) {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut *peer)));
    if outcome.is_err() {
        tracing::error!(ufrag = %peer.ufrag, "WebRTC viewer state failed; dropping the viewer");
        peer.rtc.disconnect();
        peer.shared.connection.send_replace(Connection::Failed);
        peer.next_timeout = Instant::now();
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

/// Writes one frame to the viewer's track fed by `key`. Returns whether the
/// viewer waits for a keyframe.
fn write_frame(peer: &mut Peer, key: FeedKey, frame: &Frame) -> bool {
    if !peer.connected {
        return false;
    }
    let is_video = peer.video.as_ref().is_some_and(|t| t.feed == Some(key));
    let Some(track) = (if is_video {
        peer.video.as_mut()
    } else {
        peer.audio.as_mut().filter(|t| t.feed == Some(key))
    }) else {
        return false;
    };
    if is_video && track.waiting_for_keyframe {
        if !frame.keyframe {
            peer.shared.update(|f| f.frames_dropped += 1);
            return true;
        }
        track.waiting_for_keyframe = false;
    }
    let Some(writer) = peer.rtc.writer(track.mid) else {
        return false;
    };
    if track.pt.is_none() {
        track.pt = choose_pt(writer.payload_params(), track.codec);
    }
    let Some(pt) = track.pt else {
        return false;
    };
    let frequency = if is_video {
        Frequency::NINETY_KHZ
    } else {
        Frequency::FORTY_EIGHT_KHZ
    };
    let rtp = track.timeline.stamp(key, frame.time, frame.arrival);
    if let Err(e) = writer.write(
        pt,
        frame.arrival,
        MediaTime::new(rtp, frequency),
        frame.data.clone(),
    ) {
        tracing::debug!("writing a frame: {e}");
        return false;
    }
    if is_video {
        peer.shared.update(|f| {
            f.frames_forwarded += 1;
            if f.first_frame_at_ms.is_none() {
                f.first_frame_at_ms = Some(now_ms() as u64);
            }
        });
    }
    false
}

/// The payload type for our codec among the negotiated ones: H.264 in
/// packetization mode 1, constrained baseline first (what every browser
/// decodes; the rungs' main and high streams share it, as with the
/// pipeline viewers).
fn choose_pt<'a>(
    params: impl Iterator<Item = &'a str0m::format::PayloadParams>,
    codec: Codec,
) -> Option<Pt> {
    let want = match codec {
        Codec::H264 => RtcCodec::H264,
        Codec::Vp8 => RtcCodec::Vp8,
        Codec::Opus => RtcCodec::Opus,
        Codec::Aac => return None,
    };
    let mut best: Option<(u8, Pt)> = None;
    for p in params {
        let spec = p.spec();
        if spec.codec != want {
            continue;
        }
        let score = if want == RtcCodec::H264 {
            let mode1 = spec.format.packetization_mode == Some(1);
            let baseline = spec
                .format
                .profile_level_id
                .is_some_and(|id| id >> 8 == 0x42e0);
            u8::from(!mode1) * 2 + u8::from(!baseline)
        } else {
            0
        };
        if best.is_none_or(|(s, _)| score < s) {
            best = Some((score, p.pt()));
        }
    }
    best.map(|(_, pt)| pt)
}

/// Polls the viewer's `Rtc` until it has nothing more to do now: sends its
/// datagrams, takes its events, and notes its next timer. Feeds asking for a
/// keyframe (the viewer's PLIs) are added to `keyframes`.
fn drain(peer: &mut Peer, sockets: &Sockets, keyframes: &mut Vec<FeedKey>) {
    // str0m 0.24's pacer asks for a timeout after every packet it releases
    // (a time already past): answering it here sends a frame's packets in
    // one go, instead of one per trip round the engine's loop (which the
    // profile showed as most of the engine's time, in wake-ups).
    let mut due_now = 0;
    loop {
        let output = match peer.rtc.poll_output() {
            Ok(o) => o,
            Err(e) => {
                tracing::debug!("WebRTC viewer failed: {e}");
                peer.rtc.disconnect();
                peer.shared.connection.send_replace(Connection::Failed);
                peer.next_timeout = Instant::now() + MAX_SLEEP;
                return;
            }
        };
        match output {
            Output::Timeout(t) => {
                let now = Instant::now();
                if t <= now && due_now < MAX_DUE_NOW {
                    due_now += 1;
                    if let Err(e) = peer.rtc.handle_input(Input::Timeout(now)) {
                        tracing::debug!("WebRTC timer: {e}");
                    }
                    continue;
                }
                peer.next_timeout = t;
                return;
            }
            Output::Transmit(t) => {
                note_route(&mut peer.moves, &t.contents, t.destination);
                sockets.send(t);
            }
            Output::Event(event) => on_event(peer, event, keyframes),
        }
        if !peer.rtc.is_alive() {
            peer.shared.connection.send_replace(Connection::Closed);
            peer.next_timeout = Instant::now() + MAX_SLEEP;
            return;
        }
    }
}

/// Where a datagram to the viewer went: a binding success (str0m sends one
/// only to a request that passed its integrity check), or media and DTLS
/// (STUN's first byte is 0 or 1), which go to the nominated address.
fn note_route(moves: &mut Moves, datagram: &[u8], to: SocketAddr) {
    if stun_binding_success(datagram) {
        moves.answered = Some(to);
    } else if datagram.first().is_some_and(|b| *b > 3) {
        match &mut moves.route {
            Some((route, _)) if *route == to => {}
            route => *route = Some((to, Instant::now())),
        }
    }
}

/// str0m's ICE-lite agent sends on the highest-priority pair the viewer
/// ever nominated until that pair has had no check for 15 s: a viewer whose
/// address moved to a lower-priority pair (another network, its old
/// interface gone) would get nothing for that long. So once the viewer has
/// nominated another address (and str0m answered it) and its current one
/// has gone silent, the current address's candidates are dropped, and str0m
/// picks the new pair at once.
fn follow_move(
    peer: &mut Peer,
    source: SocketAddr,
    at: Instant,
    nominates: bool,
    sockets: &Sockets,
    keyframes: &mut Vec<FeedKey>,
) {
    let moves = &mut peer.moves;
    let Some((route, heard)) = moves.route.as_mut() else {
        return;
    };
    if *route == source {
        *heard = (*heard).max(at);
        moves.nominated = None;
        return;
    }
    if nominates && moves.answered == Some(source) {
        moves.nominated = Some(source);
    }
    if moves.nominated != Some(source) || at.saturating_duration_since(*heard) < MOVE_AFTER_SILENCE
    {
        return;
    }
    let old = *route;
    moves.nominated = None;
    // The forms str0m may know the address as: from the offer, or learnt
    // from a check (peer reflexive).
    let learnt = Candidate::from_parts(
        String::new(),
        1,
        Protocol::Udp,
        0,
        old,
        CandidateKind::PeerReflexive,
        None,
        None,
        None,
    );
    let candidates: Vec<Candidate> = moves
        .offered
        .iter()
        .filter(|c| c.addr() == old)
        .cloned()
        .chain([learnt])
        .collect();
    let mut dropped = false;
    for c in &candidates {
        dropped |= peer.rtc.direct_api().invalidate_candidate(c);
    }
    if !dropped {
        return;
    }
    let left = &mut peer.moves.left;
    left.retain(|a| *a != old);
    if left.len() >= MAX_LEFT {
        left.remove(0);
    }
    left.push(old);
    tracing::info!(ufrag = %peer.ufrag, from = %old, to = %source, "WebRTC viewer moved");
    if let Err(e) = peer.rtc.handle_input(Input::Timeout(Instant::now())) {
        tracing::debug!("WebRTC timer: {e}");
    }
    drain(peer, sockets, keyframes);
}

/// A viewer nominating an address it had moved away from: str0m ignores
/// checks from a dropped candidate, so it is added again.
fn readmit(peer: &mut Peer, source: SocketAddr) {
    if !peer.moves.left.contains(&source) {
        return;
    }
    peer.moves.left.retain(|a| *a != source);
    if let Ok(c) = Candidate::host(source, "udp") {
        peer.rtc.add_remote_candidate(c);
    }
}

fn on_event(peer: &mut Peer, event: Event, keyframes: &mut Vec<FeedKey>) {
    match event {
        Event::Connected => {
            peer.connected = true;
            peer.shared.connection.send_replace(Connection::Connected);
        }
        Event::IceConnectionStateChange(state) => {
            let connection = match state {
                IceConnectionState::New | IceConnectionState::Checking => None,
                IceConnectionState::Connected | IceConnectionState::Completed => {
                    peer.connected.then_some(Connection::Connected)
                }
                IceConnectionState::Disconnected => Some(Connection::Disconnected),
            };
            if let Some(c) = connection {
                peer.shared.connection.send_replace(c);
            }
        }
        Event::KeyframeRequest(request) => {
            if let Some(feed) = peer
                .video
                .as_ref()
                .filter(|t| t.mid == request.mid)
                .and_then(|t| t.feed)
            {
                keyframes.push(feed);
            }
        }
        Event::MediaEgressStats(s) => {
            peer.egress.insert(
                s.mid,
                (s.bytes, s.packets, s.nacks, s.plis + s.firs, s.loss),
            );
            let video_mid = peer.video.as_ref().map(|t| t.mid);
            let (mut bytes, mut packets, mut nacks, mut plis) = (0, 0, 0, 0);
            let mut loss = None;
            let mut rtt = None;
            for (mid, (b, p, n, k, l)) in &peer.egress {
                bytes += b;
                packets += p;
                nacks += n;
                plis += k;
                if Some(*mid) == video_mid {
                    loss = l.map(f64::from);
                }
            }
            if Some(s.mid) == video_mid {
                rtt = s.rtt.map(|d| d.as_secs_f64() * 1000.0);
            }
            peer.shared.update(|f| {
                f.bytes_sent = bytes;
                f.packets_sent = packets;
                f.nacks_received = nacks;
                f.plis_received = plis;
                if loss.is_some() {
                    f.fraction_lost = loss;
                }
                if rtt.is_some() {
                    f.rtt_ms = rtt;
                }
            });
        }
        Event::EgressBitrateEstimate(str0m::bwe::BweKind::Remb { estimate, .. }) => {
            peer.shared.update(|f| {
                f.remb_bps = Some(estimate.as_u64());
                f.remb_at_ms = now_ms() as u64;
            });
        }
        _ => {}
    }
}
