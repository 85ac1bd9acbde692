//! The queries behind a session's attendance and engagement report; the
//! arithmetic over their rows is `control::report`'s.

use super::columns::from_row;
use super::exec::args;
use super::{AnswerRow, Db, DbError, PollRow};

/// One stay of a participant, from join to leave.
#[derive(Debug, Clone, PartialEq)]
pub struct StayRow {
    pub participant_id: String,
    pub name: String,
    pub role: String,
    pub joined_at: i64,
    /// `None` while the stay is open.
    pub left_at: Option<i64>,
}

/// How many of something (reactions, hands) a participant has.
#[derive(Debug, Clone, PartialEq)]
pub struct CountRow {
    pub participant_id: String,
    pub count: u64,
}

/// How many messages a participant sent, and a name they sent them under.
#[derive(Debug, Clone, PartialEq)]
pub struct SenderRow {
    pub participant_id: String,
    pub name: String,
    pub count: u64,
}

/// Everything a session's report is computed from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportRows {
    /// By join time.
    pub stays: Vec<StayRow>,
    /// Messages per sender, deleted ones included, with a name.
    pub messages: Vec<SenderRow>,
    /// Reactions given, per participant.
    pub reactions: Vec<CountRow>,
    /// Hands raised, per participant.
    pub hands: Vec<CountRow>,
    /// Oldest first.
    pub polls: Vec<PollRow>,
    /// In the order they were given.
    pub answers: Vec<AnswerRow>,
}

from_row! { StayRow { participant_id, name, role, joined_at, left_at } }

from_row! { CountRow { participant_id, count } }

from_row! { SenderRow { participant_id, name, count } }

impl Db {
    /// The rows of the session's report, read one query after another.
    pub async fn report_rows(&self, session_id: &str) -> Result<ReportRows, DbError> {
        Ok(ReportRows {
            stays: self
                .all(
                    "SELECT participant_id, name, role, joined_at, left_at FROM attendance \
                     WHERE session_id = $1 ORDER BY joined_at, id",
                    args![session_id],
                )
                .await?,
            messages: self
                .all(
                    "SELECT sender_id AS participant_id, MAX(sender_name) AS name, COUNT(*) AS count \
                     FROM chat_messages WHERE session_id = $1 GROUP BY sender_id",
                    args![session_id],
                )
                .await?,
            reactions: self
                .all(
                    "SELECT r.participant_id, COUNT(*) AS count FROM chat_reactions r \
                     JOIN chat_messages m ON m.id = r.message_id WHERE m.session_id = $1 \
                     GROUP BY r.participant_id",
                    args![session_id],
                )
                .await?,
            hands: self
                .all(
                    "SELECT participant_id, COUNT(*) AS count FROM hand_raises WHERE session_id = $1 \
                     GROUP BY participant_id",
                    args![session_id],
                )
                .await?,
            polls: self.polls(session_id).await?,
            answers: self.answers(session_id).await?,
        })
    }
}
