//! Chat, reactions, `@mentions` and the rate limits.

use std::collections::BTreeMap;

use super::super::protocol::{ChatMessage, ServerMessage, MAX_CHAT_CHARS};
use super::{
    forbidden, invalid, not_found, refusal, rfc3339, Bucket, Ctx, Effect, Handled, Member, Refusal,
    Room, Step, CHAT_BURST, CHAT_RATE_PER_S, GUEST, HISTORY,
};

/// Longest reaction, in characters.
const MAX_EMOJI_CHARS: usize = 16;
/// Different reactions on one message.
const MAX_REACTION_KINDS: usize = 32;
/// `@` signs looked at for mentions in one message.
const MAX_MENTION_SCAN: usize = 64;

impl Room {
    pub(super) fn chat(
        &mut self,
        c: &Ctx<'_>,
        text: String,
        reply_to: Option<String>,
        id: String,
        s: &mut Step,
    ) -> Handled {
        if c.role == GUEST {
            return Err(forbidden("Guests cannot chat."));
        }
        let sender_name = self.member(c.from)?.participant.name.clone();
        self.check_not_muted(c.from)?;
        if text.trim().is_empty() {
            return Err(invalid("The message is empty."));
        }
        if text.chars().count() > MAX_CHAT_CHARS {
            return Err(invalid(format!(
                "Messages are at most {MAX_CHAT_CHARS} characters."
            )));
        }
        if let Some(r) = &reply_to {
            if !self.chat.iter().any(|m| &m.id == r) {
                return Err(invalid("reply_to names no message in the recent history."));
            }
        }
        if self.chat.iter().any(|m| m.id == id) {
            return Err(invalid("Duplicate message id."));
        }
        if !take_token(&mut self.chat_buckets, c.from, c.at_ms) {
            return Err(rate_limited("messages"));
        }
        let message = ChatMessage {
            mentions: mentions(&text, &self.members),
            id,
            sender_id: c.from.to_owned(),
            sender_name,
            text,
            at: rfc3339(c.at_ms),
            reply_to,
            reactions: BTreeMap::new(),
        };
        self.chat.push_back(message.clone());
        while self.chat.len() > HISTORY {
            self.chat.pop_front();
        }
        self.activity(c.at_ms);
        let stored = Effect::StoreChat(message.clone());
        s.all_and_store(ServerMessage::Chat { message }, stored);
        Ok(())
    }

    pub(super) fn react(
        &mut self,
        c: &Ctx<'_>,
        message_id: &str,
        emoji: String,
        s: &mut Step,
    ) -> Handled {
        if c.role == GUEST {
            return Err(forbidden("Guests cannot react."));
        }
        self.check_not_muted(c.from)?;
        let Some(pos) = self.chat.iter().position(|m| m.id == message_id) else {
            return Err(not_found("No message with that id in the recent history."));
        };
        let chars = emoji.chars().count();
        if chars == 0
            || chars > MAX_EMOJI_CHARS
            || emoji
                .chars()
                .any(|ch| ch.is_whitespace() || ch.is_control())
        {
            return Err(invalid(format!(
                "A reaction is 1 to {MAX_EMOJI_CHARS} characters, without spaces."
            )));
        }
        let Some(message) = self.chat.get(pos) else {
            return Err(not_found("No message with that id in the recent history."));
        };
        let adding = !message
            .reactions
            .get(&emoji)
            .is_some_and(|who| who.iter().any(|p| p == c.from));
        if adding
            && !message.reactions.contains_key(&emoji)
            && message.reactions.len() >= MAX_REACTION_KINDS
        {
            return Err(invalid(format!(
                "A message takes at most {MAX_REACTION_KINDS} different reactions."
            )));
        }
        if !take_token(&mut self.react_buckets, c.from, c.at_ms) {
            return Err(rate_limited("reactions"));
        }
        let Some(message) = self.chat.get_mut(pos) else {
            return Err(not_found("No message with that id in the recent history."));
        };
        if adding {
            message
                .reactions
                .entry(emoji.clone())
                .or_default()
                .push(c.from.to_owned());
        } else if let Some(who) = message.reactions.get_mut(&emoji) {
            who.retain(|p| p != c.from);
            if who.is_empty() {
                message.reactions.remove(&emoji);
            }
        }
        let reactions = message.reactions.clone();
        self.activity(c.at_ms);
        s.all(ServerMessage::Reactions {
            message_id: message_id.to_owned(),
            reactions,
        });
        if adding {
            s.effect(Effect::StoreReaction {
                message_id: message_id.to_owned(),
                participant_id: c.from.to_owned(),
                emoji,
            });
        } else {
            s.effect(Effect::RemoveReaction {
                message_id: message_id.to_owned(),
                participant_id: c.from.to_owned(),
                emoji,
            });
        }
        Ok(())
    }

