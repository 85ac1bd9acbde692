//! Issue 17's acceptance in headless Chromium (tests/browser/web/stage3.mjs):
//! the instructor goes live from the studio (fake camera) and shares the
//! screen (Chromium's fake display capture, a second WHIP publish beside the
//! camera); two students on stage at once, Ada from her classroom page and
//! Bob from aiortc with the publish token his call on stage gave him; Cleo,
//! a third student, receives the four videos and hears the three voices
//! (getStats per track); the instructor ends Bob's turn and his tile and
//! track end on Cleo's page within 2 s; the layout switcher; ending the
//! share deletes its WHIP resource.

mod common;

use std::time::Duration;

use classcast::auth::{Claims, Role};
use common::{keys, session_with, ClientProcess, ServerProcess};
use futures::{SinkExt, Stream, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// A token for `sub` with a display name of its own.
fn person(role: Role, sub: &str, name: &str, session: Option<&str>) -> String {
    keys()
        .sign(&Claims::new(
            sub,
            name,
            role,
            session.map(str::to_owned),
            Duration::from_secs(3600),
        ))
        .expect("sign")
}

/// The next message of type `ty` on a classroom socket.
async fn next_of<S>(socket: &mut S, ty: &str) -> Value
where
    S: Stream<Item = Result<Message, WsError>> + Unpin,
{
    while let Some(frame) = socket.next().await {
        if let Ok(Message::Text(text)) = frame {
            let v: Value = serde_json::from_str(&text).expect("a JSON message");
            if v["type"] == ty {
                return v;
            }
        }
    }
    panic!("Bob's socket closed before {ty}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_students_on_stage_and_a_screen_share_reach_a_third() {
    let server = ServerProcess::start(&[]);
    let base = server.url.clone();
    let grace = person(Role::Instructor, "grace", "Grace Hopper", None);
    let id = session_with(&base, &grace, json!({ "title": "Many voices" })).await;
    let ada = person(Role::Student, "ada", "Ada Lovelace", Some(&id));
    let bob = person(Role::Student, "bob", "Bob Kahn", Some(&id));
    let cleo = person(Role::Student, "cleo", "Cleo Park", Some(&id));

    // Bob is in the class from a plain socket, his hand up.
    let ws_url = format!("{}/ws/sessions/{id}", base.replacen("http", "ws", 1));
    let (socket, _) = tokio_tungstenite::connect_async(ws_url.as_str())
        .await
        .expect("Bob's classroom socket");
    let (mut to_room, mut from_room) = socket.split();
    let say = |v: Value| Message::text(v.to_string());
    to_room
        .send(say(json!({ "type": "auth", "token": bob })))
        .await
        .expect("auth");
    next_of(&mut from_room, "welcome").await;
    to_room
        .send(say(json!({ "type": "raise_hand" })))
        .await
        .expect("raise_hand");

    let scenario = ClientProcess::web_scenario(
        "stage3.mjs",
        &base,
        &[
            ("session", &id),
            ("instructor", &grace),
            ("ada", &ada),
            ("cleo", &cleo),
        ],
    );
    // The studio calls him on stage; he publishes with the token it gave him.
    let scenario = tokio::task::spawn_blocking(move || {
        scenario.expect_event("bob_called", Duration::from_secs(120));
        scenario
    })
    .await
    .expect("the scenario's thread");
    let called = tokio::time::timeout(
        Duration::from_secs(10),
        next_of(&mut from_room, "called_on"),
    )
    .await
    .expect("Bob's called_on within 10 s of the click");
    let publish_token = called["publish_token"].as_str().expect("publish_token");
    let whip_url = called["whip_url"].as_str().expect("whip_url");
    let _bob_publishes = ClientProcess::aiortc(
        whip_url,
        publish_token,
        "h264",
        200,
        &["--width", "320", "--height", "240", "--fps", "15"],
    );
    // His socket stays open, and read (the server's pings are answered).
    let reader = tokio::spawn(async move { while let Some(Ok(_)) = from_room.next().await {} });

    tokio::task::spawn_blocking(move || scenario.finish(Duration::from_secs(200)))
        .await
        .expect("the scenario's thread");
    reader.abort();
    drop(to_room);
}
