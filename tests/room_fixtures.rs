//! The room fixtures the web app's reducer replays (tests/fixtures/room/):
//! each scenario drives the real room machine with client inputs on a fixed
//! clock and compares what one named participant receives, in order, with the
//! file's `messages` (and the socket's `close`). The Node tests
//! (player/test/room.test.ts) replay the same files through the reducer and
//! check the file's `expected` state, so the client and the server cannot
//! drift apart silently.
//!
//! `UPDATE_ROOM_FIXTURES=1 cargo test --test room_fixtures` rewrites the
//! messages (the hand-written `expected` and `description` are kept).

use std::path::PathBuf;

use classcast::control::protocol::{ClientMessage, ServerMessage};
use classcast::control::room::{Effect, Identity, Input, Output, Room, Target};
use serde_json::{json, Value};

const T0: i64 = 1_700_000_000_000;
/// What the hub adds on `Effect::Promote` (src/control/hub/effects.rs): a
/// signed stage token and the WHIP URL, here fixed.
const STAGE_TOKEN: &str = "stage-token";
const WHIP_URL: &str = "http://classcast.test/whip/sess";

/// A room, a clock that moves one second per input, and one observer whose
/// deliveries are recorded as its socket would get them.
struct Scenario {
    room: Room,
    now: i64,
    observer: String,
    observer_role: String,
    admitted: bool,
    received: Vec<ServerMessage>,
    close: Option<(u16, String)>,
}

impl Scenario {
    fn new(observer: &str, observer_role: &str) -> Self {
        Scenario {
            room: Room::new("sess"),
            now: T0,
            observer: observer.to_owned(),
            observer_role: observer_role.to_owned(),
            admitted: false,
            received: Vec::new(),
            close: None,
        }
    }

    fn apply(&mut self, input: Input) {
        self.now += 1000;
        let (outputs, effects) = self.room.apply(input);
        for output in outputs {
            self.deliver(output);
        }
        for effect in effects {
            if let Effect::Promote { participant_id, .. } = effect {
                if participant_id == self.observer {
                    self.received.push(ServerMessage::CalledOn {
                        publish_token: Some(STAGE_TOKEN.to_owned()),
                        whip_url: Some(WHIP_URL.to_owned()),
                    });
                }
            }
        }
    }

    /// What the socket layer does with an output, for the observer's socket.
    fn deliver(&mut self, output: Output) {
        match output {
            Output::Send { to, msg } => {
                let mine = match &to {
                    Target::Participant(id) => *id == self.observer,
                    Target::All => self.admitted,
                    Target::AllExcept(id) => self.admitted && *id != self.observer,
                    Target::Instructors => self.admitted && self.observer_role == "instructor",
                };
                if mine {
                    if matches!(msg, ServerMessage::Welcome { .. }) {
                        self.admitted = true;
                    }
                    self.received.push(msg);
                }
            }
            Output::Close {
                connection,
                code,
                reason,
            } => {
                if connection == connection_of(&self.observer) {
                    self.admitted = false;
                    self.close = Some((code, reason));
                }
            }
        }
    }

    fn join(&mut self, id: &str, role: &str) {
        self.apply(Input::Join {
            who: Identity {
                id: id.to_owned(),
                name: name_of(id),
                role: role.to_owned(),
            },
            connection: connection_of(id),
            at_ms: self.now,
        });
    }

    /// A client message; `id` names what it creates (chat message, poll).
    fn send(&mut self, from: &str, msg: ClientMessage, id: &str) {
        self.apply(Input::Message {
            from: from.to_owned(),
            msg,
            id: id.to_owned(),
            at_ms: self.now,
        });
    }

    fn say(&mut self, from: &str, text: &str, reply_to: Option<&str>, id: &str) {
        let msg = ClientMessage::Chat {
            text: text.to_owned(),
            reply_to: reply_to.map(str::to_owned),
        };
        self.send(from, msg, id);
    }

    fn act(&mut self, from: &str, msg: ClientMessage) {
        self.send(from, msg, "unused");
    }
}

fn connection_of(id: &str) -> String {
    format!("c-{id}")
}

/// Display names as people would type them: "teacher" → "Grace Hopper".
fn name_of(id: &str) -> String {
    match id {
        "teacher" => "Grace Hopper",
        "s1" => "Ada Lovelace",
        "s2" => "Alan Turing",
        other => other,
    }
    .to_owned()
}

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/room")
}

/// Compares the scenario's deliveries with the file (or rewrites it).
fn check(name: &str, description: &str, s: Scenario) {
    let path = fixtures_dir().join(format!("{name}.json"));
    let messages: Vec<Value> = s
        .received
        .iter()
        .map(|m| serde_json::to_value(m).expect("server messages serialize"))
        .collect();
    let close = s.close.as_ref().map_or(
        Value::Null,
        |(code, reason)| json!({"code": code, "reason": reason}),
    );
    let existing: Option<Value> = std::fs::read_to_string(&path)
        .ok()
        .map(|text| serde_json::from_str(&text).expect("a fixture is JSON"));
    if std::env::var_os("UPDATE_ROOM_FIXTURES").is_some() {
        let expected = existing
            .as_ref()
            .and_then(|f| f.get("expected").cloned())
            .unwrap_or_else(|| json!({}));
        let file = json!({
            "description": description,
            "participant": s.observer,
            "now_ms": s.now,
            "messages": messages,
            "close": close,
            "expected": expected,
        });
        std::fs::create_dir_all(fixtures_dir()).expect("fixtures dir");
        let text = serde_json::to_string_pretty(&file).expect("JSON") + "\n";
        std::fs::write(&path, text).expect("write the fixture");
        return;
    }
    let file = existing.unwrap_or_else(|| {
        panic!(
            "{} is missing: run UPDATE_ROOM_FIXTURES=1 cargo test --test room_fixtures",
            path.display()
        )
    });
    assert_eq!(
        file["messages"],
        Value::Array(messages),
        "{name}: the room no longer sends what the fixture says (UPDATE_ROOM_FIXTURES=1 rewrites it; then check the reducer's tests)"
    );
    assert_eq!(file["close"], close, "{name}: close");
    assert_eq!(
        file["participant"],
        json!(s.observer),
        "{name}: participant"
    );
    assert!(
        file["expected"].as_object().is_some_and(|e| !e.is_empty()),
        "{name}: the fixture states no expected client state"
    );
}

