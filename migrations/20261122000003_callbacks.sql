-- Result callbacks: every delivery attempt, for the delivery log of a task.
-- The outbox itself is the jobs table (kind 'callback', unique_key 'callback:<webhook id>').

CREATE TABLE callback_attempts (
    id           BIGSERIAL PRIMARY KEY,
    -- the Standard Webhooks message id, the same on every attempt of one callback
    webhook_id   TEXT NOT NULL,
    task_id      TEXT NOT NULL REFERENCES tasks ON DELETE CASCADE,
    attempt      INTEGER NOT NULL,
    url          TEXT NOT NULL,
    -- HTTP status, NULL when no response came (refused, timed out)
    status       INTEGER,
    error        TEXT,
    duration_ms  BIGINT NOT NULL,
    at           TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX callback_attempts_by_task ON callback_attempts (task_id, at);
