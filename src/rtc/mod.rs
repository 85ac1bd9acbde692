//! One lifecycle for WebRTC resources, shared by WHIP publishes and WHEP views.
//!
//! A resource is keyed by session and resource id and records the user who
//! owns it. The core gives both kinds, alike:
//! - a [`Registry`] of pending and live resources, where a pending seat is a
//!   [`Reservation`] guard released on every path (error, panic, drop);
//! - negotiation in a task the server owns ([`negotiate_owned`]), so a client
//!   hanging up cannot cancel a pipeline's state change half-way;
//! - ETag / If-Match, trickle with limits (candidates per resource, sane
//!   addresses), ICE-restart refusal;
//! - per-user limits on how many resources one user holds, and a bound on
//!   negotiations in flight per kind ([`MAX_NEGOTIATING`]).
//!
//! What differs (a publisher's or a viewer's pipeline) stays in `ingest` and
//! `egress`; later kinds (several publishers per session, breakout rooms) add
//! their resources to a registry of their own type.

mod negotiation;
mod registry;
pub mod trickle;

pub use negotiation::{answer_owned, negotiate_owned, Abandoned};
pub use registry::{held_by, Entry, Registry, Reservation, Seat, Sessions, MAX_NEGOTIATING};
pub use trickle::{FragmentError, TrickleFragment, MAX_CANDIDATES};

use std::time::Duration;

use gst::prelude::*;

use crate::ids::ResourceId;
use crate::media::ice::IceServer;
use crate::media::sdp::{OfferPlan, SdpError};

/// The answer to a successful WHIP or WHEP POST.
#[derive(Debug, Clone)]
pub struct Answer {
    pub resource_id: ResourceId,
    pub etag: String,
    pub sdp: String,
}

/// How a resource's peer connection is set up: publishers' and viewers' alike.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    pub ice_servers: Vec<IceServer>,
    /// How long an answer waits for its ICE candidates (clients that do not
    /// trickle, OBS, need them all in the answer).
    pub ice_gather_timeout: Duration,
    /// A resource not connected this long after its offer is dropped.
    pub connect_timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum RtcError {
    /// The offer the resource was asked to answer.
    #[error(transparent)]
    Offer(#[from] SdpError),
    #[error("no such {0} resource")]
    NotFound(&'static str),
    #[error("If-Match does not match the resource's ETag")]
    EtagMismatch,
    #[error("ICE restart is not supported; DELETE and {0} again")]
    IceRestartUnsupported(&'static str),
    #[error(transparent)]
    Fragment(#[from] FragmentError),
    #[error(
        "a resource takes at most {max} trickled ICE candidates; this PATCH would make {would}"
    )]
    TooManyCandidates { max: usize, would: usize },
    #[error("you already hold {max} {what}; DELETE one before starting another")]
    PerUserLimit { max: usize, what: &'static str },
    #[error("too many WebRTC negotiations in progress on this server; retry in a moment")]
    Saturated,
    #[error("the negotiation ended without an answer (server shutting down or internal error)")]
    Abandoned,
}

/// What the core needs from a negotiated resource to trickle into it.
pub trait Resource: Send + Sync + 'static {
    fn plan(&self) -> &OfferPlan;
    /// Takes one checked remote candidate (`candidate:…`) for m-line `mline`.
    fn add_ice_candidate(&self, mline: u32, candidate: &str);
}

/// Trickle into a webrtcbin (publishers, pipeline viewers).
pub fn add_ice_candidate(webrtcbin: &gst::Element, mline: u32, candidate: &str) {
    webrtcbin.emit_by_name::<()>("add-ice-candidate", &[&mline, &candidate]);
}

/// Whether `if_match` (absent, `*`, or a tag) allows changing a resource
/// whose ETag is `etag`.
pub fn check_if_match(if_match: Option<&str>, etag: &str) -> Result<(), RtcError> {
    match if_match.map(str::trim) {
        None | Some("*") => Ok(()),
        Some(tag) if tag == etag => Ok(()),
        Some(_) => Err(RtcError::EtagMismatch),
    }
}

/// A fresh strong ETag.
pub fn new_etag() -> String {
    format!("\"{}\"", uuid::Uuid::new_v4().simple())
}

/// A trickle PATCH into a live resource of `registry`: unknown resource,
/// ETag and the candidate limit are answered before the fragment's own
/// errors, then new ICE credentials (an ICE restart) are refused. `kind`
/// names the resource ("WHIP"), `verb` the protocol's action ("publish").
pub fn trickle<T: Resource>(
    registry: &Registry<T>,
    session_id: &str,
    resource_id: &str,
    (kind, verb): (&'static str, &'static str),
    if_match: Option<&str>,
    fragment: &str,
) -> Result<(), RtcError> {
    let parsed = trickle::parse_fragment(fragment);
    let count = parsed.as_ref().map_or(0, |f| f.candidates.len());
    let resource = registry.for_trickle(
        session_id,
        resource_id,
        kind,
        if_match,
        count,
        MAX_CANDIDATES,
    )?;
    apply_trickle(&*resource, &parsed?, verb)
}

/// Hands a trickle fragment's candidates to the resource's webrtcbin; new ICE
/// credentials (an ICE restart) are refused. `kind` names the protocol's verb
/// for the error ("publish", "view").
pub fn apply_trickle<R: Resource + ?Sized>(
    resource: &R,
    fragment: &TrickleFragment,
    verb: &'static str,
) -> Result<(), RtcError> {
    if let Some(ufrag) = &fragment.ice_ufrag {
        if !resource.plan().ice_ufrags.contains(ufrag) {
            return Err(RtcError::IceRestartUnsupported(verb));
        }
    }
    for (mid, candidate) in &fragment.candidates {
        let mline = mid
            .as_deref()
            .and_then(|m| resource.plan().mline_of_mid(m))
            .unwrap_or(0);
        resource.add_ice_candidate(mline, candidate);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_accepts_absent_star_and_the_tag_only() {
        let tag = new_etag();
        assert!(check_if_match(None, &tag).is_ok());
        assert!(check_if_match(Some(" * "), &tag).is_ok());
        assert!(check_if_match(Some(&tag), &tag).is_ok());
        assert!(matches!(
            check_if_match(Some("\"stale\""), &tag),
            Err(RtcError::EtagMismatch)
        ));
    }
}
