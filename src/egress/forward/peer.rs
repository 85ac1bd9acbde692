//! One WebRTC viewer inside the engine: its str0m `Rtc`, its outgoing
//! tracks (each with its own RTP timeline), the frames written to it and
//! the datagrams and events polled out of it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use gst_webrtc::WebRTCPeerConnectionState as Connection;
use str0m::format::Codec as RtcCodec;
use str0m::media::{Frequency, MediaTime, Mid, Pt};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};
use tokio::sync::watch;

use super::engine::{PeerId, MAX_SLEEP};
use super::moves::{note_route, Moves};
use super::net::Sockets;
use super::tap::{FeedKey, Frame};
use super::timeline::Timeline;
use crate::media::sdp::Codec;
use crate::time::now_ms;

/// Timeouts already due that one drain answers at once (a 1080p keyframe
/// is a few hundred packets); past it the loop's timers take over.
const MAX_DUE_NOW: usize = 1024;

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

    pub(super) fn update(&self, f: impl FnOnce(&mut Figures)) {
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

pub(super) struct OutTrack {
    pub(super) mid: Mid,
    pub(super) codec: Codec,
    pub(super) pt: Option<Pt>,
    pub(super) feed: Option<FeedKey>,
    pub(super) timeline: Timeline,
    /// Video: nothing is sent until a keyframe (after a join or a switch).
    pub(super) waiting_for_keyframe: bool,
}

pub(super) struct Peer {
    pub(super) rtc: Rtc,
    pub(super) ufrag: String,
    pub(super) shared: Arc<PeerShared>,
    pub(super) audio: Option<OutTrack>,
    pub(super) video: Option<OutTrack>,
    pub(super) next_timeout: Instant,
    pub(super) connected: bool,
    /// Stats of the interval, summed over its media.
    pub(super) egress: HashMap<Mid, (u64, u64, u64, u64, Option<f32>)>,
    pub(super) moves: Moves,
}

/// Runs `f` on one viewer; a panic inside str0m (a bug its authors ask to
/// be contained this way) ends that viewer, not the engine and the others.
pub(super) fn guarded(peer: &mut Peer, f: impl FnOnce(&mut Peer)) {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut *peer)));
    if outcome.is_err() {
        tracing::error!(ufrag = %peer.ufrag, "WebRTC viewer state failed; dropping the viewer");
        peer.rtc.disconnect();
        peer.shared.connection.send_replace(Connection::Failed);
        peer.next_timeout = Instant::now();
    }
}

/// Writes one frame to the viewer's track fed by `key`. Returns whether the
/// viewer waits for a keyframe.
pub(super) fn write_frame(peer: &mut Peer, key: FeedKey, frame: &Frame) -> bool {
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
pub(super) fn choose_pt<'a>(
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
pub(super) fn drain(peer: &mut Peer, sockets: &Sockets, keyframes: &mut Vec<FeedKey>) {
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

pub(super) fn on_event(peer: &mut Peer, event: Event, keyframes: &mut Vec<FeedKey>) {
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
