//! The replication machine against a simulated broker: processes wired by
//! an in-memory channel that keeps one order (like the real brokers) but
//! can lose payloads for one process (an outage, a lagged receiver: both
//! count a gap), hold them back (a slow subscriber) or carry them twice.

use std::collections::VecDeque;

use super::*;
use crate::control::hub::envelope::{encode, Parts};
use crate::control::protocol::{ClientMessage, MAX_CHAT_CHARS};
use crate::control::room::Identity;

const SESSION: &str = "s1";

/// One server process: its replica, and what the room task would have done.
struct Process {
    node: String,
    replica: Replica,
    /// Payloads the broker has for it, oldest first.
    inbox: VecDeque<String>,
    parts: Parts,
    /// The broker's gap count for its subscription.
    gaps: u64,
    delivered: Vec<Output>,
    effects: Vec<Effect>,
    resynced: usize,
}

struct Cluster {
    processes: Vec<Process>,
    now: Instant,
    at_ms: i64,
    ids: u64,
}

impl Cluster {
    fn new() -> Self {
        Cluster {
            processes: Vec::new(),
            now: Instant::now(),
            at_ms: 1_000_000,
            ids: 0,
        }
    }

    fn id(&mut self) -> String {
        self.ids += 1;
        format!("id{}", self.ids)
    }

    /// A process starts the room: it subscribes, then asks for a copy.
    fn start(&mut self) -> usize {
        let node = format!("node{}", self.processes.len());
        let nonce = self.id();
        let (replica, actions) = Replica::join(&node, SESSION, 0, nonce, self.now);
        self.processes.push(Process {
            node,
            replica,
            inbox: VecDeque::new(),
            parts: Parts::default(),
            gaps: 0,
            delivered: Vec::new(),
            effects: Vec::new(),
            resynced: 0,
        });
        let p = self.processes.len() - 1;
        self.carry_out(p, actions);
        p
    }

