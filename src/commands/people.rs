//! `formflow user` and `formflow token`: the people who sign in to the
//! pages and the services that call the API. Passwords are read from
//! standard input and kept as Argon2id hashes; a token is printed once, as
//! the last line, and kept as a hash. Every change is in the audit log.

use super::service::{StoreOpts, DEFAULT_DATA};
use anyhow::Context as _;
use formflow_schemas::Role;
use formflow_service::access::{
    hash_password, new_token, random_hex, secret_hash, token_role_allowed,
};
use formflow_service::db::{Actor, AuditEntry, Db};
use secrecy::ExposeSecret as _;
use serde_json::json;
use std::io::{BufRead as _, IsTerminal as _, Read as _, Write as _};
use std::path::PathBuf;
use std::time::Duration;

/// The admin `formflow run --serve` makes when nobody can sign in yet.
pub const LOCAL_ADMIN: &str = "admin";

/// Where the people and tokens are kept.
#[derive(Debug, Clone, clap::Args)]
pub struct PeopleOpts {
    /// The database (DATABASE_URL).
    #[command(flatten)]
    pub store: StoreOpts,
    /// Without DATABASE_URL: the folder of `formflow run`, whose SQLite
    /// database is used.
    #[arg(long, env = "FORMFLOW_DATA", default_value = DEFAULT_DATA)]
    pub data: PathBuf,
}

/// What to do with people.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum UserCommand {
    /// Adds a person; their password is read from standard input.
    Add {
        /// The name they sign in with.
        name: String,
        /// uploader, caseworker, consumer or admin.
        #[arg(long)]
        role: Role,
    },
    /// Sets a person's password, read from standard input.
    Password {
        /// Their name.
        name: String,
    },
    /// Stops a person signing in, and ends their sessions.
    Disable {
        /// Their name.
        name: String,
    },
    /// Lets a disabled person sign in again.
    Enable {
        /// Their name.
        name: String,
    },
    /// Lists everyone.
    List,
}

/// What to do with tokens.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum TokenCommand {
    /// Makes a token for a service and prints it, once, as the last line.
    Create {
        /// The service's name.
        name: String,
        /// consumer, uploader or caseworker.
        #[arg(long)]
        role: Role,
    },
    /// Revokes a token: calls with it are refused from now on.
    Revoke {
        /// The token's name.
        name: String,
    },
    /// Lists every token (never the tokens themselves).
    List,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("Failed to start the async runtime")
}

async fn open(opts: &PeopleOpts) -> anyhow::Result<Db> {
    let url = match &opts.store.database_url {
        Some(u) => u.expose_secret().to_string(),
        None => {
            formflow_service::blobs::create_private_dir(&opts.data).with_context(|| {
                format!("Failed to create the data folder {}", opts.data.display())
            })?;
            let path = opts.data.join("formflow.db");
            eprintln!(
                "formflow: DATABASE_URL is not set, so the embedded database {} is used",
                path.display()
            );
            format!("sqlite://{}", path.display())
        }
    };
    let db = Db::connect(&url, 2, Duration::from_secs(10)).await?;
    if opts.store.database_url.is_none() {
        db.migrate().await?;
    } else {
        db.check_migrated().await?;
    }
    Ok(db)
}

/// A password from standard input: typed without echo at a terminal, else
/// the first line of what is piped in.
fn read_password() -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprint!(
            "Password (at least {} characters): ",
            formflow_service::access::MIN_PASSWORD_CHARS
        );
        std::io::stderr().flush().ok();
        let quiet = std::process::Command::new("stty")
            .arg("-echo")
            .stdin(std::process::Stdio::inherit())
            .status()
            .is_ok_and(|s| s.success());
        let mut line = String::new();
        let read = stdin.lock().read_line(&mut line);
        if quiet {
            let _ = std::process::Command::new("stty")
                .arg("echo")
                .stdin(std::process::Stdio::inherit())
                .status();
            eprintln!();
        }
        read.context("Failed to read the password")?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_string());
    }
    let mut all = String::new();
    stdin
        .lock()
        .take(64 * 1024)
        .read_to_string(&mut all)
        .context("Failed to read the password from standard input")?;
    let first = all.lines().next().unwrap_or("").to_string();
    anyhow::ensure!(
        !first.is_empty(),
        "give the password on standard input, for example: echo 'long password' | formflow \
         user add ann --role caseworker"
    );
    Ok(first)
}

fn check_name(name: &str) -> anyhow::Result<()> {
    formflow_ingest::pages::admin::check_name(name).map_err(anyhow::Error::msg)
}

async fn audit(
    db: &Db,
    action: &'static str,
    kind: &'static str,
    id: &str,
    detail: serde_json::Value,
) -> anyhow::Result<()> {
    let who = std::env::var("USER")
        .map(|u| format!("formflow command ({u})"))
        .unwrap_or_else(|_| "formflow command".into());
    db.audit(
        &AuditEntry::new(&Actor::system(&who), action)
            .on(kind, id)
            .detail(detail),
    )
    .await?;
    Ok(())
}

