-- Wave 2: every run of a task's splice job, for the console's timeline (issue 13): when it ran, how
-- it ended and why. The splice job itself (in `jobs`) keeps only its latest state and error.
--
-- outcome: done | partial (published), retry (failed, another attempt is scheduled), failed (gave
--          up: the task is failed with `reason`).
-- assembled: published from the pieces prepared while recording (the fs store's fast path), not
--          from a whole splice at the stop; NULL when nothing was published.
CREATE TABLE splice_attempts (
    id          BIGSERIAL PRIMARY KEY,
    task_id     TEXT NOT NULL REFERENCES tasks ON DELETE CASCADE,
    attempt     INT NOT NULL,
    started_at  TIMESTAMPTZ NOT NULL,
    duration_ms BIGINT NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('done', 'partial', 'retry', 'failed')),
    reason      TEXT
);
CREATE INDEX splice_attempts_task ON splice_attempts (task_id, id);