    pub(super) fn delete_message(&mut self, message_id: &str, s: &mut Step) -> Handled {
        let before = self.chat.len();
        self.chat.retain(|m| m.id != message_id);
        if self.chat.len() == before {
            return Err(not_found("No message with that id in the recent history."));
        }
        let message_id = message_id.to_owned();
        let stored = Effect::DeleteChat {
            message_id: message_id.clone(),
        };
        s.all_and_store(ServerMessage::ChatDeleted { message_id }, stored);
        Ok(())
    }

    fn check_not_muted(&self, id: &str) -> Handled {
        if self
            .members
            .get(id)
            .is_some_and(|m| m.participant.chat_muted)
        {
            return Err(refusal("muted", "The instructor muted your chat."));
        }
        Ok(())
    }
}

pub(super) fn rate_limited(what: &str) -> Refusal {
    refusal(
        "rate_limited",
        format!(
            "Too many {what}: at most {CHAT_RATE_PER_S} a second, bursts of {CHAT_BURST}. \
             Wait a moment and try again."
        ),
    )
}

/// One token from `who`'s bucket (full at first use), refilled for the time
/// since it was last taken from. Time going backwards refills nothing. When
/// there is no token the bucket stays as it was (the refill is exact, so
/// computing it later gives the same), and a refusal changes nothing.
pub(crate) fn take_token(buckets: &mut BTreeMap<String, Bucket>, who: &str, at_ms: i64) -> bool {
    const TOKEN: i64 = 1000;
    let full = (CHAT_BURST * TOKEN as f64) as i64;
    let Some(bucket) = buckets.get_mut(who) else {
        buckets.insert(
            who.to_owned(),
            Bucket {
                milli_tokens: full.saturating_sub(TOKEN),
                at_ms,
            },
        );
        return full >= TOKEN;
    };
    let elapsed = at_ms.saturating_sub(bucket.at_ms).max(0);
    // ms × tokens/s = thousandths of a token.
    let refill = (elapsed as f64 * CHAT_RATE_PER_S) as i64;
    let tokens = bucket.milli_tokens.saturating_add(refill).clamp(0, full);
    if tokens < TOKEN {
        return false;
    }
    bucket.milli_tokens = tokens - TOKEN;
    bucket.at_ms = bucket.at_ms.max(at_ms);
    true
}

