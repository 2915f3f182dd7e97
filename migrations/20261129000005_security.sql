-- Security (issue 11): key rotation with an overlap, the query API's replay cache, and an index
-- for the per-user quota on bytes in unfinished uploads.

-- The key a rotation replaced stays valid (UserSig and query signs verify with it; callbacks are
-- signed with it as well as with the new secret) until its *_until time.
ALTER TABLE apps
    ADD COLUMN previous_secret_key           TEXT,
    ADD COLUMN previous_secret_key_until     TIMESTAMPTZ,
    ADD COLUMN previous_tic_key              TEXT,
    ADD COLUMN previous_tic_key_until        TIMESTAMPTZ,
    ADD COLUMN previous_webhook_secret       TEXT,
    ADD COLUMN previous_webhook_secret_until TIMESTAMPTZ;

-- (sign, random) pairs the query API has accepted, kept until their expire_time passes
-- (`query.replay_cache`): a captured query URL cannot be replayed.
CREATE TABLE query_nonces (
    sdk_app_id BIGINT NOT NULL,
    sign       TEXT NOT NULL,
    random     BIGINT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (sdk_app_id, sign, random)
);
CREATE INDEX query_nonces_by_expiry ON query_nonces (expires_at);

-- quota.partial_bytes_per_user sums the declared lengths of a user's unfinished uploads.
CREATE INDEX uploads_receiving_by_user ON uploads (sdk_app_id, user_id) WHERE state = 'receiving';
