//! The review loop's state: the queue of documents waiting for a person,
//! the leases that keep two caseworkers off one document, and the changes
//! a caseworker makes to a record (save, approve, reject, read again).
//!
//! Every change is one transaction that checks the version it was based on
//! and the lease, writes the new values with their history, moves the
//! statuses, queues the event in the outbox and writes the audit entry. The
//! checking of values by the form's rules is the caller's
//! (`formflow-ingest`, through the engine); this module stores what it is
//! given.

use super::audit::{insert_audit, Actor, AuditEntry};
use super::read::RecordSummary;
use super::rows::{FieldRow, RecordRow};
use super::write::insert_event;
use super::{on_db, Db, DbResult};
use crate::event::RecordEvent;
use chrono::{DateTime, Utc};
use formflow_schemas::{DocStatus, FieldResult, Status, StoredRecord};
use serde_json::{json, Value};
use sqlx::types::Json;
use std::collections::HashMap;
use uuid::Uuid;

/// A caseworker's hold on a document.
#[derive(Debug, Clone, PartialEq)]
pub struct Lease {
    /// Who holds it.
    pub user_id: Uuid,
    /// Their name.
    pub user_name: String,
    /// Until when.
    pub until: DateTime<Utc>,
}

/// Which waiting documents to list.
#[derive(Debug, Clone, Default)]
pub struct QueueFilter {
    /// Only documents with a waiting record of this form (`unclassified`
    /// for pages of no known form).
    pub form: Option<String>,
    /// Only this batch.
    pub batch: Option<Uuid>,
    /// At most this many.
    pub limit: u32,
}

/// A document waiting for a person.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueItem {
    /// The document.
    pub document_id: Uuid,
    /// Its batch.
    pub batch_id: Uuid,
    /// The file's name.
    pub source: String,
    /// Its status.
    pub status: DocStatus,
    /// Pages in the file.
    pub page_count: i32,
    /// When it was uploaded.
    pub created_at: DateTime<Utc>,
    /// Its records that wait for a person.
    pub records: Vec<RecordSummary>,
    /// Who is reviewing it now.
    pub lease: Option<Lease>,
}

/// How much waits.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueueCounts {
    /// Documents waiting (with the filter).
    pub documents: i64,
    /// Of those, held by a caseworker now.
    pub leased: i64,
    /// Waiting records by form (`unclassified` for none), all forms.
    pub by_form: Vec<(String, i64)>,
    /// When the oldest waiting document was uploaded.
    pub oldest: Option<DateTime<Utc>>,
}

/// What became of an attempt to take a document.
#[derive(Debug, Clone, PartialEq)]
pub enum LeaseOutcome {
    /// It is yours until then.
    Taken(DateTime<Utc>),
    /// Somebody else holds it.
    HeldBy(Lease),
    /// No such document.
    Missing,
}

/// What a caseworker does to a record.
#[derive(Debug, Clone, PartialEq)]
pub enum ReviewAction {
    /// Keep the corrections; the record still waits.
    Save,
    /// The record is right: `approved`.
    Approve,
    /// The record is not to be used: `rejected`, with why.
    Reject {
        /// Why, in the caseworker's words.
        reason: String,
    },
    /// The page was read again as the form a person named.
    Reread,
}

impl ReviewAction {
    fn audit_action(&self) -> &'static str {
        match self {
            ReviewAction::Save => "record.save",
            ReviewAction::Approve => "record.approve",
            ReviewAction::Reject { .. } => "record.reject",
            ReviewAction::Reread => "record.reread",
        }
    }
}

