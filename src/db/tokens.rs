//! Token revocation: "this user's tokens issued up to T are void".

use super::{get, Db, DbError};

impl Db {
    /// Voids every token of `user_id` issued at or before `before_s`.
    pub async fn revoke_tokens(&self, user_id: &str, before_s: i64) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO token_revocations (user_id, revoked_before) VALUES ($1, $2) \
             ON CONFLICT (user_id) DO UPDATE SET revoked_before = excluded.revoked_before",
        )
        .bind(user_id)
        .bind(before_s)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Tokens of `user_id` issued at or before this time are void.
    pub async fn tokens_revoked_before(&self, user_id: &str) -> Result<Option<i64>, DbError> {
        let row = sqlx::query("SELECT revoked_before FROM token_revocations WHERE user_id = $1")
            .bind(user_id)
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| get::<i64>(&r, "revoked_before")).transpose()
    }
}
