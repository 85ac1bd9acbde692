//! Rate limits on what is costly to answer: token buckets per client address
//! and per user (the token's `sub`), and a brake on repeated failed
//! authentication. A refusal is a 429 with `Retry-After` (see `error.rs`).
//!
//! Costly routes: WHIP and WHEP offers (each builds a WebRTC pipeline),
//! session creation, recordings listing and lookup (they mint playback URLs).
//! Trickle PATCHes, playlists and segments are not limited here: a normal
//! client sends many of them. Two routes have limits of their own: invite
//! redeems per client address (each mints a token and may spend a use) and
//! replay position writes per user (a player saves as it plays).
//!
//! The client address is the TCP peer, or, with `--trust-forwarded-for`, the
//! last address of `X-Forwarded-For` (the one the proxy in front appended);
//! IPv6 addresses count by their /64. Memory is bounded: refilled buckets are
//! forgotten and past 100,000 remembered keys new ones go untracked.

mod bucket;

pub use bucket::RateSpec;

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiError;
use crate::auth::Keys;
use bucket::Buckets;

/// What the limits are, from the command line.
#[derive(Debug, Clone, Copy)]
pub struct RateConfig {
    /// Costly requests per client address.
    pub per_ip: RateSpec,
    /// Costly requests per user.
    pub per_user: RateSpec,
    /// Requests answered 401 per client address; past it, requests from that
    /// address carrying a token that does not verify get 429.
    pub auth_failures: RateSpec,
    /// Invite redeems per client address.
    pub invite_redeems: RateSpec,
    /// Replay position writes per user.
    pub position_writes: RateSpec,
    pub trust_forwarded_for: bool,
}

/// The buckets, shared by every request.
#[derive(Debug)]
pub struct RateLimits {
    per_ip: Option<Buckets<IpAddr>>,
    per_user: Option<Buckets<String>>,
    auth_failures: Option<Buckets<IpAddr>>,
    invite_redeems: Option<Buckets<IpAddr>>,
    position_writes: Option<Buckets<String>>,
    trust_forwarded_for: bool,
    keys: Arc<Keys>,
}

impl RateLimits {
    pub fn new(config: RateConfig, keys: Arc<Keys>) -> Self {
        RateLimits {
            per_ip: config.per_ip.0.map(Buckets::new),
            per_user: config.per_user.0.map(Buckets::new),
            auth_failures: config.auth_failures.0.map(Buckets::new),
            invite_redeems: config.invite_redeems.0.map(Buckets::new),
            position_writes: config.position_writes.0.map(Buckets::new),
            trust_forwarded_for: config.trust_forwarded_for,
            keys,
        }
    }

    fn client_ip(&self, req: &Request) -> Option<IpAddr> {
        let forwarded = self
            .trust_forwarded_for
            .then(|| forwarded_for(req.headers()))
            .flatten();
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        forwarded.or(peer).map(bucket_key)
    }
}

/// The middleware: refuses with 429 before the handler runs, and counts the
/// handler's 401s.
pub async fn limit(State(limits): State<Arc<RateLimits>>, req: Request, next: Next) -> Response {
    let now = Instant::now();
    let ip = limits.client_ip(&req);
    let (parts, body) = req.into_parts();
    let token = crate::http::request_token(&parts);
    let req = Request::from_parts(parts, body);
    let claims = token.as_deref().map(|t| limits.keys.verify(t).ok());
    if let (Some(None), Some(ip), Some(failures)) = (&claims, ip, &limits.auth_failures) {
        if let Some(wait) = failures.empty(&ip, now) {
            tracing::info!(%ip, "refused: repeated authentication failures");
            return ApiError::RateLimited(wait).into_response();
        }
    }
    let user = claims.flatten().map(|c| c.sub);
    match own_limit(req.method(), req.uri().path()) {
        Some(OwnLimit::InviteRedeem) => {
            if let (Some(ip), Some(buckets)) = (ip, &limits.invite_redeems) {
                if let Err(wait) = buckets.take(&ip, now) {
                    tracing::info!(%ip, "refused: invite redeem rate limit");
                    return ApiError::RateLimited(wait).into_response();
                }
            }
        }
        Some(OwnLimit::PositionWrite) => {
            if let (Some(user), Some(buckets)) = (&user, &limits.position_writes) {
                if let Err(wait) = buckets.take(user, now) {
                    tracing::info!(user, "refused: replay position rate limit");
                    return ApiError::RateLimited(wait).into_response();
                }
            }
        }
        None => {}
    }
    if costly(req.method(), req.uri().path()) {
        if let (Some(user), Some(buckets)) = (&user, &limits.per_user) {
            if let Err(wait) = buckets.take(user, now) {
                tracing::info!(user, path = req.uri().path(), "refused: user rate limit");
                return ApiError::RateLimited(wait).into_response();
            }
        }
        if let (Some(ip), Some(buckets)) = (ip, &limits.per_ip) {
            if let Err(wait) = buckets.take(&ip, now) {
                tracing::info!(%ip, path = req.uri().path(), "refused: address rate limit");
                return ApiError::RateLimited(wait).into_response();
            }
        }
    }
    let response = next.run(req).await;
    if response.status() == StatusCode::UNAUTHORIZED {
        if let (Some(ip), Some(failures)) = (ip, &limits.auth_failures) {
            // An empty bucket is what the check above looks at.
            let _ = failures.take(&ip, Instant::now());
        }
    }
    response
}