/// A change to one record.
#[derive(Debug, Clone)]
pub struct RecordChange<'a> {
    /// The record.
    pub record_id: Uuid,
    /// The version the change was based on.
    pub version: i64,
    /// Who.
    pub actor: &'a Actor,
    /// What.
    pub action: ReviewAction,
    /// Every field of the record as it is to be (values checked and flags
    /// recomputed by the caller). Empty keeps the fields as they are.
    pub fields: &'a [(String, FieldResult)],
    /// A note for a field's history (e.g. a value confirmed as written).
    pub notes: &'a HashMap<String, String>,
    /// For [`ReviewAction::Reread`], the record's new form and pages, and
    /// each page's form page and pose.
    pub reread: Option<Reread<'a>>,
    /// A person's lease is renewed to this.
    pub lease_until: Option<DateTime<Utc>>,
}

/// A page read again as a form page a person named.
#[derive(Debug, Clone)]
pub struct Reread<'a> {
    /// The form.
    pub form: &'a str,
    /// The pages of the file, in the form's order.
    pub pages: &'a [u32],
    /// For each page, its form page and pose.
    pub placed: &'a [(u32, u32, Option<Value>)],
}

/// Why a change was not made.
#[derive(Debug, Clone, PartialEq)]
pub enum ChangeRefused {
    /// No such record.
    Missing,
    /// Somebody changed it since: its version is now this.
    Stale {
        /// The current version.
        current: i64,
    },
    /// Another caseworker holds its document.
    Leased(Lease),
    /// It is already approved or rejected.
    Closed {
        /// Which.
        status: Status,
        /// By whom.
        by: Option<String>,
    },
    /// This action does not apply to a record in this status (approving an
    /// unclassified page, reading a known form again).
    NotApplicable(Status),
}

/// A `pages` row with its pose.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct PageRow {
    /// The page's number in the file, from 1.
    pub number: i32,
    /// The record it went to.
    pub record_id: Option<Uuid>,
    /// Its form.
    pub form: Option<String>,
    /// Its page of the form.
    pub form_page: Option<i32>,
    /// Where the template lay on it.
    pub pose: Option<Json<Value>>,
}

/// Adds the queue filter's batch and form to a query on `documents d`.
macro_rules! push_queue_filter {
    ($q:expr, $f:expr) => {{
        if let Some(b) = $f.batch {
            $q.push(" AND d.batch_id = ").push_bind(b);
        }
        match $f.form.as_deref() {
            Some("unclassified") => {
                $q.push(
                    " AND EXISTS (SELECT 1 FROM records r \
                     WHERE r.document_id = d.id AND r.form IS NULL AND r.status IN ",
                );
                $q.push(WAITING).push(")");
            }
            Some(form) => {
                $q.push(
                    " AND EXISTS (SELECT 1 FROM records r \
                     WHERE r.document_id = d.id AND r.form = ",
                )
                .push_bind(form.to_string())
                .push(" AND r.status IN ")
                .push(WAITING)
                .push(")");
            }
            None => {}
        }
    }};
}

/// A document's lease as stored: holder, end, holder's name.
type LeaseRow = (Option<Uuid>, Option<DateTime<Utc>>, Option<String>);

/// The statuses of a record that still wait for a person.
const WAITING: &str = "('needs_review', 'unclassified')";

