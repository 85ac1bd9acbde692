//! Small helpers around webrtcbin's promise-based action signals.

use std::future::Future;
use std::time::Duration;

use gst::glib;
use gst::prelude::*;
use gst_webrtc::{WebRTCICEGatheringState, WebRTCSDPType, WebRTCSessionDescription};
use tokio::sync::{oneshot, watch};

use super::MediaError;

const PROMISE_TIMEOUT: Duration = Duration::from_secs(10);

/// Emits a webrtcbin action signal that takes a promise as its last argument and
/// returns a future for the reply, so no runtime thread blocks on it. (Not an
/// `async fn`: the argument values are not `Send` and must not live in the future.)
pub fn call_with_promise(
    webrtcbin: &gst::Element,
    signal: &str,
    mut args: Vec<glib::Value>,
    what: &'static str,
) -> impl Future<Output = Result<Option<gst::Structure>, MediaError>> + Send + 'static {
    let (tx, rx) = oneshot::channel();
    let promise = gst::Promise::with_change_func(move |reply| {
        let _ = tx.send(
            reply
                .map(|s| s.map(|s| s.to_owned()))
                .map_err(|e| format!("{e:?}")),
        );
    });
    args.push(promise.to_value());
    webrtcbin.emit_by_name_with_values(signal, &args);
    drop(args);
    async move {
        let reply = tokio::time::timeout(PROMISE_TIMEOUT, rx)
            .await
            .map_err(|_| MediaError::Timeout(what))?
            .map_err(|_| MediaError::Negotiation(format!("{what}: promise dropped")))?
            .map_err(|e| MediaError::Negotiation(format!("{what}: {e}")))?;
        if let Some(err) = reply
            .as_ref()
            .and_then(|s| s.get::<glib::Error>("error").ok())
        {
            return Err(MediaError::Negotiation(format!(
                "{what}: {}",
                err.message()
            )));
        }
        Ok(reply)
    }
}

/// A watch on webrtcbin's ICE gathering state.
pub fn gathering_state(webrtcbin: &gst::Element) -> watch::Receiver<WebRTCICEGatheringState> {
    let (tx, rx) = watch::channel(webrtcbin.property("ice-gathering-state"));
    webrtcbin.connect_notify(Some("ice-gathering-state"), move |w, _| {
        tx.send_replace(w.property("ice-gathering-state"));
    });
    rx
}

/// Waits for candidate gathering to complete, at most `limit`. Returns whether
/// it completed; on timeout the caller goes on with the candidates it has.
pub async fn wait_gathered(
    gathering: &mut watch::Receiver<WebRTCICEGatheringState>,
    limit: Duration,
) -> bool {
    tokio::time::timeout(
        limit,
        gathering.wait_for(|s| *s == WebRTCICEGatheringState::Complete),
    )
    .await
    .is_ok_and(|r| r.is_ok())
}

/// The SDP text of webrtcbin's local description.
pub fn local_sdp(webrtcbin: &gst::Element) -> Option<String> {
    webrtcbin
        .property::<Option<gst_webrtc::WebRTCSessionDescription>>("local-description")
        .and_then(|d| d.sdp().as_text().ok())
}

/// A pipeline named `name` with a max-bundle webrtcbin named "webrtc" in
/// it that uses `ice_servers`; `latency_ms` sets its jitterbuffer latency.
pub fn webrtc_pipeline(
    name: &str,
    ice_servers: &[super::ice::IceServer],
    latency_ms: Option<u32>,
) -> Result<(gst::Pipeline, gst::Element), MediaError> {
    let pipeline = gst::Pipeline::with_name(name);
    let mut webrtcbin = gst::ElementFactory::make("webrtcbin")
        .name("webrtc")
        .property_from_str("bundle-policy", "max-bundle");
    if let Some(latency) = latency_ms {
        webrtcbin = webrtcbin.property("latency", latency);
    }
    let webrtcbin = webrtcbin.build()?;
    set_ice_servers(&webrtcbin, ice_servers);
    pipeline.add(&webrtcbin)?;
    Ok((pipeline, webrtcbin))
}

/// Gives webrtcbin the configured STUN and TURN servers, and turns off
/// libnice's UPnP port mapping: a server has no home router to ask, and
/// gathering waited for UPnP's 200 ms timeout before it completed, which
/// delayed every WHIP/WHEP answer by that much.
pub fn set_ice_servers(webrtcbin: &gst::Element, servers: &[super::ice::IceServer]) {
    disable_upnp(webrtcbin);
    for server in servers {
        match server.scheme {
            super::ice::IceScheme::Stun => webrtcbin.set_property("stun-server", server.gst_url()),
            _ => {
                webrtcbin.emit_by_name::<bool>("add-turn-server", &[&server.gst_url()]);
            }
        }
    }
}

fn disable_upnp(webrtcbin: &gst::Element) {
    let ice = webrtcbin.property::<Option<glib::Object>>("ice-agent");
    let agent = ice
        .filter(|i| i.find_property("agent").is_some())
        .and_then(|i| i.property::<Option<glib::Object>>("agent"));
    if let Some(agent) = agent.filter(|a| a.find_property("upnp").is_some()) {
        agent.set_property("upnp", false);
    }
}

