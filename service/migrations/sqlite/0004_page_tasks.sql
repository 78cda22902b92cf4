-- A stack read as page jobs: one row a page while its document is being
-- read, deleted with the document's outcome. `result` holds what the page
-- gave (the engine's page reading, personal data) until the pages are
-- joined into records.
CREATE TABLE page_tasks (
    document_id BLOB NOT NULL REFERENCES documents (id),
    number      INTEGER NOT NULL,
    -- Workers that took this page: a page that stops every worker fails
    -- its document after the attempts limit.
    attempts    INTEGER NOT NULL DEFAULT 0,
    -- When a worker last said it was reading this page (none: not taken).
    touched_at  TEXT,
    result      TEXT,
    read_ms     BIGINT,
    cpu_ms      BIGINT,
    PRIMARY KEY (document_id, number)
);
-- The sweeper's question: pages taken and gone silent.
CREATE INDEX page_tasks_touched ON page_tasks (touched_at) WHERE result IS NULL;
