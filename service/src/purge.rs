//! Erasure across the database and the originals: `formflow purge` and the
//! retention period (`FORMFLOW_RETENTION_DAYS`).
//!
//! The database's part, one transaction a document with its audit entry
//! and event, is [`Db::purge_document`]; this module then deletes each
//! original no document is left to use, and runs the retention loop that
//! purges what has outlived the period.

use crate::blobs::{BlobError, Blobs};
use crate::db::{Actor, Db, DbError, Purge, PurgeReason, Purged};
use chrono::{DateTime, Utc};
use std::time::Duration;
use tokio::sync::watch;
use uuid::Uuid;

/// Why a purge stopped.
#[derive(Debug, thiserror::Error)]
pub enum PurgeError {
    /// The database could not be used; what was purged before stays purged.
    #[error(transparent)]
    Db(#[from] DbError),
    /// An original could not be deleted from storage (its records are
    /// gone; the file is not).
    #[error("the original {0} could not be deleted: {1}")]
    Blob(String, BlobError),
}

/// What a purge did, in all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Documents purged (duplicates included).
    pub documents: Vec<Uuid>,
    /// Records deleted.
    pub records: u64,
    /// Earlier values deleted from the records' history.
    pub history: u64,
    /// Batches deleted, left empty.
    pub batches: u64,
    /// Originals deleted from storage.
    pub originals: u64,
    /// Documents asked for that do not exist.
    pub missing: Vec<Uuid>,
    /// Documents asked for that a worker has not finished with.
    pub busy: Vec<Uuid>,
}

impl Report {
    fn add(&mut self, p: Purged) {
        self.documents.extend(p.documents);
        self.records += p.records;
        self.history += p.history;
        self.batches += p.batches;
    }
}

/// Purges each document of `ids` (with its duplicates) and the originals
/// left unused.
pub async fn purge_documents(
    db: &Db,
    blobs: &Blobs,
    ids: &[Uuid],
    reason: PurgeReason,
    by: &Actor,
) -> Result<Report, PurgeError> {
    let mut report = Report::default();
    for id in ids {
        if report.documents.contains(id) {
            continue;
        }
        match db.purge_document(*id, reason, by).await? {
            Purge::Done(p) => {
                let originals = p.originals.clone();
                report.add(p);
                report.originals += delete_unused(db, blobs, &originals).await?;
            }
            Purge::Missing => report.missing.push(*id),
            Purge::Busy => report.busy.push(*id),
        }
    }
    Ok(report)
}

/// Purges every document uploaded before `cutoff` that a worker has
/// finished with (duplicates go with their first upload), the originals
/// left unused and the batches left empty. With `dry_run`, only counts the
/// documents it would purge (duplicates aside).
pub async fn purge_before(
    db: &Db,
    blobs: &Blobs,
    cutoff: DateTime<Utc>,
    reason: PurgeReason,
    by: &Actor,
    dry_run: bool,
) -> Result<Report, PurgeError> {
    let mut report = Report::default();
    if dry_run {
        report.documents = db.purgeable_before(cutoff, u32::MAX).await?;
        return Ok(report);
    }
    loop {
        let ids = db.purgeable_before(cutoff, 500).await?;
        let before = report.documents.len();
        let r = purge_documents(db, blobs, &ids, reason, by).await?;
        report.documents.extend(r.documents);
        report.records += r.records;
        report.history += r.history;
        report.batches += r.batches;
        report.originals += r.originals;
        // A document taken back by a worker meanwhile is left for next time.
        if ids.len() < 500 || report.documents.len() == before {
            break;
        }
    }
    report.batches += db.purge_empty_batches(cutoff).await?;
    Ok(report)
}

/// Deletes each of `shas` from storage unless a document still uses it.
async fn delete_unused(db: &Db, blobs: &Blobs, shas: &[String]) -> Result<u64, PurgeError> {
    let mut n = 0;
    for sha in shas {
        if !db.original_in_use(sha).await? {
            blobs
                .delete(sha)
                .await
                .map_err(|e| PurgeError::Blob(sha.clone(), e))?;
            n += 1;
        }
    }
    Ok(n)
}

/// Runs until `stop` turns true: at start and then every `every`, purges
/// the documents uploaded more than `keep` ago.
pub async fn run(
    db: Db,
    blobs: Blobs,
    keep: Duration,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let keep = chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::MAX);
    let by = Actor::system("retention");
    loop {
        if *stop.borrow() {
            return;
        }
        let cutoff = crate::now()
            .checked_sub_signed(keep)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        match purge_before(&db, &blobs, cutoff, PurgeReason::Retention, &by, false).await {
            Ok(r) if r.documents.is_empty() && r.batches == 0 => {}
            Ok(r) => tracing::info!(
                documents = r.documents.len(),
                records = r.records,
                originals = r.originals,
                batches = r.batches,
                "retention: purged what outlived the retention period"
            ),
            Err(e) => tracing::warn!(error = %e, "retention: cannot purge yet"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => {}
        }
    }
}
