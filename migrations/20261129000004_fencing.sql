-- Wave 2 reliability.
-- Every claim of a job gets a fresh fencing token. Heartbeat, completion, failure and a job's
-- publishing of its result take effect only while the job still holds the token it was claimed
-- with, so a run that stalled past its lease and was re-claimed elsewhere (or by this very process)
-- can never overwrite the newer run's result.
ALTER TABLE jobs ADD COLUMN claim_id UUID;
