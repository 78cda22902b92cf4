//! What formflow's HTTP service, its workers and the embedded runner share.
//!
//! Owns the pipeline's state and how it moves, whichever way formflow runs:
//!
//! - [`db`]: the database (PostgreSQL in production, SQLite embedded), its
//!   migrations and every query the pipeline makes, including the outbox of
//!   messages committed with the change that caused them;
//! - [`blobs`]: where originals are kept, content-addressed by SHA-256 (a
//!   folder, or an S3-compatible object store);
//! - [`queue`]: the job queue and event exchange (RabbitMQ, or in-process);
//! - [`relay`]: hands outbox messages to the queue, so an upload accepted
//!   while the broker is down is published once it is back;
//! - [`sweep`]: returns to the queue the documents of workers that vanished;
//! - [`purge`]: erasure of documents, asked for or past the retention
//!   period, from the database and storage;
//! - [`event`]: the events downstream services receive;
//! - [`access`]: password hashes, API tokens and session ids.
//!
//! It leaves extraction to `formflow-extract`, HTTP to `formflow-ingest` and
//! job handling to `formflow-worker`.

pub mod access;
pub mod blobs;
pub mod db;
pub mod event;
pub mod purge;
pub mod queue;
pub mod relay;
pub mod sweep;

pub use blobs::Blobs;
pub use db::Db;
pub use queue::Broker;

/// The current time, to the microsecond (what PostgreSQL keeps), so that a
/// timestamp read back compares equal to the one written.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::{DurationRound as _, TimeDelta};
    let t = chrono::Utc::now();
    t.duration_trunc(TimeDelta::microseconds(1)).unwrap_or(t)
}
