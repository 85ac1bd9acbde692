//! Small helpers around webrtcbin's promise-based action signals.

use std::future::Future;
use std::time::Duration;

use gst::glib;
use gst::prelude::*;
use gst_webrtc::WebRTCICEGatheringState;
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
    use gst_webrtc::{WebRTCSDPType, WebRTCSessionDescription};
    let remote = WebRTCSessionDescription::new(WebRTCSDPType::Offer, offer);
    call_with_promise(
        webrtcbin,
        "set-remote-description",
        vec![remote.to_value()],
        "applying the offer",
    )
    .await?;
    let reply = call_with_promise(
        webrtcbin,
        "create-answer",
        vec![None::<gst::Structure>.to_value()],
        "creating the answer",
    )
    .await?;
    let answer = reply
        .and_then(|s| s.get::<WebRTCSessionDescription>("answer").ok())
        .ok_or_else(|| MediaError::Negotiation("webrtcbin produced no answer".into()))?;
    call_with_promise(
        webrtcbin,
        "set-local-description",
        vec![answer.to_value()],
        "applying the answer",
    )
    .await?;
    Ok(())
}

/// The offerer's half (WHIP and WHEP clients): creates the offer, applies
/// it, and returns it with the candidates gathered within `gather_timeout`
/// (non-trickle).
pub async fn create_offer(
    webrtcbin: &gst::Element,
    gather_timeout: Duration,
) -> Result<String, MediaError> {
    use gst_webrtc::WebRTCSessionDescription;
    let mut gathering = gathering_state(webrtcbin);
    let reply = call_with_promise(
        webrtcbin,
        "create-offer",
        vec![None::<gst::Structure>.to_value()],
        "creating the offer",
    )
    .await?;
    let offer = reply
        .and_then(|s| s.get::<WebRTCSessionDescription>("offer").ok())
        .ok_or_else(|| MediaError::Negotiation("webrtcbin produced no offer".into()))?;
    call_with_promise(
        webrtcbin,
        "set-local-description",
        vec![offer.to_value()],
        "applying the offer",
    )
    .await?;
    wait_gathered(&mut gathering, gather_timeout).await;
    local_sdp(webrtcbin).ok_or_else(|| MediaError::Negotiation("no local description".into()))
}

/// Applies the answer to our offer.
pub async fn apply_answer(webrtcbin: &gst::Element, answer: &str) -> Result<(), MediaError> {
    use gst_webrtc::{WebRTCSDPType, WebRTCSessionDescription};
    let answer = gst_sdp::SDPMessage::parse_buffer(answer.as_bytes())
        .map_err(|e| MediaError::Negotiation(format!("the answer is not SDP: {e}")))?;
    let answer = WebRTCSessionDescription::new(WebRTCSDPType::Answer, answer);
    call_with_promise(
        webrtcbin,
        "set-remote-description",
        vec![answer.to_value()],
        "applying the answer",
    )
    .await?;
    Ok(())
}