/// A watch on webrtcbin's peer connection state.
pub fn connection_state(
    webrtcbin: &gst::Element,
) -> watch::Receiver<gst_webrtc::WebRTCPeerConnectionState> {
    let (tx, rx) = watch::channel(gst_webrtc::WebRTCPeerConnectionState::New);
    webrtcbin.connect_notify(Some("connection-state"), move |w, _| {
        tx.send_replace(w.property("connection-state"));
    });
    rx
}

/// Applies a remote offer, creates the answer and applies it as the local
/// description (the answerer's half of offer/answer, WHIP and WHEP alike).
pub async fn answer_offer(
    webrtcbin: &gst::Element,
    offer: gst_sdp::SDPMessage,
) -> Result<(), MediaError> {
    set_remote(webrtcbin, WebRTCSDPType::Offer, offer, "applying the offer").await?;
    create_local(webrtcbin, &ANSWER).await?;
    Ok(())
}

/// The answerer's half with its candidates: answers `offer` and returns the
/// answer once ICE gathering is complete (clients that do not trickle, OBS,
/// need every candidate in it), or with what was found within `limit`.
pub async fn answer_gathered(
    webrtcbin: &gst::Element,
    offer: gst_sdp::SDPMessage,
    gathering: &mut watch::Receiver<WebRTCICEGatheringState>,
    limit: Duration,
    resource: &str,
) -> Result<String, MediaError> {
    answer_offer(webrtcbin, offer).await?;
    if !wait_gathered(gathering, limit).await {
        tracing::warn!(
            resource,
            "ICE gathering timed out; answering with the candidates so far"
        );
    }
    local_sdp(webrtcbin).ok_or_else(|| MediaError::Negotiation("no local description".into()))
}

/// The offerer's half (WHIP and WHEP clients): creates the offer, applies
/// it, and returns it with the candidates gathered within `gather_timeout`
/// (non-trickle).
pub async fn create_offer(
    webrtcbin: &gst::Element,
    gather_timeout: Duration,
) -> Result<String, MediaError> {
    let mut gathering = gathering_state(webrtcbin);
    create_local(webrtcbin, &OFFER).await?;
    wait_gathered(&mut gathering, gather_timeout).await;
    local_sdp(webrtcbin).ok_or_else(|| MediaError::Negotiation("no local description".into()))
}

/// Applies the answer to our offer.
pub async fn apply_answer(webrtcbin: &gst::Element, answer: &str) -> Result<(), MediaError> {
    let answer = gst_sdp::SDPMessage::parse_buffer(answer.as_bytes())
        .map_err(|e| MediaError::Negotiation(format!("the answer is not SDP: {e}")))?;
    set_remote(
        webrtcbin,
        WebRTCSDPType::Answer,
        answer,
        "applying the answer",
    )
    .await
}

async fn set_remote(
    webrtcbin: &gst::Element,
    kind: WebRTCSDPType,
    sdp: gst_sdp::SDPMessage,
    what: &'static str,
) -> Result<(), MediaError> {
    let remote = WebRTCSessionDescription::new(kind, sdp);
    call_with_promise(
        webrtcbin,
        "set-remote-description",
        vec![remote.to_value()],
        what,
    )
    .await?;
    Ok(())
}

/// One side's local description: the signal that creates it, the field of
/// the reply that holds it, and the words for errors.
struct Local {
    signal: &'static str,
    field: &'static str,
    creating: &'static str,
    applying: &'static str,
    missing: &'static str,
}

const OFFER: Local = Local {
    signal: "create-offer",
    field: "offer",
    creating: "creating the offer",
    applying: "applying the offer",
    missing: "webrtcbin produced no offer",
};

const ANSWER: Local = Local {
    signal: "create-answer",
    field: "answer",
    creating: "creating the answer",
    applying: "applying the answer",
    missing: "webrtcbin produced no answer",
};

/// Creates our offer or answer and applies it as the local description.
async fn create_local(webrtcbin: &gst::Element, local: &Local) -> Result<(), MediaError> {
    let reply = call_with_promise(
        webrtcbin,
        local.signal,
        vec![None::<gst::Structure>.to_value()],
        local.creating,
    )
    .await?;
    let description = reply
        .and_then(|s| s.get::<WebRTCSessionDescription>(local.field).ok())
        .ok_or_else(|| MediaError::Negotiation(local.missing.into()))?;
    call_with_promise(
        webrtcbin,
        "set-local-description",
        vec![description.to_value()],
        local.applying,
    )
    .await?;
    Ok(())
}

/// A peer connection's state as the viewers and publishers APIs spell it.
pub fn connection_state_name(state: gst_webrtc::WebRTCPeerConnectionState) -> &'static str {
    match state {
        gst_webrtc::WebRTCPeerConnectionState::New => "new",
        gst_webrtc::WebRTCPeerConnectionState::Connecting => "connecting",
        gst_webrtc::WebRTCPeerConnectionState::Connected => "connected",
        gst_webrtc::WebRTCPeerConnectionState::Disconnected => "disconnected",
        gst_webrtc::WebRTCPeerConnectionState::Failed => "failed",
        gst_webrtc::WebRTCPeerConnectionState::Closed => "closed",
        _ => "unknown",
    }
}
