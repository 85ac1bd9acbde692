//! The classroom's room state machine, without sockets: every message type
//! and role, allowed and refused; lobby, reconnection, rate limit, polls,
//! the quiet alert, kick, and export/import.

use std::collections::BTreeMap;

use classcast::control::protocol::{ClientMessage, Participant, Quality, ServerMessage};
use classcast::control::room::{
    Effect, Identity, Input, Output, Reaction, Room, Target, CLOSE_DENIED, CLOSE_KICKED,
    CLOSE_REPLACED, HISTORY, QUIET_MS,
};

const T0: i64 = 1_700_000_000_000;

/// A room with a clock, fresh ids and shorthand.
struct T {
    room: Room,
    now: i64,
    seq: u64,
}

type Step = (Vec<Output>, Vec<Effect>);

impl T {
    fn new() -> T {
        T {
            room: Room::new("sess"),
            now: T0,
            seq: 0,
        }
    }

    fn next(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn apply(&mut self, input: Input) -> Step {
        self.room.apply(input)
    }

    /// Joins on connection `c-<id>`.
    fn join(&mut self, id: &str, role: &str) -> Step {
        self.join_on(id, role, &format!("c-{id}"))
    }

    fn join_on(&mut self, id: &str, role: &str, connection: &str) -> Step {
        self.apply(Input::Join {
            who: who(id, role),
            connection: connection.to_owned(),
            at_ms: self.now,
        })
    }

    fn leave(&mut self, id: &str, connection: &str) -> Step {
        self.apply(Input::Leave {
            participant_id: id.to_owned(),
            connection: connection.to_owned(),
            at_ms: self.now,
        })
    }

    fn msg(&mut self, from: &str, msg: ClientMessage) -> Step {
        let id = format!("id{}", self.next());
        self.msg_id(from, msg, &id)
    }

    fn msg_id(&mut self, from: &str, msg: ClientMessage, id: &str) -> Step {
        self.apply(Input::Message {
            from: from.to_owned(),
            msg,
            id: id.to_owned(),
            at_ms: self.now,
        })
    }

    fn chat(&mut self, from: &str, text: &str) -> Step {
        self.msg(
            from,
            ClientMessage::Chat {
                text: text.to_owned(),
                reply_to: None,
            },
        )
    }

    fn tick(&mut self, at_ms: i64, live: bool) -> Step {
        self.apply(Input::Tick { at_ms, live })
    }

    /// Instructor `teacher`, students `s1` and `s2`, guest `g1`.
    fn class() -> T {
        let mut t = T::new();
        t.join("teacher", "instructor");
        t.join("s1", "student");
        t.join("s2", "student");
        t.join("g1", "guest");
        t
    }

    /// A participant as the room describes it to a new joiner.
    fn participant(&mut self, id: &str) -> Option<Participant> {
        let (out, _) = self.join_on("observer", "instructor", "c-observer");
        let room = out.into_iter().find_map(|o| match o {
            Output::Send {
                msg: ServerMessage::Welcome { room, .. },
                ..
            } => Some(room),
            _ => None,
        })?;
        room.participants.into_iter().find(|p| p.id == id)
    }
}

fn who(id: &str, role: &str) -> Identity {
    Identity {
        id: id.to_owned(),
        name: name_of(id),
        role: role.to_owned(),
    }
}

/// Display names: "s1" → "Name s1".
fn name_of(id: &str) -> String {
    format!("Name {id}")
}

fn to(id: &str) -> Target {
    Target::Participant(id.to_owned())
}

/// The messages sent to `target`.
fn sent(out: &[Output], target: &Target) -> Vec<ServerMessage> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send { to, msg } if to == target => Some(msg.clone()),
            _ => None,
        })
        .collect()
}

fn closes(out: &[Output]) -> Vec<(String, u16)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Close {
                connection, code, ..
            } => Some((connection.clone(), *code)),
            _ => None,
        })
        .collect()
}

/// The error code sent to `id`, checking that a matching `Refused` came with it.
fn error_to(step: &Step, id: &str) -> Option<String> {
    let code = sent(&step.0, &to(id)).into_iter().find_map(|m| match m {
        ServerMessage::Error { code, message } => {
            assert!(!message.is_empty());
            Some(code)
        }
        _ => None,
    })?;
    assert!(
        step.1.contains(&Effect::Refused {
            participant_id: id.to_owned(),
            code: code.clone(),
        }),
        "no Refused effect for {code}: {:?}",
        step.1
    );
    Some(code)
}

#[track_caller]
fn assert_refused(step: &Step, id: &str, code: &str) {
    assert_eq!(error_to(step, id).as_deref(), Some(code), "{step:#?}");
    // Only the error reply, nothing else.
    assert_eq!(step.0.len(), 1, "{step:#?}");
    assert_eq!(step.1.len(), 1, "{step:#?}");
}

#[track_caller]
fn assert_ok(step: &Step, id: &str) {
    assert_eq!(error_to(step, id), None, "{step:#?}");
}

fn welcome(
    out: &[Output],
    id: &str,
) -> Option<(Participant, classcast::control::protocol::RoomSnapshot)> {
    sent(out, &to(id)).into_iter().find_map(|m| match m {
        ServerMessage::Welcome { you, room } => Some((you, *room)),
        _ => None,
    })
}

fn chat_message(step: &Step) -> classcast::control::protocol::ChatMessage {
    sent(&step.0, &Target::All)
        .into_iter()
        .find_map(|m| match m {
            ServerMessage::Chat { message } => Some(message),
            _ => None,
        })
        .expect("a chat message to all")
}

fn create_poll(multiple: bool, duration_s: Option<u32>, share_results: bool) -> ClientMessage {
    ClientMessage::CreatePoll {
        question: "2 + 2?".into(),
        options: vec!["3".into(), "4".into(), "5".into()],
        multiple,
        duration_s,
        share_results,
    }
}

fn answer(poll_id: &str, choices: &[usize]) -> ClientMessage {
    ClientMessage::AnswerPoll {
        poll_id: poll_id.to_owned(),
        choices: choices.to_vec(),
    }
}

fn results_in(msgs: &[ServerMessage]) -> Vec<classcast::control::protocol::PollResults> {
    msgs.iter()
        .filter_map(|m| match m {
            ServerMessage::PollResults { results } => Some(results.clone()),
            _ => None,
        })
        .collect()
}

// ---- presence ----

#[test]
fn join_welcomes_the_joiner_and_tells_the_others() {
    let mut t = T::new();
    let step = t.join("teacher", "instructor");
    let (you, room) = welcome(&step.0, "teacher").expect("welcome");
    assert_eq!(you.id, "teacher");
    assert_eq!(you.name, "Name teacher");
    assert_eq!(you.role, "instructor");
    assert_eq!(room.participants.len(), 1);
    assert!(!room.lobby_enabled);
    assert_eq!(
        sent(&step.0, &Target::AllExcept("teacher".into())),
        vec![ServerMessage::ParticipantJoined {
            participant: you.clone()
        }]
    );
    assert_eq!(
        step.1,
        vec![Effect::Joined {
            who: who("teacher", "instructor"),
            at_ms: T0
        }]
    );

    let step = t.join("s1", "student");
    let (you, room) = welcome(&step.0, "s1").expect("welcome");
    assert_eq!(you.role, "student");
    assert!(!you.hand_raised && !you.on_stage && !you.chat_muted);
    assert_eq!(you.quality, None);
    let ids: Vec<_> = room.participants.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, vec!["s1", "teacher"]);

    // Unknown roles count as guests.
    let step = t.join("x", "admin");
    let (you, _) = welcome(&step.0, "x").expect("welcome");
    assert_eq!(you.role, "guest");
}

