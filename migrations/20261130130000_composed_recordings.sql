-- A recording served from several objects until the store has made it one (object stores with
-- the splice at landing): the stop stores only the MP4's index as an object, and the recording is
-- that object followed by the prepared pieces, read back to back. The callback goes out then; the
-- `compose` job has the store copy them into the one object at video_output_key and sets this back
-- to NULL (in the transaction that makes the pieces disposable).
--
-- video_output_parts: JSON array of {"key": object key, "len": bytes}, in file order; NULL when
--                     the recording is the one object at video_output_key.
ALTER TABLE tasks ADD COLUMN video_output_parts JSONB;
