-- Token revocation, per user: every token of `user_id` issued at or before
-- `revoked_before` (seconds since the epoch, the tokens' `iat`) is void.
-- One row per user, read by primary key on each verification.
CREATE TABLE token_revocations (
    user_id TEXT PRIMARY KEY,
    revoked_before BIGINT NOT NULL
);