#[test]
fn welcome_carries_hands_polls_chat_and_spotlight() {
    let mut t = T::class();
    t.msg("s1", ClientMessage::RaiseHand);
    t.msg_id("teacher", create_poll(false, None, false), "p1");
    t.msg_id("teacher", create_poll(false, None, true), "p2");
    t.msg("s2", answer("p1", &[1]));
    for i in 0..(HISTORY + 5) {
        t.now += 1000;
        t.chat("s2", &format!("message {i}"));
    }
    t.msg(
        "teacher",
        ClientMessage::Spotlight {
            participant_id: Some("s2".into()),
        },
    );

    let step = t.join("s3", "student");
    let (_, room) = welcome(&step.0, "s3").expect("welcome");
    assert_eq!(room.hands.len(), 1);
    assert_eq!(room.hands[0].participant_id, "s1");
    assert_eq!(room.hands[0].name, "Name s1");
    assert_eq!(room.polls.len(), 2);
    assert_eq!(room.chat.len(), HISTORY);
    assert_eq!(room.chat[0].text, "message 5");
    assert_eq!(
        room.chat[HISTORY - 1].text,
        format!("message {}", HISTORY + 4)
    );
    assert_eq!(room.spotlight.as_deref(), Some("s2"));
    // A student sees the shared poll's results only; an instructor sees all.
    let results = results_in(&sent(&step.0, &to("s3")));
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].poll_id, "p2");
    let step = t.join("teacher2", "instructor");
    let results = results_in(&sent(&step.0, &to("teacher2")));
    assert_eq!(results.len(), 2);
    assert_eq!(results[0].counts, vec![0, 1, 0]);
}

#[test]
fn reconnect_replaces_the_old_socket_without_flicker() {
    let mut t = T::class();
    t.msg("s1", ClientMessage::RaiseHand);
    let step = t.join_on("s1", "student", "c-s1-new");
    assert_eq!(closes(&step.0), vec![("c-s1".to_owned(), CLOSE_REPLACED)]);
    // The close comes before the welcome.
    assert!(matches!(step.0[0], Output::Close { .. }));
    let (you, _) = welcome(&step.0, "s1").expect("welcome on the new socket");
    assert!(you.hand_raised, "state survives the reconnect");
    assert!(sent(&step.0, &Target::All).is_empty());
    assert!(sent(&step.0, &Target::AllExcept("s1".into())).is_empty());
    assert!(step.1.is_empty(), "no attendance change: {:?}", step.1);

    // The old socket's close is stale: nothing happens.
    let step = t.leave("s1", "c-s1");
    assert!(step.0.is_empty() && step.1.is_empty(), "{step:?}");

    // The real leave.
    t.now += 5000;
    let step = t.leave("s1", "c-s1-new");
    assert_eq!(
        sent(&step.0, &Target::All),
        vec![
            ServerMessage::ParticipantLeft {
                participant_id: "s1".into()
            },
            ServerMessage::Hands { hands: vec![] },
        ]
    );
    assert_eq!(
        step.1,
        vec![Effect::Left {
            participant_id: "s1".into(),
            at_ms: T0 + 5000
        }]
    );
    // Leaving twice, or unknown people leaving: nothing.
    assert_eq!(t.leave("s1", "c-s1-new"), (vec![], vec![]));
    assert_eq!(t.leave("nobody", "c"), (vec![], vec![]));
}

#[test]
fn leaving_clears_spotlight_and_stage() {
    let mut t = T::class();
    t.msg(
        "teacher",
        ClientMessage::CallOn {
            participant_id: "s1".into(),
            stage: true,
        },
    );
    t.msg(
        "teacher",
        ClientMessage::Spotlight {
            participant_id: Some("s1".into()),
        },
    );
    let step = t.leave("s1", "c-s1");
    assert!(
        sent(&step.0, &Target::All).contains(&ServerMessage::Spotlight {
            participant_id: None
        })
    );
    assert!(step.1.contains(&Effect::Demote {
        participant_id: "s1".into()
    }));
}

#[test]
fn ping_pong_for_everyone() {
    let mut t = T::class();
    for id in ["teacher", "s1", "g1"] {
        let step = t.msg(id, ClientMessage::Ping { id: Some(7) });
        assert_eq!(
            step.0,
            vec![Output::Send {
                to: to(id),
                msg: ServerMessage::Pong { id: Some(7) }
            }]
        );
        assert!(step.1.is_empty());
    }
    let step = t.msg("s1", ClientMessage::Ping { id: None });
    assert_eq!(
        sent(&step.0, &to("s1")),
        vec![ServerMessage::Pong { id: None }]
    );
    // Strangers get nothing.
    assert_eq!(
        t.msg("stranger", ClientMessage::Ping { id: None }),
        (vec![], vec![])
    );
}

#[test]
fn auth_after_joining_is_a_bad_message() {
    let mut t = T::class();
    let step = t.msg("s1", ClientMessage::Auth { token: "x".into() });
    assert_refused(&step, "s1", "bad_message");
}

#[test]
fn media_state_and_quality_update_everyone() {
    let mut t = T::class();
    for id in ["teacher", "s1"] {
        let step = t.msg(
            id,
            ClientMessage::MediaState {
                mic: true,
                camera: true,
                screen: false,
            },
        );
        let msgs = sent(&step.0, &Target::All);
        assert_eq!(msgs.len(), 1);
        match &msgs[0] {
            ServerMessage::ParticipantUpdated { participant } => {
                assert_eq!(participant.id, id);
                assert!(participant.media.mic && participant.media.camera);
            }
            m => panic!("{m:?}"),
        }
        // The same state again: nothing new to tell.
        let step = t.msg(
            id,
            ClientMessage::MediaState {
                mic: true,
                camera: true,
                screen: false,
            },
        );
        assert_eq!(step, (vec![], vec![]));
    }
    // Guests only receive.
    let step = t.msg(
        "g1",
        ClientMessage::MediaState {
            mic: true,
            camera: false,
            screen: false,
        },
    );
    assert_refused(&step, "g1", "forbidden");

    let step = t.apply(Input::Quality {
        participant_id: "s1".into(),
        quality: Some(Quality::Yellow),
    });
    match &sent(&step.0, &Target::All)[..] {
        [ServerMessage::ParticipantUpdated { participant }] => {
            assert_eq!(participant.quality, Some(Quality::Yellow))
        }
        m => panic!("{m:?}"),
    }
    assert_eq!(
        t.participant("s1").and_then(|p| p.quality),
        Some(Quality::Yellow)
    );
    let step = t.apply(Input::Quality {
        participant_id: "nobody".into(),
        quality: Some(Quality::Red),
    });
    assert_eq!(step, (vec![], vec![]));
}

// ---- lobby ----

