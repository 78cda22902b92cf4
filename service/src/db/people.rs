//! People, service tokens and signed-in sessions: the rows behind every
//! "who is asking". Secrets arrive here already hashed
//! ([`crate::access`]); nothing in these tables signs anyone in by itself.

use super::{on_db, Db, DbResult};
use chrono::{DateTime, Utc};
use formflow_schemas::Role;
use uuid::Uuid;

/// A person who signs in to the pages.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// Their id.
    pub id: Uuid,
    /// The name they sign in with.
    pub name: String,
    /// What they may do.
    pub role: Role,
    /// A disabled person cannot sign in, and their sessions are ended.
    pub disabled: bool,
    /// When they were added.
    pub created_at: DateTime<Utc>,
}

/// A service's API token (never the token itself).
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    /// Its id.
    pub id: Uuid,
    /// The name it was created with.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it was revoked; a revoked token is refused.
    pub revoked_at: Option<DateTime<Utc>>,
    /// When it was last used (to the minute).
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A signed-in browser.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// The SHA-256 of the cookie's id.
    pub id_hash: String,
    /// Who signed in.
    pub user: User,
    /// The token every form of this session must carry.
    pub csrf: String,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it was last used (to the minute).
    pub last_seen_at: DateTime<Utc>,
    /// When it ends unless used again.
    pub expires_at: DateTime<Utc>,
}

/// A name already in use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is already taken")]
pub struct NameTaken(pub String);

#[derive(sqlx::FromRow)]
struct UserRow {
    id: Uuid,
    name: String,
    role: String,
    disabled: bool,
    created_at: DateTime<Utc>,
}

