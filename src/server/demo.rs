//! `make run`: a session `demo` with a test pattern published into it over real
//! WHIP, and the URLs and a token to try things with.

use std::time::Duration;

use tokio::task::JoinHandle;

use super::ServerError;
use crate::auth::{Claims, Role};
use crate::client::{WhipClient, WhipClientOptions};
use crate::db::NewSession;
use crate::http::state::AppState;
use crate::media::VideoCodecPref;

const DEMO_SESSION: &str = "demo";
const DEMO_INSTRUCTOR: &str = "demo-instructor";

/// Creates the session if needed, prints how to use it, and returns the task
/// that keeps publishing into it (restarting the publisher when it fails).
pub(super) async fn start(state: &AppState) -> Result<JoinHandle<()>, ServerError> {
    if state.db.session(DEMO_SESSION).await?.is_none() {
        state
            .db
            .create_session(NewSession {
                id: DEMO_SESSION.into(),
                title: "Demo class (test pattern)".into(),
                instructor_id: DEMO_INSTRUCTOR.into(),
                instructor_name: "Demo Instructor".into(),
                scheduled_start: None,
                scheduled_end: None,
                max_webrtc_viewers: state.settings.default_max_webrtc_viewers,
                record: false,
                guests_webrtc: true,
                course: None,
                allow_download: false,
            })
            .await?;
    }
    let token = state.keys.sign(&Claims::new(
        DEMO_INSTRUCTOR,
        "Demo Instructor",
        Role::Instructor,
        None,
        Duration::from_secs(12 * 3600),
    ))?;
    let student = state.keys.sign(&Claims::new(
        "demo-student",
        "Demo Student",
        Role::Student,
        Some(DEMO_SESSION.to_owned()),
        Duration::from_secs(12 * 3600),
    ))?;
    let base = &state.settings.public_url;
    println!(
        "\n  Your classes (instructor):    {base}/#token={token}\n  \
         The demo class as a student:  {base}/class/{DEMO_SESSION}#token={student}\n  \
         Demo session (test pattern):  {base}/api/sessions/{DEMO_SESSION}\n  \
         Publish from your browser:    {base}/player/publish.html#token={token}\n  \
         Watch the demo over HLS:      {base}/player/watch.html#token={token}&session={DEMO_SESSION}\n  \
         Health:                       {base}/healthz\n\n  \
         Instructor token (12 h):\n  {token}\n\n  \
         Try: curl -H 'Authorization: Bearer <token>' {base}/api/sessions/{DEMO_SESSION}\n"
    );
    let options = WhipClientOptions {
        whip_url: format!("{base}/whip/{DEMO_SESSION}"),
        token,
        codec: VideoCodecPref::H264,
        width: 1280,
        height: 720,
        fps: 30,
    };
    Ok(tokio::spawn(async move {
        loop {
            match WhipClient::publish(&options).await {
                Ok(mut client) => {
                    tracing::info!("demo publisher live");
                    let err = client.wait_failed().await;
                    tracing::warn!("demo publisher stopped: {err}");
                }
                Err(e) => tracing::warn!("demo publisher: {e}"),
            }
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
    }))
}
