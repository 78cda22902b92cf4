//! The outbox: messages committed with the change that caused them, taken
//! out only once the broker has confirmed them.

use super::rows::OutboxRow;
use super::{on_db, Db, DbError, DbResult};
use std::future::Future;

impl Db {
    /// Takes up to `limit` of the oldest outbox messages and hands each, in
    /// order, to `publish`. They leave the outbox only if every one was
    /// published; on the first failure all stay for the next try (a message
    /// may then be published twice, which jobs and events both tolerate).
    /// Several relays may run at once on PostgreSQL: each takes rows the
    /// others have not locked. Returns how many were published.
    pub async fn drain_outbox<F, Fut, E>(
        &self,
        limit: i64,
        mut publish: F,
    ) -> Result<usize, DrainError<E>>
    where
        F: FnMut(OutboxRow) -> Fut,
        Fut: Future<Output = Result<(), E>>,
    {
        // A plain read first: an idle relay opens no write transaction.
        if self.outbox_len().await.map_err(DrainError::Db)? == 0 {
            return Ok(0);
        }
        macro_rules! drain {
            ($p:expr, $lock:expr) => {{
                let mut tx = $p.begin().await.map_err(|e| DrainError::Db(e.into()))?;
                let sql = format!(
                    "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT $1{}) \
                     RETURNING id, kind, routing_key, payload",
                    $lock
                );
                let mut rows: Vec<OutboxRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(|e| DrainError::Db(e.into()))?;
                rows.sort_by_key(|r| r.id);
                let n = rows.len();
                for row in rows {
                    publish(row).await.map_err(DrainError::Publish)?;
                }
                tx.commit().await.map_err(|e| DrainError::Db(e.into()))?;
                Ok(n)
            }};
        }
        match self {
            Db::Postgres(p) => drain!(p, " FOR UPDATE SKIP LOCKED"),
            Db::Sqlite(p) => drain!(p, ""),
        }
    }

    /// How many messages wait in the outbox.
    pub async fn outbox_len(&self) -> DbResult<i64> {
        on_db!(self, p => {
            let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM outbox").fetch_one(p).await?;
            Ok(n)
        })
    }
}

/// Why draining the outbox stopped.
#[derive(Debug, thiserror::Error)]
pub enum DrainError<E> {
    /// The database failed.
    #[error(transparent)]
    Db(DbError),
    /// A message could not be published.
    #[error("a message could not be published: {0}")]
    Publish(E),
}
