//! WebRTC viewers on a sans-IO stack (str0m): ICE-lite on shared UDP
//! sockets, one engine thread for every viewer of the server, frames tapped
//! once per producer. A viewer costs its `Rtc` state and its share of the
//! engine's packetizing, encryption and sends, not a pipeline of its own
//! (see the README's architecture for the measurements behind the choice).

pub mod demux;
mod engine;
mod moves;
mod net;
mod peer;
mod tap;
mod timeline;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gst_webrtc::WebRTCPeerConnectionState;
use str0m::change::SdpOffer;
use str0m::media::Mid;
use str0m::{Candidate, IceCreds, Rtc};
use tokio::sync::watch;

use engine::{Command, Engine, FeedSource, NewPeer, PeerShared};
pub use engine::{EngineCounters, Figures, Track};
pub use net::NetError;

use crate::media::sdp::{Codec, MediaKind, OfferPlan};

/// Commands and frames waiting for the engine. Frames beyond it are dropped
/// at the tap (counted), control commands wait.
const QUEUE: usize = 16_384;
/// Receiver reports from viewers: often enough to adapt within seconds.
const STATS_INTERVAL: Duration = Duration::from_secs(1);
/// Video packets a viewer keeps for resends (NACK): about half a second of a
/// 2.5 Mb/s source, several round trips; a packet lost longer ago than that
/// is past its frame's playout anyway, and a lost keyframe is asked for again
/// (PLI). Memory per viewer is mostly this buffer: str0m's default (1000)
/// made a viewer 1.8 MB, 256 made it 0.64 MB.
const SEND_BUFFER_VIDEO: usize = 128;
/// Candidates of an offer kept for the viewer (more would only be repeats).
const MAX_OFFERED_CANDIDATES: usize = 64;

#[derive(Debug, Clone, Default)]
pub struct ForwardConfig {
    /// The UDP port every viewer's media uses (0: any free port).
    pub udp_port: u16,
    /// Addresses to offer viewers (none: the host's interface addresses).
    pub addresses: Vec<IpAddr>,
}

#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error(transparent)]
    Net(#[from] NetError),
    #[error("the WebRTC offer was not accepted: {0}")]
    Offer(String),
    #[error("the WebRTC engine is not running")]
    Stopped,
}

/// The running engine; stops when dropped.
pub struct Forwarder {
    tx: SyncSender<Command>,
    locals: Vec<SocketAddr>,
    cert: Option<str0m::config::DtlsCert>,
    next_id: AtomicU64,
    counters: Arc<EngineCounters>,
}

impl Forwarder {
    pub fn start(config: &ForwardConfig) -> Result<Forwarder, ForwardError> {
        str0m::crypto::from_feature_flags().install_process_default();
        let (tx, rx) = sync_channel(QUEUE);
        let addresses = net::host_addresses(&config.addresses)?;
        let counters = Arc::new(EngineCounters::default());
        let sockets =
            net::Sockets::bind(&addresses, config.udp_port, tx.clone(), counters.clone())?;
        let locals: Vec<SocketAddr> = sockets.locals().collect();
        // One certificate for every viewer: generating one per viewer costs a
        // key generation per join for nothing (the fingerprint is per answer).
        let cert = str0m::config::CryptoProvider::get_default()
            .and_then(|p| p.dtls_provider.generate_certificate());
        let engine = Engine::new(rx, tx.clone(), sockets, counters.clone());
        std::thread::Builder::new()
            .name("webrtc-fanout".into())
            .spawn(move || engine.run())
            .map_err(|_| ForwardError::Stopped)?;
        tracing::info!(?locals, "WebRTC fan-out listening");
        Ok(Forwarder {
            tx,
            locals,
            cert,
            next_id: AtomicU64::new(1),
            counters,
        })
    }

    pub fn counters(&self) -> &EngineCounters {
        &self.counters
    }