#[test]
fn lobby_holds_joiners_until_admitted() {
    let mut t = T::new();
    t.join("teacher", "instructor");
    let step = t.msg("teacher", ClientMessage::SetLobby { enabled: true });
    assert_eq!(
        sent(&step.0, &Target::Instructors),
        vec![ServerMessage::Lobby {
            enabled: true,
            waiting: vec![]
        }]
    );

    let step = t.join("s1", "student");
    assert_eq!(sent(&step.0, &to("s1")), vec![ServerMessage::Waiting]);
    match &sent(&step.0, &Target::Instructors)[..] {
        [ServerMessage::Lobby { waiting, .. }] => {
            assert_eq!(waiting.len(), 1);
            assert_eq!(waiting[0].id, "s1");
            assert_eq!(waiting[0].name, "Name s1");
        }
        m => panic!("{m:?}"),
    }
    assert!(sent(&step.0, &Target::AllExcept("s1".into())).is_empty());
    assert!(step.1.is_empty(), "not admitted, not attending");
    t.join("g1", "guest");
    t.join("s2", "student");

    // Waiting: ping only.
    let step = t.msg("s1", ClientMessage::Ping { id: Some(1) });
    assert_eq!(
        sent(&step.0, &to("s1")),
        vec![ServerMessage::Pong { id: Some(1) }]
    );
    let step = t.chat("s1", "let me in");
    assert_refused(&step, "s1", "forbidden");

    // Instructors skip the lobby and see who waits.
    let step = t.join("teacher2", "instructor");
    assert!(welcome(&step.0, "teacher2").is_some());
    match sent(&step.0, &to("teacher2")).last() {
        Some(ServerMessage::Lobby { waiting, .. }) => assert_eq!(waiting.len(), 3),
        m => panic!("{m:?}"),
    }

    // Admit one.
    t.now += 1000;
    let step = t.msg(
        "teacher",
        ClientMessage::Admit {
            participant_id: Some("s1".into()),
        },
    );
    assert!(welcome(&step.0, "s1").is_some());
    assert_eq!(sent(&step.0, &Target::AllExcept("s1".into())).len(), 1);
    assert!(step.1.contains(&Effect::Joined {
        who: who("s1", "student"),
        at_ms: T0 + 1000
    }));
    match sent(&step.0, &Target::Instructors).last() {
        Some(ServerMessage::Lobby { waiting, .. }) => {
            assert_eq!(
                waiting.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
                vec!["g1", "s2"]
            )
        }
        m => panic!("{m:?}"),
    }
    // Admitted: may chat now.
    assert_ok(&t.chat("s1", "thanks"), "s1");

    // Unknown or already admitted: not found.
    let step = t.msg(
        "teacher",
        ClientMessage::Admit {
            participant_id: Some("s1".into()),
        },
    );
    assert_refused(&step, "teacher", "not_found");

    // Deny one.
    let step = t.msg(
        "teacher",
        ClientMessage::Deny {
            participant_id: "g1".into(),
        },
    );
    assert!(matches!(
        &sent(&step.0, &to("g1"))[..],
        [ServerMessage::Denied { .. }]
    ));
    assert_eq!(closes(&step.0), vec![("c-g1".to_owned(), CLOSE_DENIED)]);
    let step = t.msg(
        "teacher",
        ClientMessage::Deny {
            participant_id: "g1".into(),
        },
    );
    assert_refused(&step, "teacher", "not_found");
    // Denied is not banned: they may knock again.
    let step = t.join("g1", "guest");
    assert_eq!(sent(&step.0, &to("g1")), vec![ServerMessage::Waiting]);

    // Admit everyone.
    let step = t.msg(
        "teacher",
        ClientMessage::Admit {
            participant_id: None,
        },
    );
    assert!(welcome(&step.0, "s2").is_some());
    assert!(welcome(&step.0, "g1").is_some());
    assert_eq!(
        step.1
            .iter()
            .filter(|e| matches!(e, Effect::Joined { .. }))
            .count(),
        2
    );
    assert_eq!(
        sent(&step.0, &Target::Instructors).last(),
        Some(&ServerMessage::Lobby {
            enabled: true,
            waiting: vec![]
        })
    );
}

#[test]
fn turning_the_lobby_off_admits_everyone_and_leavers_leave_the_lobby() {
    let mut t = T::new();
    t.join("teacher", "instructor");
    t.msg("teacher", ClientMessage::SetLobby { enabled: true });
    t.join("s1", "student");
    t.join("s2", "student");
    t.join("s3", "student");

    // A waiting participant who leaves only leaves the lobby.
    let step = t.leave("s3", "c-s3");
    assert!(sent(&step.0, &Target::All).is_empty());
    assert!(step.1.is_empty());
    match &sent(&step.0, &Target::Instructors)[..] {
        [ServerMessage::Lobby { waiting, .. }] => assert_eq!(waiting.len(), 2),
        m => panic!("{m:?}"),
    }
    // A waiting participant reconnecting: the old socket closes, still waiting.
    let step = t.join_on("s2", "student", "c-s2-new");
    assert_eq!(closes(&step.0), vec![("c-s2".to_owned(), CLOSE_REPLACED)]);
    assert_eq!(sent(&step.0, &to("s2")), vec![ServerMessage::Waiting]);

    let step = t.msg("teacher", ClientMessage::SetLobby { enabled: false });
    assert!(welcome(&step.0, "s1").is_some());
    assert!(welcome(&step.0, "s2").is_some());
    assert_eq!(
        sent(&step.0, &Target::Instructors).last(),
        Some(&ServerMessage::Lobby {
            enabled: false,
            waiting: vec![]
        })
    );
    // Lobby off: straight in.
    let step = t.join("s4", "student");
    assert!(welcome(&step.0, "s4").is_some());
}

// ---- chat ----

#[test]
fn chat_goes_to_everyone_and_is_stored() {
    let mut t = T::class();
    let step = t.msg_id(
        "s1",
        ClientMessage::Chat {
            text: "Hello @name TEACHER and @Name s2!".into(),
            reply_to: None,
        },
        "m1",
    );
    let m = chat_message(&step);
    assert_eq!(m.id, "m1");
    assert_eq!(m.sender_id, "s1");
    assert_eq!(m.sender_name, "Name s1");
    assert_eq!(m.at, classcast::time::rfc3339(T0));
    assert_eq!(m.reply_to, None);
    assert_eq!(m.mentions, vec!["teacher".to_owned(), "s2".to_owned()]);
    assert!(m.reactions.is_empty());
    assert_eq!(step.1, vec![Effect::StoreChat(m)]);

    // Replies name a message in the history.
    let step = t.msg_id(
        "teacher",
        ClientMessage::Chat {
            text: "reply".into(),
            reply_to: Some("m1".into()),
        },
        "m2",
    );
    assert_eq!(chat_message(&step).reply_to.as_deref(), Some("m1"));
    let step = t.msg(
        "s2",
        ClientMessage::Chat {
            text: "reply".into(),
            reply_to: Some("nope".into()),
        },
    );
    assert_refused(&step, "s2", "invalid");
}

#[test]
fn chat_refusals() {
    let mut t = T::class();
    assert_refused(&t.chat("g1", "hi"), "g1", "forbidden");
    assert_refused(&t.chat("s1", ""), "s1", "invalid");
    assert_refused(&t.chat("s1", " \n\t "), "s1", "invalid");
    let long = "é".repeat(classcast::control::protocol::MAX_CHAT_CHARS + 1);
    assert_refused(&t.chat("s1", &long), "s1", "invalid");
    let max = "é".repeat(classcast::control::protocol::MAX_CHAT_CHARS);
    assert_ok(&t.chat("s1", &max), "s1");

    let step = t.msg(
        "teacher",
        ClientMessage::MuteChat {
            participant_id: "s1".into(),
            muted: true,
        },
    );
    match &sent(&step.0, &Target::All)[..] {
        [ServerMessage::ParticipantUpdated { participant }] => assert!(participant.chat_muted),
        m => panic!("{m:?}"),
    }
    assert_refused(&t.chat("s1", "hi"), "s1", "muted");
    t.msg(
        "teacher",
        ClientMessage::MuteChat {
            participant_id: "s1".into(),
            muted: false,
        },
    );
    assert_ok(&t.chat("s1", "back"), "s1");
    let step = t.msg(
        "teacher",
        ClientMessage::MuteChat {
            participant_id: "nobody".into(),
            muted: true,
        },
    );
    assert_refused(&step, "teacher", "not_found");
}

