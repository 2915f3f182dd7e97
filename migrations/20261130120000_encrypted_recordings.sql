-- Encrypted recordings (issue 14), the server's side. key_id is the format's key id (16 hex
-- digits, see crypt/src/key.rs) of the app recording key a file is encrypted with; NULL means the
-- file is plain. Never a key: keys stay in app_recording_keys.
--
-- uploads.key_id: from the tus metadata `encryption lrcrypt-v1` + `key_id`, checked at creation
--                 against the app's keys; carried to the slice when the upload finishes.
-- slices.key_id:  the stored slice is encrypted with that key (its bytes are as uploaded).
-- tasks.video_key_id: the spliced MP4 at video_output_key is encrypted with that key (the app's
--                 current key when it was spliced); NULL for a plain MP4.
ALTER TABLE uploads ADD COLUMN key_id TEXT CHECK (key_id ~ '^[0-9a-f]{16}$');
ALTER TABLE slices ADD COLUMN key_id TEXT CHECK (key_id ~ '^[0-9a-f]{16}$');
ALTER TABLE tasks ADD COLUMN video_key_id TEXT CHECK (video_key_id ~ '^[0-9a-f]{16}$');
