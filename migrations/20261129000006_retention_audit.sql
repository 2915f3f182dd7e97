-- Retention and deletion (issue 13): how long an app keeps its recordings, and the audit log of
-- admin actions (who did what to what, when), kept when the things acted on are gone.

-- Recordings that started more than this many days ago are deleted by the retention job;
-- NULL keeps them.
ALTER TABLE apps ADD COLUMN retention_days INTEGER CHECK (retention_days > 0);

CREATE TABLE audit_log (
    id         BIGSERIAL PRIMARY KEY,
    at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    sdk_app_id BIGINT NOT NULL,
    -- an admin identifier, 'cli' for the localrecord command, 'retention' for the retention job
    actor      TEXT NOT NULL,
    -- e.g. 'delete', 'redeliver', 'register-callback', 'rotate', 'retention'
    action     TEXT NOT NULL,
    -- what was acted on (a TaskId, a key kind); empty when nothing in particular
    target     TEXT NOT NULL DEFAULT '',
    detail     JSONB NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_by_app ON audit_log (sdk_app_id, at DESC, id DESC);
-- the retention job's search for expired recordings
CREATE INDEX tasks_by_start ON tasks (sdk_app_id, start_time);
