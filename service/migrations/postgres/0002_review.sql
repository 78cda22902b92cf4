-- People, services and the review loop: who may do what, who did what, and
-- what caseworkers changed.

-- People who sign in to the pages. Only an Argon2id hash of the password is
-- kept.
CREATE TABLE users (
    id            UUID PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    -- uploader, caseworker, consumer or admin
    role          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);

-- Services that call the API with a bearer token. Only the token's SHA-256
-- is kept; a revoked token stays, for the audit log's sake.
CREATE TABLE tokens (
    id           UUID PRIMARY KEY,
    name         TEXT NOT NULL,
    role         TEXT NOT NULL,
    hash         TEXT NOT NULL UNIQUE,
    created_at   TIMESTAMPTZ NOT NULL,
    revoked_at   TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX tokens_live_name ON tokens (name) WHERE revoked_at IS NULL;

-- Signed-in browsers. The cookie holds a random id; only its SHA-256 is
-- kept, so a copy of this table signs nobody in.
CREATE TABLE sessions (
    id_hash      TEXT PRIMARY KEY,
    user_id      UUID NOT NULL REFERENCES users (id),
    csrf         TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Who did what, when: ids and kinds of action, never a field's value.
CREATE TABLE audit (
    id           BIGSERIAL PRIMARY KEY,
    at           TIMESTAMPTZ NOT NULL,
    -- person, service or system
    actor_kind   TEXT NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    subject_kind TEXT,
    subject_id   TEXT,
    -- What else there is to say, without personal data: counts, field
    -- names, outcome keys, the client's address for sign-ins.
    detail       JSONB NOT NULL
);
CREATE INDEX audit_at ON audit (at, id);
CREATE INDEX audit_subject ON audit (subject_kind, subject_id, id);

-- A caseworker's hold on a document while reviewing it.
ALTER TABLE documents ADD COLUMN lease_user_id UUID REFERENCES users (id);
ALTER TABLE documents ADD COLUMN lease_until TIMESTAMPTZ;
-- The review queue: waiting documents, oldest first.
CREATE INDEX documents_waiting ON documents (status, created_at, batch_id, position);

-- Every save bumps the version; a save based on an older one is refused.
ALTER TABLE records ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE records ADD COLUMN reviewed_by TEXT;
ALTER TABLE records ADD COLUMN reviewed_at TIMESTAMPTZ;
-- Why a record was rejected, in the caseworker's words.
ALTER TABLE records ADD COLUMN reject_reason TEXT;

-- The engine's sentence on why a field is flagged.
ALTER TABLE field_values ADD COLUMN note TEXT;

-- Where the template lay on each page (its pose), so that crops are cut
-- without registering the page again.
ALTER TABLE pages ADD COLUMN pose JSONB;

-- Who sent each batch (a person's or a token's name).
ALTER TABLE batches ADD COLUMN uploaded_by TEXT;
