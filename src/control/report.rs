//! A session's attendance and engagement report, computed from the rows
//! storage keeps (`db::ReportRows`): durations, counts, poll results and
//! participation. Pure: the queries are the database's.

pub mod csv;

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::protocol::PollResults;
use super::room::tally;
use crate::db::{AnswerRow, PollRow, ReportRows};
use crate::time::rfc3339;

/// One participant's attendance and engagement in a session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParticipantReport {
    pub participant_id: String,
    pub name: String,
    /// instructor | student | guest (as of the last join); `unknown` when
    /// the participant has no attendance row.
    pub role: String,
    #[serde(flatten)]
    pub attendance: Attendance,
    #[serde(flatten)]
    pub engagement: Engagement,
    pub polls_answered: u64,
}

/// When and how long a participant was in the session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attendance {
    /// Time in the session (overlapping stays counted once; a stay still open
    /// counts up to the report's time), in minutes with two decimals.
    pub attendance_minutes: f64,
    pub joins: u64,
    /// RFC 3339.
    pub first_join: Option<String>,
    /// RFC 3339; `None` while present (or never joined).
    pub last_leave: Option<String>,
    pub present: bool,
}

/// What was said and signalled in the session: by one participant, or by
/// all of them in the totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Engagement {
    /// Messages sent, including ones the instructor deleted later.
    pub chat_messages: u64,
    /// Reactions given to the session's messages.
    pub reactions: u64,
    pub hand_raises: u64,
}