fn lobby(observer: &str, role: &str) -> Scenario {
    let mut s = Scenario::new(observer, role);
    s.join("teacher", "instructor");
    s.act("teacher", ClientMessage::SetLobby { enabled: true });
    s.join("s1", "student");
    s.join("s2", "student");
    s.act(
        "teacher",
        ClientMessage::Admit {
            participant_id: Some("s1".into()),
        },
    );
    s.act(
        "teacher",
        ClientMessage::Admit {
            participant_id: None,
        },
    );
    s
}

#[test]
fn lobby_admit_as_a_student() {
    check(
        "lobby-admit-student",
        "Lobby on; s1 and s2 wait; the teacher admits s1, then everyone. Seen by s1.",
        lobby("s1", "student"),
    );
}

#[test]
fn lobby_admit_as_the_instructor() {
    check(
        "lobby-admit-instructor",
        "Lobby on; s1 and s2 wait; the teacher admits s1, then everyone. Seen by the teacher.",
        lobby("teacher", "instructor"),
    );
}

#[test]
fn chat_with_reply_mention_reaction_and_delete() {
    let mut s = Scenario::new("s2", "student");
    s.join("teacher", "instructor");
    s.join("s1", "student");
    s.join("s2", "student");
    s.say("teacher", "Welcome, everyone!", None, "msg-1");
    s.say(
        "s1",
        "Thanks! @Alan Turing are you here?",
        Some("msg-1"),
        "msg-2",
    );
    s.act(
        "s2",
        ClientMessage::React {
            message_id: "msg-2".into(),
            emoji: "👍".into(),
        },
    );
    s.act(
        "teacher",
        ClientMessage::React {
            message_id: "msg-2".into(),
            emoji: "👍".into(),
        },
    );
    s.say("s2", "off-topic link", None, "msg-3");
    s.act(
        "teacher",
        ClientMessage::DeleteMessage {
            message_id: "msg-3".into(),
        },
    );
    s.say("s2", "", None, "msg-4");
    check(
        "chat",
        "The teacher writes; s1 replies mentioning s2; s2 and the teacher react; s2's off-topic message is deleted; s2's empty message is refused. Seen by s2.",
        s,
    );
}

#[test]
fn hands_raise_lower_and_call_on_with_stage() {
    let mut s = Scenario::new("s2", "student");
    s.join("teacher", "instructor");
    s.join("s1", "student");
    s.join("s2", "student");
    s.act("s1", ClientMessage::RaiseHand);
    s.act("s2", ClientMessage::RaiseHand);
    s.act("s1", ClientMessage::LowerHand);
    s.act("s1", ClientMessage::RaiseHand);
    s.act(
        "teacher",
        ClientMessage::CallOn {
            participant_id: "s2".into(),
            stage: true,
        },
    );
    s.act(
        "teacher",
        ClientMessage::Mute {
            participant_id: "s2".into(),
        },
    );
    check(
        "hands",
        "s1 raises, s2 raises, s1 lowers and raises again (now behind s2); the teacher calls s2 on stage, then asks s2 to mute. Seen by s2.",
        s,
    );
}

fn polls(observer: &str, role: &str) -> Scenario {
    let mut s = Scenario::new(observer, role);
    s.join("teacher", "instructor");
    s.join("s1", "student");
    s.join("s2", "student");
    s.send(
        "teacher",
        ClientMessage::CreatePoll {
            question: "Which sorting algorithm is stable?".into(),
            options: vec!["Quicksort".into(), "Merge sort".into()],
            multiple: false,
            duration_s: None,
            share_results: false,
        },
        "poll-1",
    );
    s.act(
        "s1",
        ClientMessage::AnswerPoll {
            poll_id: "poll-1".into(),
            choices: vec![1],
        },
    );
    s.act(
        "s2",
        ClientMessage::AnswerPoll {
            poll_id: "poll-1".into(),
            choices: vec![0],
        },
    );
    s.act(
        "s1",
        ClientMessage::AnswerPoll {
            poll_id: "poll-1".into(),
            choices: vec![0],
        },
    );
    s.act(
        "teacher",
        ClientMessage::ClosePoll {
            poll_id: "poll-1".into(),
        },
    );
    s
}

#[test]
fn poll_as_a_student() {
    check(
        "poll-student",
        "A poll without shared results: s1 and s2 answer (s1 twice: refused), the teacher closes it. Seen by s1.",
        polls("s1", "student"),
    );
}

#[test]
fn poll_as_the_instructor() {
    check(
        "poll-instructor",
        "A poll without shared results: s1 and s2 answer, the teacher sees live results and closes it. Seen by the teacher.",
        polls("teacher", "instructor"),
    );
}

#[test]
fn kick() {
    let mut s = Scenario::new("s1", "student");
    s.join("teacher", "instructor");
    s.join("s1", "student");
    s.act(
        "teacher",
        ClientMessage::Kick {
            participant_id: "s1".into(),
            reason: Some("Please keep the chat on topic.".into()),
        },
    );
    check(
        "kick",
        "The teacher removes s1 with a reason. Seen by s1.",
        s,
    );
}