impl UserRow {
    fn user(self) -> User {
        // A role this build does not know gets the least: uploading.
        let role = Role::parse(&self.role).unwrap_or(Role::Uploader);
        User {
            id: self.id,
            name: self.name,
            role,
            disabled: self.disabled,
            created_at: self.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct TokenRow {
    id: Uuid,
    name: String,
    role: String,
    created_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
}

impl TokenRow {
    fn token(self) -> Token {
        let role = Role::parse(&self.role).unwrap_or(Role::Uploader);
        Token {
            id: self.id,
            name: self.name,
            role,
            created_at: self.created_at,
            revoked_at: self.revoked_at,
            last_used_at: self.last_used_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    id_hash: String,
    csrf: String,
    created_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    user_id: Uuid,
    user_name: String,
    user_role: String,
    user_disabled: bool,
    user_created_at: DateTime<Utc>,
}

/// An insert's outcome: a unique index refusing it means the name is
/// taken (the index decides, even when two adds of one name race).
fn unique<T>(inserted: Result<T, sqlx::Error>, name: &str) -> DbResult<Result<(), NameTaken>> {
    match inserted {
        Ok(_) => Ok(Ok(())),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            Ok(Err(NameTaken(name.to_string())))
        }
        Err(e) => Err(e.into()),
    }
}

const USER_COLUMNS: &str = "id, name, role, disabled, created_at";
const TOKEN_COLUMNS: &str = "id, name, role, created_at, revoked_at, last_used_at";

impl Db {
    /// Adds a person. Their name must be new.
    pub async fn add_user(
        &self,
        name: &str,
        role: Role,
        password_hash: &str,
    ) -> DbResult<Result<User, NameTaken>> {
        let at = crate::now();
        let id = Uuid::now_v7();
        on_db!(self, p => {
            let inserted = sqlx::query(
                "INSERT INTO users \
                 (id, name, role, password_hash, disabled, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6)",
            )
            .bind(id)
            .bind(name)
            .bind(role.as_str())
            .bind(password_hash)
            .bind(false)
            .bind(at)
            .execute(p)
            .await;
            if let Err(taken) = unique(inserted, name)? {
                return Ok(Err(taken));
            }
            Ok(Ok(User { id, name: name.to_string(), role, disabled: false, created_at: at }))
        })
    }

    /// Sets a person's password hash. False when there is no such person.
    pub async fn set_password(&self, name: &str, password_hash: &str) -> DbResult<bool> {
        let at = crate::now();
        on_db!(self, p => {
            let r = sqlx::query(
                "UPDATE users SET password_hash = $2, updated_at = $3 WHERE name = $1",
            )
            .bind(name)
            .bind(password_hash)
            .bind(at)
            .execute(p)
            .await?;
            Ok(r.rows_affected() > 0)
        })
    }

    /// Disables or enables a person; disabling ends their sessions and
    /// their holds on documents. False when there is no such person.
    pub async fn set_user_disabled(&self, name: &str, disabled: bool) -> DbResult<bool> {
        let at = crate::now();
        on_db!(self, p => {
            let mut tx = p.begin().await?;
            let id: Option<(Uuid,)> = sqlx::query_as(
                "UPDATE users SET disabled = $2, updated_at = $3 WHERE name = $1 RETURNING id",
            )
            .bind(name)
            .bind(disabled)
            .bind(at)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((id,)) = id else { return Ok(false) };
            if disabled {
                sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "UPDATE documents SET lease_user_id = NULL, lease_until = NULL \
                     WHERE lease_user_id = $1",
                )
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Every person, by name.
    pub async fn users(&self) -> DbResult<Vec<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY name");
        let rows: Vec<UserRow> = on_db!(self, p => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(p).await?
        });
        Ok(rows.into_iter().map(UserRow::user).collect())
    }

    /// A person and their password hash, for signing in.
    pub async fn user_for_sign_in(&self, name: &str) -> DbResult<Option<(User, String)>> {
        let sql = format!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE name = $1");
        on_db!(self, p => {
            let row: Option<(Uuid, String, String, bool, DateTime<Utc>, String)> =
                sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(name).fetch_optional(p).await?;
            Ok(row.map(|(id, name, role, disabled, created_at, hash)| {
                (UserRow { id, name, role, disabled, created_at }.user(), hash)
            }))
        })
    }

    /// Adds a token, by the hash of its secret. Its name must not be that
    /// of a live token.
    pub async fn add_token(
        &self,
        name: &str,
        role: Role,
        hash: &str,
    ) -> DbResult<Result<Token, NameTaken>> {
        let at = crate::now();
        let id = Uuid::now_v7();
        on_db!(self, p => {
            let inserted = sqlx::query(
                "INSERT INTO tokens (id, name, role, hash, created_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(id)
            .bind(name)
            .bind(role.as_str())
            .bind(hash)
            .bind(at)
            .execute(p)
            .await;
            if let Err(taken) = unique(inserted, name)? {
                return Ok(Err(taken));
            }
            Ok(Ok(Token {
                id,
                name: name.to_string(),
                role,
                created_at: at,
                revoked_at: None,
                last_used_at: None,
            }))
        })
    }

    /// Revokes the live token called `name`. False when there is none.
    pub async fn revoke_token(&self, name: &str) -> DbResult<bool> {
        let at = crate::now();
        on_db!(self, p => {
            let r = sqlx::query(
                "UPDATE tokens SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL",
            )
            .bind(name)
            .bind(at)
            .execute(p)
            .await?;
            Ok(r.rows_affected() > 0)
        })
    }

    /// Every token, live ones first, then by name.
    pub async fn tokens(&self) -> DbResult<Vec<Token>> {
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens \
             ORDER BY CASE WHEN revoked_at IS NULL THEN 0 ELSE 1 END, name, created_at"
        );
        let rows: Vec<TokenRow> = on_db!(self, p => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(p).await?
        });
        Ok(rows.into_iter().map(TokenRow::token).collect())
    }

    /// The live token whose secret hashes to `hash`; its last use is noted
    /// (at most once a minute, to keep reads cheap).
    pub async fn token_by_hash(&self, hash: &str) -> DbResult<Option<Token>> {
        let sql =
            format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash = $1 AND revoked_at IS NULL");
        let row: Option<TokenRow> = on_db!(self, p => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(hash).fetch_optional(p).await?
        });
        let Some(token) = row.map(TokenRow::token) else {
            return Ok(None);
        };
        let at = crate::now();
        if token
            .last_used_at
            .is_none_or(|t| at - t > chrono::TimeDelta::minutes(1))
        {
            // A note of use: its failure (a full disk) refuses no request.
            let noted: Result<(), sqlx::Error> = on_db!(self, p => {
                sqlx::query("UPDATE tokens SET last_used_at = $2 WHERE id = $1")
                    .bind(token.id)
                    .bind(at)
                    .execute(p)
                    .await
                    .map(|_| ())
            });
            if let Err(e) = noted {
                tracing::warn!(error = %e, "a token's last use could not be noted");
            }
        }
        Ok(Some(token))
    }

    /// Starts a session for a person.
    pub async fn start_session(
        &self,
        id_hash: &str,
        user_id: Uuid,
        csrf: &str,
        expires_at: DateTime<Utc>,
    ) -> DbResult<()> {
        let at = crate::now();
        on_db!(self, p => {
            sqlx::query(
                "INSERT INTO sessions \
                 (id_hash, user_id, csrf, created_at, last_seen_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $4, $5)",
            )
            .bind(id_hash)
            .bind(user_id)
            .bind(csrf)
            .bind(at)
            .bind(expires_at)
            .execute(p)
            .await?;
            Ok(())
        })
    }

    /// The live session whose id hashes to `id_hash`, of a person who is
    /// not disabled.
    pub async fn session(&self, id_hash: &str) -> DbResult<Option<Session>> {
        let at = crate::now();
        let row: Option<SessionRow> = on_db!(self, p => {
            sqlx::query_as(
                "SELECT s.id_hash, s.csrf, s.created_at, s.last_seen_at, s.expires_at, \
                 u.id AS user_id, u.name AS user_name, u.role AS user_role, \
                 u.disabled AS user_disabled, u.created_at AS user_created_at \
                 FROM sessions s JOIN users u ON u.id = s.user_id \
                 WHERE s.id_hash = $1 AND s.expires_at > $2 AND NOT u.disabled",
            )
            .bind(id_hash)
            .bind(at)
            .fetch_optional(p)
            .await?
        });
        Ok(row.map(|r| Session {
            id_hash: r.id_hash,
            csrf: r.csrf,
            created_at: r.created_at,
            last_seen_at: r.last_seen_at,
            expires_at: r.expires_at,
            user: UserRow {
                id: r.user_id,
                name: r.user_name,
                role: r.user_role,
                disabled: r.user_disabled,
                created_at: r.user_created_at,
            }
            .user(),
        }))
    }

    /// Notes that a session was used, moving its end to `expires_at`.
    pub async fn touch_session(&self, id_hash: &str, expires_at: DateTime<Utc>) -> DbResult<()> {
        let at = crate::now();
        on_db!(self, p => {
            sqlx::query("UPDATE sessions SET last_seen_at = $2, expires_at = $3 WHERE id_hash = $1")
                .bind(id_hash)
                .bind(at)
                .bind(expires_at)
                .execute(p)
                .await?;
            Ok(())
        })
    }

    /// Ends a session (sign-out).
    pub async fn end_session(&self, id_hash: &str) -> DbResult<()> {
        on_db!(self, p => {
            sqlx::query("DELETE FROM sessions WHERE id_hash = $1").bind(id_hash).execute(p).await?;
            Ok(())
        })
    }

    /// Deletes sessions that have ended. Returns how many.
    pub async fn purge_sessions(&self) -> DbResult<u64> {
        let at = crate::now();
        on_db!(self, p => {
            let r = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
                .bind(at)
                .execute(p)
                .await?;
            Ok(r.rows_affected())
        })
    }

    /// Whether anyone at all can sign in or call the API: an enabled
    /// person or a live token.
    pub async fn has_principals(&self) -> DbResult<bool> {
        on_db!(self, p => {
            let (users,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users WHERE NOT disabled")
                .fetch_one(p)
                .await?;
            let (tokens,): (i64,) =
                sqlx::query_as("SELECT COUNT(*) FROM tokens WHERE revoked_at IS NULL")
                    .fetch_one(p)
                    .await?;
            Ok(users + tokens > 0)
        })
    }
}
