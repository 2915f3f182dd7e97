-- Splice at landing on object stores (S3): there is no body file to append to, so each prepared
-- slice's media is an object of its own (`assembly/{task_id}/piece-{index}-{uuid}`), and the stop
-- assembles the recording from the pieces by server-side copy (UploadPartCopy).
--
-- piece_key: the object holding the piece's media_len bytes; NULL on the fs store (the media is in
--            the task's body file at body_offset) and for pieces with no media. On object stores
--            body_offset is only the order the pieces were made in; a row whose object is missing
--            or of another size is void (deleted, and its slice prepared again).
ALTER TABLE slice_pieces ADD COLUMN piece_key TEXT;
