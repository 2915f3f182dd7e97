-- Durable jobs (splicing now, callbacks later) and the splice result on each task.

-- The job queue. Workers claim with one short UPDATE ... FOR UPDATE SKIP LOCKED, then hold a lease
-- they renew by heartbeat; a reaper re-queues jobs whose lease expired (their worker died).
CREATE TABLE jobs (
    id           BIGSERIAL PRIMARY KEY,
    kind         TEXT NOT NULL,
    -- one job per key (e.g. 'splice:<TaskId>'); enqueueing an existing key re-arms it
    unique_key   TEXT NOT NULL UNIQUE,
    -- typed per kind (see src/jobs/)
    payload      JSONB NOT NULL,
    state        TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done', 'failed')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL DEFAULT 5 CHECK (max_attempts > 0),
    run_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    worker       TEXT,
    lease_until  TIMESTAMPTZ,
    -- re-armed while running: run once more when this run ends
    rerun        BOOLEAN NOT NULL DEFAULT false,
    last_error   TEXT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX jobs_ready ON jobs (run_at) WHERE state = 'queued';
CREATE INDEX jobs_leases ON jobs (lease_until) WHERE state = 'running';

-- The spliced recording. video_output_id is the public id of the MP4 (the seed's VideoOutputId).
ALTER TABLE tasks
    ADD COLUMN video_output_id          TEXT UNIQUE,
    ADD COLUMN video_output_key         TEXT,
    ADD COLUMN video_output_size        BIGINT,
    ADD COLUMN video_output_duration_ms BIGINT,
    -- when the last splice finished (the seed's SplicTime)
    ADD COLUMN splic_time               TIMESTAMPTZ,
    ADD COLUMN splice_ms                BIGINT,
    -- why the task failed, or what a partial recording lacks
    ADD COLUMN failure_reason           TEXT,
    ADD COLUMN missing_slices           INTEGER[] NOT NULL DEFAULT '{}',
    -- last time a slice arrived or the recorder spoke: a recording task idle too long is spliced
    ADD COLUMN last_activity            TIMESTAMPTZ NOT NULL DEFAULT now();
CREATE INDEX tasks_idle ON tasks (last_activity) WHERE state IN ('recording', 'paused', 'uploading');