#[test]
fn chat_rate_limit() {
    let mut t = T::class();
    for i in 0..10 {
        assert_ok(&t.chat("s1", &format!("burst {i}")), "s1");
    }
    let step = t.chat("s1", "one too many");
    assert_refused(&step, "s1", "rate_limited");
    match &sent(&step.0, &to("s1"))[0] {
        ServerMessage::Error { message, .. } => {
            assert!(message.contains("5 a second"), "{message}")
        }
        m => panic!("{m:?}"),
    }
    // Others are not limited by s1.
    assert_ok(&t.chat("s2", "me too"), "s2");
    t.now += 199;
    assert_refused(&t.chat("s1", "too early"), "s1", "rate_limited");
    t.now += 1;
    assert_ok(&t.chat("s1", "after 200 ms"), "s1");
    assert_refused(&t.chat("s1", "and again"), "s1", "rate_limited");
    // A reconnect does not refill the bucket.
    t.join_on("s1", "student", "c-s1-2");
    assert_refused(&t.chat("s1", "new socket"), "s1", "rate_limited");
}

#[test]
fn history_keeps_the_last_messages_and_delete_removes_them() {
    let mut t = T::class();
    for i in 0..(HISTORY + 1) {
        t.now += 1000;
        t.msg_id(
            "teacher",
            ClientMessage::Chat {
                text: format!("m{i}"),
                reply_to: None,
            },
            &format!("m{i}"),
        );
    }
    // m0 fell out of the history: no replies, reactions or deletes.
    let step = t.msg(
        "s1",
        ClientMessage::Chat {
            text: "re".into(),
            reply_to: Some("m0".into()),
        },
    );
    assert_refused(&step, "s1", "invalid");
    let step = t.msg(
        "teacher",
        ClientMessage::DeleteMessage {
            message_id: "m0".into(),
        },
    );
    assert_refused(&step, "teacher", "not_found");

    let step = t.msg(
        "teacher",
        ClientMessage::DeleteMessage {
            message_id: "m5".into(),
        },
    );
    assert_eq!(
        sent(&step.0, &Target::All),
        vec![ServerMessage::ChatDeleted {
            message_id: "m5".into()
        }]
    );
    assert_eq!(
        step.1,
        vec![Effect::DeleteChat {
            message_id: "m5".into()
        }]
    );
    let (_, room) = welcome(&t.join("late", "student").0, "late").expect("welcome");
    assert_eq!(room.chat.len(), HISTORY - 1);
    assert!(room.chat.iter().all(|m| m.id != "m5"));
    assert_refused(
        &t.msg(
            "s1",
            ClientMessage::React {
                message_id: "m5".into(),
                emoji: "👍".into(),
            },
        ),
        "s1",
        "not_found",
    );
}

#[test]
fn seeded_history_reaches_joiners() {
    let mut t = T::new();
    let old: Vec<_> = (0..(HISTORY + 3))
        .map(|i| classcast::control::protocol::ChatMessage {
            id: format!("old{i}"),
            sender_id: "x".into(),
            sender_name: "X".into(),
            text: "earlier".into(),
            at: classcast::time::rfc3339(T0 - 10_000),
            reply_to: None,
            mentions: vec![],
            reactions: BTreeMap::new(),
        })
        .collect();
    t.room.seed_chat(old);
    let (_, room) = welcome(&t.join("s1", "student").0, "s1").expect("welcome");
    assert_eq!(room.chat.len(), HISTORY);
    assert_eq!(room.chat[0].id, "old3");
}

#[test]
fn reactions_toggle() {
    let mut t = T::class();
    t.msg_id(
        "teacher",
        ClientMessage::Chat {
            text: "question".into(),
            reply_to: None,
        },
        "m1",
    );
    let react = |emoji: &str| ClientMessage::React {
        message_id: "m1".into(),
        emoji: emoji.into(),
    };
    let step = t.msg("s1", react("👍"));
    let mut expected = BTreeMap::new();
    expected.insert("👍".to_owned(), vec!["s1".to_owned()]);
    assert_eq!(
        sent(&step.0, &Target::All),
        vec![ServerMessage::Reactions {
            message_id: "m1".into(),
            reactions: expected.clone()
        }]
    );
    assert_eq!(
        step.1,
        vec![Effect::StoreReaction(Reaction {
            message_id: "m1".into(),
            participant_id: "s1".into(),
            emoji: "👍".into()
        })]
    );
    let step = t.msg("teacher", react("👍"));
    expected.insert("👍".to_owned(), vec!["s1".to_owned(), "teacher".to_owned()]);
    assert_eq!(
        sent(&step.0, &Target::All),
        vec![ServerMessage::Reactions {
            message_id: "m1".into(),
            reactions: expected.clone()
        }]
    );
    // Again: taken back, and removed from storage.
    let step = t.msg("s1", react("👍"));
    expected.insert("👍".to_owned(), vec!["teacher".to_owned()]);
    assert_eq!(
        sent(&step.0, &Target::All),
        vec![ServerMessage::Reactions {
            message_id: "m1".into(),
            reactions: expected
        }]
    );
    assert_eq!(
        step.1,
        vec![Effect::RemoveReaction(Reaction {
            message_id: "m1".into(),
            participant_id: "s1".into(),
            emoji: "👍".into()
        })]
    );
    let step = t.msg("teacher", react("👍"));
    assert_eq!(
        sent(&step.0, &Target::All),
        vec![ServerMessage::Reactions {
            message_id: "m1".into(),
            reactions: BTreeMap::new()
        }]
    );
    // The reaction is part of the message late joiners get.
    t.msg("s2", react(":tada:"));
    let (_, room) = welcome(&t.join("late", "student").0, "late").expect("welcome");
    assert_eq!(room.chat[0].reactions[":tada:"], vec!["s2".to_owned()]);

    assert_refused(&t.msg("g1", react("👍")), "g1", "forbidden");
    assert_refused(&t.msg("s1", react("")), "s1", "invalid");
    assert_refused(&t.msg("s1", react("a b")), "s1", "invalid");
    assert_refused(&t.msg("s1", react(&"x".repeat(17))), "s1", "invalid");
    assert_ok(&t.msg("s1", react(&"x".repeat(16))), "s1");
    let step = t.msg(
        "s1",
        ClientMessage::React {
            message_id: "nope".into(),
            emoji: "👍".into(),
        },
    );
    assert_refused(&step, "s1", "not_found");
}

// ---- hands ----

#[test]
fn hands_queue_in_raise_order() {
    let mut t = T::class();
    t.now += 1000;
    let step = t.msg("s2", ClientMessage::RaiseHand);
    match &sent(&step.0, &Target::All)[..] {
        [ServerMessage::Hands { hands }, ServerMessage::ParticipantUpdated { participant }] => {
            assert_eq!(hands.len(), 1);
            assert_eq!(hands[0].participant_id, "s2");
            assert_eq!(hands[0].raised_at, classcast::time::rfc3339(T0 + 1000));
            assert!(participant.hand_raised);
        }
        m => panic!("{m:?}"),
    }
    assert_eq!(
        step.1,
        vec![Effect::HandRaised {
            participant_id: "s2".into(),
            at_ms: T0 + 1000
        }]
    );
    t.now += 1000;
    t.msg("s1", ClientMessage::RaiseHand);
    // Idempotent.
    assert_eq!(t.msg("s2", ClientMessage::RaiseHand), (vec![], vec![]));
    let (_, room) = welcome(&t.join("late", "student").0, "late").expect("welcome");
    let order: Vec<_> = room
        .hands
        .iter()
        .map(|h| h.participant_id.as_str())
        .collect();
    assert_eq!(order, vec!["s2", "s1"]);

    let step = t.msg("s2", ClientMessage::LowerHand);
    match &sent(&step.0, &Target::All)[..] {
        [ServerMessage::Hands { hands }, ServerMessage::ParticipantUpdated { participant }] => {
            assert_eq!(hands.len(), 1);
            assert!(!participant.hand_raised);
        }
        m => panic!("{m:?}"),
    }
    assert_eq!(t.msg("s2", ClientMessage::LowerHand), (vec![], vec![]));

    for id in ["teacher", "g1"] {
        assert_refused(&t.msg(id, ClientMessage::RaiseHand), id, "forbidden");
        assert_refused(&t.msg(id, ClientMessage::LowerHand), id, "forbidden");
    }
}

