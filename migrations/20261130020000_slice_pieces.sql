-- Wave 2 splice at landing: each stored slice is prepared as it arrives (src/splice/piece.rs), so
-- that the stop only writes an index (src/splice/assemble.rs). Only with the fs store, whose task
-- body file (`assembly/{task_id}/body`) holds the prepared media of every piece back to back.
--
-- body_offset: where the piece's media starts in the body file; the body's valid length is the
--              largest body_offset + media_len of the task (anything past it is what a crashed
--              preparation left, overwritten by the next). A body shorter than that (consumed by a
--              splice that then lost its claim, or removed) makes every row of the task void: they
--              are deleted and the slices prepared again.
-- meta:        the piece's PieceMeta (codec parameters, origin, outcome) as JSON.
-- samples:     the packet table, 38-byte records (the contract is in src/splice/piece.rs).
-- Rows go when the splice that consumed the body publishes, and with their slice.
CREATE TABLE slice_pieces (
    task_id      TEXT NOT NULL,
    slice_index  INTEGER NOT NULL,
    body_offset  BIGINT NOT NULL CHECK (body_offset >= 0),
    media_len    BIGINT NOT NULL CHECK (media_len >= 0),
    meta         JSONB NOT NULL,
    samples      BYTEA NOT NULL,
    prepared_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (task_id, slice_index),
    FOREIGN KEY (task_id, slice_index) REFERENCES slices (task_id, slice_index) ON DELETE CASCADE
);
