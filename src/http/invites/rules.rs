//! The rules of invite links as plain code, time an input: what a code
//! looks like, which names are accepted, when an invite no longer works
//! (in words for the person holding the link), and how long the token it
//! gives lives.

use std::ops::RangeInclusive;
use std::time::Duration;

use base64::Engine;
use rand::RngCore;

use crate::auth::policy::JOIN_GRACE_MS;
use crate::db::{Invite, Session, SessionState};

/// How long an invite works when the instructor does not say (a week).
pub const DEFAULT_EXPIRES_IN_S: i64 = 7 * 24 * 3600;
/// From a minute to 30 days.
pub const EXPIRES_IN_S: RangeInclusive<i64> = 60..=2_592_000;
pub const MAX_USES: RangeInclusive<i64> = 1..=10_000;
/// Invites of one session that can still be redeemed, at most.
pub const MAX_LIVE_INVITES: i64 = 100;
pub const MAX_NAME_CHARS: usize = 64;

/// Random bytes in a code: 144 bits, 24 URL-safe characters.
const CODE_BYTES: usize = 18;
/// A redeemed token outlives the scheduled end by this much…
const TOKEN_AFTER_END: Duration = Duration::from_secs(2 * 3600);
/// …and lives at least this long (a class without a scheduled end)…
const TOKEN_MIN: Duration = Duration::from_secs(4 * 3600);
/// …and at most this long (and never past the server's `--jwt-max-lifetime`).
const TOKEN_MAX: Duration = Duration::from_secs(7 * 24 * 3600);

/// A new unguessable code.
pub fn new_code() -> String {
    let mut bytes = [0u8; CODE_BYTES];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether `code` could be one of ours (anything else is not looked up).
pub fn plausible_code(code: &str) -> bool {
    (16..=64).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Why a display name is refused, in words for the person typing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("Please enter your name.")]
    Empty,
    #[error("Your name can be at most 64 characters long.")]
    TooLong,
    #[error("Your name cannot contain control or invisible formatting characters.")]
    Control,
}

/// The display name as a token carries it: trimmed, 1 to 64 characters, no
/// control characters, and none of the invisible ones that reorder or hide
/// text (bidirectional overrides, zero-width characters), which would let a
/// name pass for another in the participant list.
pub fn display_name(raw: &str) -> Result<String, NameError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(NameError::TooLong);
    }
    if name.chars().any(|c| c.is_control() || invisible(c)) {
        return Err(NameError::Control);
    }
    Ok(name.to_owned())
}

