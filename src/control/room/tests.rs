//! Property tests: random input sequences never panic, keep the room's
//! invariants, and replay identically on an exported copy.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::super::protocol::{
    parse, ClientMessage, FrameError, Poll, Quality, ServerMessage, MAX_FRAME_BYTES,
};
use super::*;

const T0: i64 = 1_700_000_000_000;

const IDS: &[&str] = &["i0", "i1", "s0", "s1", "s2", "s3", "g0", ""];
const ROLES: &[&str] = &["instructor", "student", "student", "guest", "root"];
const NAMES: &[&str] = &["Ann", "Ann Lee", "ann", "Bob", "", "Émile", "@x"];
const CONNECTIONS: &[&str] = &["c0", "c1", "c2"];
/// References to chat messages and polls: `ref:k` is resolved, when the
/// inputs are built, to the k-th latest chat message (or poll) created so
/// far; the others name nothing or something old.
const REFS: &[&str] = &["ref:0", "ref:0", "ref:1", "ref:2", "ref:5", "missing", ""];
/// Input ids: fresh, or (rarely) one used before.
const INPUT_IDS: &[&str] = &[
    "fresh", "fresh", "fresh", "fresh", "fresh", "fresh", "reuse",
];

#[derive(Debug, Clone)]
enum Time {
    After(i64),
    At(i64),
}

#[derive(Debug, Clone)]
enum Op {
    Join {
        id: &'static str,
        name: &'static str,
        role: &'static str,
        connection: &'static str,
    },
    Leave {
        id: &'static str,
        connection: &'static str,
    },
    Message {
        from: &'static str,
        msg: ClientMessage,
        /// `fresh` or `reuse`.
        id: &'static str,
    },
    Quality {
        id: &'static str,
        quality: Option<Quality>,
    },
    Tick {
        live: bool,
    },
    /// `n` chat messages (or reactions) from one sender in the same millisecond.
    Burst {
        from: &'static str,
        n: usize,
        react: bool,
    },
}

fn pick(pool: &'static [&'static str]) -> impl Strategy<Value = &'static str> {
    proptest::sample::select(pool)
}

fn opt_id() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(pick(IDS).prop_map(String::from))
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(vec![
            "hi",
            "hello @Ann Lee!",
            "@ann @bob @Émile",
            "mail a@Bob.com",
            "",
            "   ",
            "@",
        ])
        .prop_map(String::from),
        2 => ".{0,40}",
        1 => Just("x".repeat(2001)),
        4 => Just("hello".to_owned()),
    ]
}

fn choices() -> impl Strategy<Value = Vec<usize>> {
    prop_oneof![
        4 => (0usize..3).prop_map(|c| vec![c]),
        2 => proptest::collection::vec(
            prop_oneof![8 => 0usize..7, 1 => Just(usize::MAX)],
            0..5,
        ),
    ]
}

fn client_message() -> impl Strategy<Value = ClientMessage> {
    let id = || pick(IDS).prop_map(String::from);
    let msg_id = || pick(REFS).prop_map(String::from);
    prop_oneof![
        1 => Just(ClientMessage::Auth { token: "t".into() }),
        1 => proptest::option::of(any::<u64>()).prop_map(|id| ClientMessage::Ping { id }),
        1 => (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(mic, camera, screen)| {
            ClientMessage::MediaState {
                mic,
                camera,
                screen,
            }
        }),
        6 => (text(), proptest::option::of(msg_id())).prop_map(|(text, reply_to)| {
            ClientMessage::Chat { text, reply_to }
        }),
        6 => (
            msg_id(),
            prop_oneof![
                6 => proptest::sample::select(vec!["👍", ":)", "", "a b", "xxxxxxxxxxxxxxxxx"])
                    .prop_map(String::from),
                1 => ".{0,3}",
            ]
        )
            .prop_map(|(message_id, emoji)| ClientMessage::React { message_id, emoji }),
        3 => Just(ClientMessage::RaiseHand),
        2 => Just(ClientMessage::LowerHand),
        6 => (msg_id(), choices())
            .prop_map(|(poll_id, choices)| ClientMessage::AnswerPoll { poll_id, choices }),
        2 => any::<bool>().prop_map(|enabled| ClientMessage::SetLobby { enabled }),
        2 => opt_id().prop_map(|participant_id| ClientMessage::Admit { participant_id }),
        1 => id().prop_map(|participant_id| ClientMessage::Deny { participant_id }),
        1 => msg_id().prop_map(|message_id| ClientMessage::DeleteMessage { message_id }),
        1 => (id(), any::<bool>()).prop_map(|(participant_id, muted)| ClientMessage::MuteChat {
            participant_id,
            muted
        }),
        2 => (id(), any::<bool>()).prop_map(|(participant_id, stage)| ClientMessage::CallOn {
            participant_id,
            stage
        }),
        1 => id().prop_map(|participant_id| ClientMessage::Demote { participant_id }),
        1 => Just(ClientMessage::MuteAll),
        1 => id().prop_map(|participant_id| ClientMessage::Mute { participant_id }),
        1 => (id(), proptest::option::of(".{0,200}")).prop_map(|(participant_id, reason)| {
            ClientMessage::Kick {
                participant_id,
                reason,
            }
        }),
        1 => opt_id().prop_map(|participant_id| ClientMessage::Spotlight { participant_id }),
        1 => proptest::sample::select(vec![
            super::super::protocol::Layout::Auto,
            super::super::protocol::Layout::Speaker,
            super::super::protocol::Layout::Stage,
            super::super::protocol::Layout::Screen,
        ])
        .prop_map(|layout| ClientMessage::SetLayout { layout }),
        3 => (
            prop_oneof![4 => Just("Which?".to_owned()), 1 => ".{0,5}"],
            prop_oneof![
                4 => proptest::collection::vec(
                    proptest::sample::select(vec!["yes", "no", "maybe"]).prop_map(String::from),
                    2..4,
                ),
                1 => proptest::collection::vec(".{0,3}", 0..8),
            ],
            any::<bool>(),
            proptest::option::of(prop_oneof![
                4 => proptest::sample::select(vec![5u32, 10, 60]),
                1 => 0u32..4000,
                1 => Just(u32::MAX),
            ]),
            any::<bool>(),
        )
            .prop_map(|(question, options, multiple, duration_s, share_results)| {
                ClientMessage::CreatePoll {
                    question,
                    options,
                    multiple,
                    duration_s,
                    share_results,
                }
            }),
        1 => msg_id().prop_map(|poll_id| ClientMessage::ClosePoll { poll_id }),
    ]
}