impl Db {
    /// The documents waiting for a person, oldest first, and how many wait.
    pub async fn review_queue(&self, f: &QueueFilter) -> DbResult<(Vec<QueueItem>, QueueCounts)> {
        let at = crate::now();
        let limit = i64::from(f.limit.clamp(1, 500));
        type DocTuple = (
            Uuid,
            Uuid,
            String,
            String,
            i32,
            DateTime<Utc>,
            Option<Uuid>,
            Option<DateTime<Utc>>,
            Option<String>,
        );
        let (docs, documents, leased, by_form, oldest) = on_db!(self, p => {
            let filter = |q: &mut sqlx::QueryBuilder<_>| {
                q.push(" WHERE d.status IN ('needs_review', 'unclassified')");
                push_queue_filter!(q, f);
            };
            let mut q = sqlx::QueryBuilder::new(
                "SELECT d.id, d.batch_id, d.source, d.status, d.page_count, d.created_at, \
                 d.lease_user_id, d.lease_until, u.name \
                 FROM documents d LEFT JOIN users u ON u.id = d.lease_user_id",
            );
            filter(&mut q);
            q.push(" ORDER BY d.created_at, d.batch_id, d.position LIMIT ").push_bind(limit);
            let docs: Vec<DocTuple> = q.build_query_as().fetch_all(p).await?;
            let mut q = sqlx::QueryBuilder::new(
                "SELECT COUNT(*), COALESCE(SUM(CASE WHEN d.lease_until > ",
            );
            q.push_bind(at).push(" THEN 1 ELSE 0 END), 0), MIN(d.created_at) FROM documents d");
            filter(&mut q);
            let (documents, leased, oldest): (i64, i64, Option<DateTime<Utc>>) =
                q.build_query_as().fetch_one(p).await?;
            let by_form: Vec<(String, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT COALESCE(r.form, 'unclassified'), COUNT(*) FROM records r \
                 JOIN documents d ON d.id = r.document_id \
                 WHERE d.status IN ('needs_review', 'unclassified') AND r.status IN {WAITING} \
                 GROUP BY COALESCE(r.form, 'unclassified') ORDER BY 1"
            )))
            .fetch_all(p)
            .await?;
            (docs, documents, leased, by_form, oldest)
        });
        let ids: Vec<Uuid> = docs.iter().map(|d| d.0).collect();
        let mut records = self.record_summaries(&ids, true).await?;
        let items = docs
            .into_iter()
            .map(
                |(
                    id,
                    batch_id,
                    source,
                    status,
                    page_count,
                    created_at,
                    lease_user,
                    lease_until,
                    lease_name,
                )| {
                    let lease = match (lease_user, lease_until, lease_name) {
                        (Some(user_id), Some(until), Some(user_name)) if until > at => {
                            Some(Lease {
                                user_id,
                                user_name,
                                until,
                            })
                        }
                        _ => None,
                    };
                    QueueItem {
                        document_id: id,
                        batch_id,
                        source,
                        status: DocStatus::parse(&status).unwrap_or(DocStatus::NeedsReview),
                        page_count,
                        created_at,
                        records: records.remove(&id).unwrap_or_default(),
                        lease,
                    }
                },
            )
            .collect();
        Ok((
            items,
            QueueCounts {
                documents,
                leased,
                by_form,
                oldest,
            },
        ))
    }

    /// Takes the oldest waiting document nobody holds, for `user` until
    /// `until`. None when every waiting document is held (or none waits).
    pub async fn take_next(
        &self,
        user_id: Uuid,
        f: &QueueFilter,
        until: DateTime<Utc>,
    ) -> DbResult<Option<Uuid>> {
        // A few tries: another caseworker may take the same one first.
        for _ in 0..5 {
            let at = crate::now();
            let candidate: Option<(Uuid,)> = on_db!(self, p => {
                let mut q = sqlx::QueryBuilder::new(
                    "SELECT d.id FROM documents d \
                     WHERE d.status IN ('needs_review', 'unclassified') \
                     AND (d.lease_until IS NULL OR d.lease_until <= ",
                );
                q.push_bind(at).push(" OR d.lease_user_id = ").push_bind(user_id).push(")");
                push_queue_filter!(q, f);
                q.push(" ORDER BY d.created_at, d.batch_id, d.position LIMIT 1");
                q.build_query_as().fetch_optional(p).await?
            });
            let Some((id,)) = candidate else {
                return Ok(None);
            };
            if let LeaseOutcome::Taken(_) = self.take_lease(id, user_id, until).await? {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    /// Takes (or renews) `user`'s lease on a document until `until`,
    /// unless somebody else holds it.
    pub async fn take_lease(
        &self,
        doc: Uuid,
        user_id: Uuid,
        until: DateTime<Utc>,
    ) -> DbResult<LeaseOutcome> {
        let at = crate::now();
        let updated = on_db!(self, p => {
            sqlx::query(
                "UPDATE documents SET lease_user_id = $2, lease_until = $3 \
                 WHERE id = $1 AND (lease_user_id IS NULL OR lease_until IS NULL \
                 OR lease_until <= $4 OR lease_user_id = $2)",
            )
            .bind(doc)
            .bind(user_id)
            .bind(until)
            .bind(at)
            .execute(p)
            .await?
            .rows_affected()
        });
        if updated > 0 {
            return Ok(LeaseOutcome::Taken(until));
        }
        Ok(match self.lease_of(doc).await? {
            Some(l) => LeaseOutcome::HeldBy(l),
            None => {
                if self.document_row(doc).await?.is_some() {
                    // The lease ran out between the two reads: try once more.
                    return Box::pin(self.take_lease(doc, user_id, until)).await;
                }
                LeaseOutcome::Missing
            }
        })
    }

    /// Gives a document back to the queue, if `user` holds it.
    pub async fn release_lease(&self, doc: Uuid, user_id: Uuid) -> DbResult<()> {
        on_db!(self, p => {
            sqlx::query(
                "UPDATE documents SET lease_user_id = NULL, lease_until = NULL \
                 WHERE id = $1 AND lease_user_id = $2",
            )
            .bind(doc)
            .bind(user_id)
            .execute(p)
            .await?;
            Ok(())
        })
    }

    /// The live lease on a document, if any.
    pub async fn lease_of(&self, doc: Uuid) -> DbResult<Option<Lease>> {
        let at = crate::now();
        let row: Option<(Uuid, String, DateTime<Utc>)> = on_db!(self, p => {
            sqlx::query_as(
                "SELECT d.lease_user_id, u.name, d.lease_until FROM documents d \
                 JOIN users u ON u.id = d.lease_user_id \
                 WHERE d.id = $1 AND d.lease_until > $2",
            )
            .bind(doc)
            .bind(at)
            .fetch_optional(p)
            .await?
        });
        Ok(row.map(|(user_id, user_name, until)| Lease {
            user_id,
            user_name,
            until,
        }))
    }

    /// A document's records, in file order.
    pub async fn records_of(&self, doc: Uuid) -> DbResult<Vec<StoredRecord>> {
        let rows: Vec<RecordRow> = on_db!(self, p => {
            sqlx::query_as("SELECT * FROM records WHERE document_id = $1 ORDER BY ordinal")
                .bind(doc)
                .fetch_all(p)
                .await?
        });
        self.with_fields(rows).await
    }

    /// A document's pages, with the form page and pose each was read as.
    pub async fn pages_of(&self, doc: Uuid) -> DbResult<Vec<PageRow>> {
        on_db!(self, p => {
            Ok(sqlx::query_as(
                "SELECT number, record_id, form, form_page, pose FROM pages \
                 WHERE document_id = $1 ORDER BY number",
            )
            .bind(doc)
            .fetch_all(p)
            .await?)
        })
    }

    /// Makes one change to a record, all or nothing: checks the version
    /// and the lease, writes the fields that changed with their history,
    /// moves the record's (and when it is the last to wait, the
    /// document's) status, queues the event and writes the audit entry.
    pub async fn change_record(
        &self,
        c: &RecordChange<'_>,
    ) -> DbResult<Result<StoredRecord, ChangeRefused>> {
        let at = crate::now();
        let outcome: Result<Vec<String>, ChangeRefused> = on_db!(self, p => {
            let mut tx = p.begin().await?;
            let lock = if matches!(self, Db::Postgres(_)) { " FOR UPDATE" } else { "" };
            let row: Option<RecordRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT * FROM records WHERE id = $1{lock}"
            )))
            .bind(c.record_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else { return Ok(Err(ChangeRefused::Missing)) };
            let status: Status = serde_json::from_value(Value::String(row.status.clone()))
                .unwrap_or(Status::NeedsReview);
            if matches!(status, Status::Approved | Status::Rejected) {
                return Ok(Err(ChangeRefused::Closed { status, by: row.reviewed_by.clone() }));
            }
            if row.version != c.version {
                return Ok(Err(ChangeRefused::Stale { current: row.version }));
            }
            let applicable = match (&c.action, status) {
                (ReviewAction::Reject { .. }, _) => true,
                (ReviewAction::Reread, s) => s == Status::Unclassified,
                (ReviewAction::Save | ReviewAction::Approve, s) => {
                    matches!(s, Status::NeedsReview | Status::Extracted)
                }
            };
            if !applicable {
                return Ok(Err(ChangeRefused::NotApplicable(status)));
            }
            let lease: Option<LeaseRow> = sqlx::query_as(
                "SELECT d.lease_user_id, d.lease_until, u.name FROM documents d \
                 LEFT JOIN users u ON u.id = d.lease_user_id WHERE d.id = $1",
            )
            .bind(row.document_id)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((Some(holder), Some(until), name)) = lease {
                if until > at && Some(holder) != c.actor.user_id {
                    return Ok(Err(ChangeRefused::Leased(Lease {
                        user_id: holder,
                        user_name: name.unwrap_or_default(),
                        until,
                    })));
                }
            }

            // The fields: write those that changed, and the history of values.
            let current: Vec<FieldRow> =
                sqlx::query_as("SELECT * FROM field_values WHERE record_id = $1 ORDER BY position")
                    .bind(c.record_id)
                    .fetch_all(&mut *tx)
                    .await?;
            let mut changed = Vec::new();
            for (pos, (name, f)) in c.fields.iter().enumerate() {
                let old = current.iter().find(|r| &r.name == name);
                let same_value = old.is_some_and(|o| o.value.0 == f.value);
                let same_all = same_value
                    && old.is_some_and(|o| {
                        o.flags.0 == f.flags && o.confidence == f.confidence && o.note == f.note
                    });
                if same_all {
                    continue;
                }
                match old {
                    Some(_) => {
                        sqlx::query(
                            "UPDATE field_values \
                             SET value = $3, confidence = $4, flags = $5, note = $6 \
                             WHERE record_id = $1 AND name = $2",
                        )
                        .bind(c.record_id)
                        .bind(name)
                        .bind(Json(&f.value))
                        .bind(f.confidence)
                        .bind(Json(&f.flags))
                        .bind(&f.note)
                        .execute(&mut *tx)
                        .await?;
                    }
                    None => {
                        sqlx::query(
                            "INSERT INTO field_values \
                             (record_id, position, name, value, confidence, flags, note) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7)",
                        )
                        .bind(c.record_id)
                        .bind(pos as i32)
                        .bind(name)
                        .bind(Json(&f.value))
                        .bind(f.confidence)
                        .bind(Json(&f.flags))
                        .bind(&f.note)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                if !same_value {
                    let (actor, note) = match (&c.action, old) {
                        // A new reading is the engine's, at a person's word.
                        (ReviewAction::Reread, _) => (
                            "formflow-extract".to_string(),
                            Some(format!("read again at the word of {}", c.actor.name)),
                        ),
                        _ => (c.actor.name.clone(), c.notes.get(name).cloned()),
                    };
                    sqlx::query(
                        "INSERT INTO field_history \
                         (record_id, name, at, actor, old_value, new_value, note) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(c.record_id)
                    .bind(name)
                    .bind(at)
                    .bind(actor)
                    .bind(old.map(|o| Json(&o.value.0)))
                    .bind(Json(&f.value))
                    .bind(note)
                    .execute(&mut *tx)
                    .await?;
                    changed.push(name.clone());
                }
            }

            // The record.
            let (new_status, reviewed, reason) = match &c.action {
                ReviewAction::Save => (status, false, None),
                ReviewAction::Approve => (Status::Approved, true, None),
                ReviewAction::Reject { reason } => (Status::Rejected, true, Some(reason.clone())),
                ReviewAction::Reread => {
                    let flagged = c.fields.iter().any(|(_, f)| !f.flags.is_empty());
                    (if flagged { Status::NeedsReview } else { Status::Extracted }, false, None)
                }
            };
            let version = row.version + 1;
            sqlx::query(
                "UPDATE records SET status = $2, version = $3, updated_at = $4, \
                 reviewed_by = CASE WHEN $5 THEN $6 ELSE reviewed_by END, \
                 reviewed_at = CASE WHEN $5 THEN $4 ELSE reviewed_at END, \
                 reject_reason = $7 WHERE id = $1",
            )
            .bind(c.record_id)
            .bind(new_status.as_str())
            .bind(version)
            .bind(at)
            .bind(reviewed)
            .bind(&c.actor.name)
            .bind(&reason)
            .execute(&mut *tx)
            .await?;
            if let Some(r) = &c.reread {
                sqlx::query("UPDATE records SET form = $2, pages = $3 WHERE id = $1")
                    .bind(c.record_id)
                    .bind(r.form)
                    .bind(Json(r.pages))
                    .execute(&mut *tx)
                    .await?;
                for (number, form_page, pose) in r.placed {
                    sqlx::query(
                        "UPDATE pages SET record_id = $3, form = $4, form_page = $5, pose = $6 \
                         WHERE document_id = $1 AND number = $2",
                    )
                    .bind(row.document_id)
                    .bind(*number as i32)
                    .bind(c.record_id)
                    .bind(r.form)
                    .bind(*form_page as i32)
                    .bind(pose.as_ref().map(Json))
                    .execute(&mut *tx)
                    .await?;
                }
            }

            // Approved or rejected: tell downstream services.
            if reviewed {
                let event = RecordEvent {
                    event: format!("record.{}", new_status.as_str()),
                    record_id: c.record_id,
                    document_id: row.document_id,
                    batch_id: row.batch_id,
                    form: row.form.clone(),
                    status: new_status.as_str().to_string(),
                    version,
                    at,
                };
                insert_event!(tx, at, &event.event, &event);
            }

            // The document: reviewed once nothing of it waits; held by the
            // person working on it otherwise.
            let (waiting,): (i64,) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM records WHERE document_id = $1 AND status IN {WAITING}"
            )))
            .bind(row.document_id)
            .fetch_one(&mut *tx)
            .await?;
            if waiting == 0 {
                let moved = sqlx::query(
                    "UPDATE documents \
                     SET status = $2, lease_user_id = NULL, lease_until = NULL, updated_at = $3 \
                     WHERE id = $1 AND status IN ('needs_review', 'unclassified', 'extracted')",
                )
                .bind(row.document_id)
                .bind(DocStatus::Reviewed.as_str())
                .bind(at)
                .execute(&mut *tx)
                .await?;
                if moved.rows_affected() > 0 {
                    sqlx::query(
                        "INSERT INTO document_events (document_id, at, status, detail) \
                         VALUES ($1, $2, $3, $4)",
                    )
                    .bind(row.document_id)
                    .bind(at)
                    .bind(DocStatus::Reviewed.as_str())
                    .bind(format!("every record reviewed; the last by {}", c.actor.name))
                    .execute(&mut *tx)
                    .await?;
                }
            } else if let (Some(user), Some(until)) = (c.actor.user_id, c.lease_until) {
                sqlx::query(
                    "UPDATE documents SET lease_user_id = $2, lease_until = $3 WHERE id = $1",
                )
                .bind(row.document_id)
                .bind(user)
                .bind(until)
                .execute(&mut *tx)
                .await?;
            }

            let mut detail = json!({ "version": version, "fields_changed": changed });
            if let Some(r) = &c.reread {
                detail["form"] = json!(r.form);
            }
            let entry = AuditEntry::new(c.actor, c.action.audit_action())
                .on("record", c.record_id)
                .detail(detail);
            insert_audit!(tx, at, &entry);
            tx.commit().await?;
            Ok(changed)
        });
        match outcome {
            Err(refused) => Ok(Err(refused)),
            Ok(_) => Ok(self
                .record(c.record_id)
                .await?
                .ok_or(ChangeRefused::Missing)),
        }
    }
}
