//! The database: PostgreSQL in production, SQLite embedded, one set of
//! queries for both.
//!
//! Owns the connection (from a `postgres://` or `sqlite://` URL), the
//! migrations (`migrations/postgres`, `migrations/sqlite`, embedded at build
//! time), the refusal to work on a database they have not been applied to,
//! and every query the pipeline makes. The SQL is written once, in the
//! dialect both engines accept (`$1` parameters, `RETURNING`, `ON CONFLICT`);
//! [`on_db!`] runs the same body against whichever pool is open. Times are
//! bound from Rust ([`crate::now`]), never taken from the server's clock.

mod audit;
mod outbox;
mod people;
mod purge;
#[cfg(test)]
mod purge_tests;
mod read;
mod review;
#[cfg(test)]
mod review_tests;
mod rows;
mod split;
#[cfg(test)]
mod tests;
mod write;

pub use audit::{Actor, ActorKind, AuditEntry, AuditEvent, AuditFilter};
pub use outbox::DrainError;
pub use people::{NameTaken, Session, Token, User};
pub use purge::{Purge, PurgeReason, Purged, PurgedEvent};
pub use read::{
    BatchSummary, BatchView, DocumentView, MetricsSnapshot, RecordFilter, RecordSummary,
    RecordsPage, EXTRACT_BUCKETS,
};
pub use review::{
    ChangeRefused, Lease, LeaseOutcome, PageRow, QueueCounts, QueueFilter, QueueItem, RecordChange,
    Reread, ReviewAction,
};
pub use rows::*;
pub use split::{PageStarted, PageTask, Saved};
pub use write::{document_status, Accepted, NewDocument, Outcome, PageInfo, Started};

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use std::str::FromStr as _;
use std::time::Duration;

static PG_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");

/// How long a PostgreSQL session may sit idle inside a transaction before
/// the server ends it (see [`Db::connect`]).
pub const IDLE_IN_TRANSACTION: Duration = Duration::from_secs(30);

/// Why a database call failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL names no database formflow can use.
    #[error("DATABASE_URL must start with postgres:// or sqlite://, not {0:?}")]
    Url(String),
    /// The database could not be reached, or a query failed.
    #[error("the database could not be used: {0}")]
    Sql(#[from] sqlx::Error),
    /// Migrations could not be applied.
    #[error("the database migrations could not be applied: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The SQLite file could not be made.
    #[error("the database file {0} could not be created: {1}")]
    File(String, std::io::Error),
    /// The database has not been migrated to what this build expects.
    #[error("the database is not migrated ({0}): run `formflow migrate` first")]
    NotMigrated(String),
}

impl DbError {
    /// Whether trying again later may succeed (the server is down or busy),
    /// as opposed to a mistake that will fail the same way every time.
    pub fn is_transient(&self) -> bool {
        match self {
            DbError::Sql(e) => {
                matches!(
                    e,
                    sqlx::Error::Io(_)
                        | sqlx::Error::PoolTimedOut
                        | sqlx::Error::PoolClosed
                        | sqlx::Error::WorkerCrashed
                        | sqlx::Error::Tls(_)
                ) || matches!(e, sqlx::Error::Database(d) if is_transient_code(d.code().as_deref()))
            }
            _ => false,
        }
    }
}

impl DbError {
    /// Whether the database's disk is full (SQLite's SQLITE_FULL,
    /// PostgreSQL's disk_full).
    pub fn is_full(&self) -> bool {
        matches!(
            self,
            DbError::Sql(sqlx::Error::Database(d))
                if matches!(d.code().as_deref(), Some("13") | Some("53100"))
        ) || matches!(self, DbError::Sql(sqlx::Error::Io(e)) if crate::blobs::is_full(e))
    }
}

/// PostgreSQL's "try again" classes (connection, resources, shutdown,
/// serialisation) and SQLite's busy and locked.
fn is_transient_code(code: Option<&str>) -> bool {
    let Some(code) = code else { return false };
    code.starts_with("08")
        || code.starts_with("53")
        || code.starts_with("57P")
        || code == "40001"
        || code == "40P01"
        || code == "5"
        || code == "6"
}

/// Shorthand for database results.
pub type DbResult<T> = Result<T, DbError>;

/// An open database.
#[derive(Clone, Debug)]
pub enum Db {
    /// A PostgreSQL server.
    Postgres(PgPool),
    /// A SQLite file (the embedded default).
    Sqlite(SqlitePool),
}

