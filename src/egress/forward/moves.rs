//! Following a viewer whose address moved: str0m's ICE-lite side would
//! keep sending to the old pair for 15 s (see [`follow_move`]).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use str0m::net::Protocol;
use str0m::{Candidate, CandidateKind, Input};

use super::demux::stun_binding_success;
use super::net::Sockets;
use super::peer::{drain, Peer};
use super::tap::FeedKey;

/// A viewer that nominated another address moves there once its current
/// one has been silent this long (a live viewer sends RTCP every second or
/// so, and consent checks).
const MOVE_AFTER_SILENCE: Duration = Duration::from_secs(1);
/// Addresses a viewer moved away from that it may come back to.
const MAX_LEFT: usize = 4;

/// Following a viewer whose address moved (see [`follow_move`]).
#[derive(Default)]
pub(super) struct Moves {
    pub(super) offered: Vec<Candidate>,
    /// Where the viewer's media goes, and when that address was last heard.
    pub(super) route: Option<(SocketAddr, Instant)>,
    /// The address the last binding success went to.
    pub(super) answered: Option<SocketAddr>,
    /// Another address the viewer nominated (str0m answered the request).
    pub(super) nominated: Option<SocketAddr>,
    /// Addresses dropped by a move: a nomination from one lets it back in.
    pub(super) left: Vec<SocketAddr>,
}

/// Where a datagram to the viewer went: a binding success (str0m sends one
/// only to a request that passed its integrity check), or media and DTLS
/// (STUN's first byte is 0 or 1), which go to the nominated address.
pub(super) fn note_route(moves: &mut Moves, datagram: &[u8], to: SocketAddr) {
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
pub(super) fn follow_move(
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
pub(super) fn readmit(peer: &mut Peer, source: SocketAddr) {
    if !peer.moves.left.contains(&source) {
        return;
    }
    peer.moves.left.retain(|a| *a != source);
    if let Ok(c) = Candidate::host(source, "udp") {
        peer.rtc.add_remote_candidate(c);
    }
}
