-- Wave 2 ingest: uploads into the fs store append to one file per upload instead of one object per
-- chunk, and keep the MD5 of their committed bytes as a running state, so neither an assembly copy
-- nor a re-read is needed when the last byte arrives.
--
-- append:    true once a chunk was appended to the upload's single file (`uploads/{id}/append-{id}`);
--            such an upload has no upload_parts rows, and its file's valid prefix is "offset" bytes
--            (anything past it is what a crashed or refused PATCH left, cut off by the next PATCH).
-- md5_state: the serialized MD5 state (md-5 0.11 SerializableState) of bytes [0, "offset"),
--            written in the same statement that moves "offset", so any instance can continue it.
ALTER TABLE uploads ADD COLUMN append BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE uploads ADD COLUMN md5_state BYTEA;
