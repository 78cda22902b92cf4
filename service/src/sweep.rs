//! The sweeper: returns to the queue the documents whose worker vanished.
//!
//! A worker touches the document it reads every heartbeat. A document left
//! `processing` without a word for longer than the stale time belonged to a
//! worker that was killed, lost its network or hung; the broker redelivers
//! the job of a worker whose connection closed, but not of one that is
//! merely silent. The sweeper puts such documents back with a new job
//! ([`Db::sweep`]), and wakes the relay to publish it.

use crate::db::Db;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// Runs until `stop` turns true: every `every`, returns documents silent
/// for longer than `stale_after`.
pub async fn run(
    db: Db,
    stale_after: Duration,
    every: Duration,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let stale_after = chrono::Duration::from_std(stale_after).unwrap_or(chrono::Duration::MAX);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            return;
        }
        let cutoff = crate::now()
            .checked_sub_signed(stale_after)
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
        match db.sweep(cutoff).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::warn!(
                    documents = n,
                    "sweeper: documents whose worker stopped answering are back in the queue"
                );
                wake.notify_one();
            }
            // The relay and readiness report an unreachable database.
            Err(e) => tracing::debug!(error = %e, "sweeper: cannot sweep yet"),
        }
    }
}
