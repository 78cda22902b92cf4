//! The formflow binary's library: commands glue the extraction engine, the
//! form templates and the record format together here, so that `src/main.rs`
//! only parses the command line and calls in.
//!
//! - [`commands`]: the subcommands (`extract`, `eval`, `bench`).
//! - [`eval`]: the scorer behind `formflow eval`, which agrees with
//!   `shared/tools/score.py` number for number.

pub mod commands;
pub mod eval;