    /// What the room task does with process `p`'s actions.
    fn carry_out(&mut self, p: usize, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Publish(envelope) => self.publish(&envelope),
                Action::Deliver(outputs) => self.processes[p].delivered.extend(outputs),
                Action::RunEffects(effects) => self.processes[p].effects.extend(effects),
                Action::Resynced => {
                    let process = &mut self.processes[p];
                    process.resynced += 1;
                    let again = process.replica.welcome_again(["a"]);
                    process.delivered.extend(again);
                }
                Action::Enforce { .. } | Action::Promote { .. } | Action::Layout { .. } => {}
            }
        }
    }

    /// Every subscribed process gets the payloads, in one order.
    fn publish(&mut self, envelope: &Envelope) {
        let id = self.id();
        let payloads = encode(envelope, || id).expect("encodes");
        for process in &mut self.processes {
            process.inbox.extend(payloads.iter().cloned());
        }
    }

    /// Process `p` reads one payload; `false` when it had none.
    fn step(&mut self, p: usize) -> bool {
        let Some(payload) = self.processes[p].inbox.pop_front() else {
            return false;
        };
        let process = &mut self.processes[p];
        let actions = match process.parts.envelope(&payload) {
            Some(envelope) => process.replica.envelope(envelope),
            None => Vec::new(),
        };
        self.carry_out(p, actions);
        true
    }

    /// Every process reads until nothing is left anywhere.
    fn settle(&mut self) {
        while (0..self.processes.len()).any(|p| self.step(p)) {}
    }

    /// The broker loses the next `n` payloads for process `p`, and says so.
    fn lose(&mut self, p: usize, n: usize) {
        let process = &mut self.processes[p];
        process.inbox.drain(..n.min(process.inbox.len()));
        process.gaps += 1;
    }

    /// Time passes for process `p`: its room task's tick (and, while
    /// joining, the fallback to storage when the wait is over).
    fn tick(&mut self, p: usize, after: Duration) {
        self.now += after;
        self.at_ms += after.as_millis() as i64;
        let (now, at_ms, nonce) = (self.now, self.at_ms, self.id());
        let process = &mut self.processes[p];
        let mut actions = Vec::new();
        if process.replica.joining_until().is_some_and(|t| now >= t) {
            actions.extend(process.replica.restored(Room::new(SESSION)));
        }
        actions.extend(process.replica.gaps(process.gaps, nonce, now));
        actions.extend(process.replica.tick(now, at_ms, false));
        self.carry_out(p, actions);
    }

    /// An input from a socket of process `p`, published to every copy.
    fn input(&mut self, p: usize, input: Input) {
        let origin = self.processes[p].node.clone();
        self.publish(&Envelope::Input { origin, input });
    }

    fn join(&mut self, p: usize, id: &str) {
        self.at_ms += 1;
        let input = Input::Join {
            who: Identity {
                id: id.into(),
                name: id.to_uppercase(),
                role: "student".into(),
            },
            connection: format!("{id}-c{}", self.at_ms),
            at_ms: self.at_ms,
        };
        self.input(p, input);
    }

    /// Returns the message's id.
    fn chat(&mut self, p: usize, from: &str, text: &str) -> String {
        // A second apart: under the chat rate limit.
        self.at_ms += 1000;
        let id = self.id();
        let input = Input::Message {
            from: from.into(),
            msg: ClientMessage::Chat {
                text: text.into(),
                reply_to: None,
            },
            id: id.clone(),
            at_ms: self.at_ms,
        };
        self.input(p, input);
        id
    }

    fn room(&self, p: usize) -> serde_json::Value {
        self.processes[p].replica.room().expect("live").export()
    }

    fn chat_texts(&self, p: usize) -> Vec<String> {
        let room = self.room(p);
        let copy: Room = Room::import(SESSION, &room).expect("imports");
        let outputs = copy.welcome_again(["a"]);
        outputs
            .into_iter()
            .find_map(|o| match o {
                Output::Send {
                    msg: ServerMessage::Welcome { room, .. },
                    ..
                } => Some(room.chat.into_iter().map(|m| m.text).collect()),
                _ => None,
            })
            .unwrap_or_default()
    }
}

/// A started room that nobody else had: restored from storage, live, with
/// participant `a` in it.
fn lone_room(cluster: &mut Cluster) -> usize {
    let a = cluster.start();
    cluster.settle();
    assert!(
        cluster.processes[a].replica.room().is_none(),
        "waits for a copy"
    );
    cluster.tick(a, SYNC_WAIT + Duration::from_millis(1));
    assert!(
        cluster.processes[a].replica.room().is_some(),
        "nobody answered"
    );
    cluster.join(a, "a");
    cluster.settle();
    a
}

/// Two processes with the same copy of the room.
fn two_in_step() -> (Cluster, usize, usize) {
    let mut cluster = Cluster::new();
    let a = lone_room(&mut cluster);
    let b = cluster.start();
    cluster.settle();
    assert_eq!(cluster.room(a), cluster.room(b));
    (cluster, a, b)
}

/// `b` took one fresh copy, and holds what `a` holds.
fn assert_resynced(cluster: &Cluster, a: usize, b: usize) {
    assert_eq!(cluster.processes[b].resynced, 1);
    assert_eq!(cluster.room(a), cluster.room(b));
}

fn sync_requests(cluster: &Cluster, p: usize) -> usize {
    cluster.processes[p]
        .inbox
        .iter()
        .filter(|payload| payload.contains("\"sync_request\""))
        .count()
}

