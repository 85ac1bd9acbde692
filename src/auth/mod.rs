//! Tokens: JWTs signed with HS256 (shared secret) or RS256 (key pair).

pub(crate) mod keys;
pub mod policy;

pub use keys::{AuthConfig, KeySource, Keys, TokenRules};

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("token expired")]
    Expired,
    #[error("token not valid yet")]
    NotYetValid,
    #[error("token lifetime exceeds the maximum of {0} s")]
    TooLong(u64),
    #[error("token revoked")]
    Revoked,
    #[error("invalid token: {0}")]
    Invalid(String),
    #[error("auth configuration: {0}")]
    Config(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Instructor,
    Student,
    Guest,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Instructor => "instructor",
            Role::Student => "student",
            Role::Guest => "guest",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user's id.
    pub sub: String,
    /// Display name.
    pub name: String,
    pub role: Role,
    /// When set, the token is good for this session only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    pub exp: u64,
    #[serde(default)]
    pub iat: u64,
    /// A student called on stage. A hint for clients only: whether they may
    /// publish is decided live by the room (`policy`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stage: bool,
    /// A replay token (in a playback URL): plays recordings, nothing else.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replay: bool,
    /// Not before (seconds since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Issuer and audience: filled in when signing and checked when
    /// verifying, if the server is configured with them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

impl Claims {
    pub fn new(sub: &str, name: &str, role: Role, session: Option<String>, ttl: Duration) -> Self {
        let now = crate::time::now_ms() as u64 / 1000;
        Claims {
            sub: sub.to_owned(),
            name: name.to_owned(),
            role,
            session,
            exp: now + ttl.as_secs(),
            iat: now,
            stage: false,
            replay: false,
            nbf: None,
            iss: None,
            aud: None,
        }
    }

    /// Whether this token may act on `session_id` at all.
    pub fn covers_session(&self, session_id: &str) -> bool {
        self.session.as_deref().is_none_or(|s| s == session_id)
    }
}
