//! Chat messages, their reactions and deletions.

use std::collections::{BTreeMap, HashMap};

use sqlx::any::AnyRow;

use super::columns::{from_row, FromRow};
use super::exec::args;
use super::{from_json, get, to_json, Db, DbError};

/// A chat message as stored, with its reactions when read back.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRow {
    pub id: String,
    pub sender_id: String,
    pub sender_name: String,
    pub text: String,
    pub reply_to: Option<String>,
    /// Participant ids named with `@name`.
    pub mentions: Vec<String>,
    /// When it was stored (ms).
    pub created_at: i64,
    /// emoji → participant ids, in the order they reacted.
    pub reactions: BTreeMap<String, Vec<String>>,
}

impl FromRow for ChatRow {
    fn from_row(row: &AnyRow) -> Result<Self, DbError> {
        Ok(ChatRow {
            id: get(row, "id")?,
            sender_id: get(row, "sender_id")?,
            sender_name: get(row, "sender_name")?,
            text: get(row, "text")?,
            reply_to: get(row, "reply_to")?,
            mentions: from_json("mentions", &get::<String>(row, "mentions")?)?,
            created_at: get(row, "created_at")?,
            reactions: BTreeMap::new(),
        })
    }
}

/// One participant's reaction to a message.
struct ReactionRow {
    message_id: String,
    participant_id: String,
    emoji: String,
}

from_row! { ReactionRow { message_id, participant_id, emoji } }

impl Db {
    /// Stores a chat message (at its `created_at`); false when it was
    /// already stored.
    pub async fn store_chat(&self, session_id: &str, msg: &ChatRow) -> Result<bool, DbError> {
        let mentions = to_json(&msg.mentions)?;
        self.changed(
            "INSERT INTO chat_messages (id, session_id, seq, sender_id, sender_name, text, \
             reply_to, mentions, created_at) \
             SELECT $1, $2, COALESCE(MAX(seq), 0) + 1, $3, $4, $5, $6, $7, $8 \
             FROM chat_messages WHERE session_id = $9 \
             ON CONFLICT (id) DO NOTHING",
            args![
                &msg.id,
                session_id,
                &msg.sender_id,
                &msg.sender_name,
                &msg.text,
                &msg.reply_to,
                &mentions,
                msg.created_at,
                session_id
            ],
        )
        .await
    }

    /// The instructor removed a message; false when unknown or already removed.
    pub async fn delete_chat(&self, message_id: &str, at_ms: i64) -> Result<bool, DbError> {
        self.changed(
            "UPDATE chat_messages SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL",
            args![at_ms, message_id],
        )
        .await
    }

    /// The session's last `limit` messages not deleted, oldest first, with
    /// their reactions (participants in the order they reacted).
    pub async fn chat_history(
        &self,
        session_id: &str,
        limit: usize,
    ) -> Result<Vec<ChatRow>, DbError> {
        let rows = self
            .rows(
                "SELECT id, seq, sender_id, sender_name, text, reply_to, mentions, created_at \
                 FROM chat_messages WHERE session_id = $1 AND deleted_at IS NULL \
                 ORDER BY created_at DESC, seq DESC LIMIT $2",
                args![session_id, i64::try_from(limit).unwrap_or(i64::MAX)],
            )
            .await?;
        let Some(oldest) = rows.last() else {
            return Ok(Vec::new());
        };
        let (oldest_at, oldest_seq) = (
            get::<i64>(oldest, "created_at")?,
            get::<i64>(oldest, "seq")?,
        );
        let mut messages = rows
            .iter()
            .rev()
            .map(ChatRow::from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let reactions: Vec<ReactionRow> = self
            .all(
                "SELECT r.message_id, r.participant_id, r.emoji FROM chat_reactions r \
                 JOIN chat_messages m ON m.id = r.message_id \
                 WHERE m.session_id = $1 AND m.deleted_at IS NULL \
                 AND (m.created_at > $2 OR (m.created_at = $3 AND m.seq >= $4)) \
                 ORDER BY r.created_at, r.participant_id",
                args![session_id, oldest_at, oldest_at, oldest_seq],
            )
            .await?;
        let index: HashMap<String, usize> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| (m.id.clone(), i))
            .collect();
        for r in reactions {
            if let Some(&i) = index.get(&r.message_id) {
                messages[i]
                    .reactions
                    .entry(r.emoji)
                    .or_default()
                    .push(r.participant_id);
            }
        }
        Ok(messages)
    }

    /// Up to `limit` of the session's messages written at or after
    /// `since_ms`, oldest first, deleted ones left out (replay's chat;
    /// without reactions).
    pub async fn chat_since(
        &self,
        session_id: &str,
        since_ms: i64,
        limit: i64,
    ) -> Result<Vec<ChatRow>, DbError> {
        self.all(
            "SELECT id, sender_id, sender_name, text, reply_to, mentions, created_at \
             FROM chat_messages WHERE session_id = $1 AND created_at >= $2 \
             AND deleted_at IS NULL ORDER BY created_at, seq LIMIT $3",
            args![session_id, since_ms, limit],
        )
        .await
    }

    /// A participant reacted to a message; false when they already had.
    pub async fn store_reaction(
        &self,
        message_id: &str,
        participant_id: &str,
        emoji: &str,
        at_ms: i64,
    ) -> Result<bool, DbError> {
        self.changed(
            "INSERT INTO chat_reactions (message_id, participant_id, emoji, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (message_id, participant_id, emoji) DO NOTHING",
            args![message_id, participant_id, emoji, at_ms],
        )
        .await
    }

    /// Takes a reaction back (for rooms that toggle); false when there was none.
    pub async fn remove_reaction(
        &self,
        message_id: &str,
        participant_id: &str,
        emoji: &str,
    ) -> Result<bool, DbError> {
        self.changed(
            "DELETE FROM chat_reactions WHERE message_id = $1 AND participant_id = $2 \
             AND emoji = $3",
            args![message_id, participant_id, emoji],
        )
        .await
    }
}