/// Mostly the class's instructor and students.
fn sender() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        4 => Just("i0"),
        4 => Just("s0"),
        3 => Just("s1"),
        1 => Just("g0"),
        2 => pick(IDS),
    ]
}

/// Mostly someone allowed to send `msg`, sometimes anyone.
fn sender_for(msg: &ClientMessage) -> BoxedStrategy<&'static str> {
    use ClientMessage as M;
    if instructor_only(msg) {
        return prop_oneof![8 => Just("i0"), 1 => Just("i1"), 2 => sender()].boxed();
    }
    match msg {
        M::AnswerPoll { .. } | M::RaiseHand | M::LowerHand => {
            prop_oneof![4 => Just("s0"), 3 => Just("s1"), 1 => Just("s2"), 2 => sender()].boxed()
        }
        _ => sender().boxed(),
    }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (pick(IDS), pick(NAMES), pick(ROLES), pick(CONNECTIONS)).prop_map(
            |(id, name, role, connection)| Op::Join {
                id,
                name,
                role,
                connection
            }
        ),
        2 => (pick(IDS), pick(CONNECTIONS)).prop_map(|(id, connection)| Op::Leave { id, connection }),
        14 => (client_message(), pick(INPUT_IDS)).prop_flat_map(|(msg, id)| {
            (sender_for(&msg), Just(msg), Just(id))
                .prop_map(|(from, msg, id)| Op::Message { from, msg, id })
        }),
        1 => (
            pick(IDS),
            proptest::option::of(proptest::sample::select(vec![
                Quality::Green,
                Quality::Yellow,
                Quality::Red
            ]))
        )
            .prop_map(|(id, quality)| Op::Quality { id, quality }),
        2 => any::<bool>().prop_map(|live| Op::Tick { live }),
        1 => (sender(), 8usize..14, any::<bool>())
            .prop_map(|(from, n, react)| Op::Burst { from, n, react }),
    ]
}

fn time() -> impl Strategy<Value = Time> {
    prop_oneof![
        10 => Just(Time::After(0)),
        20 => (0i64..5_000).prop_map(Time::After),
        2 => (0i64..400_000).prop_map(Time::After),
        1 => (-5_000i64..0).prop_map(Time::After),
        1 => proptest::sample::select(vec![i64::MIN, -1, 0, i64::MAX]).prop_map(Time::At),
    ]
}

/// Ids made so far, to resolve `ref:k` and `reuse`.
#[derive(Default)]
struct Made {
    inputs: Vec<String>,
    chats: Vec<String>,
    polls: Vec<String>,
}

impl Made {
    fn resolve(made: &[String], r: &str) -> String {
        match r.strip_prefix("ref:").and_then(|k| k.parse::<usize>().ok()) {
            Some(k) if !made.is_empty() => made
                .get(made.len() - 1 - k.min(made.len() - 1))
                .cloned()
                .unwrap_or_default(),
            _ => r.to_owned(),
        }
    }