#[test]
fn call_on_lowers_the_hand_and_may_promote() {
    let mut t = T::class();
    t.msg("s1", ClientMessage::RaiseHand);
    t.now += 10;
    t.msg("s2", ClientMessage::RaiseHand);

    // Without a stage: the student is told, no publish token.
    let step = t.msg(
        "teacher",
        ClientMessage::CallOn {
            participant_id: "s2".into(),
            stage: false,
        },
    );
    assert!(sent(&step.0, &Target::All).iter().any(|m| matches!(m,
        ServerMessage::Hands { hands } if hands.len() == 1 && hands[0].participant_id == "s1")));
    assert_eq!(
        sent(&step.0, &to("s2")),
        vec![ServerMessage::CalledOn {
            publish_token: None,
            whip_url: None
        }]
    );
    assert!(step.1.is_empty());

    // No id: the first hand; on stage.
    let step = t.msg(
        "teacher",
        ClientMessage::CallOn {
            participant_id: String::new(),
            stage: true,
        },
    );
    assert!(sent(&step.0, &Target::All).iter().any(|m| matches!(m,
        ServerMessage::ParticipantUpdated { participant } if participant.id == "s1" && participant.on_stage && !participant.hand_raised)));
    assert!(
        sent(&step.0, &to("s1")).is_empty(),
        "the socket layer sends the token"
    );
    assert_eq!(
        step.1,
        vec![Effect::Promote {
            participant_id: "s1".into(),
            name: "Name s1".into(),
        }]
    );
    assert_refused(
        &t.msg(
            "teacher",
            ClientMessage::CallOn {
                participant_id: String::new(),
                stage: true,
            },
        ),
        "teacher",
        "not_found",
    );
    for (id, code) in [
        ("nobody", "not_found"),
        ("g1", "invalid"),
        ("teacher", "invalid"),
    ] {
        let step = t.msg(
            "teacher",
            ClientMessage::CallOn {
                participant_id: id.into(),
                stage: true,
            },
        );
        assert_refused(&step, "teacher", code);
    }

    // Demote.
    let step = t.msg(
        "teacher",
        ClientMessage::Demote {
            participant_id: "s1".into(),
        },
    );
    assert!(sent(&step.0, &Target::All).iter().any(|m| matches!(m,
        ServerMessage::ParticipantUpdated { participant } if participant.id == "s1" && !participant.on_stage)));
    assert_eq!(
        step.1,
        vec![Effect::Demote {
            participant_id: "s1".into()
        }]
    );
    assert_refused(
        &t.msg(
            "teacher",
            ClientMessage::Demote {
                participant_id: "nobody".into(),
            },
        ),
        "teacher",
        "not_found",
    );
    // An instructor's publish is the class itself: not a stage to end.
    assert_refused(
        &t.msg(
            "teacher",
            ClientMessage::Demote {
                participant_id: "teacher".into(),
            },
        ),
        "teacher",
        "invalid",
    );
}

// ---- moderation ----

#[test]
fn instructor_messages_are_refused_to_students_and_guests() {
    let instructor_only = vec![
        ClientMessage::SetLobby { enabled: true },
        ClientMessage::Admit {
            participant_id: None,
        },
        ClientMessage::Deny {
            participant_id: "s2".into(),
        },
        ClientMessage::DeleteMessage {
            message_id: "m1".into(),
        },
        ClientMessage::MuteChat {
            participant_id: "s2".into(),
            muted: true,
        },
        ClientMessage::CallOn {
            participant_id: "s2".into(),
            stage: true,
        },
        ClientMessage::Demote {
            participant_id: "s2".into(),
        },
        ClientMessage::MuteAll,
        ClientMessage::Mute {
            participant_id: "s2".into(),
        },
        ClientMessage::Kick {
            participant_id: "s2".into(),
            reason: None,
        },
        ClientMessage::Spotlight {
            participant_id: Some("s2".into()),
        },
        create_poll(false, None, false),
        ClientMessage::ClosePoll {
            poll_id: "p1".into(),
        },
    ];
    let mut t = T::class();
    t.msg_id(
        "teacher",
        ClientMessage::Chat {
            text: "x".into(),
            reply_to: None,
        },
        "m1",
    );
    t.msg_id("teacher", create_poll(false, None, false), "p1");
    let before = t.room.export();
    for msg in instructor_only {
        for id in ["s1", "g1"] {
            let step = t.msg(id, msg.clone());
            assert_refused(&step, id, "forbidden");
        }
    }
    assert_eq!(t.room.export(), before, "refusals change nothing");
}

#[test]
fn mute_all_and_mute_one() {
    let mut t = T::class();
    t.msg(
        "teacher",
        ClientMessage::CallOn {
            participant_id: "s1".into(),
            stage: true,
        },
    );
    let step = t.msg("teacher", ClientMessage::MuteAll);
    for id in ["s1", "s2", "g1"] {
        assert_eq!(sent(&step.0, &to(id)), vec![ServerMessage::MuteRequested]);
    }
    assert!(sent(&step.0, &to("teacher")).is_empty());
    assert_eq!(
        step.1,
        vec![Effect::MuteMedia {
            participant_id: "s1".into()
        }]
    );

    let step = t.msg(
        "teacher",
        ClientMessage::Mute {
            participant_id: "s2".into(),
        },
    );
    assert_eq!(
        step.0,
        vec![Output::Send {
            to: to("s2"),
            msg: ServerMessage::MuteRequested
        }]
    );
    assert!(step.1.is_empty());
    let step = t.msg(
        "teacher",
        ClientMessage::Mute {
            participant_id: "s1".into(),
        },
    );
    assert_eq!(
        step.1,
        vec![Effect::MuteMedia {
            participant_id: "s1".into()
        }]
    );
    assert_refused(
        &t.msg(
            "teacher",
            ClientMessage::Mute {
                participant_id: "nobody".into(),
            },
        ),
        "teacher",
        "not_found",
    );
}

