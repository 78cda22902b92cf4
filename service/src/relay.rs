//! The outbox relay: publishes what the database committed to send.
//!
//! An upload commits its documents and their jobs together; this loop hands
//! the jobs (and the workers' events) to the broker and deletes each only
//! once the broker has confirmed it. While the broker is down uploads are
//! still accepted and nothing is lost: the jobs wait in the outbox and go
//! out when it is back.

use crate::db::{Db, DrainError};
use crate::queue::{Broker, QueueError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// Messages published per transaction.
const BATCH: i64 = 200;
/// How often the outbox is looked at when nothing wakes the relay (workers'
/// events are written by other processes).
const IDLE: Duration = Duration::from_millis(250);

/// Runs until `stop` turns true. `wake` is notified by whoever writes to
/// the outbox in this process, to publish at once.
pub async fn run(db: Db, broker: Broker, wake: Arc<Notify>, mut stop: watch::Receiver<bool>) {
    let mut backoff = Duration::from_millis(250);
    let mut failing = false;
    loop {
        if *stop.borrow() {
            return;
        }
        let result = db.drain_outbox(BATCH, |row| {
            let broker = broker.clone();
            async move { broker.publish(&row).await }
        });
        match result.await {
            Ok(n) => {
                if failing {
                    tracing::info!("outbox relay: publishing again");
                    failing = false;
                }
                backoff = Duration::from_millis(250);
                if n as i64 == BATCH {
                    continue;
                }
                tokio::select! {
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(IDLE) => {}
                    _ = stop.changed() => {}
                }
            }
            Err(e) => {
                if !failing {
                    let what: &dyn std::fmt::Display = match &e {
                        DrainError::Db(d) => d,
                        DrainError::Publish(p) => p as &QueueError,
                    };
                    tracing::warn!(
                        error = %what,
                        "outbox relay: cannot publish yet; uploads are kept and will be sent"
                    );
                    failing = true;
                }
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.changed() => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}
