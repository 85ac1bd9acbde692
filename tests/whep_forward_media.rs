//! What the forwarding engine (`src/egress/forward/`) adds, end to end: the
//! `classcast` binary on loopback, our GStreamer test publisher, and viewers
//! written here on str0m in RTP mode, so the test sees every packet's header.
//! Shared frames are packetized per viewer (own SSRC, sequence numbers and
//! RTP clock, the same payloads); a viewer whose ICE moves to another address
//! keeps playing. (One slow viewer not slowing the others is
//! whep_media::a_constrained_viewer_steps_down_a_rung_and_back_up.) One at a
//! time with the other media tests (see .config/nextest.toml).

mod common;

use std::collections::hash_map::DefaultHasher;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use classcast::auth::Role;
use classcast::client::WhipClient;
use common::{get_session, http, session_with, token, wait_for, ServerProcess};
use serde_json::json;
use str0m::change::SdpAnswer;
use str0m::media::{Direction, MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};

/// The engine on loopback only: the viewers here have no other address.
const SERVER_ARGS: &[&str] = &[
    "--webrtc-address",
    "127.0.0.1",
    // Everyone on the source (the same frames for every viewer), and no
    // ladder encodes competing with the publisher for the 2 cores.
    "--viewer-adaptation",
    "false",
    "--disable-hls",
];

/// One video packet as a viewer got it.
#[derive(Debug, Clone)]
struct Packet {
    ssrc: u32,
    seq: u64,
    timestamp: u32,
    marker: bool,
    /// The payload's length and hash: what must be alike between viewers.
    len: usize,
    hash: u64,
    /// The viewer's socket it came in on.
    local: SocketAddr,
    at: Instant,
}

#[derive(Debug, Default)]
struct Seen {
    connected: bool,
    video: Vec<Packet>,
    audio_packets: u64,
}

impl Seen {
    fn frames_on(&self, local: SocketAddr) -> usize {
        self.video
            .iter()
            .filter(|p| p.marker && p.local == local)
            .count()
    }
}

enum Control {
    /// The socket dies: nothing is read from it or sent on it any more, and
    /// the viewer's ICE agent drops its candidate (as an agent does when an
    /// interface goes away), so it nominates a pair that is left.
    Unplug(SocketAddr),
}

