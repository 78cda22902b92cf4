//! The audit log: who did what, when. Sign-ins and their failures, uploads,
//! every time a person looks at a record's values or an original,
//! corrections, approvals, rejections, and changes to people and tokens.
//!
//! An entry names its actor, the kind of action and the ids it touched;
//! its detail holds counts, field names and outcome keys, never a field's
//! value (a caseworker's correction is in the record's history, which only
//! those allowed to see the values can read). Actions that change records
//! write their entry in the same transaction as the change.

use super::{on_db, Db, DbResult};
use chrono::{DateTime, Utc};
use formflow_schemas::Role;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

/// Who is acting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// A person, a service or formflow itself.
    pub kind: ActorKind,
    /// The person's or token's name.
    pub name: String,
    /// The person's id (leases are held by people).
    pub user_id: Option<Uuid>,
    /// What they may do.
    pub role: Role,
    /// The HTTP request they act through, when they do (for log lines).
    pub request_id: Option<String>,
}

impl Actor {
    /// A person.
    pub fn person(user_id: Uuid, name: &str, role: Role) -> Actor {
        Actor {
            kind: ActorKind::Person,
            name: name.to_string(),
            user_id: Some(user_id),
            role,
            request_id: None,
        }
    }

    /// A service, by its token's name.
    pub fn service(name: &str, role: Role) -> Actor {
        Actor {
            kind: ActorKind::Service,
            name: name.to_string(),
            user_id: None,
            role,
            request_id: None,
        }
    }

    /// formflow itself, or its command line on the server (which only
    /// someone with the database's credentials can run).
    pub fn system(name: &str) -> Actor {
        Actor {
            kind: ActorKind::System,
            name: name.to_string(),
            user_id: None,
            role: Role::Admin,
            request_id: None,
        }
    }

    /// The same actor, acting through the HTTP request `id`.
    pub fn via(mut self, id: Option<String>) -> Actor {
        self.request_id = id;
        self
    }
}

/// The kinds of actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// Signed in with a password.
    Person,
    /// Called with a token.
    Service,
    /// formflow, or its command line.
    System,
}

impl ActorKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::Person => "person",
            ActorKind::Service => "service",
            ActorKind::System => "system",
        }
    }
}

/// One thing done, to be written to the log.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    /// The kind of actor (`person`, `service`, `system`).
    pub actor_kind: &'static str,
    /// Their name (for a failed sign-in, the name tried if it is a
    /// person's, else `unknown`).
    pub actor: String,
    /// What was done: `sign_in`, `record.approve`, ...
    pub action: &'static str,
    /// The kind of thing it was done to: `record`, `document`, `user`, ...
    pub subject_kind: Option<&'static str>,
    /// Its id or name.
    pub subject_id: Option<String>,
    /// Anything else worth keeping, never personal data.
    pub detail: Value,
}

impl AuditEntry {
    /// An entry for `actor` doing `action` to `subject`.
    pub fn new(actor: &Actor, action: &'static str) -> AuditEntry {
        AuditEntry {
            actor_kind: actor.kind.as_str(),
            actor: actor.name.clone(),
            action,
            subject_kind: None,
            subject_id: None,
            detail: Value::Object(Default::default()),
        }
    }

    /// The same entry about `kind` `id`.
    pub fn on(mut self, kind: &'static str, id: impl ToString) -> AuditEntry {
        self.subject_kind = Some(kind);
        self.subject_id = Some(id.to_string());
        self
    }

    /// The same entry with this detail.
    pub fn detail(mut self, detail: Value) -> AuditEntry {
        self.detail = detail;
        self
    }
}

/// An entry as read back.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = AuditEntry)]
pub struct AuditEvent {
    /// Its place in the log.
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// `person`, `service` or `system`.
    pub actor_kind: String,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// To what kind of thing.
    pub subject_kind: Option<String>,
    /// To which.
    pub subject_id: Option<String>,
    /// The rest: counts, keys and ids, never personal data.
    #[sqlx(json)]
    #[schema(value_type = Object)]
    pub detail: Value,
}

/// Which entries to read.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only entries after this one (the cursor).
    pub after: Option<i64>,
    /// Only entries by this actor.
    pub actor: Option<String>,
    /// Only this action.
    pub action: Option<String>,
    /// Only about this subject id.
    pub subject_id: Option<String>,
    /// Newest first instead of oldest first.
    pub newest_first: bool,
    /// At most this many.
    pub limit: u32,
}

/// Writes `$entry` (an [`AuditEntry`]) at `$at` inside the transaction
/// `$tx`, so that it commits or rolls back with the change it records.
macro_rules! insert_audit {
    ($tx:expr, $at:expr, $entry:expr) => {{
        let e: &$crate::db::AuditEntry = $entry;
        sqlx::query(
            "INSERT INTO audit (at, actor_kind, actor, action, subject_kind, subject_id, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind($at)
        .bind(e.actor_kind)
        .bind(&e.actor)
        .bind(e.action)
        .bind(e.subject_kind)
        .bind(&e.subject_id)
        .bind(sqlx::types::Json(&e.detail))
        .execute(&mut *$tx)
        .await?
    }};
}
pub(crate) use insert_audit;

impl Db {
    /// Writes one entry.
    pub async fn audit(&self, entry: &AuditEntry) -> DbResult<()> {
        let at = crate::now();
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            insert_audit!(tx, at, entry);
            tx.commit().await?;
            Ok(())
        })
    }

    /// Entries, oldest first (or newest first), from a cursor.
    pub async fn audit_log(&self, f: &AuditFilter) -> DbResult<Vec<AuditEvent>> {
        let limit = i64::from(f.limit.clamp(1, 1000));
        on_db!(self, p => {
            let mut q = sqlx::QueryBuilder::new(
                "SELECT id, at, actor_kind, actor, action, subject_kind, subject_id, detail \
                 FROM audit WHERE 1 = 1",
            );
            if let Some(after) = f.after {
                q.push(if f.newest_first { " AND id < " } else { " AND id > " }).push_bind(after);
            }
            if let Some(a) = &f.actor {
                q.push(" AND actor = ").push_bind(a.clone());
            }
            if let Some(a) = &f.action {
                q.push(" AND action = ").push_bind(a.clone());
            }
            if let Some(s) = &f.subject_id {
                q.push(" AND subject_id = ").push_bind(s.clone());
            }
            q.push(if f.newest_first { " ORDER BY id DESC" } else { " ORDER BY id" });
            q.push(" LIMIT ").push_bind(limit);
            Ok(q.build_query_as().fetch_all(p).await?)
        })
    }
}
