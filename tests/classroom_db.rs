//! The classroom's persistence (chat, reactions, attendance, hands, polls,
//! bans) and the session report, on SQLite and PostgreSQL.

#[macro_use]
mod common;

use std::collections::BTreeMap;
use std::ops::Deref;

use axum::http::{Method, StatusCode};
use classcast::auth::Role;
use classcast::control::protocol::{ChatMessage, Poll, PollResults};
use classcast::control::report::{session_report, SessionReport};
use classcast::control::stored::{chat_row, poll_row};
use classcast::db::{Db, DbError};
use classcast::time::{now_ms, rfc3339};
use common::{token, Backend, TestApp};

const MIN: i64 = 60_000;
/// A fixed origin for the times the tests store.
const T0: i64 = 1_800_000_000_000;

/// The database through the control plane's types, the way the room and
/// the report endpoint use it (storage has its own row types).
struct Classroom<'a>(&'a Db);

impl Deref for Classroom<'_> {
    type Target = Db;
    fn deref(&self) -> &Db {
        self.0
    }
}

/// A poll as stored, in the socket's types.
struct StoredPoll {
    poll: Poll,
    created_at: i64,
    closes_at: Option<i64>,
    closed_at: Option<i64>,
    results: Option<PollResults>,
}

impl Classroom<'_> {
    async fn store_chat(&self, sid: &str, msg: &ChatMessage, at_ms: i64) -> Result<bool, DbError> {
        self.0.store_chat(sid, &chat_row(msg, at_ms)).await
    }

    async fn chat_history(&self, sid: &str, limit: usize) -> Result<Vec<ChatMessage>, DbError> {
        let rows = self.0.chat_history(sid, limit).await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn store_poll(
        &self,
        sid: &str,
        poll: &Poll,
        created_at_ms: i64,
        closes_at_ms: Option<i64>,
    ) -> Result<bool, DbError> {
        let row = poll_row(sid, poll, created_at_ms, closes_at_ms);
        self.0.store_poll(&row).await
    }

    async fn close_poll(
        &self,
        poll_id: &str,
        results: &PollResults,
        at_ms: i64,
    ) -> Result<bool, DbError> {
        self.0.close_poll(poll_id, &results.into(), at_ms).await
    }

    async fn polls(&self, sid: &str) -> Result<Vec<StoredPoll>, DbError> {
        let rows = self.0.polls(sid).await?;
        Ok(rows
            .into_iter()
            .map(|p| StoredPoll {
                poll: (&p).into(),
                created_at: p.created_at,
                closes_at: p.closes_at,
                closed_at: p.closed_at,
                results: p.results.map(Into::into),
            })
            .collect())
    }

    async fn session_report(&self, sid: &str, now_ms: i64) -> Result<SessionReport, DbError> {
        Ok(session_report(sid, self.0.report_rows(sid).await?, now_ms))
    }
}

async fn session(app: &TestApp) -> String {
    let alice = token(Role::Instructor, "alice", None);
    app.create_session(&alice, "Classroom").await
}

fn chat(id: &str, sender: &str, text: &str, at_ms: i64) -> ChatMessage {
    ChatMessage {
        id: id.into(),
        sender_id: sender.into(),
        sender_name: format!("{sender} name"),
        text: text.into(),
        at: rfc3339(at_ms),
        reply_to: None,
        mentions: Vec::new(),
        reactions: BTreeMap::new(),
    }
}

fn poll(id: &str, options: &[&str]) -> Poll {
    Poll {
        id: id.into(),
        question: format!("question {id}?"),
        options: options.iter().map(|o| o.to_string()).collect(),
        multiple: false,
        share_results: false,
        closes_at: None,
        closed: false,
    }
}

fn results(poll_id: &str, counts: &[u64]) -> PollResults {
    let respondents: u64 = counts.iter().sum();
    PollResults {
        poll_id: poll_id.into(),
        counts: counts.to_vec(),
        percentages: counts
            .iter()
            .map(|&c| c as f64 * 100.0 / respondents.max(1) as f64)
            .collect(),
        respondents,
    }
}

