//! Who may do what with a session: one decision for every route and the
//! classroom socket. Pure: the caller gathers the facts (the session, whether
//! the user is banned, whether the room has them on stage) and asks; time is
//! an input.
//!
//! The rules:
//! - A token names its session (`session` claim) or, for instructors only,
//!   none. A token for another session is refused before anything is looked
//!   up, so it cannot tell which ids exist.
//! - An instructor token acts only in the sessions it owns; elsewhere it is
//!   refused.
//! - Students and guests need a token for this session, must not be banned
//!   (kicked), and their join link stops working some time after the
//!   scheduled end (students may still replay).
//! - Publishing is the owner's, or a student's while the room has them on
//!   stage: checked live on every request, not carried in the token.
//! - A replay token (minted into playback URLs) plays recordings, nothing else.

use super::{Claims, Role};

/// Join links of students and guests stop working this long after the
/// session's scheduled end.
pub const JOIN_GRACE_MS: i64 = 15 * 60 * 1000;

/// What the caller wants to do with a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// Read it, take part (the socket), watch over HLS.
    See,
    /// Watch over WebRTC (WHEP).
    Watch,
    /// Publish into it (WHIP POST, PATCH, DELETE).
    Publish,
    /// Change it, moderate it, read its reports: its instructor only.
    Own,
    /// Play its recordings.
    Replay,
}

/// The session as the policy needs it.
#[derive(Debug, Clone, Copy)]
pub struct SessionFacts<'a> {
    pub id: &'a str,
    pub instructor_id: &'a str,
    pub scheduled_end: Option<i64>,
    pub guests_webrtc: bool,
}

/// What is true of the user in this session right now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Standing {
    /// Kicked: banned from the session.
    pub banned: bool,
    /// The room has them on stage (called on, not demoted or kicked since).
    pub on_stage: bool,
}

/// Why a request was refused (all of them are 403s; a socket closes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("this token is for another session")]
    OtherSession,
    #[error("a student or guest token must name its session")]
    Unscoped,
    #[error("only the session's instructor may do this")]
    NotOwner,
    #[error("you were removed from this session")]
    Banned,
    #[error("the session ended more than 15 minutes ago; this join link no longer works")]
    JoinClosed,
    #[error("guests watch this session over HLS")]
    GuestsUseHls,
    #[error("only the session's instructor, or a student while on stage, may publish")]
    NotOnStage,
    #[error("this token only plays recordings")]
    ReplayOnly,
}

/// The part of the decision that needs no lookup: whether the token may ask
/// about `session_id` at all. Checked before the session is read (L8).
pub fn scope(who: &Claims, session_id: &str, capability: Capability) -> Result<(), Denied> {
    if who.replay && capability != Capability::Replay {
        return Err(Denied::ReplayOnly);
    }
    match who.session.as_deref() {
        Some(s) if s != session_id => Err(Denied::OtherSession),
        None if who.role != Role::Instructor => Err(Denied::Unscoped),
        _ => Ok(()),
    }
}

/// Whether `who` is this session's instructor.
pub fn owns(who: &Claims, session: &SessionFacts<'_>) -> bool {
    who.role == Role::Instructor && who.sub == session.instructor_id && !who.replay
}

/// The whole decision. `Ok(role)` is the role the user acts in.
pub fn decide(
    who: &Claims,
    session: &SessionFacts<'_>,
    standing: Standing,
    capability: Capability,
    now_ms: i64,
) -> Result<Role, Denied> {
    scope(who, session.id, capability)?;
    // Past `scope`, a replay token asks only to replay: its owner's plays
    // their own recordings (the playback URLs of local storage carry one).
    if who.role == Role::Instructor && who.sub == session.instructor_id {
        return Ok(Role::Instructor);
    }
    // Beyond this point: a participant, never the instructor.
    if who.role == Role::Instructor || capability == Capability::Own {
        return Err(Denied::NotOwner);
    }
    if standing.banned {
        return Err(Denied::Banned);
    }
    let join_closed = session
        .scheduled_end
        .is_some_and(|end| now_ms > end.saturating_add(JOIN_GRACE_MS));
    match capability {
        Capability::Own => Err(Denied::NotOwner),
        // Students replay after the class; guests only while they may join.
        Capability::Replay if who.role == Role::Student => Ok(who.role),
        _ if join_closed => Err(Denied::JoinClosed),
        Capability::Watch if who.role == Role::Guest && !session.guests_webrtc => {
            Err(Denied::GuestsUseHls)
        }
        Capability::Publish if who.role != Role::Student || !standing.on_stage => {
            Err(Denied::NotOnStage)
        }
        _ => Ok(who.role),
    }
}