    /// Resolves a message's references and returns its input id.
    fn fill(&mut self, msg: &mut ClientMessage, id: &str, index: usize) -> String {
        let id = match (id, self.inputs.first()) {
            ("reuse", Some(old)) => old.clone(),
            _ => format!("in{index}"),
        };
        self.inputs.push(id.clone());
        match msg {
            ClientMessage::Chat { reply_to, .. } => {
                if let Some(r) = reply_to {
                    *r = Self::resolve(&self.chats, r);
                }
                self.chats.push(id.clone());
            }
            ClientMessage::React { message_id, .. }
            | ClientMessage::DeleteMessage { message_id } => {
                *message_id = Self::resolve(&self.chats, message_id);
            }
            ClientMessage::AnswerPoll { poll_id, .. } | ClientMessage::ClosePoll { poll_id } => {
                *poll_id = Self::resolve(&self.polls, poll_id);
            }
            ClientMessage::CreatePoll { .. } => self.polls.push(id.clone()),
            _ => {}
        }
        id
    }
}

fn to_inputs(op: Op, at_ms: i64, index: usize, made: &mut Made) -> Vec<Input> {
    let Op::Burst { from, n, react } = op else {
        return vec![to_input(op, at_ms, index, made)];
    };
    (0..n)
        .map(|k| {
            let mut msg = if react {
                ClientMessage::React {
                    message_id: "ref:0".into(),
                    emoji: ["👍", "👎"][k % 2].into(),
                }
            } else {
                ClientMessage::Chat {
                    text: format!("burst {k}"),
                    reply_to: None,
                }
            };
            // Unique ids: index and k.
            let id = made.fill(&mut msg, "fresh", index * 100 + k);
            Input::Message {
                from: from.into(),
                msg,
                id,
                at_ms,
            }
        })
        .collect()
}

fn to_input(op: Op, at_ms: i64, index: usize, made: &mut Made) -> Input {
    match op {
        Op::Join {
            id,
            name,
            role,
            connection,
        } => Input::Join {
            who: Identity {
                id: id.into(),
                name: name.into(),
                role: role.into(),
            },
            connection: connection.into(),
            at_ms,
        },
        Op::Leave { id, connection } => Input::Leave {
            participant_id: id.into(),
            connection: connection.into(),
            at_ms,
        },
        Op::Message { from, mut msg, id } => Input::Message {
            from: from.into(),
            id: made.fill(&mut msg, id, index),
            msg,
            at_ms,
        },
        Op::Quality { id, quality } => Input::Quality {
            participant_id: id.into(),
            quality,
        },
        Op::Tick { live } => Input::Tick { at_ms, live },
        Op::Burst { .. } => Input::Tick { at_ms, live: false },
    }
}

fn inputs() -> impl Strategy<Value = Vec<Input>> {
    proptest::collection::vec((op(), time()), 1..80).prop_map(|ops| {
        let mut now = T0;
        let mut made = Made::default();
        // A class to start with, so that most messages come from members.
        let class = [
            ("i0", "instructor"),
            ("s0", "student"),
            ("s1", "student"),
            ("g0", "guest"),
        ]
        .map(|(id, role)| {
            (
                Op::Join {
                    id,
                    name: "Ann",
                    role,
                    connection: "c0",
                },
                Time::After(0),
            )
        });
        class
            .into_iter()
            .chain(ops)
            .enumerate()
            .flat_map(|(index, (op, t))| {
                let at = match t {
                    Time::After(d) => {
                        now = now.saturating_add(d);
                        now
                    }
                    Time::At(at) => at,
                };
                to_inputs(op, at, index, &mut made)
            })
            .collect()
    })
}

