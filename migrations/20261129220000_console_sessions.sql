-- The admin console (src/http/console): sign-in links and sessions, in Postgres so any instance
-- serves them. Only hashes (SHA-256, hex) of the link tokens and session ids are kept: a copy of
-- the database signs nobody in.
--
-- console_login_tokens: one-time links printed by `localrecord admin login`; valid for minutes,
--                       used once (used_at set in the statement that accepts it).
-- console_sessions:     a signed-in admin of one app; csrf is the per-session token every
--                       state-changing form carries.
CREATE TABLE console_login_tokens (
    token_hash  TEXT PRIMARY KEY,
    sdk_app_id  BIGINT NOT NULL REFERENCES apps ON DELETE CASCADE,
    identifier  TEXT NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX console_login_tokens_by_expiry ON console_login_tokens (expires_at);

CREATE TABLE console_sessions (
    id_hash     TEXT PRIMARY KEY,
    sdk_app_id  BIGINT NOT NULL REFERENCES apps ON DELETE CASCADE,
    identifier  TEXT NOT NULL,
    csrf        TEXT NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX console_sessions_by_expiry ON console_sessions (expires_at);