/// Which sessions a listing may show: a scoped token its own session, an
/// instructor their own; students and guests need a scoped token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listing {
    One(String),
    InstructorsOwn(String),
}

pub fn listing(who: &Claims) -> Result<Listing, Denied> {
    if who.replay {
        return Err(Denied::ReplayOnly);
    }
    match (&who.session, who.role) {
        (Some(id), _) => Ok(Listing::One(id.clone())),
        (None, Role::Instructor) => Ok(Listing::InstructorsOwn(who.sub.clone())),
        (None, _) => Err(Denied::Unscoped),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const NOW: i64 = 1_000_000_000;

    fn session(end: Option<i64>, guests_webrtc: bool) -> SessionFacts<'static> {
        SessionFacts {
            id: "s1",
            instructor_id: "alice",
            scheduled_end: end,
            guests_webrtc,
        }
    }

    /// `decide` for someone neither banned nor on stage, at `NOW`.
    fn decide_now(who: &Claims, s: &SessionFacts<'_>, cap: Capability) -> Result<Role, Denied> {
        decide(who, s, Standing::default(), cap, NOW)
    }

    fn claims(sub: &str, role: Role, session: Option<&str>) -> Claims {
        Claims::new(
            sub,
            sub,
            role,
            session.map(str::to_owned),
            Duration::from_secs(60),
        )
    }

    #[test]
    fn the_owner_may_do_everything_and_acts_as_instructor() {
        let alice = claims("alice", Role::Instructor, None);
        for cap in [
            Capability::See,
            Capability::Watch,
            Capability::Publish,
            Capability::Own,
            Capability::Replay,
        ] {
            assert_eq!(
                decide_now(&alice, &session(Some(0), false), cap),
                Ok(Role::Instructor)
            );
        }
    }

    #[test]
    fn another_instructor_is_refused_everywhere() {
        for token_session in [None, Some("s1")] {
            let mallory = claims("mallory", Role::Instructor, token_session);
            for cap in [Capability::See, Capability::Own, Capability::Publish] {
                assert_eq!(
                    decide_now(&mallory, &session(None, true), cap),
                    Err(Denied::NotOwner)
                );
            }
        }
    }

    #[test]
    fn scope_comes_before_anything_else() {
        let bob = claims("bob", Role::Student, Some("other"));
        assert_eq!(
            scope(&bob, "s1", Capability::See),
            Err(Denied::OtherSession)
        );
        let unscoped = claims("bob", Role::Student, None);
        assert_eq!(
            scope(&unscoped, "s1", Capability::See),
            Err(Denied::Unscoped)
        );
        let guest = claims("gina", Role::Guest, None);
        assert_eq!(scope(&guest, "s1", Capability::See), Err(Denied::Unscoped));
        let alice_elsewhere = claims("alice", Role::Instructor, Some("other"));
        assert_eq!(
            decide_now(&alice_elsewhere, &session(None, false), Capability::Own),
            Err(Denied::OtherSession)
        );
    }

    #[test]
    fn students_watch_and_publish_only_on_stage() {
        let bob = claims("bob", Role::Student, Some("s1"));
        let s = session(None, false);
        assert_eq!(decide_now(&bob, &s, Capability::Watch), Ok(Role::Student));
        assert_eq!(
            decide_now(&bob, &s, Capability::Publish),
            Err(Denied::NotOnStage)
        );
        let on_stage = Standing {
            banned: false,
            on_stage: true,
        };
        assert_eq!(
            decide(&bob, &s, on_stage, Capability::Publish, NOW),
            Ok(Role::Student)
        );
        assert_eq!(
            decide(&bob, &s, on_stage, Capability::Own, NOW),
            Err(Denied::NotOwner)
        );
        // A stage claim in the token is not enough: the room decides.
        let mut stage_token = bob.clone();
        stage_token.stage = true;
        assert_eq!(
            decide_now(&stage_token, &s, Capability::Publish),
            Err(Denied::NotOnStage)
        );
        let guest = claims("gina", Role::Guest, Some("s1"));
        assert_eq!(
            decide(&guest, &s, on_stage, Capability::Publish, NOW),
            Err(Denied::NotOnStage)
        );
    }

    #[test]
    fn the_banned_are_refused_everything() {
        let bob = claims("bob", Role::Student, Some("s1"));
        let banned = Standing {
            banned: true,
            on_stage: true,
        };
        for cap in [
            Capability::See,
            Capability::Watch,
            Capability::Publish,
            Capability::Replay,
        ] {
            assert_eq!(
                decide(&bob, &session(None, true), banned, cap, NOW),
                Err(Denied::Banned)
            );
        }
    }

    #[test]
    fn guests_need_the_webrtc_switch() {
        let gina = claims("gina", Role::Guest, Some("s1"));
        assert_eq!(
            decide_now(&gina, &session(None, false), Capability::Watch),
            Err(Denied::GuestsUseHls)
        );
        assert_eq!(
            decide_now(&gina, &session(None, true), Capability::Watch),
            Ok(Role::Guest)
        );
    }

    #[test]
    fn join_links_close_after_the_end_but_students_replay() {
        let ended = session(Some(NOW - JOIN_GRACE_MS - 1), false);
        let bob = claims("bob", Role::Student, Some("s1"));
        let gina = claims("gina", Role::Guest, Some("s1"));
        assert_eq!(
            decide_now(&bob, &ended, Capability::See),
            Err(Denied::JoinClosed)
        );
        assert_eq!(
            decide_now(&bob, &ended, Capability::Replay),
            Ok(Role::Student)
        );
        assert_eq!(
            decide_now(&gina, &ended, Capability::Replay),
            Err(Denied::JoinClosed)
        );
        let in_grace = session(Some(NOW - JOIN_GRACE_MS + 1), false);
        assert!(decide_now(&gina, &in_grace, Capability::See).is_ok());
    }

    #[test]
    fn replay_tokens_only_replay() {
        let mut bob = claims("bob", Role::Student, Some("s1"));
        bob.replay = true;
        let s = session(None, true);
        assert_eq!(decide_now(&bob, &s, Capability::Replay), Ok(Role::Student));
        for cap in [
            Capability::See,
            Capability::Watch,
            Capability::Publish,
            Capability::Own,
        ] {
            assert_eq!(decide_now(&bob, &s, cap), Err(Denied::ReplayOnly));
        }
        let mut alice = claims("alice", Role::Instructor, Some("s1"));
        alice.replay = true;
        assert_eq!(
            decide_now(&alice, &s, Capability::Replay),
            Ok(Role::Instructor)
        );
        assert_eq!(
            decide_now(&alice, &s, Capability::Own),
            Err(Denied::ReplayOnly)
        );
        assert_eq!(listing(&alice), Err(Denied::ReplayOnly));
    }

    #[test]
    fn listings_are_scoped() {
        assert_eq!(
            listing(&claims("bob", Role::Student, Some("s1"))),
            Ok(Listing::One("s1".into()))
        );
        assert_eq!(
            listing(&claims("alice", Role::Instructor, None)),
            Ok(Listing::InstructorsOwn("alice".into()))
        );
        assert_eq!(
            listing(&claims("bob", Role::Student, None)),
            Err(Denied::Unscoped)
        );
        assert_eq!(
            listing(&claims("gina", Role::Guest, None)),
            Err(Denied::Unscoped)
        );
    }
}