#[test]
fn a_joining_process_copies_the_room_and_what_follows_its_request() {
    let mut cluster = Cluster::new();
    let a = lone_room(&mut cluster);
    cluster.chat(a, "a", "before");
    cluster.settle();
    let b = cluster.start();
    // Published after b's request, before a answered it: not in the copy,
    // so b holds it and applies it to the copy.
    cluster.chat(a, "a", "meanwhile");
    cluster.settle();
    assert_eq!(cluster.room(a), cluster.room(b));
    assert_eq!(cluster.chat_texts(b), ["before", "meanwhile"]);
    // Effects ran once, where the input came from.
    let stored = |p: usize| {
        cluster.processes[p]
            .effects
            .iter()
            .filter(|e| matches!(e, Effect::StoreChat(_)))
            .count()
    };
    assert_eq!((stored(a), stored(b)), (2, 0));
    // Both go on in step.
    cluster.join(b, "b");
    cluster.chat(b, "b", "after");
    cluster.settle();
    assert_eq!(cluster.room(a), cluster.room(b));
}

#[test]
fn a_process_that_misses_events_detects_the_gap_resyncs_and_converges() {
    let (mut cluster, a, b) = two_in_step();

    cluster.chat(a, "a", "one");
    cluster.chat(a, "a", "two");
    cluster.chat(a, "a", "three");
    // The broker loses two of them for b (an outage, or b's receiver lagged).
    cluster.lose(b, 2);
    cluster.settle();
    assert_ne!(cluster.room(a), cluster.room(b), "b missed events");
    assert_eq!(cluster.chat_texts(b), ["three"]);

    // b's next tick sees the gap and asks for the room.
    cluster.tick(b, Duration::from_secs(1));
    assert_eq!(sync_requests(&cluster, a), 1);
    // An input after the request and before the answer (a reads its inbox
    // late) reaches b's old copy and, again, its new one.
    cluster.chat(a, "a", "four");
    cluster.settle();
    assert_resynced(&cluster, a, b);
    assert_eq!(cluster.chat_texts(b), ["one", "two", "three", "four"]);
    // b's members got the room again.
    assert!(cluster.processes[b].delivered.iter().any(|o| matches!(
        o,
        Output::Send { msg: ServerMessage::Welcome { room, .. }, .. } if room.chat.len() == 4
    )));

    // The same gap count asks for nothing more.
    cluster.tick(b, Duration::from_secs(1));
    assert_eq!(sync_requests(&cluster, a), 0);
}

#[test]
fn a_gap_while_joining_is_resynced_once_live() {
    let mut cluster = Cluster::new();
    let a = lone_room(&mut cluster);
    let b = cluster.start();
    cluster.lose(b, 0);
    cluster.settle();
    assert!(cluster.processes[b].replica.room().is_some());
    cluster.tick(b, Duration::from_secs(1));
    assert_eq!(sync_requests(&cluster, a), 1);
    cluster.settle();
    assert_resynced(&cluster, a, b);
}

#[test]
fn duplicate_and_stale_envelopes_are_ignored() {
    let (mut cluster, a, b) = two_in_step();
    cluster.chat(a, "a", "hello");
    cluster.settle();
    let before = cluster.room(b);

    // A copy answering someone else's request, and our own request's echo.
    let stale = Envelope::SnapshotPart {
        nonce: "not-ours".into(),
        index: 0,
        total: 1,
        data: Room::new(SESSION).export().to_string(),
    };
    cluster.publish(&stale);
    let echo = Envelope::SyncRequest {
        origin: cluster.processes[b].node.clone(),
        nonce: "n".into(),
    };
    let answered = cluster.processes[b].replica.envelope(echo);
    assert!(answered.is_empty(), "a process does not answer itself");
    cluster.settle();
    assert_eq!(cluster.room(b), before);

    // A resync nobody answers in time is given up; its late answer changes
    // nothing.
    cluster.lose(b, 0);
    cluster.tick(b, Duration::from_secs(1));
    let nonce = match cluster.processes[b].inbox.back() {
        Some(payload) => match Parts::default().envelope(payload) {
            Some(Envelope::SyncRequest { nonce, .. }) => nonce,
            other => panic!("{other:?}"),
        },
        None => panic!("no request"),
    };
    cluster.processes.iter_mut().for_each(|p| p.inbox.clear());
    cluster.tick(b, SYNC_WAIT + Duration::from_millis(1));
    let late = Envelope::SnapshotPart {
        nonce,
        index: 0,
        total: 1,
        data: Room::new(SESSION).export().to_string(),
    };
    cluster.publish(&late);
    cluster.settle();
    assert_eq!(cluster.processes[b].resynced, 0);
    assert_eq!(cluster.chat_texts(b), ["hello"]);

    // The pieces of an answer carried twice (a publish retried across a
    // reconnection) put the copy together once.
    cluster.lose(b, 0);
    cluster.tick(b, Duration::from_secs(1));
    cluster.step(a);
    let answer: Vec<String> = cluster.processes[b]
        .inbox
        .iter()
        .filter(|p| p.contains("\"snapshot_part\""))
        .cloned()
        .collect();
    assert!(!answer.is_empty());
    cluster.processes[b].inbox.extend(answer);
    cluster.settle();
    assert_resynced(&cluster, a, b);
}

