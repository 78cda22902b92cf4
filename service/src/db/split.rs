//! A stack spread over workers: a document split into page jobs, each page
//! taken, read and saved by whichever worker gets it, and the join queued
//! in the same transaction as the last page saved.
//!
//! A page's reading is kept in `page_tasks` until the join commits the
//! document's outcome ([`Db::finish`] deletes the rows). Pages count their
//! own attempts, so a page that stops every worker fails its document
//! without charging the others.

use super::rows::{DocStatus, DocumentRow};
use super::write::insert_job;
use super::{on_db, Db, DbResult};
use crate::now;
use crate::queue::{Job, Task};
use sqlx::types::Json;
use uuid::Uuid;

/// What a worker finds when it takes a page job.
#[derive(Debug)]
pub enum PageStarted {
    /// The page is the worker's: `attempts` counts this one.
    Go {
        /// Its document.
        doc: Box<DocumentRow>,
        /// Workers that have taken this page, this one included.
        attempts: i32,
    },
    /// Nothing to do: the page is read already (a job delivered twice), or
    /// the document has no such page task.
    Nothing,
    /// The document already has its outcome.
    Done(DocStatus),
    /// No such document.
    Missing,
}

/// What saving a page's reading found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    /// Saved, and the document's pages are now all read: its join is queued.
    Last,
    /// Saved (or saved before); pages are still to be read.
    More,
    /// The document has its outcome already: nothing was saved.
    Gone,
}

/// One page of a split document and its reading, when it has one.
#[derive(Debug, Clone)]
pub struct PageTask {
    /// Its number in the file, from 1.
    pub number: u32,
    /// What the engine read on it (`formflow_extract::PageResult`).
    pub result: Option<serde_json::Value>,
    /// Milliseconds its reading took.
    pub read_ms: Option<i64>,
    /// CPU milliseconds its reading thread used.
    pub cpu_ms: Option<i64>,
}

/// A `page_tasks` row as read back.
#[derive(sqlx::FromRow)]
struct TaskRow {
    number: i32,
    result: Option<Json<serde_json::Value>>,
    read_ms: Option<i64>,
    cpu_ms: Option<i64>,
}

impl Db {
    /// The page tasks of a document, in page order: none when it was not
    /// split.
    pub async fn page_tasks(&self, id: Uuid) -> DbResult<Vec<PageTask>> {
        on_db!(self, p => {
            let rows: Vec<TaskRow> = sqlx::query_as(
                "SELECT number, result, read_ms, cpu_ms FROM page_tasks WHERE document_id = $1 \
                 ORDER BY number",
            )
            .bind(id)
            .fetch_all(p)
            .await?;
            Ok(rows
                .into_iter()
                .map(|r| PageTask {
                    number: r.number.max(0) as u32,
                    result: r.result.map(|j| j.0),
                    read_ms: r.read_ms,
                    cpu_ms: r.cpu_ms,
                })
                .collect())
        })
    }