fn ids(history: &[ChatMessage]) -> Vec<&str> {
    history.iter().map(|m| m.id.as_str()).collect()
}

async fn check_chat_history(app: &TestApp) {
    let db = &Classroom(&app.state.db);
    let sid = session(app).await;
    let other = session(app).await;

    let mut m1 = chat("m1", "bob", "hello", T0);
    m1.mentions = vec!["carol".into(), "alice".into()];
    assert!(db.store_chat(&sid, &m1, T0).await.expect("store"));
    // Same millisecond: insertion order decides.
    let mut m2 = chat("m2", "carol", "hi @bob", T0 + 1000);
    m2.reply_to = Some("m1".into());
    m2.mentions = vec!["bob".into()];
    assert!(db.store_chat(&sid, &m2, T0 + 1000).await.expect("store"));
    let m3 = chat("m3", "bob", "same ms", T0 + 1000);
    assert!(db.store_chat(&sid, &m3, T0 + 1000).await.expect("store"));
    let m4 = chat("m4", "alice", "welcome", T0 + 2000);
    assert!(db.store_chat(&sid, &m4, T0 + 2000).await.expect("store"));
    // Another session's message stays out.
    let x = chat("x1", "eve", "elsewhere", T0 + 1500);
    assert!(db.store_chat(&other, &x, T0 + 1500).await.expect("store"));

    // Idempotent: a repeated store changes nothing.
    assert!(!db.store_chat(&sid, &m1, T0 + 9000).await.expect("again"));

    let h = db.chat_history(&sid, 50).await.expect("history");
    assert_eq!(ids(&h), ["m1", "m2", "m3", "m4"]);
    assert_eq!(h[0], m1, "round trip with mentions");
    assert_eq!(h[1], m2, "round trip with reply_to");
    assert_eq!(h[0].at, rfc3339(T0));

    // The limit keeps the newest, still oldest first.
    let h = db.chat_history(&sid, 2).await.expect("history");
    assert_eq!(ids(&h), ["m3", "m4"]);
    assert!(db.chat_history(&sid, 0).await.expect("none").is_empty());
    assert!(db
        .chat_history("nope", 10)
        .await
        .expect("unknown")
        .is_empty());

    // Deleted: gone from the history, once.
    assert!(db.delete_chat("m3", T0 + 3000).await.expect("delete"));
    assert!(!db.delete_chat("m3", T0 + 4000).await.expect("again"));
    assert!(!db.delete_chat("nope", T0 + 4000).await.expect("unknown"));
    let h = db.chat_history(&sid, 50).await.expect("history");
    assert_eq!(ids(&h), ["m1", "m2", "m4"]);
    let h = db.chat_history(&sid, 2).await.expect("history");
    assert_eq!(ids(&h), ["m2", "m4"]);
}

