//! What storage keeps of the classroom, as protocol messages and back: the
//! database has its own rows, the socket speaks these.

use super::protocol::{ChatMessage, Poll, PollResults};
use crate::db::{ChatRow, PollRow, ResultsRow};
use crate::time::rfc3339;

/// A message to store, stamped with the time it is stored at.
pub fn chat_row(message: &ChatMessage, at_ms: i64) -> ChatRow {
    ChatRow {
        id: message.id.clone(),
        sender_id: message.sender_id.clone(),
        sender_name: message.sender_name.clone(),
        text: message.text.clone(),
        reply_to: message.reply_to.clone(),
        mentions: message.mentions.clone(),
        created_at: at_ms,
        reactions: message.reactions.clone(),
    }
}

impl From<ChatRow> for ChatMessage {
    fn from(row: ChatRow) -> Self {
        ChatMessage {
            id: row.id,
            sender_id: row.sender_id,
            sender_name: row.sender_name,
            text: row.text,
            at: rfc3339(row.created_at),
            reply_to: row.reply_to,
            mentions: row.mentions,
            reactions: row.reactions,
        }
    }
}

/// A new poll to store, open, created at `created_at_ms`.
pub fn poll_row(
    session_id: &str,
    poll: &Poll,
    created_at_ms: i64,
    closes_at_ms: Option<i64>,
) -> PollRow {
    PollRow {
        id: poll.id.clone(),
        session_id: session_id.to_owned(),
        question: poll.question.clone(),
        options: poll.options.clone(),
        multiple: poll.multiple,
        share_results: poll.share_results,
        created_at: created_at_ms,
        closes_at: closes_at_ms,
        closed_at: None,
        results: None,
    }
}

impl From<&PollRow> for Poll {
    fn from(row: &PollRow) -> Self {
        Poll {
            id: row.id.clone(),
            question: row.question.clone(),
            options: row.options.clone(),
            multiple: row.multiple,
            share_results: row.share_results,
            closes_at: row.closes_at.map(rfc3339),
            closed: row.closed_at.is_some(),
        }
    }
}

impl From<ResultsRow> for PollResults {
    fn from(row: ResultsRow) -> Self {
        PollResults {
            poll_id: row.poll_id,
            counts: row.counts,
            percentages: row.percentages,
            respondents: row.respondents,
        }
    }
}

impl From<&PollResults> for ResultsRow {
    fn from(results: &PollResults) -> Self {
        ResultsRow {
            poll_id: results.poll_id.clone(),
            counts: results.counts.clone(),
            percentages: results.percentages.clone(),
            respondents: results.respondents,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chat_message_round_trips_through_its_row() {
        let message = ChatMessage {
            id: "m1".into(),
            sender_id: "bob".into(),
            sender_name: "Bob".into(),
            text: "hi @carol".into(),
            at: rfc3339(1_000),
            reply_to: Some("m0".into()),
            mentions: vec!["carol".into()],
            reactions: Default::default(),
        };
        assert_eq!(ChatMessage::from(chat_row(&message, 1_000)), message);
    }

    #[test]
    fn a_poll_round_trips_through_its_row() {
        let poll = Poll {
            id: "p".into(),
            question: "Q?".into(),
            options: vec!["a".into(), "b".into()],
            multiple: true,
            share_results: false,
            closes_at: Some(rfc3339(5_000)),
            closed: false,
        };
        let row = poll_row("s", &poll, 1_000, Some(5_000));
        assert_eq!(Poll::from(&row), poll);
        let results = PollResults {
            poll_id: "p".into(),
            counts: vec![1, 0],
            percentages: vec![100.0, 0.0],
            respondents: 1,
        };
        assert_eq!(PollResults::from(ResultsRow::from(&results)), results);
    }
}