#[test]
fn kick_closes_and_bans() {
    let mut t = T::class();
    t.msg("s1", ClientMessage::RaiseHand);
    t.now += 60_000;
    let step = t.msg(
        "teacher",
        ClientMessage::Kick {
            participant_id: "s1".into(),
            reason: Some("spam".into()),
        },
    );
    assert_eq!(
        sent(&step.0, &to("s1")),
        vec![ServerMessage::Kicked {
            reason: "spam".into()
        }]
    );
    assert_eq!(closes(&step.0), vec![("c-s1".to_owned(), CLOSE_KICKED)]);
    let all = sent(&step.0, &Target::All);
    assert!(all.contains(&ServerMessage::ParticipantLeft {
        participant_id: "s1".into()
    }));
    assert!(all.contains(&ServerMessage::Hands { hands: vec![] }));
    assert!(step.1.contains(&Effect::Kick {
        participant_id: "s1".into()
    }));
    assert!(step.1.contains(&Effect::Left {
        participant_id: "s1".into(),
        at_ms: T0 + 60_000
    }));

    // Rejoin refused, on any connection.
    let step = t.join_on("s1", "student", "c-s1-again");
    assert!(matches!(
        &sent(&step.0, &to("s1"))[..],
        [ServerMessage::Denied { .. }]
    ));
    assert_eq!(
        closes(&step.0),
        vec![("c-s1-again".to_owned(), CLOSE_DENIED)]
    );
    assert!(step.1.is_empty());
    assert!(welcome(&step.0, "s1").is_none());
    // Its messages go nowhere.
    assert_eq!(t.chat("s1", "hello?"), (vec![], vec![]));

    // Default reason; unknown, self and instructors refused.
    let step = t.msg(
        "teacher",
        ClientMessage::Kick {
            participant_id: "g1".into(),
            reason: None,
        },
    );
    assert!(
        matches!(&sent(&step.0, &to("g1"))[..], [ServerMessage::Kicked { reason }] if !reason.is_empty())
    );
    for (id, code) in [("nobody", "not_found"), ("teacher", "invalid")] {
        let step = t.msg(
            "teacher",
            ClientMessage::Kick {
                participant_id: id.into(),
                reason: None,
            },
        );
        assert_refused(&step, "teacher", code);
    }
    t.join("teacher2", "instructor");
    let step = t.msg(
        "teacher",
        ClientMessage::Kick {
            participant_id: "teacher2".into(),
            reason: None,
        },
    );
    assert_refused(&step, "teacher", "invalid");
}

#[test]
fn kick_from_the_lobby_and_long_reasons() {
    let mut t = T::new();
    t.join("teacher", "instructor");
    t.msg("teacher", ClientMessage::SetLobby { enabled: true });
    t.join("s1", "student");
    let reason = "ü".repeat(200);
    let step = t.msg(
        "teacher",
        ClientMessage::Kick {
            participant_id: "s1".into(),
            reason: Some(reason.clone()),
        },
    );
    assert_eq!(
        sent(&step.0, &to("s1")),
        vec![ServerMessage::Kicked { reason }]
    );
    match step.0.iter().find(|o| matches!(o, Output::Close { .. })) {
        Some(Output::Close { code, reason, .. }) => {
            assert_eq!(*code, CLOSE_KICKED);
            assert!(reason.len() <= 123, "a close reason fits a close frame");
        }
        o => panic!("{o:?}"),
    }
    assert_eq!(
        sent(&step.0, &Target::Instructors),
        vec![ServerMessage::Lobby {
            enabled: true,
            waiting: vec![]
        }]
    );
    t.msg("teacher", ClientMessage::SetLobby { enabled: false });
    let step = t.join("s1", "student");
    assert!(matches!(
        &sent(&step.0, &to("s1"))[..],
        [ServerMessage::Denied { .. }]
    ));
}

#[test]
fn spotlight() {
    let mut t = T::class();
    let step = t.msg(
        "teacher",
        ClientMessage::Spotlight {
            participant_id: Some("s2".into()),
        },
    );
    assert_eq!(
        step.0,
        vec![Output::Send {
            to: Target::All,
            msg: ServerMessage::Spotlight {
                participant_id: Some("s2".into())
            }
        }]
    );
    let step = t.msg(
        "teacher",
        ClientMessage::Spotlight {
            participant_id: None,
        },
    );
    assert_eq!(
        sent(&step.0, &Target::All),
        vec![ServerMessage::Spotlight {
            participant_id: None
        }]
    );
    let step = t.msg(
        "teacher",
        ClientMessage::Spotlight {
            participant_id: Some("nobody".into()),
        },
    );
    assert_refused(&step, "teacher", "not_found");
}

// ---- polls ----

#[test]
fn single_choice_poll() {
    let mut t = T::class();
    let step = t.msg_id("teacher", create_poll(false, None, false), "p1");
    let poll = match &sent(&step.0, &Target::All)[..] {
        [ServerMessage::PollOpened { poll }] => poll.clone(),
        m => panic!("{m:?}"),
    };
    assert_eq!(poll.id, "p1");
    assert_eq!(poll.options.len(), 3);
    assert!(!poll.closed && !poll.multiple && poll.closes_at.is_none());
    assert_eq!(step.1, vec![Effect::StorePoll(poll.clone())]);

    let step = t.msg("s1", answer("p1", &[1]));
    assert!(
        sent(&step.0, &Target::All).is_empty(),
        "results are private"
    );
    let results = results_in(&sent(&step.0, &Target::Instructors));
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].counts, vec![0, 1, 0]);
    assert_eq!(results[0].percentages, vec![0.0, 100.0, 0.0]);
    assert_eq!(results[0].respondents, 1);
    assert_eq!(
        step.1,
        vec![Effect::StoreAnswer {
            poll_id: "p1".into(),
            participant_id: "s1".into(),
            choices: vec![1]
        }]
    );

    assert_refused(&t.msg("s1", answer("p1", &[2])), "s1", "already_answered");
    assert_refused(&t.msg("s2", answer("p1", &[0, 1])), "s2", "invalid");
    assert_refused(&t.msg("s2", answer("p1", &[])), "s2", "invalid");
    assert_refused(&t.msg("s2", answer("p1", &[3])), "s2", "invalid");
    assert_refused(&t.msg("s2", answer("p1", &[usize::MAX])), "s2", "invalid");
    assert_refused(&t.msg("s2", answer("nope", &[0])), "s2", "not_found");
    assert_refused(
        &t.msg("teacher", answer("p1", &[0])),
        "teacher",
        "forbidden",
    );
    assert_refused(&t.msg("g1", answer("p1", &[0])), "g1", "forbidden");

    let step = t.msg("s2", answer("p1", &[2]));
    let results = results_in(&sent(&step.0, &Target::Instructors));
    assert_eq!(results[0].counts, vec![0, 1, 1]);
    assert_eq!(results[0].percentages, vec![0.0, 50.0, 50.0]);

    let step = t.msg(
        "teacher",
        ClientMessage::ClosePoll {
            poll_id: "p1".into(),
        },
    );
    match &sent(&step.0, &Target::All)[..] {
        [ServerMessage::PollClosed { poll, results }] => {
            assert!(poll.closed);
            assert_eq!(results.respondents, 2);
            assert_eq!(
                step.1,
                vec![Effect::ClosePoll {
                    poll: poll.clone(),
                    results: results.clone()
                }]
            );
        }
        m => panic!("{m:?}"),
    }
    t.join("s3", "student");
    assert_refused(&t.msg("s3", answer("p1", &[0])), "s3", "invalid");
    let step = t.msg(
        "teacher",
        ClientMessage::ClosePoll {
            poll_id: "p1".into(),
        },
    );
    assert_refused(&step, "teacher", "invalid");
    let step = t.msg(
        "teacher",
        ClientMessage::ClosePoll {
            poll_id: "nope".into(),
        },
    );
    assert_refused(&step, "teacher", "not_found");
}

