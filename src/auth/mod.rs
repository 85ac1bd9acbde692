//! Tokens: JWTs signed with HS256 (shared secret) or RS256 (key pair).

mod extract;
mod keys;

pub use extract::{request_token, AuthUser, PlayerAuth};
pub use keys::Keys;

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("token expired")]
    Expired,
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
    /// A student called on stage: may publish into `session`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stage: bool,
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
        }
    }

    /// Whether this token may act on `session_id` at all.
    pub fn covers_session(&self, session_id: &str) -> bool {
        self.session.as_deref().is_none_or(|s| s == session_id)
    }
}
