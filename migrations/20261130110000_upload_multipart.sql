-- S3 ingest without the final copy: a (non-partial) upload into S3 is one S3 multipart upload
-- completing at the slice's key. Chunks (the recorder sends 4 MiB, under S3's 5 MiB minimum part)
-- are still received as part objects (upload_parts), and as soon as the committed ones hold 5 MiB
-- they are read back and sent as one part, then dropped; the last part goes when the last byte
-- arrives, and completing the multipart upload stores the slice. The running MD5 of the committed
-- bytes is kept in uploads.md5_state (moved in the same transaction as the offset), so the slice's
-- MD5 is known without reading it again. Everything needed to go on is here, so any instance can
-- continue the upload.
--
-- upload_id:  the tus upload; no foreign key on purpose: when the upload row goes (finished,
--             terminated, expired) a row left here names a multipart upload to abort, which the
--             sweeper does.
-- object_key: where the multipart upload completes (the slice's key).
-- mp_id:      the S3 upload id.
-- parts:      the parts sent, in order: [{"number": n, "etag": "..."}].
-- sent:       bytes [0, sent) of the upload are in those parts; upload_parts rows cover the rest.
CREATE TABLE upload_multipart (
    upload_id   UUID PRIMARY KEY,
    object_key  TEXT NOT NULL,
    mp_id       TEXT NOT NULL,
    parts       JSONB NOT NULL DEFAULT '[]'::jsonb,
    sent        BIGINT NOT NULL DEFAULT 0 CHECK (sent >= 0),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