fn invisible(c: char) -> bool {
    matches!(c,
        '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// Why an invite no longer works, in the words the join page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Unusable {
    #[error("This invite link was withdrawn by the instructor.")]
    Revoked,
    #[error("This class has ended.")]
    Ended,
    #[error("This invite link has expired.")]
    Expired,
    #[error("This invite link has been used as many times as it allows.")]
    UsedUp,
}

/// Whether the invite can be redeemed at `now_ms`, and if not why. A class
/// has ended when it was ended, or when its join links stopped working
/// (`JOIN_GRACE_MS` after the scheduled end): a token would be refused then.
pub fn unusable(invite: &Invite, session: &Session, now_ms: i64) -> Option<Unusable> {
    let ended = session.state == SessionState::Ended
        || session
            .scheduled_end
            .is_some_and(|end| now_ms > end.saturating_add(JOIN_GRACE_MS));
    if invite.revoked_at.is_some() {
        Some(Unusable::Revoked)
    } else if ended {
        Some(Unusable::Ended)
    } else if invite.expires_at <= now_ms {
        Some(Unusable::Expired)
    } else if invite.max_uses.is_some_and(|max| invite.uses >= max) {
        Some(Unusable::UsedUp)
    } else {
        None
    }
}

/// How long a redeemed token lives: until two hours after the class's
/// scheduled end (else its start, else now), at least four hours, at most
/// seven days, and never longer than the server accepts (`max_lifetime`).
pub fn token_ttl(session: &Session, now_ms: i64, max_lifetime: Duration) -> Duration {
    let reference = session
        .scheduled_end
        .or(session.scheduled_start)
        .unwrap_or(now_ms);
    let after_end = TOKEN_AFTER_END.as_millis() as i64;
    let wanted_ms = reference.saturating_add(after_end).saturating_sub(now_ms);
    Duration::from_millis(wanted_ms.max(0) as u64)
        .clamp(TOKEN_MIN, TOKEN_MAX)
        .min(max_lifetime)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;
    const HOUR: i64 = 3_600_000;

    fn session(start: Option<i64>, end: Option<i64>, state: SessionState) -> Session {
        Session {
            id: "s1".into(),
            title: "Algebra".into(),
            instructor_id: "alice".into(),
            instructor_name: "Alice".into(),
            scheduled_start: start,
            scheduled_end: end,
            state,
            max_webrtc_viewers: 50,
            record: false,
            guests_webrtc: false,
            course: None,
            allow_download: false,
            created_at: NOW - HOUR,
            updated_at: NOW - HOUR,
        }
    }

    fn invite(expires_at: i64, max_uses: Option<i64>, uses: i64) -> Invite {
        Invite {
            id: "i1".into(),
            session_id: "s1".into(),
            code: new_code(),
            role: "student".into(),
            expires_at,
            max_uses,
            uses,
            revoked_at: None,
            created_at: NOW - HOUR,
        }
    }

    #[test]
    fn codes_are_long_url_safe_and_different() {
        let (a, b) = (new_code(), new_code());
        assert_eq!(a.len(), 24);
        assert!(plausible_code(&a) && plausible_code(&b));
        assert_ne!(a, b);
        for bad in [
            "",
            "short",
            "has space in it and more",
            "../../etc/passwd/xxxxxx",
        ] {
            assert!(!plausible_code(bad), "{bad:?}");
        }
        assert!(!plausible_code(&"a".repeat(65)));
    }

    #[test]
    fn names_are_trimmed_bounded_and_printable() {
        assert_eq!(display_name("  Ada Lovelace \n"), Ok("Ada Lovelace".into()));
        assert_eq!(display_name("Zoë 李"), Ok("Zoë 李".into()));
        assert_eq!(display_name(""), Err(NameError::Empty));
        assert_eq!(display_name(" \t "), Err(NameError::Empty));
        assert_eq!(
            display_name(&"é".repeat(64)).map(|n| n.chars().count()),
            Ok(64)
        );
        assert_eq!(display_name(&"a".repeat(65)), Err(NameError::TooLong));
        assert_eq!(display_name("Bob\u{0007}"), Err(NameError::Control));
        assert_eq!(display_name("Bob\nSmith"), Err(NameError::Control));
        assert_eq!(display_name("evil\u{202E}nimda"), Err(NameError::Control));
        assert_eq!(display_name("a\u{200B}b"), Err(NameError::Control));
    }

    #[test]
    fn an_invite_stops_working_for_one_reason_in_words() {
        let open = session(None, None, SessionState::Scheduled);
        assert_eq!(unusable(&invite(NOW + 1, None, 5), &open, NOW), None);
        assert_eq!(unusable(&invite(NOW + 1, Some(2), 1), &open, NOW), None);
        assert_eq!(
            unusable(&invite(NOW, None, 0), &open, NOW),
            Some(Unusable::Expired)
        );
        assert_eq!(
            unusable(&invite(NOW + 1, Some(2), 2), &open, NOW),
            Some(Unusable::UsedUp)
        );
        let mut revoked = invite(NOW - 1, Some(1), 1);
        revoked.revoked_at = Some(NOW - 5);
        assert_eq!(unusable(&revoked, &open, NOW), Some(Unusable::Revoked));
        let ended = session(None, None, SessionState::Ended);
        assert_eq!(
            unusable(&invite(NOW + 1, None, 0), &ended, NOW),
            Some(Unusable::Ended)
        );
        let long_over = session(None, Some(NOW - JOIN_GRACE_MS - 1), SessionState::Scheduled);
        assert_eq!(
            unusable(&invite(NOW + 1, None, 0), &long_over, NOW),
            Some(Unusable::Ended)
        );
        let in_grace = session(None, Some(NOW - JOIN_GRACE_MS + 1), SessionState::Live);
        assert_eq!(unusable(&invite(NOW + 1, None, 0), &in_grace, NOW), None);
        assert_eq!(
            Unusable::UsedUp.to_string(),
            "This invite link has been used as many times as it allows."
        );
    }

    #[test]
    fn tokens_last_past_the_class_within_bounds() {
        let day = Duration::from_secs(24 * 3600);
        let week = Duration::from_secs(7 * 24 * 3600);
        let h = |n: u64| Duration::from_secs(n * 3600);
        let s = |end| session(None, end, SessionState::Scheduled);
        // No schedule: the minimum.
        assert_eq!(token_ttl(&s(None), NOW, week), h(4));
        // Ends in 5 h: until 2 h after.
        assert_eq!(token_ttl(&s(Some(NOW + 5 * HOUR)), NOW, week), h(7));
        // Ends in 1 h: at least 4 h.
        assert_eq!(token_ttl(&s(Some(NOW + HOUR)), NOW, week), h(4));
        // Ended long ago: still the minimum, never negative.
        assert_eq!(token_ttl(&s(Some(NOW - 100 * HOUR)), NOW, week), h(4));
        // Far ahead: at most a week, and at most what the server accepts.
        assert_eq!(token_ttl(&s(Some(NOW + 1000 * HOUR)), NOW, week * 2), week);
        assert_eq!(token_ttl(&s(Some(NOW + 1000 * HOUR)), NOW, day), day);
        // Only a start: two hours past it.
        let started = session(Some(NOW + 10 * HOUR), None, SessionState::Scheduled);
        assert_eq!(token_ttl(&started, NOW, week), h(12));
    }
}