    /// Splits a document being processed into page jobs: a task for each
    /// of its pages (those it has are kept) and a job for each of `pages`,
    /// whose readings, if any, are dropped. With the document's event, in
    /// one transaction. Returns false, writing nothing, when the document
    /// is no longer being processed.
    pub async fn queue_pages(&self, doc: &DocumentRow, pages: &[u32]) -> DbResult<bool> {
        let at = now();
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            let taken = sqlx::query(
                "UPDATE documents SET updated_at = $2 WHERE id = $1 AND status = 'processing'",
            )
            .bind(doc.id)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            if taken.rows_affected() == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
            let fresh = sqlx::query("SELECT 1 FROM page_tasks WHERE document_id = $1 LIMIT 1")
                .bind(doc.id)
                .fetch_optional(&mut *tx)
                .await?
                .is_none();
            let numbers: Vec<i32> = (1..=doc.page_count).collect();
            for chunk in numbers.chunks(1000) {
                let mut q =
                    sqlx::QueryBuilder::new("INSERT INTO page_tasks (document_id, number) ");
                q.push_values(chunk, |mut b, n| {
                    b.push_bind(doc.id).push_bind(*n);
                });
                q.push(" ON CONFLICT (document_id, number) DO NOTHING");
                q.build().execute(&mut *tx).await?;
            }
            for &n in pages {
                sqlx::query(
                    "UPDATE page_tasks \
                     SET result = NULL, read_ms = NULL, cpu_ms = NULL, touched_at = NULL \
                     WHERE document_id = $1 AND number = $2",
                )
                .bind(doc.id)
                .bind(n as i32)
                .execute(&mut *tx)
                .await?;
                insert_job!(tx, at, Job { document_id: doc.id, task: Task::Page(n) });
            }
            let detail = if fresh {
                format!("read as {} page jobs", doc.page_count)
            } else {
                format!("{} page job(s) queued again", pages.len())
            };
            sqlx::query(
                "INSERT INTO document_events (document_id, at, status, detail) \
                 VALUES ($1, $2, 'processing', $3)",
            )
            .bind(doc.id)
            .bind(at)
            .bind(detail)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// A worker takes page `number` of a split document: counts the
    /// page's attempt and notes the time, unless the page is read or the
    /// document has its outcome.
    pub async fn start_page(&self, id: Uuid, number: u32) -> DbResult<PageStarted> {
        let at = now();
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            if matches!(self, Db::Postgres(_)) {
                // As for a document's start: a lost commit leaves the job
                // unacknowledged, to come back with one attempt uncounted.
                sqlx::query("SET LOCAL synchronous_commit = off").execute(&mut *tx).await?;
            }
            let doc: Option<DocumentRow> = sqlx::query_as("SELECT * FROM documents WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(doc) = doc else {
                return Ok(PageStarted::Missing);
            };
            let status = DocStatus::parse(&doc.status).unwrap_or(DocStatus::Failed);
            if status != DocStatus::Processing {
                return Ok(if status == DocStatus::Queued {
                    PageStarted::Nothing
                } else {
                    PageStarted::Done(status)
                });
            }
            let attempts: Option<(i32,)> = sqlx::query_as(
                "UPDATE page_tasks SET attempts = attempts + 1, touched_at = $3 \
                 WHERE document_id = $1 AND number = $2 AND result IS NULL RETURNING attempts",
            )
            .bind(id)
            .bind(number as i32)
            .bind(at)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((attempts,)) = attempts else {
                return Ok(PageStarted::Nothing);
            };
            tx.commit().await?;
            Ok(PageStarted::Go { doc: Box::new(doc), attempts })
        })
    }

    /// A worker still reading a page says so, so that the sweeper leaves
    /// it alone ([`Db::sweep`]).
    pub async fn touch_page(&self, id: Uuid, number: u32) -> DbResult<()> {
        let at = now();
        on_db!(self, p => {
            sqlx::query(
                "UPDATE page_tasks SET touched_at = $3 \
                 WHERE document_id = $1 AND number = $2 AND result IS NULL",
            )
            .bind(id)
            .bind(number as i32)
            .bind(at)
            .execute(p)
            .await?;
            Ok(())
        })
    }

    /// Saves what page `number` gave and, when it was the document's last
    /// page to be read, queues the join, in one transaction. The
    /// document's row is locked first, so that of two pages saved at once
    /// exactly one finds itself the last. A page read twice keeps its
    /// first reading.
    pub async fn save_page(
        &self,
        id: Uuid,
        number: u32,
        result: &serde_json::Value,
        read_ms: Option<i64>,
        cpu_ms: Option<i64>,
    ) -> DbResult<Saved> {
        let at = now();
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            let taken = sqlx::query(
                "UPDATE documents SET updated_at = $2 WHERE id = $1 AND status = 'processing'",
            )
            .bind(id)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            if taken.rows_affected() == 0 {
                tx.rollback().await?;
                return Ok(Saved::Gone);
            }
            let saved = sqlx::query(
                "UPDATE page_tasks SET result = $3, read_ms = $4, cpu_ms = $5, touched_at = $6 \
                 WHERE document_id = $1 AND number = $2 AND result IS NULL",
            )
            .bind(id)
            .bind(number as i32)
            .bind(Json(result))
            .bind(read_ms)
            .bind(cpu_ms)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            if saved.rows_affected() == 0 {
                tx.rollback().await?;
                return Ok(Saved::More);
            }
            let (left,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM page_tasks WHERE document_id = $1 AND result IS NULL",
            )
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
            if left == 0 {
                insert_job!(tx, at, Job { document_id: id, task: Task::Join });
            }
            tx.commit().await?;
            Ok(if left == 0 { Saved::Last } else { Saved::More })
        })
    }
}
