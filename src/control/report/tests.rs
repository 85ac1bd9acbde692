use super::*;
use crate::db::{CountRow, ResultsRow, SenderRow, StayRow};

const MIN: i64 = 60_000;
const T0: i64 = 1_800_000_000_000;

fn stay(who: &str, role: &str, joined: i64, left: Option<i64>) -> StayRow {
    StayRow {
        participant_id: who.into(),
        name: format!("{who} name"),
        role: role.into(),
        joined_at: joined,
        left_at: left,
    }
}

fn count(who: &str, count: u64) -> CountRow {
    CountRow {
        participant_id: who.into(),
        count,
    }
}

fn sent(who: &str, count: u64) -> SenderRow {
    SenderRow {
        participant_id: who.into(),
        name: format!("{who} as sender"),
        count,
    }
}

fn poll(id: &str, options: usize, results: Option<ResultsRow>) -> PollRow {
    PollRow {
        id: id.into(),
        session_id: "s".into(),
        question: format!("{id}?"),
        options: (0..options).map(|i| format!("o{i}")).collect(),
        multiple: true,
        share_results: false,
        created_at: T0,
        closes_at: None,
        closed_at: results.as_ref().map(|_| T0 + MIN),
        results,
    }
}

fn answer(poll_id: &str, who: &str, choices: &[usize]) -> AnswerRow {
    AnswerRow {
        poll_id: poll_id.into(),
        participant_id: who.into(),
        choices: choices.to_vec(),
    }
}

fn person<'r>(r: &'r SessionReport, id: &str) -> &'r ParticipantReport {
    r.participants
        .iter()
        .find(|p| p.participant_id == id)
        .expect("the participant is in the report")
}

#[test]
fn overlapping_stays_count_once() {
    assert_eq!(covered_ms(vec![]), 0);
    assert_eq!(covered_ms(vec![(0, 10), (20, 30)]), 20);
    assert_eq!(covered_ms(vec![(20, 30), (0, 10), (5, 25)]), 30);
    assert_eq!(covered_ms(vec![(0, 10), (10, 15)]), 15);
    assert_eq!(covered_ms(vec![(0, 30), (5, 10)]), 30, "one inside another");
}

#[test]
fn overlapping_joins_from_two_tabs_count_once() {
    let rows = ReportRows {
        stays: vec![
            stay("bob", "student", T0, Some(T0 + 10 * MIN)),
            stay("bob", "student", T0 + 5 * MIN, Some(T0 + 20 * MIN)),
        ],
        ..ReportRows::default()
    };
    let r = session_report("s", rows, T0 + 30 * MIN);
    let bob = person(&r, "bob");
    assert_eq!(bob.attendance_minutes, 20.0);
    assert_eq!(bob.joins, 2);
    assert_eq!(
        bob.last_leave.as_deref(),
        Some(rfc3339(T0 + 20 * MIN).as_str())
    );
    assert!(!bob.present);
}

#[test]
fn a_missing_leave_counts_up_to_now_and_means_present() {
    let rows = ReportRows {
        stays: vec![
            stay("bob", "student", T0, Some(T0 + 10 * MIN)),
            stay("bob", "student", T0 + 20 * MIN, None),
        ],
        ..ReportRows::default()
    };
    let r = session_report("s", rows, T0 + 25 * MIN);
    let bob = person(&r, "bob");
    assert_eq!(bob.attendance_minutes, 15.0);
    assert!(bob.present);
    assert_eq!(bob.last_leave, None, "still present");
    assert_eq!(bob.first_join.as_deref(), Some(rfc3339(T0).as_str()));
}

#[test]
fn a_leave_before_its_join_counts_zero() {
    let rows = ReportRows {
        stays: vec![stay("dave", "guest", T0 + 8 * MIN, Some(T0 + 7 * MIN))],
        ..ReportRows::default()
    };
    let r = session_report("s", rows, T0 + 9 * MIN);
    assert_eq!(person(&r, "dave").attendance_minutes, 0.0);
}

#[test]
fn an_empty_session_has_an_empty_report() {
    let r = session_report("s", ReportRows::default(), T0);
    assert_eq!(r.session_id, "s");
    assert_eq!(r.generated_at, rfc3339(T0));
    assert!(r.participants.is_empty());
    assert_eq!(r.totals.participants, 0);
    assert!(r.totals.polls.is_empty());
    assert_eq!(r.totals.poll_participation, 0.0, "no students, no division");
}

#[test]
fn a_zero_length_stay_is_a_join_of_zero_minutes() {
    let rows = ReportRows {
        stays: vec![stay("bob", "student", T0, None)],
        ..ReportRows::default()
    };
    let r = session_report("s", rows, T0);
    let bob = person(&r, "bob");
    assert_eq!(bob.attendance_minutes, 0.0);
    assert_eq!(bob.joins, 1);
    assert!(bob.present);
}