#[test]
fn multiple_choice_poll_with_shared_results() {
    let mut t = T::class();
    t.join("s3", "student");
    t.msg_id("teacher", create_poll(true, None, true), "p1");
    let step = t.msg("s1", answer("p1", &[0, 2]));
    assert!(
        sent(&step.0, &Target::Instructors).is_empty(),
        "all includes instructors"
    );
    let results = results_in(&sent(&step.0, &Target::All));
    assert_eq!(results[0].counts, vec![1, 0, 1]);
    assert_refused(&t.msg("s2", answer("p1", &[1, 1])), "s2", "invalid");
    t.msg("s2", answer("p1", &[0]));
    let step = t.msg("s3", answer("p1", &[0, 1, 2]));
    let results = results_in(&sent(&step.0, &Target::All));
    assert_eq!(results[0].counts, vec![3, 1, 2]);
    assert_eq!(results[0].respondents, 3);
    assert_eq!(results[0].percentages[0], 100.0);
    assert!((results[0].percentages[1] - 100.0 / 3.0).abs() < 1e-9);
    assert!((results[0].percentages[2] - 200.0 / 3.0).abs() < 1e-9);
}

#[test]
fn poll_timer_closes_on_tick() {
    let mut t = T::class();
    t.msg_id("teacher", create_poll(false, Some(30), false), "p1");
    let step = t.msg_id("teacher", create_poll(false, Some(60), false), "p2");
    match &sent(&step.0, &Target::All)[..] {
        [ServerMessage::PollOpened { poll }] => {
            assert_eq!(poll.closes_at, Some(classcast::time::rfc3339(T0 + 60_000)))
        }
        m => panic!("{m:?}"),
    }
    t.msg("s1", answer("p1", &[0]));
    let step = t.tick(T0 + 29_999, false);
    assert_eq!(step, (vec![], vec![]));
    let step = t.tick(T0 + 30_000, false);
    match &sent(&step.0, &Target::All)[..] {
        [ServerMessage::PollClosed { poll, results }] => {
            assert_eq!(poll.id, "p1");
            assert!(poll.closed);
            assert_eq!(results.counts, vec![1, 0, 0]);
        }
        m => panic!("{m:?}"),
    }
    assert!(matches!(&step.1[..], [Effect::ClosePoll { poll, .. }] if poll.id == "p1"));
    // Ticks are idempotent.
    assert_eq!(t.tick(T0 + 30_001, false), (vec![], vec![]));
    // Past the timer but before the tick: answers are refused.
    t.now = T0 + 60_000;
    assert_refused(&t.msg("s2", answer("p2", &[0])), "s2", "invalid");
    let step = t.tick(T0 + 61_000, false);
    assert!(matches!(&step.1[..], [Effect::ClosePoll { poll, .. }] if poll.id == "p2"));
}

#[test]
fn poll_validation() {
    let mut t = T::class();
    let poll = |q: &str, options: Vec<&str>, duration_s: Option<u32>| ClientMessage::CreatePoll {
        question: q.into(),
        options: options.into_iter().map(String::from).collect(),
        multiple: false,
        duration_s,
        share_results: false,
    };
    let long_q = "q".repeat(501);
    let long_o = "o".repeat(201);
    let bad = vec![
        poll("", vec!["a", "b"], None),
        poll("   ", vec!["a", "b"], None),
        poll(&long_q, vec!["a", "b"], None),
        poll("q", vec!["a"], None),
        poll("q", vec!["a", "b", "c", "d", "e", "f", "g"], None),
        poll("q", vec!["a", ""], None),
        poll("q", vec!["a", " "], None),
        poll("q", vec!["a", &long_o], None),
        poll("q", vec!["a", "b"], Some(4)),
        poll("q", vec!["a", "b"], Some(3601)),
        poll("q", vec!["a", "b"], Some(0)),
    ];
    for msg in bad {
        assert_refused(&t.msg("teacher", msg.clone()), "teacher", "invalid");
    }
    let good = vec![
        poll(&"q".repeat(500), vec!["a", "b"], Some(5)),
        poll(
            "q",
            vec!["a", "b", "c", "d", "e", &"o".repeat(200)],
            Some(3600),
        ),
    ];
    for msg in good {
        assert_ok(&t.msg("teacher", msg), "teacher");
    }
    // A poll id is used once.
    assert_ok(
        &t.msg_id("teacher", create_poll(false, None, false), "dup"),
        "teacher",
    );
    assert_refused(
        &t.msg_id("teacher", create_poll(false, None, false), "dup"),
        "teacher",
        "invalid",
    );
}

// ---- the quiet alert ----

fn alerts(step: &Step) -> Vec<ServerMessage> {
    sent(&step.0, &Target::Instructors)
        .into_iter()
        .filter(|m| matches!(m, ServerMessage::Alert { kind, .. } if kind == "quiet"))
        .collect()
}

#[test]
fn quiet_alert_once_per_quiet_period_while_live() {
    let mut t = T::class();
    // Not live: never.
    assert!(alerts(&t.tick(T0 + 10 * QUIET_MS, false)).is_empty());

    // Live from T1; chat long before does not count.
    let t1 = T0 + 10 * QUIET_MS;
    assert!(alerts(&t.tick(t1, true)).is_empty());
    assert!(alerts(&t.tick(t1 + QUIET_MS - 1, true)).is_empty());
    let step = t.tick(t1 + QUIET_MS, true);
    assert_eq!(alerts(&step).len(), 1, "{step:?}");
    assert!(step.1.is_empty());
    // Once per quiet period.
    assert!(alerts(&t.tick(t1 + 2 * QUIET_MS, true)).is_empty());

    // A reaction starts a new period.
    t.now = t1 + 2 * QUIET_MS + 1000;
    t.msg_id(
        "s1",
        ClientMessage::Chat {
            text: "hi".into(),
            reply_to: None,
        },
        "m1",
    );
    t.now += 60_000;
    t.msg(
        "s2",
        ClientMessage::React {
            message_id: "m1".into(),
            emoji: "👋".into(),
        },
    );
    let last = t.now;
    assert!(alerts(&t.tick(last + QUIET_MS - 1, true)).is_empty());
    assert_eq!(alerts(&t.tick(last + QUIET_MS, true)).len(), 1);

    // Going off air and on again: a new period from the new first live tick.
    t.tick(last + QUIET_MS + 1, false);
    let t2 = last + 5 * QUIET_MS;
    assert!(alerts(&t.tick(t2, true)).is_empty());
    assert!(alerts(&t.tick(t2 + QUIET_MS - 1, true)).is_empty());
    assert_eq!(alerts(&t.tick(t2 + QUIET_MS, true)).len(), 1);
}

#[test]
fn quiet_alert_waits_for_an_instructor() {
    let mut t = T::new();
    t.join("s1", "student");
    t.tick(T0, true);
    assert!(alerts(&t.tick(T0 + QUIET_MS, true)).is_empty());
    t.join("teacher", "instructor");
    assert_eq!(alerts(&t.tick(T0 + QUIET_MS + 1000, true)).len(), 1);
}

// ---- export / import ----