async fn check_reactions(app: &TestApp) {
    let db = &Classroom(&app.state.db);
    let sid = session(app).await;
    for (i, id) in ["m1", "m2", "m3"].into_iter().enumerate() {
        let at = T0 + i as i64 * 1000;
        db.store_chat(&sid, &chat(id, "bob", id, at), at)
            .await
            .expect("store");
    }
    assert!(db
        .store_reaction("m1", "carol", "👍", T0 + 10)
        .await
        .expect("react"));
    assert!(db
        .store_reaction("m1", "alice", "👍", T0 + 20)
        .await
        .expect("react"));
    assert!(db
        .store_reaction("m1", "alice", "🎉", T0 + 30)
        .await
        .expect("react"));
    assert!(db
        .store_reaction("m2", "bob", "❤️", T0 + 40)
        .await
        .expect("react"));
    // Idempotent.
    assert!(!db
        .store_reaction("m1", "carol", "👍", T0 + 50)
        .await
        .expect("again"));
    // A reaction to a message that is not stored (yet) is kept, not shown.
    assert!(db
        .store_reaction("later", "bob", "👍", T0 + 60)
        .await
        .expect("orphan"));

    let h = db.chat_history(&sid, 10).await.expect("history");
    assert_eq!(ids(&h), ["m1", "m2", "m3"]);
    let want: BTreeMap<String, Vec<String>> = [
        (
            "👍".to_owned(),
            vec!["carol".to_owned(), "alice".to_owned()],
        ),
        ("🎉".to_owned(), vec!["alice".to_owned()]),
    ]
    .into();
    assert_eq!(h[0].reactions, want, "in the order they reacted");
    assert_eq!(h[1].reactions.len(), 1);
    assert_eq!(h[1].reactions["❤️"], ["bob"]);
    assert!(h[2].reactions.is_empty());
    // With a limit, the kept messages keep their reactions.
    let h = db.chat_history(&sid, 2).await.expect("history");
    assert_eq!(ids(&h), ["m2", "m3"]);
    assert_eq!(h[0].reactions["❤️"], ["bob"]);

    assert!(db
        .remove_reaction("m1", "carol", "👍")
        .await
        .expect("remove"));
    assert!(!db
        .remove_reaction("m1", "carol", "👍")
        .await
        .expect("again"));
    let h = db.chat_history(&sid, 10).await.expect("history");
    assert_eq!(h[0].reactions["👍"], ["alice"]);
}

async fn check_attendance(app: &TestApp) {
    let db = &Classroom(&app.state.db);
    let sid = session(app).await;
    let other = session(app).await;

    // bob: two closed stays (10 + 5 minutes) and an open one from minute 30.
    let a = db
        .attendance_join(&sid, "bob", "Bob", "student", "node-a", T0)
        .await
        .expect("join");
    assert_eq!(
        db.attendance_leave(&sid, "bob", T0 + 10 * MIN)
            .await
            .expect("leave"),
        1
    );
    // Leaving again closes nothing.
    assert_eq!(
        db.attendance_leave(&sid, "bob", T0 + 11 * MIN)
            .await
            .expect("leave"),
        0
    );
    let b = db
        .attendance_join(&sid, "bob", "Bob", "student", "node-a", T0 + 20 * MIN)
        .await
        .expect("join");
    assert_ne!(a, b, "a row per stay");
    db.attendance_leave(&sid, "bob", T0 + 25 * MIN)
        .await
        .expect("leave");
    db.attendance_join(&sid, "bob", "Bobby", "student", "node-a", T0 + 30 * MIN)
        .await
        .expect("join");
    // carol: one stay from minute 5 to 17.
    db.attendance_join(&sid, "carol", "Carol", "student", "node-a", T0 + 5 * MIN)
        .await
        .expect("join");
    db.attendance_leave(&sid, "carol", T0 + 17 * MIN)
        .await
        .expect("leave");
    // A leave stamped before the join (clock skew) counts as zero, not less.
    db.attendance_join(&sid, "dave", "Dave", "guest", "node-a", T0 + 8 * MIN)
        .await
        .expect("join");
    db.attendance_leave(&sid, "dave", T0 + 7 * MIN)
        .await
        .expect("leave");
    // bob in another session is another matter.
    db.attendance_join(&other, "bob", "Bob", "student", "node-a", T0)
        .await
        .expect("join");

    let r = db
        .session_report(&sid, T0 + 40 * MIN)
        .await
        .expect("report");
    assert_eq!(r.session_id, sid);
    assert_eq!(r.generated_at, rfc3339(T0 + 40 * MIN));
    let who: Vec<&str> = r
        .participants
        .iter()
        .map(|p| p.participant_id.as_str())
        .collect();
    assert_eq!(who, ["bob", "carol", "dave"], "by first join");
    let bob = &r.participants[0];
    assert_eq!(bob.attendance_minutes, 25.0, "10 + 5 + 10 (open)");
    assert_eq!(bob.joins, 3);
    assert_eq!(bob.name, "Bobby", "the last join's name");
    assert_eq!(bob.role, "student");
    assert_eq!(bob.first_join.as_deref(), Some(rfc3339(T0).as_str()));
    assert_eq!(bob.last_leave, None, "still present");
    assert!(bob.present);
    let carol = &r.participants[1];
    assert_eq!(carol.attendance_minutes, 12.0);
    assert_eq!(carol.joins, 1);
    assert_eq!(
        carol.last_leave.as_deref(),
        Some(rfc3339(T0 + 17 * MIN).as_str())
    );
    assert!(!carol.present);
    assert_eq!(r.participants[2].attendance_minutes, 0.0);
    assert_eq!(r.totals.participants, 3);

    // Another server process (instance) holds a stay of erin's.
    db.attendance_join(&sid, "erin", "Erin", "student", "node-z", T0 + 30 * MIN)
        .await
        .expect("join");
    // A restart of node-a closes node-a's open stays, once, and leaves the
    // other process's stay open.
    assert_eq!(
        db.close_open_attendance("node-a", T0 + 45 * MIN)
            .await
            .expect("close"),
        2
    );
    assert_eq!(
        db.close_open_attendance("node-a", T0 + 46 * MIN)
            .await
            .expect("close"),
        0
    );
    let r = db
        .session_report(&sid, T0 + 50 * MIN)
        .await
        .expect("report");
    let erin = r
        .participants
        .iter()
        .find(|p| p.participant_id == "erin")
        .expect("erin");
    assert!(erin.present, "node-z's stay is still open");
    db.attendance_leave(&sid, "erin", T0 + 50 * MIN)
        .await
        .expect("leave");
    let r = db
        .session_report(&sid, T0 + 90 * MIN)
        .await
        .expect("report");
    let bob = &r.participants[0];
    assert_eq!(bob.attendance_minutes, 30.0, "10 + 5 + 15");
    assert!(!bob.present);
    assert_eq!(
        bob.last_leave.as_deref(),
        Some(rfc3339(T0 + 45 * MIN).as_str())
    );
}