#[test]
fn an_input_carried_twice_is_applied_once() {
    let (mut cluster, a, b) = two_in_step();
    let message_id = cluster.chat(a, "a", "once");
    cluster.settle();
    // A reaction toggles: applied twice, it would be undone.
    cluster.at_ms += 1000;
    let id = cluster.id();
    let react = Input::Message {
        from: "a".into(),
        msg: ClientMessage::React {
            message_id,
            emoji: "👍".into(),
        },
        id,
        at_ms: cluster.at_ms,
    };
    cluster.input(a, react);
    // The broker carries the payload again (a publish retried across a
    // reconnection).
    for p in [a, b] {
        let again = cluster.processes[p]
            .inbox
            .back()
            .cloned()
            .expect("the reaction");
        cluster.processes[p].inbox.push_back(again);
    }
    cluster.settle();
    assert_eq!(cluster.room(a), cluster.room(b));
    let welcome = cluster.processes[a].replica.welcome_again(["a"]);
    let reacted = welcome.iter().any(|o| {
        matches!(o, Output::Send { msg: ServerMessage::Welcome { room, .. }, .. }
            if room.chat.iter().any(|m| m.reactions.contains_key("👍")))
    });
    assert!(reacted, "the reaction stands");
    let stored = cluster.processes[a]
        .effects
        .iter()
        .filter(|e| matches!(e, Effect::StoreReaction(_) | Effect::RemoveReaction(_)))
        .count();
    assert_eq!(stored, 1);
}

#[test]
fn a_copy_larger_than_one_piece_joins_back_whatever_the_order() {
    let mut cluster = Cluster::new();
    let a = lone_room(&mut cluster);
    let long = "\"é\n".repeat(MAX_CHAT_CHARS / 3);
    for _ in 0..30 {
        cluster.chat(a, "a", &long);
    }
    cluster.settle();
    let mut b = Replica::join("nodeb", SESSION, 0, "nb".into(), cluster.now).0;
    let request = Envelope::SyncRequest {
        origin: "nodeb".into(),
        nonce: "nb".into(),
    };
    let answer = cluster.processes[a].replica.envelope(request.clone());
    let mut pieces: Vec<Envelope> = answer
        .into_iter()
        .map(|action| match action {
            Action::Publish(envelope) => *envelope,
            other => panic!("{other:?}"),
        })
        .collect();
    assert!(pieces.len() > 3, "{} pieces", pieces.len());
    for piece in &pieces {
        let payloads = encode(piece, || "x".into()).expect("encodes");
        assert_eq!(payloads.len(), 1, "a piece fits one payload");
    }
    assert!(b.envelope(request).is_empty());
    pieces.reverse();
    let last = pieces.pop().expect("pieces");
    for piece in pieces {
        assert!(b.envelope(piece).is_empty());
        assert!(b.room().is_none());
    }
    b.envelope(last);
    assert_eq!(
        b.room().map(Room::export),
        cluster.processes[a].replica.room().map(Room::export)
    );
}

