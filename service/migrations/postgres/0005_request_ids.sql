-- The id of the HTTP request that uploaded each document (its X-Request-Id,
-- or one made for it), so the worker's log lines about the document carry
-- the same id as the upload's. Not personal; NULL for documents uploaded
-- before this column, or other than over HTTP.
ALTER TABLE documents ADD COLUMN request_id TEXT;