/// `formflow user ...`.
pub fn user(cmd: &UserCommand, opts: &PeopleOpts) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let db = open(opts).await?;
        match cmd {
            UserCommand::Add { name, role } => {
                check_name(name)?;
                let hash = hash_password(&read_password()?)?;
                db.add_user(name, *role, &hash)
                    .await?
                    .map_err(anyhow::Error::msg)
                    .with_context(|| format!("{name} was not added"))?;
                audit(&db, "user.add", "user", name, json!({ "role": role })).await?;
                eprintln!("formflow: {name} ({role}) can now sign in");
            }
            UserCommand::Password { name } => {
                let hash = hash_password(&read_password()?)?;
                anyhow::ensure!(
                    db.set_password(name, &hash).await?,
                    "there is nobody called {name:?}"
                );
                audit(&db, "user.password", "user", name, json!({})).await?;
                eprintln!("formflow: {name}'s password is set");
            }
            UserCommand::Disable { name } => {
                anyhow::ensure!(
                    db.set_user_disabled(name, true).await?,
                    "there is nobody called {name:?}"
                );
                audit(&db, "user.disable", "user", name, json!({})).await?;
                eprintln!("formflow: {name} can no longer sign in; their sessions have ended");
            }
            UserCommand::Enable { name } => {
                anyhow::ensure!(
                    db.set_user_disabled(name, false).await?,
                    "there is nobody called {name:?}"
                );
                audit(&db, "user.enable", "user", name, json!({})).await?;
                eprintln!("formflow: {name} can sign in again");
            }
            UserCommand::List => {
                let users = db.users().await?;
                let w = users
                    .iter()
                    .map(|u| u.name.chars().count())
                    .max()
                    .unwrap_or(4)
                    .max(4);
                println!("{:<w$}  {:<10}  {:<8}  added", "name", "role", "status");
                for u in users {
                    let status = if u.disabled { "disabled" } else { "active" };
                    println!(
                        "{:<w$}  {:<10}  {:<8}  {}",
                        u.name,
                        u.role,
                        status,
                        u.created_at.format("%Y-%m-%d %H:%M UTC")
                    );
                }
            }
        }
        db.close().await;
        Ok(())
    })
}

/// `formflow token ...`.
pub fn token(cmd: &TokenCommand, opts: &PeopleOpts) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        let db = open(opts).await?;
        match cmd {
            TokenCommand::Create { name, role } => {
                check_name(name)?;
                anyhow::ensure!(
                    token_role_allowed(*role),
                    "a token may be for a consumer, an uploader or a caseworker: admin work is \
                     done by people who sign in"
                );
                let token = new_token()?;
                db.add_token(name, *role, &secret_hash(&token))
                    .await?
                    .map_err(anyhow::Error::msg)
                    .with_context(|| {
                        format!(
                            "no token was made: revoke the token {name} first, or choose \
                             another name"
                        )
                    })?;
                audit(&db, "token.create", "token", name, json!({ "role": role })).await?;
                eprintln!(
                    "formflow: token {name} ({role}) made; it is shown once, below. Send it as: \
                     Authorization: Bearer <token>"
                );
                println!("{token}");
            }
            TokenCommand::Revoke { name } => {
                anyhow::ensure!(
                    db.revoke_token(name).await?,
                    "there is no live token called {name:?}"
                );
                audit(&db, "token.revoke", "token", name, json!({})).await?;
                eprintln!("formflow: token {name} is revoked");
            }
            TokenCommand::List => {
                let tokens = db.tokens().await?;
                let w = tokens
                    .iter()
                    .map(|t| t.name.chars().count())
                    .max()
                    .unwrap_or(4)
                    .max(4);
                println!(
                    "{:<w$}  {:<10}  {:<20}  {:<20}  revoked",
                    "name", "role", "made", "last used"
                );
                let t = |d: Option<chrono::DateTime<chrono::Utc>>| {
                    d.map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
                        .unwrap_or_else(|| "-".into())
                };
                for k in tokens {
                    println!(
                        "{:<w$}  {:<10}  {:<20}  {:<20}  {}",
                        k.name,
                        k.role,
                        t(Some(k.created_at)),
                        t(k.last_used_at),
                        t(k.revoked_at)
                    );
                }
            }
        }
        db.close().await;
        Ok(())
    })
}

/// Makes the local admin of `formflow run --serve` when nobody can sign in
/// yet; gives their password, to be shown once.
pub async fn local_admin(db: &Db) -> anyhow::Result<Option<String>> {
    if db.has_principals().await? {
        return Ok(None);
    }
    let password = random_hex(12)?;
    let hash = hash_password(&password)?;
    match db.add_user(LOCAL_ADMIN, Role::Admin, &hash).await? {
        Ok(_) => {
            db.audit(
                &AuditEntry::new(&Actor::system("formflow run"), "user.add")
                    .on("user", LOCAL_ADMIN)
                    .detail(json!({ "role": "admin" })),
            )
            .await?;
            Ok(Some(password))
        }
        // An admin of that name exists but is disabled: say nothing new.
        Err(_) => Ok(None),
    }
}
