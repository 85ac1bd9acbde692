//! What the classroom control plane keeps: chat (with reactions and
//! deletions), attendance, hand raises, polls and their answers, bans, and the
//! per-session engagement report built from them.
//!
//! Every write takes its time from the caller (the room's input time), and
//! the writes the room may repeat (several processes, retries) are idempotent.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;
use sqlx::any::AnyRow;

use super::{get, Db, DbError};
use crate::control::protocol::{ChatMessage, Poll, PollResults};
use crate::time::rfc3339;

/// A poll as stored: closed ones carry their final results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredPoll {
    pub poll: Poll,
    pub session_id: String,
    pub created_at: i64,
    /// The timer's end, if any.
    pub closes_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub results: Option<PollResults>,
}

/// One participant's attendance and engagement in a session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParticipantReport {
    pub participant_id: String,
    pub name: String,
    /// instructor | student | guest (as of the last join); `unknown` when
    /// the participant has no attendance row.
    pub role: String,
    /// Time in the session (overlapping stays counted once; a stay still open
    /// counts up to the report's time), in minutes with two decimals.
    pub attendance_minutes: f64,
    pub joins: u64,
    /// RFC 3339.
    pub first_join: Option<String>,
    /// RFC 3339; `None` while present (or never joined).
    pub last_leave: Option<String>,
    pub present: bool,
    /// Messages sent, including ones the instructor deleted later.
    pub chat_messages: u64,
    /// Reactions given to the session's messages.
    pub reactions: u64,
    pub hand_raises: u64,
    pub polls_answered: u64,
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
    pub chat_messages: u64,
    pub reactions: u64,
    pub hand_raises: u64,
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

fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<String, DbError> {
    serde_json::to_string(value).map_err(|e| DbError::Corrupt(format!("JSON: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(column: &str, text: &str) -> Result<T, DbError> {
    serde_json::from_str(text).map_err(|e| DbError::Corrupt(format!("{column}: {e}")))
}

fn count(row: &AnyRow, column: &str) -> Result<u64, DbError> {
    Ok(get::<i64>(row, column)?.max(0) as u64)
}

const POLL_COLUMNS: &str = "id, session_id, question, options, multiple, share_results, \
                            created_at, closes_at, closed_at, results";

fn poll_from_row(row: &AnyRow) -> Result<StoredPoll, DbError> {
    let closes_at: Option<i64> = get(row, "closes_at")?;
    let closed_at: Option<i64> = get(row, "closed_at")?;
    let results = get::<Option<String>>(row, "results")?
        .map(|r| from_json::<PollResults>("results", &r))
        .transpose()?;
    Ok(StoredPoll {
        poll: Poll {
            id: get(row, "id")?,
            question: get(row, "question")?,
            options: from_json("options", &get::<String>(row, "options")?)?,
            multiple: get::<i64>(row, "multiple")? != 0,
            share_results: get::<i64>(row, "share_results")? != 0,
            closes_at: closes_at.map(rfc3339),
            closed: closed_at.is_some(),
        },
        session_id: get(row, "session_id")?,
        created_at: get(row, "created_at")?,
        closes_at,
        closed_at,
        results,
    })
}

/// Results from the answers (each a list of option indexes; out-of-range
/// indexes are ignored), percentages of the respondents with one decimal.
fn tally(poll_id: &str, options: usize, answers: &[Vec<usize>]) -> PollResults {
    let mut counts = vec![0u64; options];
    for choices in answers {
        let distinct: HashSet<usize> = choices.iter().copied().collect();
        for c in distinct {
            if let Some(n) = counts.get_mut(c) {
                *n += 1;
            }
        }
    }
    let respondents = answers.len() as u64;
    let percentages = counts
        .iter()
        .map(|&n| {
            if respondents == 0 {
                0.0
            } else {
                (n as f64 * 1000.0 / respondents as f64).round() / 10.0
            }
        })
        .collect();
    PollResults {
        poll_id: poll_id.to_owned(),
        counts,
        percentages,
        respondents,
    }
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

impl Db {
    /// Stores a chat message sent at `at_ms`; false when it was already stored.
    pub async fn store_chat(
        &self,
        session_id: &str,
        msg: &ChatMessage,
        at_ms: i64,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(
            "INSERT INTO chat_messages (id, session_id, seq, sender_id, sender_name, text, \
             reply_to, mentions, created_at) \
             SELECT $1, $2, COALESCE(MAX(seq), 0) + 1, $3, $4, $5, $6, $7, $8 \
             FROM chat_messages WHERE session_id = $9 \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&msg.id)
        .bind(session_id)
        .bind(&msg.sender_id)
        .bind(&msg.sender_name)
        .bind(&msg.text)
        .bind(msg.reply_to.as_deref())
        .bind(to_json(&msg.mentions)?)
        .bind(at_ms)
        .bind(session_id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The instructor removed a message; false when unknown or already removed.
    pub async fn delete_chat(&self, message_id: &str, at_ms: i64) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE chat_messages SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL",
        )
        .bind(at_ms)
        .bind(message_id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The session's last `limit` messages not deleted, oldest first, with
    /// their reactions (participants in the order they reacted).
    pub async fn chat_history(
        &self,
        session_id: &str,
        limit: usize,
    ) -> Result<Vec<ChatMessage>, DbError> {
        let rows = sqlx::query(
            "SELECT id, seq, sender_id, sender_name, text, reply_to, mentions, created_at \
             FROM chat_messages WHERE session_id = $1 AND deleted_at IS NULL \
             ORDER BY created_at DESC, seq DESC LIMIT $2",
        )
        .bind(session_id)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(self.pool())
        .await?;
        let mut messages = Vec::with_capacity(rows.len());
        let mut oldest = None;
        for row in rows.iter().rev() {
            let created_at: i64 = get(row, "created_at")?;
            if oldest.is_none() {
                oldest = Some((created_at, get::<i64>(row, "seq")?));
            }
            messages.push(ChatMessage {
                id: get(row, "id")?,
                sender_id: get(row, "sender_id")?,
                sender_name: get(row, "sender_name")?,
                text: get(row, "text")?,
                at: rfc3339(created_at),
                reply_to: get(row, "reply_to")?,
                mentions: from_json("mentions", &get::<String>(row, "mentions")?)?,
                reactions: BTreeMap::new(),
            });
        }
        let Some((oldest_at, oldest_seq)) = oldest else {
            return Ok(messages);
        };
        let rows = sqlx::query(
            "SELECT r.message_id, r.participant_id, r.emoji FROM chat_reactions r \
             JOIN chat_messages m ON m.id = r.message_id \
             WHERE m.session_id = $1 AND m.deleted_at IS NULL \
             AND (m.created_at > $2 OR (m.created_at = $3 AND m.seq >= $4)) \
             ORDER BY r.created_at, r.participant_id",
        )
        .bind(session_id)
        .bind(oldest_at)
        .bind(oldest_at)
        .bind(oldest_seq)
        .fetch_all(self.pool())
        .await?;
        let index: HashMap<String, usize> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| (m.id.clone(), i))
            .collect();
        for row in &rows {
            let message_id: String = get(row, "message_id")?;
            if let Some(&i) = index.get(&message_id) {
                messages[i]
                    .reactions
                    .entry(get(row, "emoji")?)
                    .or_default()
                    .push(get(row, "participant_id")?);
            }
        }
        Ok(messages)
    }

    /// A participant reacted to a message; false when they already had.
    pub async fn store_reaction(
        &self,
        message_id: &str,
        participant_id: &str,
        emoji: &str,
        at_ms: i64,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(
            "INSERT INTO chat_reactions (message_id, participant_id, emoji, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (message_id, participant_id, emoji) DO NOTHING",
        )
        .bind(message_id)
        .bind(participant_id)
        .bind(emoji)
        .bind(at_ms)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Takes a reaction back (for rooms that toggle); false when there was none.
    pub async fn remove_reaction(
        &self,
        message_id: &str,
        participant_id: &str,
        emoji: &str,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(
            "DELETE FROM chat_reactions WHERE message_id = $1 AND participant_id = $2 \
             AND emoji = $3",
        )
        .bind(message_id)
        .bind(participant_id)
        .bind(emoji)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// A participant joined (was admitted); the new attendance row's id.
    pub async fn attendance_join(
        &self,
        session_id: &str,
        participant_id: &str,
        name: &str,
        role: &str,
        instance: &str,
        at_ms: i64,
    ) -> Result<String, DbError> {
        let id = uuid::Uuid::new_v4().to_string();
        sqlx::query(
            "INSERT INTO attendance (id, session_id, participant_id, name, role, joined_at, \
             instance) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&id)
        .bind(session_id)
        .bind(participant_id)
        .bind(name)
        .bind(role)
        .bind(at_ms)
        .bind(instance)
        .execute(self.pool())
        .await?;
        Ok(id)
    }

    /// A participant left: closes their open stays (never before they began);
    /// how many were open.
    pub async fn attendance_leave(
        &self,
        session_id: &str,
        participant_id: &str,
        at_ms: i64,
    ) -> Result<u64, DbError> {
        let done = sqlx::query(
            "UPDATE attendance SET left_at = CASE WHEN joined_at > $1 THEN joined_at ELSE $2 END \
             WHERE session_id = $3 AND participant_id = $4 AND left_at IS NULL",
        )
        .bind(at_ms)
        .bind(at_ms)
        .bind(session_id)
        .bind(participant_id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    /// Closes the open stays this server instance held (at start-up: its
    /// sockets are gone). Stays held by other processes sharing the database
    /// stay open; rows from before instances were recorded are closed too.
    pub async fn close_open_attendance(&self, instance: &str, at_ms: i64) -> Result<u64, DbError> {
        let done = sqlx::query(
            "UPDATE attendance SET left_at = CASE WHEN joined_at > $1 THEN joined_at ELSE $2 END \
             WHERE left_at IS NULL AND (instance = $3 OR instance IS NULL)",
        )
        .bind(at_ms)
        .bind(at_ms)
        .bind(instance)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    pub async fn record_hand(
        &self,
        session_id: &str,
        participant_id: &str,
        at_ms: i64,
    ) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO hand_raises (session_id, participant_id, raised_at) VALUES ($1, $2, $3)",
        )
        .bind(session_id)
        .bind(participant_id)
        .bind(at_ms)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Stores a new poll; false when it was already stored.
    pub async fn store_poll(
        &self,
        session_id: &str,
        poll: &Poll,
        created_at_ms: i64,
        closes_at_ms: Option<i64>,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(
            "INSERT INTO polls (id, session_id, question, options, multiple, share_results, \
             created_at, closes_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(&poll.id)
        .bind(session_id)
        .bind(&poll.question)
        .bind(to_json(&poll.options)?)
        .bind(i64::from(poll.multiple))
        .bind(i64::from(poll.share_results))
        .bind(created_at_ms)
        .bind(closes_at_ms)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// A participant's answer; the first one counts (false for later ones).
    pub async fn store_answer(
        &self,
        poll_id: &str,
        participant_id: &str,
        choices: &[usize],
        at_ms: i64,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(
            "INSERT INTO poll_answers (poll_id, participant_id, choices, answered_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (poll_id, participant_id) DO NOTHING",
        )
        .bind(poll_id)
        .bind(participant_id)
        .bind(to_json(choices)?)
        .bind(at_ms)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Closes a poll with its final results; false when it was already closed
    /// (or is unknown): the first close wins.
    pub async fn close_poll(
        &self,
        poll_id: &str,
        results: &PollResults,
        at_ms: i64,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(
            "UPDATE polls SET closed_at = $1, results = $2 WHERE id = $3 AND closed_at IS NULL",
        )
        .bind(at_ms)
        .bind(to_json(results)?)
        .bind(poll_id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The session's polls, oldest first: open ones without results, closed
    /// ones with their final results.
    pub async fn polls(&self, session_id: &str) -> Result<Vec<StoredPoll>, DbError> {
        let rows = sqlx::query(&format!(
            "SELECT {POLL_COLUMNS} FROM polls WHERE session_id = $1 ORDER BY created_at, id"
        ))
        .bind(session_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(poll_from_row).collect()
    }

    /// Refuses the participant's rejoin; false when already banned.
    pub async fn ban(
        &self,
        session_id: &str,
        participant_id: &str,
        at_ms: i64,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(
            "INSERT INTO session_bans (session_id, participant_id, created_at) \
             VALUES ($1, $2, $3) ON CONFLICT (session_id, participant_id) DO NOTHING",
        )
        .bind(session_id)
        .bind(participant_id)
        .bind(at_ms)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The participants banned from the session, by id.
    pub async fn bans(&self, session_id: &str) -> Result<Vec<String>, DbError> {
        let rows = sqlx::query(
            "SELECT participant_id FROM session_bans WHERE session_id = $1 \
             ORDER BY participant_id",
        )
        .bind(session_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|row| get(row, "participant_id")).collect()
    }

    /// Every answer to the session's polls: poll id → participant id → the
    /// option indexes chosen.
    pub async fn poll_answers(
        &self,
        session_id: &str,
    ) -> Result<HashMap<String, BTreeMap<String, Vec<usize>>>, DbError> {
        let rows = sqlx::query(
            "SELECT a.poll_id, a.participant_id, a.choices FROM poll_answers a \
             JOIN polls p ON p.id = a.poll_id WHERE p.session_id = $1",
        )
        .bind(session_id)
        .fetch_all(self.pool())
        .await?;
        let mut answers: HashMap<String, BTreeMap<String, Vec<usize>>> = HashMap::new();
        for row in &rows {
            answers.entry(get(row, "poll_id")?).or_default().insert(
                get(row, "participant_id")?,
                from_json("choices", &get::<String>(row, "choices")?)?,
            );
        }
        Ok(answers)
    }

    /// Turns the session's lobby on or off as of `at_ms`; a write older than
    /// the stored one changes nothing (false).
    pub async fn set_lobby(
        &self,
        session_id: &str,
        enabled: bool,
        at_ms: i64,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(
            "INSERT INTO classroom_settings (session_id, lobby_enabled, updated_at) \
             VALUES ($1, $2, $3) ON CONFLICT (session_id) DO UPDATE \
             SET lobby_enabled = excluded.lobby_enabled, updated_at = excluded.updated_at \
             WHERE classroom_settings.updated_at <= excluded.updated_at",
        )
        .bind(session_id)
        .bind(i64::from(enabled))
        .bind(at_ms)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Whether the session's lobby is on (off when never set).
    pub async fn lobby_enabled(&self, session_id: &str) -> Result<bool, DbError> {
        let row = sqlx::query("SELECT lobby_enabled FROM classroom_settings WHERE session_id = $1")
            .bind(session_id)
            .fetch_optional(self.pool())
            .await?;
        match row {
            Some(row) => Ok(get::<i64>(&row, "lobby_enabled")? != 0),
            None => Ok(false),
        }
    }

    pub async fn is_banned(&self, session_id: &str, participant_id: &str) -> Result<bool, DbError> {
        let row = sqlx::query(
            "SELECT 1 AS one FROM session_bans WHERE session_id = $1 AND participant_id = $2",
        )
        .bind(session_id)
        .bind(participant_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.is_some())
    }

    /// Attendance and engagement per participant and in total; stays still
    /// open count up to `now_ms`.
    pub async fn session_report(
        &self,
        session_id: &str,
        now_ms: i64,
    ) -> Result<SessionReport, DbError> {
        #[derive(Default)]
        struct Acc {
            name: Option<String>,
            role: Option<String>,
            last_join: i64,
            intervals: Vec<(i64, i64)>,
            first_join: Option<i64>,
            last_leave: Option<i64>,
            present: bool,
            chat_messages: u64,
            reactions: u64,
            hand_raises: u64,
            polls_answered: u64,
        }
        let mut people: BTreeMap<String, Acc> = BTreeMap::new();

        let rows = sqlx::query(
            "SELECT participant_id, name, role, joined_at, left_at FROM attendance \
             WHERE session_id = $1 ORDER BY joined_at, id",
        )
        .bind(session_id)
        .fetch_all(self.pool())
        .await?;
        for row in &rows {
            let acc = people.entry(get(row, "participant_id")?).or_default();
            let joined_at: i64 = get(row, "joined_at")?;
            let left_at: Option<i64> = get(row, "left_at")?;
            if acc.name.is_none() || joined_at >= acc.last_join {
                acc.name = Some(get(row, "name")?);
                acc.role = Some(get(row, "role")?);
                acc.last_join = joined_at;
            }
            let end = left_at.unwrap_or(now_ms).max(joined_at);
            acc.intervals.push((joined_at, end));
            acc.first_join = Some(acc.first_join.map_or(joined_at, |f| f.min(joined_at)));
            match left_at {
                Some(l) => acc.last_leave = Some(acc.last_leave.map_or(l, |x| x.max(l))),
                None => acc.present = true,
            }
        }

        let rows = sqlx::query(
            "SELECT sender_id, MAX(sender_name) AS sender_name, COUNT(*) AS n \
             FROM chat_messages WHERE session_id = $1 GROUP BY sender_id",
        )
        .bind(session_id)
        .fetch_all(self.pool())
        .await?;
        for row in &rows {
            let acc = people.entry(get(row, "sender_id")?).or_default();
            acc.chat_messages = count(row, "n")?;
            if acc.name.is_none() {
                acc.name = Some(get(row, "sender_name")?);
            }
        }

        let rows = sqlx::query(
            "SELECT r.participant_id, COUNT(*) AS n FROM chat_reactions r \
             JOIN chat_messages m ON m.id = r.message_id WHERE m.session_id = $1 \
             GROUP BY r.participant_id",
        )
        .bind(session_id)
        .fetch_all(self.pool())
        .await?;
        for row in &rows {
            people
                .entry(get(row, "participant_id")?)
                .or_default()
                .reactions = count(row, "n")?;
        }

        let rows = sqlx::query(
            "SELECT participant_id, COUNT(*) AS n FROM hand_raises WHERE session_id = $1 \
             GROUP BY participant_id",
        )
        .bind(session_id)
        .fetch_all(self.pool())
        .await?;
        for row in &rows {
            people
                .entry(get(row, "participant_id")?)
                .or_default()
                .hand_raises = count(row, "n")?;
        }

        let polls = self.polls(session_id).await?;
        let rows = sqlx::query(
            "SELECT a.poll_id, a.participant_id, a.choices FROM poll_answers a \
             JOIN polls p ON p.id = a.poll_id WHERE p.session_id = $1 \
             ORDER BY a.answered_at, a.participant_id",
        )
        .bind(session_id)
        .fetch_all(self.pool())
        .await?;
        let mut answers: HashMap<String, Vec<Vec<usize>>> = HashMap::new();
        for row in &rows {
            let participant_id: String = get(row, "participant_id")?;
            people.entry(participant_id).or_default().polls_answered += 1;
            answers
                .entry(get(row, "poll_id")?)
                .or_default()
                .push(from_json("choices", &get::<String>(row, "choices")?)?);
        }
        let polls: Vec<PollReport> = polls
            .into_iter()
            .map(|p| {
                let results = p.results.unwrap_or_else(|| {
                    let given = answers.get(&p.poll.id).map_or(&[][..], |a| &a[..]);
                    tally(&p.poll.id, p.poll.options.len(), given)
                });
                PollReport {
                    respondents: results.respondents,
                    id: p.poll.id,
                    question: p.poll.question,
                    options: p.poll.options,
                    closed: p.poll.closed,
                    results,
                }
            })
            .collect();

        let mut participants: Vec<(Option<i64>, ParticipantReport)> = people
            .into_iter()
            .map(|(id, acc)| {
                let joins = acc.intervals.len() as u64;
                let minutes = (covered_ms(acc.intervals) as f64 / 600.0).round() / 100.0;
                let report = ParticipantReport {
                    name: acc.name.unwrap_or_else(|| id.clone()),
                    role: acc.role.unwrap_or_else(|| "unknown".into()),
                    attendance_minutes: minutes,
                    joins,
                    first_join: acc.first_join.map(rfc3339),
                    last_leave: if acc.present {
                        None
                    } else {
                        acc.last_leave.map(rfc3339)
                    },
                    present: acc.present,
                    chat_messages: acc.chat_messages,
                    reactions: acc.reactions,
                    hand_raises: acc.hand_raises,
                    polls_answered: acc.polls_answered,
                    participant_id: id,
                };
                (acc.first_join, report)
            })
            .collect();
        // By first join, then id; those who never joined last.
        participants.sort_by(|(a, ra), (b, rb)| {
            (a.is_none(), a, &ra.participant_id).cmp(&(b.is_none(), b, &rb.participant_id))
        });
        let participants: Vec<ParticipantReport> =
            participants.into_iter().map(|(_, r)| r).collect();

        let students = participants.iter().filter(|p| p.role == "student");
        let (students, answered) = students.fold((0u64, 0u64), |(s, a), p| {
            (s + 1, a + u64::from(p.polls_answered > 0))
        });
        let totals = ReportTotals {
            participants: participants.len() as u64,
            chat_messages: participants.iter().map(|p| p.chat_messages).sum(),
            reactions: participants.iter().map(|p| p.reactions).sum(),
            hand_raises: participants.iter().map(|p| p.hand_raises).sum(),
            polls,
            poll_participation: if students == 0 {
                0.0
            } else {
                answered as f64 / students as f64
            },
        };
        Ok(SessionReport {
            session_id: session_id.to_owned(),
            generated_at: rfc3339(now_ms),
            participants,
            totals,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_stays_count_once() {
        assert_eq!(covered_ms(vec![]), 0);
        assert_eq!(covered_ms(vec![(0, 10), (20, 30)]), 20);
        assert_eq!(covered_ms(vec![(20, 30), (0, 10), (5, 25)]), 30);
        assert_eq!(covered_ms(vec![(0, 10), (10, 15)]), 15);
    }

    #[test]
    fn tally_counts_each_option_once_per_respondent() {
        let r = tally("p", 3, &[vec![0], vec![0, 2], vec![2, 2, 7]]);
        assert_eq!(r.counts, vec![2, 0, 2]);
        assert_eq!(r.respondents, 3);
        assert_eq!(r.percentages, vec![66.7, 0.0, 66.7]);
        let r = tally("p", 2, &[]);
        assert_eq!(r.percentages, vec![0.0, 0.0]);
    }
}
