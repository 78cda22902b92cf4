-- One row that readiness (/readyz) writes, to know the database takes
-- writes, not only reads (a write lock left held, a full disk).
CREATE TABLE readiness (
    id         INTEGER PRIMARY KEY,
    checked_at TEXT NOT NULL
);
