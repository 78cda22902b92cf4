-- One row that readiness (/readyz) writes, to know the database takes
-- writes, not only reads.
CREATE TABLE readiness (
    id         INTEGER PRIMARY KEY,
    checked_at TIMESTAMPTZ NOT NULL
);