/// The routes whose answer costs a pipeline, a database write or a signed URL.
fn costly(method: &Method, path: &str) -> bool {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["whip" | "whep", _] => method == Method::POST,
        ["api", "sessions"] => method == Method::POST,
        ["api", "sessions", _, "recordings"] | ["api", "recordings", _] | ["api", "recordings"] => {
            method == Method::GET
        }
        _ => false,
    }
}

/// The routes with a limit of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OwnLimit {
    InviteRedeem,
    PositionWrite,
}

fn own_limit(method: &Method, path: &str) -> Option<OwnLimit> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["api", "invites", _, "redeem"] if method == Method::POST => Some(OwnLimit::InviteRedeem),
        ["api", "recordings", _, "position"] if method == Method::PUT => {
            Some(OwnLimit::PositionWrite)
        }
        _ => None,
    }
}

/// The address the trusted proxy appended: the last one in the last header.
fn forwarded_for(headers: &HeaderMap) -> Option<IpAddr> {
    let last = headers.get_all("x-forwarded-for").iter().next_back()?;
    last.to_str().ok()?.rsplit(',').next()?.trim().parse().ok()
}

/// One bucket per IPv4 address and per IPv6 /64 (one host has a whole /64).
fn bucket_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_costly_routes_are_limited() {
        assert!(costly(&Method::POST, "/whip/abc"));
        assert!(costly(&Method::POST, "/whep/abc"));
        assert!(!costly(&Method::PATCH, "/whep/abc/res"));
        assert!(!costly(&Method::DELETE, "/whip/abc/res"));
        assert!(costly(&Method::POST, "/api/sessions"));
        assert!(!costly(&Method::GET, "/api/sessions"));
        assert!(costly(&Method::GET, "/api/sessions/x/recordings"));
        assert!(costly(&Method::GET, "/api/recordings/r1"));
        assert!(costly(&Method::GET, "/api/recordings"));
        assert!(!costly(&Method::GET, "/api/recordings/r1/position"));
        assert!(!costly(&Method::GET, "/healthz"));
        assert!(!costly(&Method::GET, "/hls/x/master.m3u8"));
    }

    #[test]
    fn redeems_and_position_writes_have_their_own_limits() {
        let own = |m: Method, p: &str| own_limit(&m, p);
        assert_eq!(
            own(Method::POST, "/api/invites/abc/redeem"),
            Some(OwnLimit::InviteRedeem)
        );
        assert_eq!(own(Method::GET, "/api/invites/abc"), None);
        assert_eq!(own(Method::GET, "/api/invites/abc/redeem"), None);
        assert_eq!(
            own(Method::PUT, "/api/recordings/r1/position"),
            Some(OwnLimit::PositionWrite)
        );
        assert_eq!(own(Method::GET, "/api/recordings/r1/position"), None);
        assert_eq!(own(Method::POST, "/api/sessions"), None);
    }

    #[test]
    fn forwarded_for_takes_what_the_proxy_appended() {
        let mut h = HeaderMap::new();
        assert_eq!(forwarded_for(&h), None);
        h.append(
            "x-forwarded-for",
            "6.6.6.6, 10.0.0.7".parse().expect("header"),
        );
        assert_eq!(forwarded_for(&h), "10.0.0.7".parse().ok());
        h.append("x-forwarded-for", "192.0.2.9".parse().expect("header"));
        assert_eq!(forwarded_for(&h), "192.0.2.9".parse().ok());
        h.insert("x-forwarded-for", "garbage".parse().expect("header"));
        assert_eq!(forwarded_for(&h), None);
    }

    #[test]
    fn ipv6_hosts_count_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().expect("ip");
        assert_eq!(bucket_key(a), bucket_key(b));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().expect("ip");
        assert_eq!(
            bucket_key(mapped),
            "192.0.2.1".parse::<IpAddr>().expect("ip")
        );
    }
}
