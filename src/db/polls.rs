//! Polls, their answers and their final results.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;

use super::columns::{from_row, Column};
use super::exec::args;
use super::{from_json, get, to_json, Db, DbError};

/// A poll as stored: closed ones carry their final results.
#[derive(Debug, Clone, PartialEq)]
pub struct PollRow {
    pub id: String,
    pub session_id: String,
    pub question: String,
    pub options: Vec<String>,
    pub multiple: bool,
    pub share_results: bool,
    pub created_at: i64,
    /// The timer's end, if any.
    pub closes_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub results: Option<ResultsRow>,
}

/// A closed poll's final results, kept as JSON in `polls.results`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultsRow {
    pub poll_id: String,
    pub counts: Vec<u64>,
    pub percentages: Vec<f64>,
    pub respondents: u64,
}

/// One participant's answer: the option indexes they chose.
#[derive(Debug, Clone, PartialEq)]
pub struct AnswerRow {
    pub poll_id: String,
    pub participant_id: String,
    pub choices: Vec<usize>,
}

/// Stored as JSON text; `NULL` while the poll is open.
impl Column for Option<ResultsRow> {
    fn column(row: &AnyRow, name: &str) -> Result<Self, DbError> {
        get::<Option<String>>(row, name)?
            .map(|r| from_json(name, &r))
            .transpose()
    }
}

from_row! { PollRow {
    id, session_id, question, options, multiple, share_results, created_at, closes_at,
    closed_at, results,
} }

from_row! { AnswerRow { poll_id, participant_id, choices } }

impl Db {
    /// Stores a new poll (its `closed_at` and `results` are not read);
    /// false when it was already stored.
    pub async fn store_poll(&self, poll: &PollRow) -> Result<bool, DbError> {
        let options = to_json(&poll.options)?;
        self.changed(
            // seq: the session's polls numbered as stored (one room writes a
            // session's polls, in order).
            "INSERT INTO polls (id, session_id, question, options, multiple, share_results, \
             created_at, closes_at, seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, \
             (SELECT COALESCE(MAX(seq), 0) + 1 FROM polls WHERE session_id = $2)) \
             ON CONFLICT (id) DO NOTHING",
            args![
                &poll.id,
                &poll.session_id,
                &poll.question,
                &options,
                poll.multiple,
                poll.share_results,
                poll.created_at,
                poll.closes_at
            ],
        )
        .await
    }

    /// A participant's answer; the first one counts (false for later ones).
    pub async fn store_answer(
        &self,
        poll_id: &str,
        participant_id: &str,
        choices: &[usize],
        at_ms: i64,
    ) -> Result<bool, DbError> {
        let choices = to_json(choices)?;
        self.changed(
            "INSERT INTO poll_answers (poll_id, participant_id, choices, answered_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (poll_id, participant_id) DO NOTHING",
            args![poll_id, participant_id, &choices, at_ms],
        )
        .await
    }

    /// Closes a poll with its final results; false when it was already closed
    /// (or is unknown): the first close wins.
    pub async fn close_poll(
        &self,
        poll_id: &str,
        results: &ResultsRow,
        at_ms: i64,
    ) -> Result<bool, DbError> {
        let results = to_json(results)?;
        self.changed(
            "UPDATE polls SET closed_at = $1, results = $2 WHERE id = $3 AND closed_at IS NULL",
            args![at_ms, &results, poll_id],
        )
        .await
    }

    /// The session's polls, oldest first: open ones without results, closed
    /// ones with their final results.
    pub async fn polls(&self, session_id: &str) -> Result<Vec<PollRow>, DbError> {
        self.all(
            "SELECT id, session_id, question, options, multiple, share_results, created_at, \
             closes_at, closed_at, results FROM polls WHERE session_id = $1 \
             ORDER BY created_at, seq, id",
            args![session_id],
        )
        .await
    }

    /// Every answer to the session's polls, in the order they were given.
    pub async fn answers(&self, session_id: &str) -> Result<Vec<AnswerRow>, DbError> {
        self.all(
            "SELECT a.poll_id, a.participant_id, a.choices FROM poll_answers a \
             JOIN polls p ON p.id = a.poll_id WHERE p.session_id = $1 \
             ORDER BY a.answered_at, a.participant_id",
            args![session_id],
        )
        .await
    }

    /// Every answer to the session's polls: poll id → participant id → the
    /// option indexes chosen.
    pub async fn poll_answers(
        &self,
        session_id: &str,
    ) -> Result<HashMap<String, BTreeMap<String, Vec<usize>>>, DbError> {
        let mut answers: HashMap<String, BTreeMap<String, Vec<usize>>> = HashMap::new();
        for a in self.answers(session_id).await? {
            answers
                .entry(a.poll_id)
                .or_default()
                .insert(a.participant_id, a.choices);
        }
        Ok(answers)
    }
}