/// The members named with `@name` in `text`, in order of appearance. Names
/// match case-insensitively and may contain spaces: after each `@` (not
/// inside a word, so e-mail addresses do not count) the longest name that
/// follows, up to a non-word character or the end, wins (all members of
/// that name when several share it).
pub(super) fn mentions(text: &str, members: &BTreeMap<String, Member>) -> Vec<String> {
    let names: Vec<(&str, &str)> = members
        .values()
        .map(|m| (m.participant.id.as_str(), m.participant.name.trim()))
        .filter(|(_, name)| !name.is_empty())
        .collect();
    let mut found: Vec<String> = Vec::new();
    let mut prev: Option<char> = None;
    let mut scanned = 0;
    for (i, ch) in text.char_indices() {
        let starts_mention = ch == '@' && prev.is_none_or(|p| !is_word(p));
        prev = Some(ch);
        if !starts_mention {
            continue;
        }
        scanned += 1;
        if scanned > MAX_MENTION_SCAN {
            break;
        }
        let Some(rest) = text.get(i + ch.len_utf8()..) else {
            continue;
        };
        let mut best_len = 0;
        let mut best: Vec<&str> = Vec::new();
        for (id, name) in &names {
            let Some(len) = prefix_len_ci(rest, name) else {
                continue;
            };
            let ends_word = rest
                .get(len..)
                .and_then(|after| after.chars().next())
                .is_none_or(|next| !is_word(next));
            if !ends_word {
                continue;
            }
            if len > best_len {
                best_len = len;
                best.clear();
            }
            if len == best_len {
                best.push(id);
            }
        }
        for id in best {
            if !found.iter().any(|f| f == id) {
                found.push(id.to_owned());
            }
        }
    }
    found
}

fn is_word(ch: char) -> bool {
    ch.is_alphanumeric() || ch == '_'
}

/// When `hay` starts with `needle` ignoring case: the byte length of that
/// start in `hay`.
fn prefix_len_ci(hay: &str, needle: &str) -> Option<usize> {
    let mut hay_chars = hay.char_indices();
    let mut end = 0;
    for n in needle.chars() {
        let (i, h) = hay_chars.next()?;
        if h != n && !h.to_lowercase().eq(n.to_lowercase()) {
            return None;
        }
        end = i + h.len_utf8();
    }
    Some(end)
}

#[cfg(test)]
mod unit {
    use super::super::super::protocol::Participant;
    use super::*;

    fn members(names: &[(&str, &str)]) -> BTreeMap<String, Member> {
        names
            .iter()
            .map(|(id, name)| {
                (
                    id.to_string(),
                    Member {
                        participant: Participant {
                            id: id.to_string(),
                            name: name.to_string(),
                            role: "student".into(),
                            media: Default::default(),
                            quality: None,
                            hand_raised: false,
                            on_stage: false,
                            chat_muted: false,
                        },
                        connection: format!("c-{id}"),
                    },
                )
            })
            .collect()
    }

    #[test]
    fn mentions_pick_the_longest_name_case_insensitively() {
        let m = members(&[("a", "Ann"), ("b", "Ann Lee"), ("c", "Bob"), ("d", "Émile")]);
        assert_eq!(mentions("hi @ann lee and @BOB!", &m), vec!["b", "c"]);
        assert_eq!(mentions("@Ann, look", &m), vec!["a"]);
        assert_eq!(mentions("@annabelle", &m), Vec::<String>::new());
        assert_eq!(mentions("mail bob@ann.com", &m), Vec::<String>::new());
        assert_eq!(mentions("@émile @Bob @bob", &m), vec!["d", "c"]);
        assert_eq!(mentions("@", &m), Vec::<String>::new());
        assert_eq!(mentions("@@Bob", &m), vec!["c"]);
    }

    #[test]
    fn same_name_mentions_everyone_of_that_name() {
        let m = members(&[("a", "Sam"), ("b", "sam")]);
        assert_eq!(mentions("@Sam", &m), vec!["a", "b"]);
    }

    #[test]
    fn bucket_refills_and_never_overflows() {
        let mut b = BTreeMap::new();
        for _ in 0..10 {
            assert!(take_token(&mut b, "x", 0));
        }
        assert!(!take_token(&mut b, "x", 0));
        assert!(!take_token(&mut b, "x", 199));
        assert!(take_token(&mut b, "x", 200));
        assert!(take_token(&mut b, "x", i64::MAX));
        assert!(take_token(&mut b, "y", i64::MIN));
        assert!(take_token(&mut b, "y", i64::MAX));
        // Time going backwards refills nothing.
        let mut b = BTreeMap::new();
        for _ in 0..10 {
            assert!(take_token(&mut b, "x", 1000));
        }
        assert!(!take_token(&mut b, "x", 0));
    }
}