async fn check_hands_polls_and_bans(app: &TestApp) {
    let db = &Classroom(&app.state.db);
    let sid = session(app).await;

    // Hands: every raise counts.
    db.record_hand(&sid, "bob", T0).await.expect("hand");
    db.record_hand(&sid, "bob", T0 + 1000).await.expect("hand");
    db.record_hand(&sid, "carol", T0 + 2000)
        .await
        .expect("hand");

    // Polls: stored once.
    let mut p1 = poll("p1", &["yes", "no"]);
    p1.share_results = true;
    p1.closes_at = Some(rfc3339(T0 + MIN));
    assert!(db
        .store_poll(&sid, &p1, T0, Some(T0 + MIN))
        .await
        .expect("poll"));
    assert!(!db.store_poll(&sid, &p1, T0 + 5, None).await.expect("again"));
    let mut p2 = poll("p2", &["a", "b", "c"]);
    p2.multiple = true;
    assert!(db
        .store_poll(&sid, &p2, T0 + 1000, None)
        .await
        .expect("poll"));

    // Answers: the first one counts.
    assert!(db
        .store_answer("p1", "bob", &[0], T0 + 10)
        .await
        .expect("answer"));
    assert!(!db
        .store_answer("p1", "bob", &[1], T0 + 20)
        .await
        .expect("again"));
    assert!(db
        .store_answer("p1", "carol", &[1], T0 + 30)
        .await
        .expect("answer"));
    assert!(db
        .store_answer("p2", "bob", &[0, 2], T0 + 40)
        .await
        .expect("answer"));

    let polls = db.polls(&sid).await.expect("polls");
    assert_eq!(polls.len(), 2);
    assert_eq!(polls[0].poll, p1, "open, as stored");
    assert_eq!(polls[0].created_at, T0);
    assert_eq!(polls[0].closes_at, Some(T0 + MIN));
    assert_eq!(polls[1].poll, p2);
    assert!(polls
        .iter()
        .all(|p| p.results.is_none() && p.closed_at.is_none()));

    // Closing: the first close wins.
    let final1 = results("p1", &[1, 1]);
    assert!(db.close_poll("p1", &final1, T0 + MIN).await.expect("close"));
    assert!(!db
        .close_poll("p1", &results("p1", &[9, 9]), T0 + 2 * MIN)
        .await
        .expect("again"));
    assert!(!db.close_poll("nope", &final1, T0).await.expect("unknown"));
    let polls = db.polls(&sid).await.expect("polls");
    assert!(polls[0].poll.closed);
    assert_eq!(
        polls[0].poll.closes_at.as_deref(),
        Some(rfc3339(T0 + MIN).as_str())
    );
    assert_eq!(polls[0].closed_at, Some(T0 + MIN));
    assert_eq!(polls[0].results.as_ref(), Some(&final1));
    assert!(!polls[1].poll.closed);
    assert!(db.polls("nope").await.expect("none").is_empty());

    // The report: stored results for the closed poll, a live tally for the
    // open one.
    let r = db.session_report(&sid, T0 + 3 * MIN).await.expect("report");
    assert_eq!(r.totals.hand_raises, 3);
    assert_eq!(r.totals.polls.len(), 2);
    assert_eq!(r.totals.polls[0].id, "p1");
    assert_eq!(r.totals.polls[0].respondents, 2);
    assert_eq!(r.totals.polls[0].results, final1);
    assert!(r.totals.polls[0].closed);
    let live = &r.totals.polls[1];
    assert!(!live.closed);
    assert_eq!(live.respondents, 1);
    assert_eq!(live.results.counts, [1, 0, 1]);
    assert_eq!(live.results.percentages, [100.0, 0.0, 100.0]);
    let bob = r
        .participants
        .iter()
        .find(|p| p.participant_id == "bob")
        .expect("bob, without attendance");
    assert_eq!(bob.hand_raises, 2);
    assert_eq!(bob.polls_answered, 2);
    assert_eq!(bob.role, "unknown");

    // Bans: once, per session.
    assert!(!db.is_banned(&sid, "bob").await.expect("banned?"));
    assert!(db.ban(&sid, "bob", T0).await.expect("ban"));
    assert!(!db.ban(&sid, "bob", T0 + 1).await.expect("again"));
    assert!(db.is_banned(&sid, "bob").await.expect("banned?"));
    assert!(!db.is_banned(&sid, "carol").await.expect("banned?"));
    let other = session(app).await;
    assert!(!db.is_banned(&other, "bob").await.expect("banned?"));
}