/// A WHEP viewer on str0m: controlling ICE agent with a host candidate per
/// socket, receive-only video and audio, RTP mode.
struct Viewer {
    locals: Vec<SocketAddr>,
    location: String,
    token: String,
    seen: Arc<Mutex<Seen>>,
    control: Sender<Control>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

/// A datagram from one of the viewer's sockets.
struct Datagram {
    local: SocketAddr,
    source: SocketAddr,
    data: Vec<u8>,
    at: Instant,
}

impl Viewer {
    async fn join(base: &str, session: &str, token: &str, sockets: usize) -> Viewer {
        str0m::crypto::from_feature_flags().install_process_default();
        let sockets: Vec<UdpSocket> = (0..sockets)
            .map(|_| UdpSocket::bind("127.0.0.1:0").expect("bind a viewer socket"))
            .collect();
        let locals: Vec<SocketAddr> = sockets
            .iter()
            .map(|s| s.local_addr().expect("local address"))
            .collect();
        let mut rtc = RtcConfig::new().set_rtp_mode(true).build(Instant::now());
        // The first candidate gets the highest priority: the agent starts on
        // it, and a move to another is a move to a lower-priority pair.
        for local in &locals {
            rtc.add_local_candidate(Candidate::host(*local, "udp").expect("candidate"));
        }
        let mut api = rtc.sdp_api();
        let video = api.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
        api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
        let (offer, pending) = api.apply().expect("an offer");
        let offer = offer.to_sdp_string();

        // 409 until every track of the publish flows: retry as players do.
        let url = format!("{base}/whep/{session}");
        let response = wait_for(Duration::from_secs(20), "a WHEP answer", || async {
            let r = http()
                .post(&url)
                .bearer_auth(token)
                .header("content-type", "application/sdp")
                .body(offer.clone())
                .send()
                .await
                .expect("POST WHEP");
            match r.status().as_u16() {
                201 => Some(r),
                409 => None,
                s => panic!("WHEP answered {s}: {}", r.text().await.unwrap_or_default()),
            }
        })
        .await;
        let location = response.headers()["location"]
            .to_str()
            .expect("Location")
            .to_owned();
        let location = if location.starts_with('/') {
            format!("{base}{location}")
        } else {
            location
        };
        let answer = response.text().await.expect("answer");
        let answer = SdpAnswer::from_sdp_string(&answer).expect("an SDP answer");
        rtc.sdp_api()
            .accept_answer(pending, answer)
            .expect("answer accepted");

        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (datagrams, incoming) = channel();
        let (control, controls) = channel();
        let mut threads = Vec::new();
        let mut senders = Vec::new();
        for (socket, local) in sockets.into_iter().zip(locals.iter().copied()) {
            senders.push((local, socket.try_clone().expect("clone the socket")));
            threads.push(read_socket(socket, local, datagrams.clone(), stop.clone()));
        }
        let run = Run {
            rtc,
            video,
            senders,
            incoming,
            controls,
            seen: seen.clone(),
            stop: stop.clone(),
            unplugged: HashSet::new(),
        };
        threads.push(
            std::thread::Builder::new()
                .name("str0m-viewer".into())
                .spawn(move || run.run())
                .expect("viewer thread"),
        );
        Viewer {
            locals,
            location,
            token: token.to_owned(),
            seen,
            control,
            stop,
            threads,
        }
    }

    fn seen<T>(&self, f: impl FnOnce(&Seen) -> T) -> T {
        f(&self.seen.lock().expect("viewer state"))
    }

    fn unplug(&self, local: SocketAddr) {
        self.control
            .send(Control::Unplug(local))
            .expect("viewer running");
    }

