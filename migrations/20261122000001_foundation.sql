-- Foundation schema: apps, recording tasks, stored slices and tus uploads.
-- Landed migrations never change; later capabilities add new files.

-- One customer application (a Tencent-style SdkAppId) and its keys.
CREATE TABLE apps (
    sdk_app_id           BIGINT PRIMARY KEY CHECK (sdk_app_id > 0),
    -- key for UserSig (TLS sig v2) HMACs
    secret_key           TEXT NOT NULL CHECK (length(secret_key) >= 16),
    -- key for the query API's md5(TicKey + expire_time) signature
    tic_key              TEXT NOT NULL CHECK (length(tic_key) >= 16),
    -- identifiers allowed to call the admin APIs (RegisteredCallback)
    admin_identifiers    TEXT[] NOT NULL DEFAULT ARRAY['administrator'],
    local_record_enabled BOOLEAN NOT NULL DEFAULT TRUE,
    callback_url         TEXT,
    -- Standard Webhooks signing secret, "whsec_" + base64
    webhook_secret       TEXT NOT NULL,
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One recording of one user in one class.
CREATE TABLE tasks (
    task_id      TEXT PRIMARY KEY,
    sdk_app_id   BIGINT NOT NULL REFERENCES apps ON DELETE CASCADE,
    class_id     BIGINT NOT NULL,
    user_id      TEXT NOT NULL,
    -- recording -> (paused <-> recording) -> uploading (stop received) -> splicing -> done | failed | partial
    state        TEXT NOT NULL DEFAULT 'recording'
                 CHECK (state IN ('recording', 'paused', 'uploading', 'splicing', 'done', 'failed', 'partial')),
    -- recording parameters the recorder reported (VideoFps, SliceTime, ...), kept as sent
    params       JSONB NOT NULL DEFAULT '{}'::jsonb,
    -- the number of slices declared at stop; NULL until then
    slice_count  INTEGER CHECK (slice_count >= 0),
    start_time   TIMESTAMPTZ NOT NULL DEFAULT now(),
    stopped_at   TIMESTAMPTZ,
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX tasks_by_class ON tasks (sdk_app_id, class_id, start_time, task_id);
CREATE INDEX tasks_by_user ON tasks (sdk_app_id, user_id, start_time);

-- A slice stored whole in the object store and verified. (task_id, slice_index) is the identity:
-- at most one stored slice per index, so re-uploads are idempotent.
CREATE TABLE slices (
    task_id      TEXT NOT NULL REFERENCES tasks ON DELETE CASCADE,
    slice_index  INTEGER NOT NULL CHECK (slice_index >= 0),
    size         BIGINT NOT NULL CHECK (size >= 0),
    md5          TEXT NOT NULL,
    object_key   TEXT NOT NULL,
    filename     TEXT,
    upload_id    UUID NOT NULL,
    stored_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (task_id, slice_index)
);

-- A tus upload. Bytes live in the store as parts (upload_parts); the offset here is the committed
-- one, so any instance can continue the upload.
CREATE TABLE uploads (
    id            UUID PRIMARY KEY,
    sdk_app_id    BIGINT NOT NULL REFERENCES apps ON DELETE CASCADE,
    user_id       TEXT NOT NULL,
    -- NULL only for partial uploads (tus concatenation), which carry no slice identity
    task_id       TEXT REFERENCES tasks ON DELETE CASCADE,
    slice_index   INTEGER CHECK (slice_index >= 0),
    filename      TEXT,
    -- the Upload-Metadata header as received, echoed on HEAD
    metadata      TEXT,
    concat        TEXT NOT NULL DEFAULT 'none' CHECK (concat IN ('none', 'partial', 'final')),
    -- partial uploads a final upload is made of, in order
    concat_parts  UUID[],
    length        BIGINT NOT NULL CHECK (length >= 0),
    "offset"      BIGINT NOT NULL DEFAULT 0 CHECK ("offset" >= 0 AND "offset" <= length),
    -- receiving: accepting PATCHes; complete: all bytes received (and, unless partial, stored as a slice)
    state         TEXT NOT NULL DEFAULT 'receiving' CHECK (state IN ('receiving', 'complete')),
    md5           TEXT,
    expires_at    TIMESTAMPTZ NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK (concat = 'partial' OR (task_id IS NOT NULL AND slice_index IS NOT NULL))
);
CREATE INDEX uploads_by_task ON uploads (task_id, slice_index);
CREATE INDEX uploads_by_expiry ON uploads (expires_at);

-- One received chunk of an upload, stored as its own object at upload_parts.object_key.
CREATE TABLE upload_parts (
    upload_id   UUID NOT NULL REFERENCES uploads ON DELETE CASCADE,
    "offset"    BIGINT NOT NULL CHECK ("offset" >= 0),
    length      BIGINT NOT NULL CHECK (length > 0),
    object_key  TEXT NOT NULL,
    md5         TEXT NOT NULL,
    PRIMARY KEY (upload_id, "offset")
);