async fn check_report_endpoint(app: &TestApp) {
    let db = &Classroom(&app.state.db);
    let alice = token(Role::Instructor, "alice", None);
    let sid = app.create_session(&alice, "Report").await;
    let now = now_ms();
    let t0 = now - 60 * MIN;

    db.attendance_join(&sid, "alice", "Alice", "instructor", "node-b", t0)
        .await
        .expect("join");
    // bob: 30 minutes, then present again for the last 20.
    db.attendance_join(&sid, "bob", "Bob", "student", "node-b", t0 + MIN)
        .await
        .expect("join");
    db.attendance_leave(&sid, "bob", t0 + 31 * MIN)
        .await
        .expect("leave");
    db.attendance_join(&sid, "bob", "Bob", "student", "node-b", t0 + 40 * MIN)
        .await
        .expect("join");
    db.attendance_join(&sid, "carol", "Carol", "student", "node-b", t0 + 2 * MIN)
        .await
        .expect("join");
    db.attendance_leave(&sid, "carol", t0 + 17 * MIN)
        .await
        .expect("leave");
    db.attendance_join(&sid, "dave", "Dave", "guest", "node-b", t0 + 3 * MIN)
        .await
        .expect("join");

    for (i, (id, sender)) in [
        ("c1", "bob"),
        ("c2", "bob"),
        ("c3", "carol"),
        ("c4", "alice"),
    ]
    .into_iter()
    .enumerate()
    {
        let at = t0 + 5 * MIN + i as i64 * 1000;
        db.store_chat(&sid, &chat(id, sender, "text", at), at)
            .await
            .expect("chat");
    }
    // Deleted messages were still sent.
    db.delete_chat("c2", t0 + 6 * MIN).await.expect("delete");
    db.store_reaction("c1", "carol", "👍", t0 + 7 * MIN)
        .await
        .expect("react");
    db.store_reaction("c1", "alice", "👍", t0 + 7 * MIN)
        .await
        .expect("react");
    db.store_reaction("c3", "bob", "🎉", t0 + 7 * MIN)
        .await
        .expect("react");
    db.record_hand(&sid, "bob", t0 + 8 * MIN)
        .await
        .expect("hand");
    db.record_hand(&sid, "bob", t0 + 9 * MIN)
        .await
        .expect("hand");
    db.record_hand(&sid, "carol", t0 + 9 * MIN)
        .await
        .expect("hand");
    db.store_poll(&sid, &poll("q1", &["yes", "no"]), t0 + 10 * MIN, None)
        .await
        .expect("poll");
    db.store_answer("q1", "bob", &[1], t0 + 11 * MIN)
        .await
        .expect("answer");
    db.close_poll("q1", &results("q1", &[0, 1]), t0 + 12 * MIN)
        .await
        .expect("close");

    let r = app
        .call(
            Method::GET,
            &format!("/api/sessions/{sid}/report"),
            Some(&alice),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let v = r.json();
    assert_eq!(v["session_id"], sid.as_str());
    let people = v["participants"].as_array().expect("participants");
    let who: Vec<&str> = people
        .iter()
        .map(|p| p["participant_id"].as_str().expect("id"))
        .collect();
    assert_eq!(who, ["alice", "bob", "carol", "dave"]);
    let minutes = |i: usize| people[i]["attendance_minutes"].as_f64().expect("minutes");
    assert!((minutes(0) - 60.0).abs() < 0.1, "{}", minutes(0));
    assert!((minutes(1) - 50.0).abs() < 0.1, "30 + 20: {}", minutes(1));
    assert_eq!(minutes(2), 15.0);
    assert!((minutes(3) - 57.0).abs() < 0.1, "{}", minutes(3));
    let bob = &people[1];
    assert_eq!(bob["name"], "Bob");
    assert_eq!(bob["role"], "student");
    assert_eq!(bob["joins"], 2);
    assert_eq!(bob["first_join"], rfc3339(t0 + MIN).as_str());
    assert_eq!(bob["last_leave"], serde_json::Value::Null);
    assert_eq!(bob["present"], true);
    assert_eq!(bob["chat_messages"], 2);
    assert_eq!(bob["reactions"], 1);
    assert_eq!(bob["hand_raises"], 2);
    assert_eq!(bob["polls_answered"], 1);
    let carol = &people[2];
    assert_eq!(carol["last_leave"], rfc3339(t0 + 17 * MIN).as_str());
    assert_eq!(carol["chat_messages"], 1);
    assert_eq!(carol["reactions"], 1);
    assert_eq!(carol["hand_raises"], 1);
    assert_eq!(carol["polls_answered"], 0);
    assert_eq!(people[0]["role"], "instructor");
    assert_eq!(people[0]["reactions"], 1);
    assert_eq!(people[3]["role"], "guest");

    let totals = &v["totals"];
    assert_eq!(totals["participants"], 4);
    assert_eq!(totals["chat_messages"], 4);
    assert_eq!(totals["reactions"], 3);
    assert_eq!(totals["hand_raises"], 3);
    assert_eq!(totals["poll_participation"], 0.5, "bob of bob and carol");
    let polls = totals["polls"].as_array().expect("polls");
    assert_eq!(polls.len(), 1);
    assert_eq!(polls[0]["id"], "q1");
    assert_eq!(polls[0]["question"], "question q1?");
    assert_eq!(polls[0]["respondents"], 1);
    assert_eq!(polls[0]["results"]["counts"], serde_json::json!([0, 1]));
    assert_eq!(
        polls[0]["results"]["percentages"],
        serde_json::json!([0.0, 100.0])
    );

    // Only the session's instructor.
    let bob = token(Role::Student, "bob", Some(&sid));
    let mallory = token(Role::Instructor, "mallory", None);
    let path = format!("/api/sessions/{sid}/report");
    for (path, who, want) in [
        (path.as_str(), Some(bob.as_str()), StatusCode::FORBIDDEN),
        (path.as_str(), Some(mallory.as_str()), StatusCode::FORBIDDEN),
        (path.as_str(), None, StatusCode::UNAUTHORIZED),
        (path.as_str(), Some("not-a-token"), StatusCode::UNAUTHORIZED),
        (
            "/api/sessions/nope/report",
            Some(alice.as_str()),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let r = app.call(Method::GET, path, who).await;
        assert_eq!(r.status, want, "{path} {who:?}: {}", r.text());
    }

    // An empty session: an empty report.
    let empty = app.create_session(&alice, "Empty").await;
    let r = app
        .call(
            Method::GET,
            &format!("/api/sessions/{empty}/report"),
            Some(&alice),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let v = r.json();
    assert_eq!(v["participants"], serde_json::json!([]));
    assert_eq!(v["totals"]["participants"], 0);
    assert_eq!(v["totals"]["poll_participation"], 0.0);
}

/// What a room is restored from (issue 13): the lobby setting (the latest
/// write wins, whatever order writes arrive in), every poll answer, the bans.
async fn check_room_restore_reads(app: &TestApp) {
    let db = &Classroom(&app.state.db);
    let sid = session(app).await;
    assert!(!db.lobby_enabled(&sid).await.expect("lobby"));
    assert!(db.set_lobby(&sid, true, T0 + 2000).await.expect("set"));
    // An older write arriving late changes nothing.
    assert!(!db.set_lobby(&sid, false, T0 + 1000).await.expect("set"));
    assert!(db.lobby_enabled(&sid).await.expect("lobby"));
    assert!(db.set_lobby(&sid, false, T0 + 3000).await.expect("set"));
    assert!(!db.lobby_enabled(&sid).await.expect("lobby"));

    db.store_poll(&sid, &poll("q1", &["a", "b", "c"]), T0, None)
        .await
        .expect("poll");
    db.store_answer("q1", "bob", &[0, 2], T0)
        .await
        .expect("answer");
    db.store_answer("q1", "carol", &[1], T0)
        .await
        .expect("answer");
    let answers = db.poll_answers(&sid).await.expect("answers");
    let q1 = answers.get("q1").expect("q1's answers");
    assert_eq!(q1.get("bob"), Some(&vec![0, 2]));
    assert_eq!(q1.get("carol"), Some(&vec![1]));
    assert_eq!(answers.len(), 1);

    db.ban(&sid, "zed", T0).await.expect("ban");
    db.ban(&sid, "amy", T0).await.expect("ban");
    assert_eq!(db.bans(&sid).await.expect("bans"), ["amy", "zed"]);
}

on_both_databases! {
    room_restore_reads => check_room_restore_reads;
    chat_history => check_chat_history;
    reactions => check_reactions;
    attendance => check_attendance;
    hands_polls_and_bans => check_hands_polls_and_bans;
    report_endpoint => check_report_endpoint;
}
