//! Where each user left off in each recording (replay's Resume).

use super::exec::args;
use super::{get, Db, DbError};

impl Db {
    /// Stores the user's position in the recording; the last write wins.
    pub async fn set_replay_position(
        &self,
        user_id: &str,
        recording_id: &str,
        position_ms: i64,
        at: i64,
    ) -> Result<(), DbError> {
        self.run(
            "INSERT INTO replay_positions (user_id, recording_id, position_ms, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, recording_id) \
             DO UPDATE SET position_ms = excluded.position_ms, updated_at = excluded.updated_at",
            args![user_id, recording_id, position_ms, at],
        )
        .await
    }

    /// The user's position in the recording (ms) and when it was stored.
    pub async fn replay_position(
        &self,
        user_id: &str,
        recording_id: &str,
    ) -> Result<Option<(i64, i64)>, DbError> {
        let row = self
            .row(
                "SELECT position_ms, updated_at FROM replay_positions \
                 WHERE user_id = $1 AND recording_id = $2",
                args![user_id, recording_id],
            )
            .await?;
        row.map(|r| Ok((get(&r, "position_ms")?, get(&r, "updated_at")?)))
            .transpose()
    }
}