impl std::iter::Sum for Engagement {
    fn sum<I: Iterator<Item = Self>>(all: I) -> Self {
        all.fold(Engagement::default(), |t, e| Engagement {
            chat_messages: t.chat_messages + e.chat_messages,
            reactions: t.reactions + e.reactions,
            hand_raises: t.hand_raises + e.hand_raises,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PollReport {
    pub id: String,
    pub question: String,
    pub options: Vec<String>,
    pub closed: bool,
    pub respondents: u64,
    /// The stored results of a closed poll; the answers so far of an open one.
    pub results: PollResults,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportTotals {
    pub participants: u64,
    #[serde(flatten)]
    pub engagement: Engagement,
    pub polls: Vec<PollReport>,
    /// Share of the students who answered at least one poll, 0–1 (0 without
    /// students).
    pub poll_participation: f64,
}

/// `GET /api/sessions/{id}/report`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionReport {
    pub session_id: String,
    /// RFC 3339: open stays are counted up to this time.
    pub generated_at: String,
    /// Ordered by first join.
    pub participants: Vec<ParticipantReport>,
    pub totals: ReportTotals,
}

/// What the rows say of one participant, before the arithmetic.
#[derive(Default)]
struct Acc {
    name: Option<String>,
    role: Option<String>,
    last_join: i64,
    stays: Vec<(i64, i64)>,
    first_join: Option<i64>,
    last_leave: Option<i64>,
    present: bool,
    engagement: Engagement,
    polls_answered: u64,
}

/// The report as of `now_ms`: stays still open count up to then.
pub fn session_report(session_id: &str, rows: ReportRows, now_ms: i64) -> SessionReport {
    let people = gather(&rows, now_ms);
    let polls = poll_reports(rows.polls, &rows.answers);
    let participants = participant_reports(people);
    SessionReport {
        session_id: session_id.to_owned(),
        generated_at: rfc3339(now_ms),
        totals: totals(&participants, polls),
        participants,
    }
}

/// Each participant's stays and counts, by id.
fn gather(rows: &ReportRows, now_ms: i64) -> BTreeMap<String, Acc> {
    let mut people: BTreeMap<String, Acc> = BTreeMap::new();
    for stay in &rows.stays {
        let acc = people.entry(stay.participant_id.clone()).or_default();
        // The last join names the participant (rows come by join time).
        if acc.name.is_none() || stay.joined_at >= acc.last_join {
            acc.name = Some(stay.name.clone());
            acc.role = Some(stay.role.clone());
            acc.last_join = stay.joined_at;
        }
        // A leave stamped before its join (clock skew) counts as zero.
        let end = stay.left_at.unwrap_or(now_ms).max(stay.joined_at);
        acc.stays.push((stay.joined_at, end));
        acc.first_join = Some(
            acc.first_join
                .map_or(stay.joined_at, |f| f.min(stay.joined_at)),
        );
        match stay.left_at {
            Some(l) => acc.last_leave = Some(acc.last_leave.map_or(l, |x| x.max(l))),
            None => acc.present = true,
        }
    }
    for row in &rows.messages {
        let acc = people.entry(row.participant_id.clone()).or_default();
        acc.engagement.chat_messages = row.count;
        if acc.name.is_none() {
            acc.name = Some(row.name.clone());
        }
    }
    for row in &rows.reactions {
        engagement(&mut people, &row.participant_id).reactions = row.count;
    }
    for row in &rows.hands {
        engagement(&mut people, &row.participant_id).hand_raises = row.count;
    }
    for answer in &rows.answers {
        let acc = people.entry(answer.participant_id.clone()).or_default();
        acc.polls_answered += 1;
    }
    people
}

fn engagement<'p>(people: &'p mut BTreeMap<String, Acc>, id: &str) -> &'p mut Engagement {
    &mut people.entry(id.to_owned()).or_default().engagement
}

/// Closed polls with their stored results, open ones tallied from their
/// answers so far (the way the live room counts).
fn poll_reports(polls: Vec<PollRow>, answers: &[AnswerRow]) -> Vec<PollReport> {
    let mut given: HashMap<&str, Vec<&[usize]>> = HashMap::new();
    for a in answers {
        given.entry(&a.poll_id).or_default().push(&a.choices);
    }
    polls
        .into_iter()
        .map(|p| {
            let results = match p.results {
                Some(stored) => PollResults::from(stored),
                None => {
                    let answers = given.get(p.id.as_str()).map_or(&[][..], |a| &a[..]);
                    tally(&p.id, p.options.len(), answers.iter().copied())
                }
            };
            PollReport {
                respondents: results.respondents,
                closed: p.closed_at.is_some(),
                id: p.id,
                question: p.question,
                options: p.options,
                results,
            }
        })
        .collect()
}

/// By first join, then id; those who never joined last.
fn participant_reports(people: BTreeMap<String, Acc>) -> Vec<ParticipantReport> {
    let mut participants: Vec<(Option<i64>, ParticipantReport)> = people
        .into_iter()
        .map(|(id, acc)| (acc.first_join, participant_report(id, acc)))
        .collect();
    participants.sort_by(|(a, ra), (b, rb)| {
        (a.is_none(), a, &ra.participant_id).cmp(&(b.is_none(), b, &rb.participant_id))
    });
    participants.into_iter().map(|(_, r)| r).collect()
}

fn participant_report(id: String, acc: Acc) -> ParticipantReport {
    let joins = acc.stays.len() as u64;
    ParticipantReport {
        name: acc.name.unwrap_or_else(|| id.clone()),
        role: acc.role.unwrap_or_else(|| "unknown".into()),
        attendance: Attendance {
            attendance_minutes: minutes(covered_ms(acc.stays)),
            joins,
            first_join: acc.first_join.map(rfc3339),
            last_leave: if acc.present {
                None
            } else {
                acc.last_leave.map(rfc3339)
            },
            present: acc.present,
        },
        engagement: acc.engagement,
        polls_answered: acc.polls_answered,
        participant_id: id,
    }
}

fn totals(participants: &[ParticipantReport], polls: Vec<PollReport>) -> ReportTotals {
    let students = participants.iter().filter(|p| p.role == "student");
    let (students, answered) = students.fold((0u64, 0u64), |(s, a), p| {
        (s + 1, a + u64::from(p.polls_answered > 0))
    });
    ReportTotals {
        participants: participants.len() as u64,
        engagement: participants.iter().map(|p| p.engagement).sum(),
        polls,
        poll_participation: if students == 0 {
            0.0
        } else {
            answered as f64 / students as f64
        },
    }
}

/// Milliseconds as minutes with two decimals.
fn minutes(ms: i64) -> f64 {
    (ms as f64 / 600.0).round() / 100.0
}

/// Length of the union of `[start, end)` intervals.
fn covered_ms(mut intervals: Vec<(i64, i64)>) -> i64 {
    intervals.sort_unstable();
    let mut total = 0;
    let mut current: Option<(i64, i64)> = None;
    for (start, end) in intervals {
        match current {
            Some((s, e)) if start <= e => current = Some((s, e.max(end))),
            _ => {
                if let Some((s, e)) = current {
                    total += e - s;
                }
                current = Some((start, end));
            }
        }
    }
    if let Some((s, e)) = current {
        total += e - s;
    }
    total
}

#[cfg(test)]
mod tests;
