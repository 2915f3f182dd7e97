-- Encrypted recordings (issue 14): each app's recording keys. The current key (retired_at NULL) is
-- the one recorders are given; rotated keys stay, retired, because recordings made with them must
-- still decrypt. key_id is the format's 8-byte key id in hex (derived from the key, see
-- crypt/src/key.rs); key_hex is the 32-byte key in hex, never logged or printed by the server.
CREATE TABLE app_recording_keys (
    sdk_app_id BIGINT NOT NULL REFERENCES apps (sdk_app_id) ON DELETE CASCADE,
    key_id     TEXT NOT NULL CHECK (key_id ~ '^[0-9a-f]{16}$'),
    key_hex    TEXT NOT NULL CHECK (key_hex ~ '^[0-9a-f]{64}$'),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    retired_at TIMESTAMPTZ,
    PRIMARY KEY (sdk_app_id, key_id)
);

-- At most one current key per app.
CREATE UNIQUE INDEX app_recording_keys_current ON app_recording_keys (sdk_app_id) WHERE retired_at IS NULL;