    /// Answers a viewer's offer and hands the viewer to the engine.
    pub fn open(&self, offer: &str, plan: &OfferPlan) -> Result<(Peer, String), ForwardError> {
        let offered = offered_candidates(offer);
        let offer =
            SdpOffer::from_sdp_string(offer).map_err(|e| ForwardError::Offer(e.to_string()))?;
        let audio = plan.codec(MediaKind::Audio);
        let video = plan.codec(MediaKind::Video);
        let creds = IceCreds {
            ufrag: random_token(8),
            pass: random_token(24),
        };
        let mut builder = Rtc::builder()
            .set_ice_lite(true)
            .set_local_ice_credentials(creds.clone())
            .clear_codecs()
            .enable_opus(audio == Some(Codec::Opus), false)
            .enable_h264(video == Some(Codec::H264))
            .enable_vp8(video == Some(Codec::Vp8))
            .set_stats_interval(Some(STATS_INTERVAL))
            .set_send_buffer_video(SEND_BUFFER_VIDEO);
        if let Some(cert) = &self.cert {
            builder = builder.set_dtls_cert(cert.clone());
        }
        let mut rtc = builder.build(Instant::now());
        for local in &self.locals {
            if let Ok(c) = Candidate::host(*local, "udp") {
                rtc.add_local_candidate(c);
            }
        }
        let answer = rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| ForwardError::Offer(e.to_string()))?;
        let mid_of = |kind: MediaKind| {
            plan.media
                .iter()
                .find(|m| m.kind == kind)
                .and_then(|m| Some((Mid::from(m.mid.as_deref()?), m.codec)))
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let shared = PeerShared::new();
        let connection = shared.connection.subscribe();
        let new = NewPeer {
            id,
            rtc,
            ufrag: creds.ufrag,
            shared: shared.clone(),
            audio: mid_of(MediaKind::Audio),
            video: mid_of(MediaKind::Video),
            offered,
        };
        self.tx
            .send(Command::Add(Box::new(new)))
            .map_err(|_| ForwardError::Stopped)?;
        Ok((
            Peer {
                id,
                tx: self.tx.clone(),
                shared,
                connection,
            },
            answer.to_sdp_string(),
        ))
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        let _ = self.tx.try_send(Command::Stop);
    }
}

/// One viewer in the engine; removed from it when dropped.
pub struct Peer {
    id: u64,
    tx: SyncSender<Command>,
    shared: Arc<PeerShared>,
    connection: watch::Receiver<WebRTCPeerConnectionState>,
}

impl Peer {
    /// Feeds the viewer's `track` from `producer` (None: stops it). A video
    /// track starts at the producer's next keyframe, which is asked for.
    pub fn attach(&self, track: Track, producer: Option<&gst_utils::StreamProducer>) {
        let source = producer.map(|p| FeedSource {
            key: tap::feed_key(p),
            producer: p.clone(),
        });
        let _ = self.tx.send(Command::Attach {
            peer: self.id,
            track,
            source,
        });
    }

    /// Leaves the engine now (the handle may outlive the viewer a moment).
    pub fn close(&self) {
        let _ = self.tx.send(Command::Remove(self.id));
    }

    pub fn figures(&self) -> Figures {
        self.shared
            .figures
            .lock()
            .map(|f| f.clone())
            .unwrap_or_default()
    }

    pub fn connection(&self) -> watch::Receiver<WebRTCPeerConnectionState> {
        self.connection.clone()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.tx.send(Command::Remove(self.id));
    }
}

/// The candidates an offer carries (what a viewer's move may have to drop).
/// The offer's size is bounded by the HTTP layer; the count is bounded here.
fn offered_candidates(offer: &str) -> Vec<Candidate> {
    offer
        .lines()
        .filter_map(|l| l.trim().strip_prefix("a="))
        .filter(|l| l.starts_with("candidate:"))
        .filter_map(|l| Candidate::from_sdp_string(l).ok())
        .take(MAX_OFFERED_CANDIDATES)
        .collect()
}

fn random_token(len: usize) -> String {
    use rand::distributions::Alphanumeric;
    use rand::Rng;
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}