#[test]
fn the_publishing_process_tells_the_others_it_is_live() {
    let (mut cluster, a, b) = two_in_step();
    let (now, at_ms) = (cluster.now, cluster.at_ms);
    let actions = cluster.processes[a].replica.tick(now, at_ms, true);
    assert!(actions
        .iter()
        .any(|a| *a == Action::Publish(Box::new(Envelope::Live { live: true }))));
    cluster.carry_out(a, actions);
    cluster.settle();
    assert!(cluster.processes[b].replica.cluster_live);
    // Said once, not every tick.
    let again = cluster.processes[a].replica.tick(now, at_ms, true);
    assert!(!again.iter().any(|a| matches!(a, Action::Publish(_))));
}

fn publish_of(id: &str, who: &str, kind: &str) -> Publish {
    Publish {
        id: id.into(),
        kind: kind.into(),
        participant_id: who.into(),
        name: who.into(),
        main: kind == "camera",
        ready: true,
        started_at: format!("2026-12-06T09:00:0{}Z", id.len() % 10),
    }
}

/// The `publishes` lists process `p` delivered, oldest first.
fn publishes_delivered(cluster: &Cluster, p: usize) -> Vec<Vec<String>> {
    cluster.processes[p]
        .delivered
        .iter()
        .filter_map(|o| match o {
            Output::Send {
                msg: ServerMessage::Publishes { publishes },
                ..
            } => Some(publishes.iter().map(|p| p.id.clone()).collect()),
            _ => None,
        })
        .collect()
}

#[test]
fn every_process_shows_the_publishes_each_one_holds() {
    let (mut cluster, a, b) = two_in_step();
    // `a` holds the camera, `b` a student on stage.
    let camera = publish_of("c", "alice", "camera");
    let stage = publish_of("st", "bob", "stage");
    let actions = cluster.processes[a].replica.publishes(vec![camera.clone()]);
    cluster.carry_out(a, actions);
    let actions = cluster.processes[b].replica.publishes(vec![stage.clone()]);
    cluster.carry_out(b, actions);
    cluster.settle();
    for p in [a, b] {
        assert_eq!(
            publishes_delivered(&cluster, p).last(),
            Some(&vec!["c".to_owned(), "st".to_owned()]),
            "process {p} shows both, oldest first"
        );
    }
    // Nothing new, nothing said; every few ticks the same list again.
    let quiet = cluster.processes[a].replica.publishes(vec![camera.clone()]);
    assert!(!quiet.iter().any(|x| matches!(x, Action::Publish(_))));
    let mut told = false;
    for _ in 0..PUBLISHES_BEAT_TICKS {
        let actions = cluster.processes[a].replica.publishes(vec![camera.clone()]);
        told |= actions.iter().any(|x| matches!(x, Action::Publish(_)));
    }
    assert!(told, "a beat for processes that joined since");
    // The student stops: gone everywhere.
    let actions = cluster.processes[b].replica.publishes(Vec::new());
    cluster.carry_out(b, actions);
    cluster.settle();
    assert_eq!(
        publishes_delivered(&cluster, a).last(),
        Some(&vec!["c".to_owned()])
    );
    // A process that falls silent (it died) takes its publishes with it.
    for _ in 0..=PUBLISHES_EXPIRE_TICKS {
        let actions = cluster.processes[b].replica.publishes(Vec::new());
        cluster.carry_out(b, actions);
    }
    cluster.processes[a].inbox.clear();
    cluster.settle();
    assert_eq!(
        publishes_delivered(&cluster, b).last(),
        Some(&Vec::<String>::new()),
        "a's camera expired at b"
    );
}