/// Runs `$body` with `$pool` bound to whichever pool `$db` holds. The body is
/// compiled once per engine, so it must be valid SQL and Rust for both.
macro_rules! on_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Postgres($pool) => $body,
            $crate::db::Db::Sqlite($pool) => $body,
        }
    };
}
pub(crate) use on_db;

impl Db {
    /// Opens the database at `url` (`postgres://...` or `sqlite://PATH`; a
    /// SQLite file is created when missing). Waits up to `timeout` for a
    /// connection.
    pub async fn connect(url: &str, max_connections: u32, timeout: Duration) -> DbResult<Db> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            // A transaction of ours never waits on anything outside the
            // database for long: one left open and idle is a process frozen
            // or cut off in the middle of it, holding its row locks (a
            // document's, say) against the sweeper and every other worker.
            // The server ends such a session, rolling it back.
            let opts = PgConnectOptions::from_str(url)?.options([(
                "idle_in_transaction_session_timeout",
                format!("{}ms", IDLE_IN_TRANSACTION.as_millis()),
            )]);
            let pool = PgPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(timeout)
                .connect_with(opts)
                .await?;
            Ok(Db::Postgres(pool))
        } else if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)?;
            // Made here, readable by this user alone (0600), before SQLite
            // would make it with the umask's mode; its journal files take
            // the same mode from it.
            let file = opts.get_filename();
            if file != std::path::Path::new(":memory:") && !file.exists() {
                crate::blobs::create_private_file(file)
                    .map_err(|e| DbError::File(file.display().to_string(), e))?;
            }
            let opts = opts
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(30));
            let pool = SqlitePoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(timeout)
                .connect_with(opts)
                .await?;
            Ok(Db::Sqlite(pool))
        } else {
            Err(DbError::Url(url.to_string()))
        }
    }

    /// Applies every migration not yet applied.
    pub async fn migrate(&self) -> DbResult<()> {
        match self {
            Db::Postgres(p) => PG_MIGRATIONS.run(p).await?,
            Db::Sqlite(p) => SQLITE_MIGRATIONS.run(p).await?,
        }
        Ok(())
    }

    /// Fails, in plain words, unless every migration of this build has been
    /// applied (and none unknown to it).
    pub async fn check_migrated(&self) -> DbResult<()> {
        let migrator = match self {
            Db::Postgres(_) => &PG_MIGRATIONS,
            Db::Sqlite(_) => &SQLITE_MIGRATIONS,
        };
        let applied: Result<Vec<(i64,)>, sqlx::Error> = on_db!(self, p => {
            sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
                .fetch_all(p)
                .await
        });
        let applied: Vec<i64> = match applied {
            Ok(rows) => rows.into_iter().map(|r| r.0).collect(),
            Err(sqlx::Error::Database(e)) if e.message().contains("_sqlx_migrations") => {
                return Err(DbError::NotMigrated("it has no formflow tables".into()))
            }
            Err(e) => return Err(e.into()),
        };
        let wanted: Vec<i64> = migrator
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
            .map(|m| m.version)
            .collect();
        if let Some(v) = wanted.iter().find(|v| !applied.contains(v)) {
            return Err(DbError::NotMigrated(format!(
                "migration {v} has not been applied"
            )));
        }
        if let Some(v) = applied.iter().find(|v| !wanted.contains(v)) {
            return Err(DbError::NotMigrated(format!(
                "it has migration {v}, which this formflow does not know: it is older than the \
                 database"
            )));
        }
        Ok(())
    }

    /// Whether the database takes a write, committed (readiness: a
    /// database that answers reads may still refuse writes).
    pub async fn check_write(&self) -> DbResult<()> {
        let at = crate::now();
        on_db!(self, p => {
            sqlx::query(
                "INSERT INTO readiness (id, checked_at) VALUES (1, $1) \
                 ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
            )
                .bind(at)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> DbResult<()> {
        on_db!(self, p => { sqlx::query("SELECT 1").execute(p).await?; });
        Ok(())
    }

    /// Which engine this is, for messages.
    pub fn engine(&self) -> &'static str {
        match self {
            Db::Postgres(_) => "PostgreSQL",
            Db::Sqlite(_) => "SQLite",
        }
    }

    /// Closes every connection.
    pub async fn close(&self) {
        on_db!(self, p => p.close().await)
    }
}