    /// DELETEs the resource and stops the client.
    async fn leave(mut self) -> Seen {
        let r = http()
            .delete(&self.location)
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("DELETE");
        assert_eq!(r.status(), 200, "DELETE {}", self.location);
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        std::mem::take(&mut *self.seen.lock().expect("viewer state"))
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn read_socket(
    socket: UdpSocket,
    local: SocketAddr,
    datagrams: Sender<Datagram>,
    stop: Arc<AtomicBool>,
) -> JoinHandle<()> {
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("read timeout");
    std::thread::Builder::new()
        .name(format!("viewer-rx-{}", local.port()))
        .spawn(move || {
            let mut buf = vec![0u8; 2048];
            while !stop.load(Ordering::Relaxed) {
                if let Ok((n, source)) = socket.recv_from(&mut buf) {
                    let d = Datagram {
                        local,
                        source,
                        data: buf[..n].to_vec(),
                        at: Instant::now(),
                    };
                    if datagrams.send(d).is_err() {
                        return;
                    }
                }
            }
        })
        .expect("reader thread")
}

/// The viewer's sans-IO loop.
struct Run {
    rtc: Rtc,
    video: Mid,
    senders: Vec<(SocketAddr, UdpSocket)>,
    incoming: Receiver<Datagram>,
    controls: Receiver<Control>,
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
    unplugged: HashSet<SocketAddr>,
}

impl Run {
    fn run(mut self) {
        // Where the last datagram came in: the RTP it yields is counted
        // against that socket.
        let mut arrived_on = None;
        while !self.stop.load(Ordering::Relaxed) && self.rtc.is_alive() {
            let Some(timeout) = self.drain(arrived_on) else {
                return;
            };
            while let Ok(Control::Unplug(local)) = self.controls.try_recv() {
                self.unplugged.insert(local);
                let candidate = Candidate::host(local, "udp").expect("candidate");
                assert!(
                    self.rtc.direct_api().invalidate_candidate(&candidate),
                    "no local candidate {local}"
                );
            }
            let now = Instant::now();
            // Timers first: a steady stream of datagrams must not starve them.
            let result = if timeout <= now {
                self.rtc.handle_input(Input::Timeout(now))
            } else {
                let wait = (timeout - now).min(Duration::from_millis(50));
                match self.incoming.recv_timeout(wait) {
                    Ok(d) if self.unplugged.contains(&d.local) => continue,
                    Ok(d) => {
                        let Ok(receive) = Receive::new(Protocol::Udp, d.source, d.local, &d.data)
                        else {
                            continue;
                        };
                        arrived_on = Some(d.local);
                        self.rtc.handle_input(Input::Receive(d.at, receive))
                    }
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            };
            if let Err(e) = result {
                eprintln!("str0m viewer: {e}");
            }
        }
    }

    /// Sends and takes events until str0m waits; returns when it wants a
    /// timeout, None once it is closed.
    fn drain(&mut self, arrived_on: Option<SocketAddr>) -> Option<Instant> {
        loop {
            match self.rtc.poll_output().ok()? {
                Output::Timeout(t) => return Some(t),
                Output::Transmit(t) => {
                    if self.unplugged.contains(&t.source) {
                        continue;
                    }
                    if let Some((_, socket)) = self.senders.iter().find(|(l, _)| *l == t.source) {
                        let _ = socket.send_to(&t.contents, t.destination);
                    }
                }
                Output::Event(Event::Connected) => {
                    self.seen.lock().expect("viewer state").connected = true;
                }
                Output::Event(Event::RtpPacket(p)) => {
                    let ssrc = p.header.ssrc;
                    let mid = self.rtc.direct_api().stream_rx(&ssrc).map(|s| s.mid());
                    let mut seen = self.seen.lock().expect("viewer state");
                    if mid != Some(self.video) {
                        seen.audio_packets += 1;
                        continue;
                    }
                    let mut hasher = DefaultHasher::new();
                    p.payload.hash(&mut hasher);
                    seen.video.push(Packet {
                        ssrc: *ssrc,
                        seq: *p.seq_no,
                        timestamp: p.header.timestamp,
                        marker: p.header.marker,
                        len: p.payload.len(),
                        hash: hasher.finish(),
                        local: arrived_on.expect("RTP comes from a datagram"),
                        at: Instant::now(),
                    });
                }
                Output::Event(_) => {}
            }
        }
    }
}

/// A viewer's video as frames, in sequence order: the RTP time, and the
/// fingerprint of the payloads.
struct Frame {
    timestamp: u32,
    fingerprint: u64,
}

/// Checks one viewer's video headers and returns its frames: one SSRC,
/// sequence numbers without gaps or repeats, the RTP clock never going
/// back, a marker ending every frame.
fn frames_of(who: &str, video: &[Packet]) -> (u32, Vec<Frame>) {
    let ssrcs: HashSet<u32> = video.iter().map(|p| p.ssrc).collect();
    assert_eq!(ssrcs.len(), 1, "{who}: video SSRCs {ssrcs:?}");
    let ssrc = video[0].ssrc;
    let mut packets = video.to_vec();
    packets.sort_by_key(|p| p.seq);
    for pair in packets.windows(2) {
        assert_eq!(
            pair[1].seq,
            pair[0].seq + 1,
            "{who}: a gap or a repeat in the sequence numbers"
        );
        let step = pair[1].timestamp.wrapping_sub(pair[0].timestamp) as i32;
        assert!(step >= 0, "{who}: the RTP clock went back by {step}");
        assert!(
            step == 0 || pair[0].marker,
            "{who}: a frame ({}) ended without a marker",
            pair[0].timestamp
        );
    }
    // Frames in full only: from the first packet after a marker to the last marker.
    let first = packets
        .iter()
        .position(|p| p.marker)
        .expect("a whole frame")
        + 1;
    let last = packets.iter().rposition(|p| p.marker).expect("a marker");
    let mut frames = Vec::new();
    let mut hasher = DefaultHasher::new();
    for p in &packets[first..=last] {
        (p.len, p.hash).hash(&mut hasher);
        if p.marker {
            frames.push(Frame {
                timestamp: p.timestamp,
                fingerprint: hasher.finish(),
            });
            hasher = DefaultHasher::new();
        }
    }
    (ssrc, frames)
}

fn median(mut v: Vec<u32>) -> u32 {
    v.sort_unstable();
    v[v.len() / 2]
}

async fn publish(base: &str, id: &str, tok: &str) -> WhipClient {
    WhipClient::publish(&common::test_pattern(base, id, tok, 640, 360))
        .await
        .expect("publish")
}

use common::get_viewers as viewers;

#[tokio::test(flavor = "multi_thread")]
async fn shared_frames_are_rewritten_per_viewer() {
    let server = ServerProcess::start(SERVER_ARGS);
    let base = &server.url;
    let alice = token(Role::Instructor, "alice", None);
    let id = session_with(base, &alice, json!({ "title": "Per-viewer headers" })).await;
    let publisher = publish(base, &id, &alice).await;
    let bob = Viewer::join(base, &id, &token(Role::Student, "bob", Some(&id)), 1).await;
    let carol = Viewer::join(base, &id, &token(Role::Student, "carol", Some(&id)), 1).await;

    // Four seconds of video each, counted from their first frame.
    const FRAMES: usize = 120;
    let started = Instant::now();
    wait_for(Duration::from_secs(20), "video at both viewers", || async {
        let enough = |v: &Viewer| v.seen(|s| s.video.iter().filter(|p| p.marker).count());
        (enough(&bob) >= FRAMES && enough(&carol) >= FRAMES).then_some(())
    })
    .await;
    eprintln!(
        "both viewers had {FRAMES} frames after {:?}",
        started.elapsed()
    );
    let session = get_session(base, &alice, &id).await;
    let bob = bob.leave().await;
    let carol = carol.leave().await;
    assert!(bob.connected && carol.connected);
    assert!(bob.audio_packets > 50 && carol.audio_packets > 50);

    let (bob_ssrc, bob_frames) = frames_of("bob", &bob.video);
    let (carol_ssrc, carol_frames) = frames_of("carol", &carol.video);
    eprintln!(
        "bob: SSRC {bob_ssrc:08x}, {} packets, {} frames; carol: SSRC {carol_ssrc:08x}, {} packets, {} frames",
        bob.video.len(),
        bob_frames.len(),
        carol.video.len(),
        carol_frames.len()
    );
    assert_ne!(bob_ssrc, carol_ssrc, "the viewers share an SSRC");
    if let Some(publisher_ssrc) = session["media"]["video"]["ssrc"].as_u64() {
        assert!(publisher_ssrc != u64::from(bob_ssrc) && publisher_ssrc != u64::from(carol_ssrc));
    }

    // 30 fps on a 90 kHz clock: 3000 ticks a frame.
    for (who, frames) in [("bob", &bob_frames), ("carol", &carol_frames)] {
        let steps: Vec<u32> = frames
            .windows(2)
            .map(|f| f[1].timestamp.wrapping_sub(f[0].timestamp))
            .collect();
        assert!(
            steps.iter().all(|s| *s > 0),
            "{who}: two frames at one time"
        );
        let m = median(steps);
        assert!((2700..=3300).contains(&m), "{who}: {m} ticks a frame");
    }

    // The same frames, in the same order, with each viewer's own RTP clock:
    // aligned on carol's first whole frame in bob's stream (or the reverse).
    let (early, late) = if bob.video[0].at <= carol.video[0].at {
        (&bob_frames, &carol_frames)
    } else {
        (&carol_frames, &bob_frames)
    };
    let offset = early
        .iter()
        .position(|f| f.fingerprint == late[0].fingerprint)
        .expect("the later viewer's first frame among the earlier one's");
    let common: Vec<(&Frame, &Frame)> = early[offset..].iter().zip(late.iter()).collect();
    assert!(
        common.len() >= FRAMES / 2,
        "only {} frames in common",
        common.len()
    );
    for (i, (a, b)) in common.iter().enumerate() {
        assert_eq!(a.fingerprint, b.fingerprint, "frame {i} differs");
    }
    let shift = common[0].1.timestamp.wrapping_sub(common[0].0.timestamp);
    assert_ne!(shift, 0, "the viewers' RTP clocks are one");
    for (a, b) in &common {
        // A tick either way: each clock rounds from its own first frame.
        let apart = b.timestamp.wrapping_sub(a.timestamp).wrapping_sub(shift) as i32;
        assert!(
            apart.abs() <= 1,
            "a frame's spacing differs between the viewers by {apart} ticks"
        );
    }
    eprintln!(
        "{} frames alike, the clocks {shift} ticks apart",
        common.len()
    );
    publisher.stop().await.expect("DELETE");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_viewer_whose_address_moves_keeps_playing() {
    let server = ServerProcess::start(SERVER_ARGS);
    let base = &server.url;
    let alice = token(Role::Instructor, "alice", None);
    let id = session_with(base, &alice, json!({ "title": "Moving viewer" })).await;
    let publisher = publish(base, &id, &alice).await;
    let bob = Viewer::join(base, &id, &token(Role::Student, "bob", Some(&id)), 2).await;
    let (first, second) = (bob.locals[0], bob.locals[1]);

    wait_for(
        Duration::from_secs(20),
        "video on the first socket",
        || async { (bob.seen(|s| s.frames_on(first)) >= 30).then_some(()) },
    )
    .await;
    assert_eq!(bob.seen(|s| s.frames_on(second)), 0, "media on both paths");
    let list = viewers(base, &alice, &id).await;
    assert_eq!(
        list["viewers"][0]["connection_state"], "connected",
        "{list}"
    );

    bob.unplug(first);
    let moved = Instant::now();
    let last_on_first = wait_for(
        Duration::from_secs(10),
        "video on the second socket",
        || async {
            bob.seen(|s| {
                (s.frames_on(second) > 0).then(|| {
                    s.video
                        .iter()
                        .rev()
                        .find(|p| p.local == first)
                        .map(|p| p.seq)
                })
            })
        },
    )
    .await;
    let gap = moved.elapsed();
    eprintln!("video on the new address {gap:?} after the move");
    // And it keeps playing there: two more seconds of frames.
    let before = bob.seen(|s| s.frames_on(second));
    wait_for(
        Duration::from_secs(5),
        "frames on the new address",
        || async { (bob.seen(|s| s.frames_on(second)) >= before + 60).then_some(()) },
    )
    .await;
    let list = viewers(base, &alice, &id).await;
    assert_eq!(list["webrtc"], 1, "{list}");
    assert_eq!(
        list["viewers"][0]["connection_state"], "connected",
        "{list}"
    );

    let seen = bob.leave().await;
    // The same stream went on: one SSRC, its numbers going on from the old
    // path's (what was sent to the dead address is missing, nothing else).
    let ssrcs: HashSet<u32> = seen.video.iter().map(|p| p.ssrc).collect();
    assert_eq!(ssrcs.len(), 1, "{ssrcs:?}");
    let first_on_second = seen
        .video
        .iter()
        .filter(|p| p.local == second)
        .map(|p| p.seq)
        .min()
        .expect("packets");
    if let Some(last) = last_on_first {
        assert!(first_on_second > last, "{first_on_second} after {last}");
    }
    publisher.stop().await.expect("DELETE");
}