#[test]
fn export_import_round_trip_replays_identically() {
    let mut t = T::class();
    t.msg("teacher", ClientMessage::SetLobby { enabled: true });
    t.join("waiter", "student");
    t.msg("s1", ClientMessage::RaiseHand);
    t.msg_id(
        "s2",
        ClientMessage::Chat {
            text: "hello @Name s1".into(),
            reply_to: None,
        },
        "m1",
    );
    t.msg(
        "s1",
        ClientMessage::React {
            message_id: "m1".into(),
            emoji: "👍".into(),
        },
    );
    t.msg_id("teacher", create_poll(true, Some(60), true), "p1");
    t.msg("s1", answer("p1", &[0, 1]));
    for _ in 0..7 {
        t.chat("s2", "using up tokens");
    }
    t.msg(
        "teacher",
        ClientMessage::Kick {
            participant_id: "g1".into(),
            reason: None,
        },
    );
    t.tick(T0 + 1000, true);

    let exported = t.room.export();
    let mut copy = Room::import("sess", &exported).expect("import");
    assert_eq!(copy, t.room);
    assert_eq!(copy.session_id(), "sess");
    // Through text too, as the broker carries it.
    let text = serde_json::to_string(&exported).expect("json");
    let reparsed: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(Room::import("sess", &reparsed).as_ref(), Some(&t.room));

    let next = vec![
        Input::Message {
            from: "s2".into(),
            msg: ClientMessage::Chat {
                text: "a".into(),
                reply_to: Some("m1".into()),
            },
            id: "m2".into(),
            at_ms: T0 + 100,
        },
        Input::Message {
            from: "s2".into(),
            msg: ClientMessage::Chat {
                text: "b".into(),
                reply_to: None,
            },
            id: "m3".into(),
            at_ms: T0 + 100,
        },
        Input::Message {
            from: "s2".into(),
            msg: ClientMessage::Chat {
                text: "c".into(),
                reply_to: None,
            },
            id: "m4".into(),
            at_ms: T0 + 150,
        },
        Input::Message {
            from: "s2".into(),
            msg: answer("p1", &[2]),
            id: "x".into(),
            at_ms: T0 + 200,
        },
        Input::Message {
            from: "teacher".into(),
            msg: ClientMessage::Admit {
                participant_id: None,
            },
            id: "x".into(),
            at_ms: T0 + 300,
        },
        Input::Join {
            who: who("g1", "guest"),
            connection: "c-g1-2".into(),
            at_ms: T0 + 400,
        },
        Input::Join {
            who: who("s1", "student"),
            connection: "c-s1-2".into(),
            at_ms: T0 + 500,
        },
        Input::Tick {
            at_ms: T0 + 60_000,
            live: true,
        },
        Input::Tick {
            at_ms: T0 + 1000 + QUIET_MS,
            live: true,
        },
        Input::Leave {
            participant_id: "s1".into(),
            connection: "c-s1-2".into(),
            at_ms: T0 + QUIET_MS * 2,
        },
    ];
    for input in next {
        let a = t.room.apply(input.clone());
        let b = copy.apply(input.clone());
        assert_eq!(a, b, "{input:?}");
        assert!(!a.0.is_empty(), "a meaningful step: {input:?}");
    }
    assert_eq!(copy, t.room);
}

#[test]
fn import_refuses_garbage_and_other_sessions() {
    let room = T::class().room;
    let exported = room.export();
    assert!(Room::import("other", &exported).is_none());
    assert!(Room::import("sess", &serde_json::Value::Null).is_none());
    assert!(Room::import("sess", &serde_json::json!({"version": 1})).is_none());
    assert!(Room::import("sess", &serde_json::json!([1, 2, 3])).is_none());
    assert!(Room::import("sess", &serde_json::json!("room")).is_none());
    let mut wrong = exported.clone();
    wrong["version"] = serde_json::json!(99);
    assert!(Room::import("sess", &wrong).is_none());
    let mut wrong = exported;
    wrong["room"]["members"] = serde_json::json!(17);
    assert!(Room::import("sess", &wrong).is_none());
    // A fresh room round-trips too.
    let fresh = Room::new("sess");
    assert_eq!(Room::import("sess", &fresh.export()), Some(fresh));
}

#[test]
fn extreme_times_and_ids_do_not_panic() {
    let mut t = T::class();
    for at_ms in [i64::MIN, -1, 0, i64::MAX, i64::MAX - 1] {
        t.now = at_ms;
        t.chat("s1", "x");
        t.msg("s1", ClientMessage::RaiseHand);
        t.msg("s1", ClientMessage::LowerHand);
        t.msg("teacher", create_poll(false, Some(3600), false));
        t.msg("s2", answer("id1", &[0]));
        t.tick(at_ms, true);
        t.tick(at_ms, false);
        t.join_on("", "student", "");
        t.leave("", "");
        t.msg(
            "",
            ClientMessage::Chat {
                text: "@".into(),
                reply_to: Some(String::new()),
            },
        );
    }
}

// ---- docs/protocol.md ----

/// The ```json blocks of one section of the protocol doc.
fn doc_examples(section: &str) -> Vec<serde_json::Value> {
    let doc = include_str!("../docs/protocol.md");
    let start = doc
        .find(&format!("\n## {section}\n"))
        .unwrap_or_else(|| panic!("no section {section}"));
    let rest = &doc[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    let mut examples = Vec::new();
    let mut block: Option<String> = None;
    for line in rest[..end].lines() {
        match (&mut block, line.trim_end()) {
            (None, "```json") => block = Some(String::new()),
            (Some(b), "```") => {
                examples.push(serde_json::from_str(b).unwrap_or_else(|e| panic!("{e}: {b}")));
                block = None;
            }
            (Some(b), l) => {
                b.push_str(l);
                b.push('\n');
            }
            (None, _) => {}
        }
    }
    examples
}

fn types_of(examples: &[serde_json::Value]) -> std::collections::BTreeSet<String> {
    examples
        .iter()
        .map(|v| v["type"].as_str().expect("a type").to_owned())
        .collect()
}

#[test]
fn protocol_doc_client_examples_parse() {
    let examples = doc_examples("Client messages");
    for v in &examples {
        serde_json::from_value::<ClientMessage>(v.clone()).unwrap_or_else(|e| panic!("{e}: {v}"));
    }
    let all = [
        "auth",
        "ping",
        "media_state",
        "chat",
        "react",
        "raise_hand",
        "lower_hand",
        "answer_poll",
        "set_lobby",
        "admit",
        "deny",
        "delete_message",
        "mute_chat",
        "call_on",
        "demote",
        "mute_all",
        "mute",
        "kick",
        "spotlight",
        "create_poll",
        "close_poll",
        "set_layout",
    ];
    assert_eq!(
        types_of(&examples),
        all.iter().map(|s| s.to_string()).collect()
    );
}

#[test]
fn protocol_doc_server_examples_are_exactly_what_the_server_sends() {
    let examples = doc_examples("Server messages");
    for v in &examples {
        let msg: ServerMessage =
            serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{e}: {v}"));
        assert_eq!(&serde_json::to_value(&msg).expect("json"), v);
    }
    let all = [
        "welcome",
        "waiting",
        "live",
        "publishes",
        "layout",
        "denied",
        "pong",
        "participant_joined",
        "participant_left",
        "participant_updated",
        "lobby",
        "chat",
        "chat_deleted",
        "reactions",
        "hands",
        "called_on",
        "mute_requested",
        "kicked",
        "spotlight",
        "poll_opened",
        "poll_results",
        "poll_closed",
        "alert",
        "error",
    ];
    assert_eq!(
        types_of(&examples),
        all.iter().map(|s| s.to_string()).collect()
    );
}

#[test]
fn client_messages_reject_unknown_fields_and_types() {
    for bad in [
        r#"{"type":"chat"}"#,
        r#"{"type":"chat","text":"x","extra":1}"#,
        r#"{"type":"shout","text":"x"}"#,
        r#"{"text":"x"}"#,
        r#"[]"#,
        r#"{"type":"answer_poll","poll_id":"p","choices":[-1]}"#,
    ] {
        assert!(serde_json::from_str::<ClientMessage>(bad).is_err(), "{bad}");
    }
    // Optional fields may be left out.
    let m: ClientMessage = serde_json::from_str(r#"{"type":"call_on"}"#).expect("call_on");
    assert_eq!(
        m,
        ClientMessage::CallOn {
            participant_id: String::new(),
            stage: false
        }
    );
}
