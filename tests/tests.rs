//! Integration tests of formflow, one binary (built once). Modules:
//!
//! - `util`: paths to the samples, a shared engine with a fixed date, and
//!   the records of every sample extracted once;
//! - `samples`: what the engine reads off the copied public scans (exact
//!   values, classification, batch splitting, orientation, no silent error);
//! - `stress`: scans from worn scanners (`samples/stress`: skewed thin
//!   lines, 200 dpi bilevel), identified and read with exact values;
//! - `bad_inputs`: every file of `samples/bad-inputs` gets its expected
//!   outcome;
//! - `templates`: forms are data: a template folder decides what is known;
//! - `cli`: the `formflow` command's output as downstream tools see it;
//! - `openapi`: the generated OpenAPI document against the role table and
//!   the record types;
//! - `deploy`: the alert rules and dashboard of `deploy/` against promtool
//!   and the metrics formflow exports;
//! - `pipeline`: upload to record through `serve` and `worker` on the real
//!   PostgreSQL and RabbitMQ (faults, TLS, and originals on a real S3
//!   server included), `formflow upload`, and `formflow run` on SQLite;
//! - `review`: sign-in, roles and tokens on every route, corrections,
//!   approvals, rejections, leases, and a caseworker in a real browser;
//! - `worker`: the worker on SQLite and the in-process queue, with readers
//!   that panic, stall or succeed: dead letters, retries, hangs, heartbeats
//!   and split documents.

mod bad_inputs;
mod cli;
mod deploy;
mod openapi;
mod pipeline;
mod review;
mod samples;
mod stress;
mod templates;
mod util;
mod worker;
