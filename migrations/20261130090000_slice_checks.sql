-- Keyframe verdicts (src/splice/verify.rs): which keyframes of a stored slice failed to decode,
-- found the first time the slice was read with every keyframe decoded (its preparation as it
-- landed, or a whole splice). Later reads of the slice (a re-splice, the whole splice at the stop)
-- pass them back instead of decoding every keyframe again: decoding is most of a splice's CPU.
--
-- bad_keyframes: ordinals, from 0 in read order over every keyframe of the slice, of those that
--                failed; empty when all decoded.
-- version:       the checking method's version (verify::VERDICT_VERSION); rows of another
--                version are ignored, so a change to the check re-decodes.
-- Slices never change once stored (other bytes for the same index are refused), so a verdict
-- stays true for as long as its slice exists; rows go with their slice.
CREATE TABLE slice_checks (
    task_id       TEXT NOT NULL,
    slice_index   INTEGER NOT NULL,
    version       INTEGER NOT NULL,
    bad_keyframes INTEGER[] NOT NULL,
    checked_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (task_id, slice_index),
    FOREIGN KEY (task_id, slice_index) REFERENCES slices (task_id, slice_index) ON DELETE CASCADE
);