#[test]
fn minutes_have_two_decimals() {
    assert_eq!(minutes(0), 0.0);
    assert_eq!(minutes(20_000), 0.33);
    assert_eq!(minutes(40_000), 0.67);
    assert_eq!(minutes(299), 0.0, "under 0.005 of a minute");
    assert_eq!(minutes(300), 0.01, "half rounds up");
    assert_eq!(minutes(90 * MIN), 90.0);
}

#[test]
fn the_last_join_names_and_the_first_orders() {
    let rows = ReportRows {
        stays: vec![
            stay("carol", "student", T0, Some(T0 + MIN)),
            StayRow {
                name: "Bobby".into(),
                role: "instructor".into(),
                ..stay("bob", "student", T0 + 2 * MIN, None)
            },
            stay("bob", "student", T0 + MIN, Some(T0 + 2 * MIN)),
        ],
        messages: vec![SenderRow {
            name: "Eve".into(),
            ..sent("eve", 3)
        }],
        hands: vec![count("alice", 1)],
        ..ReportRows::default()
    };
    let r = session_report("s", rows, T0 + 3 * MIN);
    let who: Vec<&str> = r
        .participants
        .iter()
        .map(|p| p.participant_id.as_str())
        .collect();
    assert_eq!(
        who,
        ["carol", "bob", "alice", "eve"],
        "never joined: last, by id"
    );
    assert_eq!(person(&r, "bob").name, "Bobby");
    assert_eq!(person(&r, "bob").role, "instructor");
    assert_eq!(
        person(&r, "eve").name,
        "Eve",
        "the name messages were sent under"
    );
    assert_eq!(person(&r, "eve").role, "unknown");
    assert_eq!(
        person(&r, "alice").name,
        "alice",
        "no name anywhere: the id"
    );
    assert_eq!(person(&r, "alice").first_join, None);
}

#[test]
fn counts_add_up_in_the_totals() {
    let rows = ReportRows {
        stays: vec![stay("bob", "student", T0, None)],
        messages: vec![sent("bob", 2), sent("alice", 1)],
        reactions: vec![count("bob", 4)],
        hands: vec![count("bob", 1), count("carol", 2)],
        ..ReportRows::default()
    };
    let r = session_report("s", rows, T0 + MIN);
    let bob = person(&r, "bob");
    assert_eq!(
        (bob.chat_messages, bob.reactions, bob.hand_raises),
        (2, 4, 1)
    );
    assert_eq!(bob.name, "bob name", "the join's name before the sender's");
    assert_eq!(person(&r, "alice").name, "alice as sender");
    assert_eq!(r.totals.participants, 3);
    assert_eq!(r.totals.chat_messages, 3);
    assert_eq!(r.totals.reactions, 4);
    assert_eq!(r.totals.hand_raises, 3);
}

#[test]
fn closed_polls_keep_their_results_open_ones_are_tallied() {
    let stored = ResultsRow {
        poll_id: "p1".into(),
        counts: vec![9, 9],
        percentages: vec![50.0, 50.0],
        respondents: 18,
    };
    let rows = ReportRows {
        stays: vec![
            stay("bob", "student", T0, None),
            stay("carol", "student", T0, None),
            stay("dan", "student", T0, None),
            stay("tim", "instructor", T0, None),
        ],
        polls: vec![poll("p1", 2, Some(stored)), poll("p2", 3, None)],
        answers: vec![
            answer("p1", "bob", &[0]),
            answer("p2", "bob", &[0, 2]),
            answer("p2", "carol", &[2]),
            answer("p2", "tim", &[1]),
        ],
        ..ReportRows::default()
    };
    let r = session_report("s", rows, T0 + MIN);
    let polls = &r.totals.polls;
    assert_eq!(polls.len(), 2);
    assert!(polls[0].closed);
    assert_eq!(
        polls[0].respondents, 18,
        "the stored results, not the answers"
    );
    assert_eq!(polls[0].results.counts, [9, 9]);
    assert!(!polls[1].closed);
    assert_eq!(polls[1].respondents, 3);
    assert_eq!(polls[1].results.counts, [1, 1, 2]);
    assert_eq!(polls[1].results.poll_id, "p2");
    assert!((polls[1].results.percentages[2] - 200.0 / 3.0).abs() < 1e-9);
    assert_eq!(person(&r, "bob").polls_answered, 2);
    // bob and carol of three students answered.
    assert!((r.totals.poll_participation - 2.0 / 3.0).abs() < 1e-12);
}
