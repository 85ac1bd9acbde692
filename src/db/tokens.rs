//! Token revocation: "this user's tokens issued up to T are void".

use super::exec::args;
use super::{get, Db, DbError};

impl Db {
    /// Voids every token of `user_id` issued at or before `before_s`.
    pub async fn revoke_tokens(&self, user_id: &str, before_s: i64) -> Result<(), DbError> {
        self.run(
            "INSERT INTO token_revocations (user_id, revoked_before) VALUES ($1, $2) \
             ON CONFLICT (user_id) DO UPDATE SET revoked_before = excluded.revoked_before",
            args![user_id, before_s],
        )
        .await
    }

    /// Tokens of `user_id` issued at or before this time are void.
    pub async fn tokens_revoked_before(&self, user_id: &str) -> Result<Option<i64>, DbError> {
        let row = self
            .row(
                "SELECT revoked_before FROM token_revocations WHERE user_id = $1",
                args![user_id],
            )
            .await?;
        row.map(|r| get::<i64>(&r, "revoked_before")).transpose()
    }
}