/// The room's invariants.
fn check_invariants(room: &Room) -> Result<(), String> {
    let waiting: BTreeSet<&str> = room.waiting.iter().map(|w| w.who.id.as_str()).collect();
    if waiting.len() != room.waiting.len() {
        return Err("someone waits twice".into());
    }
    if !room.waiting.is_empty() && !room.lobby_enabled {
        return Err("waiting with the lobby off".into());
    }
    for (id, m) in &room.members {
        if *id != m.participant.id {
            return Err(format!("member {id} keyed wrong"));
        }
        if waiting.contains(id.as_str()) {
            return Err(format!("{id} both waiting and admitted"));
        }
        if !matches!(m.participant.role.as_str(), INSTRUCTOR | STUDENT | GUEST) {
            return Err(format!("{id} has role {}", m.participant.role));
        }
        if m.participant.role == GUEST && m.participant.on_stage {
            return Err(format!("guest {id} on stage"));
        }
        let raised = room.hands.iter().any(|h| h.participant_id == *id);
        if m.participant.hand_raised != raised {
            return Err(format!("{id}: hand_raised flag disagrees with the queue"));
        }
    }
    for w in &room.waiting {
        if w.who.role == INSTRUCTOR {
            return Err("an instructor waits".into());
        }
    }
    let mut seen = BTreeSet::new();
    for h in &room.hands {
        if !seen.insert(&h.participant_id) {
            return Err(format!("{} raised twice", h.participant_id));
        }
        match room.members.get(&h.participant_id) {
            Some(m) if m.participant.role == STUDENT => {}
            _ => {
                return Err(format!(
                    "hand of {} who is no present student",
                    h.participant_id
                ))
            }
        }
    }
    if room.hands.windows(2).any(|w| w[0].at_ms > w[1].at_ms) {
        return Err("hands out of order".into());
    }
    for id in &room.banned {
        if room.members.contains_key(id) || waiting.contains(id.as_str()) {
            return Err(format!("banned {id} is in"));
        }
    }
    if let Some(id) = &room.spotlight {
        if !room.members.contains_key(id) {
            return Err(format!("spotlight on absent {id}"));
        }
    }
    if room.chat.len() > HISTORY {
        return Err("history too long".into());
    }
    let ids: BTreeSet<&str> = room.chat.iter().map(|m| m.id.as_str()).collect();
    if ids.len() != room.chat.len() {
        return Err("duplicate chat ids".into());
    }
    let polls: BTreeSet<&str> = room.polls.iter().map(|p| p.poll.id.as_str()).collect();
    if polls.len() != room.polls.len() {
        return Err("duplicate poll ids".into());
    }
    for p in &room.polls {
        if !(2..=6).contains(&p.poll.options.len()) {
            return Err("poll with a bad option count".into());
        }
        for choices in p.answers.values() {
            if choices.is_empty()
                || choices.iter().any(|&c| c >= p.poll.options.len())
                || (!p.poll.multiple && choices.len() != 1)
            {
                return Err(format!("bad answer {choices:?}"));
            }
        }
    }
    for b in room
        .chat_buckets
        .values()
        .chain(room.react_buckets.values())
        .chain(room.signal_buckets.values())
    {
        if !(0..=(CHAT_BURST as i64 * 1000)).contains(&b.milli_tokens) {
            return Err("bucket out of range".into());
        }
    }
    Ok(())
}

/// What one step said, checked against the room before and after it.
fn check_step(
    before: &Room,
    after: &Room,
    input: &Input,
    out: &[Output],
    fx: &[Effect],
) -> Result<(), String> {
    let present =
        |r: &Room, id: &str| r.members.contains_key(id) || r.waiting.iter().any(|w| w.who.id == id);
    let joiner = match input {
        Input::Join { who, .. } => Some(who.id.as_str()),
        _ => None,
    };
    let mut errors = 0;
    for o in out {
        match o {
            Output::Close { code, reason, .. } => {
                if ![CLOSE_REPLACED, CLOSE_KICKED, CLOSE_DENIED].contains(code) {
                    return Err(format!("close code {code}"));
                }
                if reason.len() > 123 {
                    return Err("close reason too long".into());
                }
            }
            Output::Send { to, msg } => {
                if let Target::Participant(id) = to {
                    if !present(before, id) && !present(after, id) && joiner != Some(id.as_str()) {
                        return Err(format!("message to absent {id}: {msg:?}"));
                    }
                }
                let problem = match msg {
                    ServerMessage::Welcome { you, .. } => (*to
                        != Target::Participant(you.id.clone())
                        || !after.members.contains_key(&you.id))
                    .then(|| format!("welcome to {to:?} for {}", you.id)),
                    ServerMessage::Error { code, .. } => {
                        errors += 1;
                        match input {
                            Input::Message { from, .. } => {
                                let refused = Effect::Refused {
                                    participant_id: from.clone(),
                                    code: code.clone(),
                                };
                                if !fx.contains(&refused) {
                                    Some(format!("error {code} without Refused"))
                                } else {
                                    (before != after)
                                        .then(|| format!("refusal {code} changed the room"))
                                }
                            }
                            _ => Some("an error not answering a message".into()),
                        }
                    }
                    ServerMessage::PollResults { results }
                    | ServerMessage::PollClosed { results, .. } => (results.counts.len()
                        != results.percentages.len()
                        || results
                            .percentages
                            .iter()
                            .any(|p| !(0.0..=100.0).contains(p)))
                    .then(|| format!("bad results {results:?}")),
                    _ => None,
                };
                if let Some(problem) = problem {
                    return Err(problem);
                }
            }
        }
    }
    if errors > 1 {
        return Err("several errors for one message".into());
    }
    if matches!(input, Input::Tick { .. })
        && fx.iter().any(|e| !matches!(e, Effect::ClosePoll { .. }))
    {
        return Err(format!("tick effects must be idempotent: {fx:?}"));
    }
    // Refused effects only with an error reply.
    let refused = fx
        .iter()
        .filter(|e| matches!(e, Effect::Refused { .. }))
        .count();
    if refused != errors {
        return Err("Refused without an error reply".into());
    }
    Ok(())
}

/// Checks across a whole run: answers stored once per participant and
/// poll, polls closed once, attendance effects matching membership.
#[derive(Default)]
struct History {
    answers: BTreeSet<(String, String)>,
    closed: BTreeSet<String>,
}

