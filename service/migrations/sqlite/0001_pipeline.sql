-- formflow's pipeline tables: what was uploaded, what became of it, and the
-- messages still to be handed to the broker.

CREATE TABLE batches (
    id          BLOB PRIMARY KEY,
    created_at  TEXT NOT NULL,
    -- Files sent in the upload, accepted or not.
    files       INTEGER NOT NULL,
    -- Files refused at upload, with why: [{"file": ..., "error": ...}].
    refused     TEXT NOT NULL
);

-- One uploaded file: the unit of work a job carries.
CREATE TABLE documents (
    id           BLOB PRIMARY KEY,
    batch_id     BLOB NOT NULL REFERENCES batches (id),
    position     INTEGER NOT NULL,
    source       TEXT NOT NULL,
    sha256       TEXT NOT NULL,
    bytes        BIGINT NOT NULL,
    format       TEXT NOT NULL,
    page_count   INTEGER NOT NULL,
    -- queued, processing, extracted, needs_review, unclassified, failed, duplicate
    status       TEXT NOT NULL,
    duplicate_of BLOB REFERENCES documents (id),
    error        TEXT,
    -- A short key for the failure (metrics group failures by it).
    reason       TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    extract_ms   BIGINT,
    -- CPU the extraction thread used (the rest of a worker's CPU is overhead).
    extract_cpu_ms BIGINT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX documents_batch ON documents (batch_id, position);
CREATE INDEX documents_sha256 ON documents (sha256);
CREATE INDEX documents_status ON documents (status);

-- What happened to a document, in order.
CREATE TABLE document_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id BLOB NOT NULL REFERENCES documents (id),
    at          TEXT NOT NULL,
    status      TEXT NOT NULL,
    detail      TEXT
);
CREATE INDEX document_events_document ON document_events (document_id, id);

-- One form found in a document (a stack gives several), or its failure.
CREATE TABLE records (
    id          BLOB PRIMARY KEY,
    document_id BLOB NOT NULL REFERENCES documents (id),
    ordinal     INTEGER NOT NULL,
    batch_id    BLOB NOT NULL REFERENCES batches (id),
    source      TEXT NOT NULL,
    form        TEXT,
    pages       TEXT NOT NULL,
    status      TEXT NOT NULL,
    error       TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (document_id, ordinal)
);
CREATE INDEX records_updated ON records (updated_at, id);
CREATE INDEX records_form ON records (form, updated_at, id);
CREATE INDEX records_status ON records (status, updated_at, id);
CREATE INDEX records_batch ON records (batch_id, updated_at, id);

-- Each page of a document and where it went.
CREATE TABLE pages (
    document_id BLOB NOT NULL REFERENCES documents (id),
    number      INTEGER NOT NULL,
    record_id   BLOB REFERENCES records (id),
    form        TEXT,
    form_page   INTEGER,
    PRIMARY KEY (document_id, number)
);

-- A record's fields, current values.
CREATE TABLE field_values (
    record_id  BLOB NOT NULL REFERENCES records (id),
    position   INTEGER NOT NULL,
    name       TEXT NOT NULL,
    value      TEXT NOT NULL,
    confidence REAL NOT NULL,
    flags      TEXT NOT NULL,
    PRIMARY KEY (record_id, name)
);

-- Every value a field has had: the extractor's first, then corrections.
CREATE TABLE field_history (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    record_id  BLOB NOT NULL REFERENCES records (id),
    name       TEXT NOT NULL,
    at         TEXT NOT NULL,
    actor      TEXT NOT NULL,
    old_value  TEXT,
    new_value  TEXT NOT NULL,
    note       TEXT
);
CREATE INDEX field_history_record ON field_history (record_id, name, id);

-- Messages committed with the change that caused them, published to the
-- broker by the relay and then deleted (the transactional outbox).
CREATE TABLE outbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL,
    routing_key TEXT NOT NULL,
    payload     TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
