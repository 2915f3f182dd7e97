-- Wave 2 ingest: uploads into the fs store append to one file per upload instead of one object per
-- chunk, and keep the MD5 of their committed bytes as a running state, so neither an assembly copy
-- nor a re-read is needed when the last byte arrives.
--
-- append:           true once a chunk was appended to the upload's single file
--                   (`uploads/{id}/append-{id}`); such an upload has no upload_parts rows, and its
--                   file's valid prefix is "offset" bytes (anything past it is what a crashed or
--                   refused PATCH left, cut off by the next PATCH).
-- md5_state:        the serialized MD5 state (src/ingest/md5.rs) of bytes [0, "offset"), written
--                   in the same statement that moves "offset", so any instance can continue it.
-- synced_offset:    how many of those bytes are known durable (fdatasync'd). The file is synced
--                   every 64 MiB and at the last byte, not at every PATCH; committed bytes past it
--                   survive a process crash (they are in the page cache) but maybe not an OS crash.
-- synced_md5_state: md5_state at synced_offset.
-- write_boot:       the kernel boot id of the host that committed bytes past synced_offset. Seen
--                   from another boot, those bytes are given back: the file is cut to synced_offset,
--                   "offset" returns there, and the client re-sends from HEAD's offset.
ALTER TABLE uploads ADD COLUMN append BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE uploads ADD COLUMN md5_state BYTEA;
ALTER TABLE uploads ADD COLUMN synced_offset BIGINT NOT NULL DEFAULT 0;
ALTER TABLE uploads ADD COLUMN synced_md5_state BYTEA;
ALTER TABLE uploads ADD COLUMN write_boot TEXT;