impl History {
    fn check(&mut self, before: &Room, after: &Room, fx: &[Effect]) -> Result<(), String> {
        for e in fx {
            let problem = match e {
                Effect::StoreAnswer {
                    poll_id,
                    participant_id,
                    ..
                } => (!self
                    .answers
                    .insert((poll_id.clone(), participant_id.clone())))
                .then(|| format!("{participant_id} answered {poll_id} twice")),
                Effect::ClosePoll { poll, .. } => (!self.closed.insert(poll.id.clone()))
                    .then(|| format!("{} closed twice", poll.id)),
                Effect::Joined { who, .. } => (before.members.contains_key(&who.id)
                    || !after.members.contains_key(&who.id))
                .then(|| format!("Joined {} who was in or is not", who.id)),
                Effect::Left { participant_id, .. } => {
                    (!before.members.contains_key(participant_id)
                        || after.members.contains_key(participant_id))
                    .then(|| format!("Left {participant_id} who was not in or still is"))
                }
                _ => None,
            };
            if let Some(problem) = problem {
                return Err(problem);
            }
        }
        Ok(())
    }
}

fn run(inputs: &[Input], split: usize) -> Result<(), TestCaseError> {
    let mut room = Room::new("s");
    let mut copy: Option<Room> = None;
    let mut history = History::default();
    for (i, input) in inputs.iter().enumerate() {
        if i == split {
            let imported = Room::import("s", &room.export());
            prop_assert_eq!(imported.as_ref(), Some(&room));
            copy = imported;
        }
        let before = room.clone();
        let (out, fx) = room.apply(input.clone());
        if let Err(e) = check_invariants(&room) {
            return Err(TestCaseError::fail(format!(
                "after {input:?}: {e}\n{room:#?}"
            )));
        }
        if let Err(e) = check_step(&before, &room, input, &out, &fx)
            .and_then(|()| history.check(&before, &room, &fx))
        {
            return Err(TestCaseError::fail(format!(
                "after {input:?}: {e}\n{out:#?}\n{fx:#?}"
            )));
        }
        if let Some(c) = copy.as_mut() {
            let replayed = c.apply(input.clone());
            prop_assert_eq!(&replayed, &(out, fx), "the imported copy diverged");
        }
    }
    let imported = Room::import("s", &room.export());
    prop_assert_eq!(imported.as_ref(), Some(&room));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_inputs_keep_the_invariants(inputs in inputs(), split in 0usize..80) {
        run(&inputs, split)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 500,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Frames as the socket layer parses them: whatever parses is applied.
    #[test]
    fn random_frames_never_panic(frames in proptest::collection::vec(
        prop_oneof![
            Just(r#"{"type":"chat","text":"hi"}"#.to_owned()),
            Just(r#"{"type":"raise_hand"}"#.to_owned()),
            Just(r#"{"type":"answer_poll","poll_id":"p","choices":[0, 18446744073709551615]}"#.to_owned()),
            Just(r#"{"type":"create_poll","question":"q","options":["a","b"],"duration_s":5}"#.to_owned()),
            Just(r#"{"type":"call_on"}"#.to_owned()),
            Just(r#"{"type":"kick","participant_id":"s0","extra":1}"#.to_owned()),
            ".{0,60}",
            "\\{\"type\":\"[a-z_]{1,12}\"(,\"[a-z_]{1,12}\":(1|\"x\"|null|true|\\[\\]))*\\}",
        ],
        0..40,
    ), role in pick(ROLES)) {
        let mut room = Room::new("s");
        room.apply(Input::Join {
            who: Identity { id: "i0".into(), name: "I".into(), role: "instructor".into() },
            connection: "c".into(),
            at_ms: T0,
        });
        room.apply(Input::Join {
            who: Identity { id: "s0".into(), name: "S".into(), role: role.into() },
            connection: "c".into(),
            at_ms: T0,
        });
        for (i, frame) in frames.iter().enumerate() {
            if let Ok(msg) = serde_json::from_str::<ClientMessage>(frame) {
                for from in ["i0", "s0"] {
                    room.apply(Input::Message {
                        from: from.into(),
                        msg: msg.clone(),
                        id: format!("m{i}"),
                        at_ms: T0 + i as i64,
                    });
                }
            }
        }
        prop_assert!(check_invariants(&room).is_ok());
    }

    /// Whatever JSON arrives as an export: no panic, and what imports is consistent.
    #[test]
    fn random_imports_never_panic(json in "\\{\"version\":1,\"room\":\\{\"session_id\":\"s\"(,\"[a-z_]{2,14}\":(\\[\\]|\\{\\}|1|true|null))*\\}\\}") {
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(&json) {
            if let Some(room) = Room::import("s", &value) {
                prop_assert!(check_invariants(&room).is_ok());
            }
        }
    }
}

#[test]
fn imported_inconsistencies_are_repaired() {
    let mut room = Room::new("s");
    for (id, role) in [("i", "instructor"), ("a", "student"), ("b", "guest")] {
        join(&mut room, id, role);
    }
    let mut value = room.export();
    let r = &mut value["room"];
    r["hands"] = serde_json::json!([
        {"participant_id": "b", "at_ms": 1},
        {"participant_id": "zz", "at_ms": 2},
        {"participant_id": "a", "at_ms": 3},
        {"participant_id": "a", "at_ms": 4}
    ]);
    r["waiting"] = serde_json::json!([
        {"who": {"id": "a", "name": "a", "role": "student"}, "connection": "x"},
        {"who": {"id": "w", "name": "w", "role": "student"}, "connection": "x"},
        {"who": {"id": "w", "name": "w", "role": "student"}, "connection": "y"}
    ]);
    r["lobby_enabled"] = serde_json::json!(true);
    r["spotlight"] = serde_json::json!("zz");
    r["banned"] = serde_json::json!(["i"]);
    let room = Room::import("s", &value).expect("import");
    check_invariants(&room).expect("consistent");
    assert_eq!(room.hands.len(), 1);
    assert_eq!(room.waiting.len(), 1);
    assert_eq!(room.spotlight, None);
    assert!(!room.members.contains_key("i"));
}

// ---- hostile clients (issue 13) ----

fn join(room: &mut Room, id: &str, role: &str) -> Vec<Output> {
    room.apply(Input::Join {
        who: Identity {
            id: id.into(),
            name: id.into(),
            role: role.into(),
        },
        connection: format!("c-{id}"),
        at_ms: T0,
    })
    .0
}

fn say(room: &mut Room, from: &str, msg: ClientMessage, at_ms: i64) -> (Vec<Output>, Vec<Effect>) {
    room.apply(Input::Message {
        from: from.into(),
        msg,
        id: format!("m-{at_ms}-{from}"),
        at_ms,
    })
}

fn error_code(out: &[Output], to: &str) -> Option<String> {
    out.iter().find_map(|o| match o {
        Output::Send {
            to: Target::Participant(p),
            msg: ServerMessage::Error { code, .. },
        } if p == to => Some(code.clone()),
        _ => None,
    })
}

#[test]
fn hands_and_media_state_are_rate_limited() {
    let mut room = Room::new("s");
    join(&mut room, "t", "instructor");
    join(&mut room, "a", "student");
    // A burst of 10, then refusals that broadcast nothing.
    for i in 0..10 {
        let msg = if i % 2 == 0 {
            ClientMessage::RaiseHand
        } else {
            ClientMessage::LowerHand
        };
        let (out, _) = say(&mut room, "a", msg, T0);
        assert_eq!(error_code(&out, "a"), None, "message {i}");
    }
    for msg in [
        ClientMessage::RaiseHand,
        ClientMessage::LowerHand,
        ClientMessage::MediaState {
            mic: true,
            camera: true,
            screen: false,
        },
    ] {
        let (out, fx) = say(&mut room, "a", msg, T0 + 1);
        assert_eq!(error_code(&out, "a").as_deref(), Some("rate_limited"));
        assert_eq!(out.len(), 1, "only the error: {out:?}");
        assert!(matches!(fx.as_slice(), [Effect::Refused { .. }]));
    }
    // 5 a second: one token back after 200 ms.
    let (out, _) = say(&mut room, "a", ClientMessage::RaiseHand, T0 + 200);
    assert_eq!(error_code(&out, "a"), None);
    // Instructors' media state has its own bucket, untouched.
    let (out, _) = say(
        &mut room,
        "t",
        ClientMessage::MediaState {
            mic: true,
            camera: false,
            screen: false,
        },
        T0 + 1,
    );
    assert_eq!(error_code(&out, "t"), None);
}

fn stored_poll(id: &str, closed: bool, answers: &[(&str, usize)]) -> StoredPoll {
    StoredPoll {
        poll: Poll {
            id: id.into(),
            question: "Q?".into(),
            options: vec!["x".into(), "y".into()],
            multiple: false,
            share_results: false,
            closes_at: None,
            closed,
        },
        closes_at_ms: None,
        answers: answers
            .iter()
            .map(|(p, c)| (p.to_string(), vec![*c]))
            .collect(),
    }
}

#[test]
fn a_restored_room_has_its_polls_lobby_and_bans() {
    let stored = Stored {
        chat: Vec::new(),
        polls: vec![
            stored_poll("open", false, &[("a", 1), ("gone", 0)]),
            stored_poll("done", true, &[("a", 0), ("bad", 7)]),
        ],
        lobby_enabled: true,
        banned: vec!["k".into()],
        layout: super::super::protocol::Layout::Screen,
    };
    let mut room = Room::restore("s", stored);
    check_invariants(&room).expect("consistent");
    // The instructor skips the lobby and sees both polls with results.
    let out = join(&mut room, "t", "instructor");
    let welcome = out.iter().find_map(|o| match o {
        Output::Send {
            msg: ServerMessage::Welcome { room, .. },
            ..
        } => Some(room.clone()),
        _ => None,
    });
    let snapshot = welcome.expect("welcome");
    assert!(snapshot.lobby_enabled);
    assert_eq!(snapshot.layout, super::super::protocol::Layout::Screen);
    let polls: Vec<(String, bool)> = snapshot
        .polls
        .iter()
        .map(|p| (p.id.clone(), p.closed))
        .collect();
    assert_eq!(polls, [("open".into(), false), ("done".into(), true)]);
    let results: Vec<(String, Vec<u64>)> = out
        .iter()
        .filter_map(|o| match o {
            Output::Send {
                msg: ServerMessage::PollResults { results },
                ..
            } => Some((results.poll_id.clone(), results.counts.clone())),
            _ => None,
        })
        .collect();
    // An answer out of range is dropped, not counted.
    assert_eq!(
        results,
        [("open".into(), vec![1, 1]), ("done".into(), vec![1, 0])]
    );
    // A student waits in the lobby; a banned one is denied.
    assert!(join(&mut room, "b", "student").iter().any(|o| matches!(
        o,
        Output::Send {
            msg: ServerMessage::Waiting,
            ..
        }
    )));
    assert!(join(&mut room, "k", "student").iter().any(|o| matches!(
        o,
        Output::Close {
            code: CLOSE_DENIED,
            ..
        }
    )));
    // Admitted, the students answer: once each, and not a closed poll.
    join(&mut room, "a", "student");
    say(
        &mut room,
        "t",
        ClientMessage::Admit {
            participant_id: None,
        },
        T0,
    );
    let answer = |poll: &str| ClientMessage::AnswerPoll {
        poll_id: poll.into(),
        choices: vec![0],
    };
    let (out, _) = say(&mut room, "b", answer("open"), T0 + 1);
    assert_eq!(error_code(&out, "b"), None);
    let (out, _) = say(&mut room, "a", answer("open"), T0 + 2);
    assert_eq!(error_code(&out, "a").as_deref(), Some("already_answered"));
    let (out, _) = say(&mut room, "b", answer("done"), T0 + 3);
    assert_eq!(error_code(&out, "b").as_deref(), Some("invalid"));
}

#[test]
fn the_lobby_setting_is_stored() {
    let mut room = Room::new("s");
    join(&mut room, "t", "instructor");
    for enabled in [true, false] {
        let (_, fx) = say(&mut room, "t", ClientMessage::SetLobby { enabled }, T0);
        assert!(fx.contains(&Effect::StoreLobby { enabled }), "{fx:?}");
    }
}

#[test]
fn the_instructor_chooses_the_layout_everyone_sees_it_and_it_is_stored() {
    use super::super::protocol::Layout;
    let mut room = Room::new("s");
    join(&mut room, "t", "instructor");
    join(&mut room, "a", "student");
    let set = |layout| ClientMessage::SetLayout { layout };
    let (out, fx) = say(&mut room, "a", set(Layout::Stage), T0);
    assert_eq!(error_code(&out, "a").as_deref(), Some("forbidden"));
    assert!(fx.iter().all(|e| !matches!(e, Effect::StoreLayout { .. })));
    let (out, fx) = say(&mut room, "t", set(Layout::Stage), T0);
    assert!(fx.contains(&Effect::StoreLayout {
        layout: Layout::Stage
    }));
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Send {
            to: Target::All,
            msg: ServerMessage::Layout {
                layout: Layout::Stage
            },
        }
    )));
    // The same choice again changes nothing.
    let (out, fx) = say(&mut room, "t", set(Layout::Stage), T0 + 1);
    assert!(out.is_empty() && fx.is_empty(), "{out:?} {fx:?}");
    // A joiner sees it in the room.
    let out = join(&mut room, "b", "student");
    let layout = out.iter().find_map(|o| match o {
        Output::Send {
            msg: ServerMessage::Welcome { room, .. },
            ..
        } => Some(room.layout),
        _ => None,
    });
    assert_eq!(layout, Some(Layout::Stage));
    // A layout the protocol does not know is a bad message, not a panic.
    assert!(
        serde_json::from_str::<ClientMessage>(r#"{"type":"set_layout","layout":"grid"}"#).is_err()
    );
}

#[test]
fn everyone_hears_when_the_broadcast_starts_and_stops_once() {
    let mut room = Room::new("s");
    join(&mut room, "t", "instructor");
    join(&mut room, "a", "student");
    let live_messages = |out: &[Output]| -> Vec<bool> {
        out.iter()
            .filter_map(|o| match o {
                Output::Send {
                    to: Target::All,
                    msg: ServerMessage::Live { live },
                } => Some(*live),
                _ => None,
            })
            .collect()
    };
    let mut heard = Vec::new();
    for (i, live) in [false, true, true, false, false, true]
        .into_iter()
        .enumerate()
    {
        let (out, _) = room.apply(Input::Tick {
            at_ms: T0 + 1_000 * i as i64,
            live,
        });
        heard.extend(live_messages(&out));
    }
    assert_eq!(heard, [true, false, true]);
    // A late joiner reads it in the welcome.
    let out = join(&mut room, "b", "student");
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Send { msg: ServerMessage::Welcome { room, .. }, .. } if room.live
    )));
}

/// Any JSON value (deep and wide, but bounded).
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,30}".prop_map(Value::String),
        pick(IDS).prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(serde_json::Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    pick(&[
                        "type",
                        "text",
                        "participant_id",
                        "poll_id",
                        "choices",
                        "options",
                        "question",
                        "enabled",
                        "message_id",
                        "emoji",
                        "mic",
                        "camera",
                        "id",
                        "stage",
                        "reason",
                        "muted",
                        "reply_to",
                        "duration_s",
                        "multiple",
                    ])
                    .prop_map(str::to_owned),
                    "[a-z_]{1,10}",
                ],
                inner,
                0..6,
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A frame as a client might send it: any JSON, often with a real type.
fn json_frame() -> impl Strategy<Value = String> {
    const TYPES: &[&str] = &[
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
        "nope",
    ];
    (json_value(), proptest::option::of(pick(TYPES))).prop_map(|(mut v, ty)| {
        if let (Some(ty), Some(obj)) = (ty, v.as_object_mut()) {
            obj.insert("type".into(), ty.into());
        }
        v.to_string()
    })
}

/// Outputs one input may make, at most: a welcome and results per poll for
/// everyone admitted at once, and a few messages per participant.
fn output_bound(room: &Room) -> usize {
    let people = room.members.len() + room.waiting.len() + 1;
    16 + people * (6 + room.polls.len())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 1000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Arbitrary JSON frames from several roles: the parser answers every
    /// frame; what parses goes into the room, which never panics, keeps its
    /// invariants and answers each input with bounded work.
    #[test]
    fn arbitrary_json_frames_from_several_roles(
        frames in proptest::collection::vec((json_frame(), 0usize..6, 0i64..400), 0..60),
    ) {
        let mut room = Room::new("s");
        let people = [("i0", "instructor"), ("s0", "student"), ("s1", "student"), ("g0", "guest"), ("x", "root")];
        for (id, role) in people {
            join(&mut room, id, role);
        }
        let mut at = T0;
        for (i, (frame, who, dt)) in frames.iter().enumerate() {
            at += dt;
            let Ok(msg) = parse(frame) else { continue };
            let from = people.get(*who).map_or("nobody", |p| p.0);
            let bound = output_bound(&room);
            let (out, fx) = room.apply(Input::Message { from: from.into(), msg, id: format!("m{i}"), at_ms: at });
            prop_assert!(out.len() <= bound, "{} outputs > {bound}", out.len());
            prop_assert!(fx.len() <= bound, "{} effects > {bound}", fx.len());
            if let Err(e) = check_invariants(&room) {
                return Err(TestCaseError::fail(e));
            }
        }
    }

    /// Arbitrary bytes into the protocol's parser: an error, never a panic;
    /// anything over the frame limit is `too_large`.
    #[test]
    fn arbitrary_bytes_never_panic_the_parser(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse(&text);
        let mut big = text.into_owned();
        while big.len() <= MAX_FRAME_BYTES {
            big.push_str("{\"type\":\"chat\",\"text\":\"x\"}");
        }
        prop_assert_eq!(parse(&big), Err(FrameError::TooLarge));
    }

    /// Valid messages from several roles over the rate limits: no panic,
    /// bounded outputs, and a sender's broadcasts stay within its budget.
    #[test]
    fn floods_of_valid_messages_stay_within_the_rate_limits(
        msgs in proptest::collection::vec((client_message(), 0usize..4), 0..200),
    ) {
        let mut room = Room::new("s");
        let people = [("i0", "instructor"), ("s0", "student"), ("s1", "student"), ("g0", "guest")];
        for (id, role) in people {
            join(&mut room, id, role);
        }
        let mut broadcasts: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, (msg, who)) in msgs.into_iter().enumerate() {
            let from = people.get(who).map_or("nobody", |p| p.0);
            let limited = matches!(msg, ClientMessage::RaiseHand | ClientMessage::LowerHand | ClientMessage::MediaState { .. });
            let bound = output_bound(&room);
            // All in the same second.
            let (out, _) = room.apply(Input::Message { from: from.into(), msg, id: format!("m{i}"), at_ms: T0 });
            prop_assert!(out.len() <= bound);
            if limited && out.iter().any(|o| matches!(o, Output::Send { to: Target::All, .. })) {
                *broadcasts.entry(from).or_default() += 1;
            }
        }
        for (who, n) in broadcasts {
            prop_assert!(n <= CHAT_BURST as usize, "{who}: {n} hand/media broadcasts in one instant");
        }
    }
}
