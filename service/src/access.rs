//! The secrets of signing in: password hashes, API tokens and session ids.
//!
//! Owns how each is made and checked, so that the command line (which adds
//! people and tokens) and the HTTP service (which checks them) agree:
//!
//! - passwords are kept as Argon2id hashes in the PHC string format (the
//!   parameters travel with the hash, so they can be raised later);
//! - tokens and session ids are 32 random bytes from the operating system,
//!   and only their SHA-256 is kept: they are long random strings, not
//!   words a person chose, so a fast hash is enough and a lookup by hash
//!   is one index probe.
//!
//! Who may do what is `formflow-ingest`'s; the tables are [`crate::db`]'s.

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::Argon2;
use formflow_schemas::Role;
use sha2::{Digest as _, Sha256};

/// Shortest password accepted, in characters. Length is what makes a
/// password hard to guess (three random words pass easily).
pub const MIN_PASSWORD_CHARS: usize = 10;

/// The prefix of every API token, so that a token found in a file or a log
/// is recognisable as formflow's.
pub const TOKEN_PREFIX: &str = "ff_";

/// Why a secret could not be made or checked.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// The password is too short.
    #[error("the password must be at least {MIN_PASSWORD_CHARS} characters long")]
    ShortPassword,
    /// The operating system gave no random bytes.
    #[error("no random numbers could be had from the operating system: {0}")]
    Random(String),
    /// Hashing failed (never expected with the default parameters).
    #[error("the password could not be hashed: {0}")]
    Hash(String),
}

/// An Argon2id hash of `password` with a fresh salt, as a PHC string.
pub fn hash_password(password: &str) -> Result<String, AccessError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AccessError::ShortPassword);
    }
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| AccessError::Random(e.to_string()))?;
    let salt = SaltString::encode_b64(&bytes).map_err(|e| AccessError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AccessError::Hash(e.to_string()))
}

/// Whether `password` matches the stored PHC `hash`. A hash that cannot be
/// parsed matches nothing.
pub fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash to check a password against when the user does not exist, so
/// that a wrong name takes as long to refuse as a wrong password.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("formflow decoy password").unwrap_or_default())
}

/// `n` random bytes, as lower-case hex.
pub fn random_hex(n: usize) -> Result<String, AccessError> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).map_err(|e| AccessError::Random(e.to_string()))?;
    Ok(hex::encode(buf))
}

/// A new API token: `ff_` and 64 hex digits. Shown once; only
/// [`secret_hash`] of it is kept.
pub fn new_token() -> Result<String, AccessError> {
    Ok(format!("{TOKEN_PREFIX}{}", random_hex(32)?))
}

/// What is kept of a token or session id: its SHA-256, hex.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The roles a token may carry. A token is a service's, and admin work
/// (people, tokens, the audit log) is done by people who sign in.
pub fn token_role_allowed(role: Role) -> bool {
    role != Role::Admin
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_hash_checks_the_password_and_nothing_else() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(!h.contains("correct horse"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterY", &h));
        assert!(!verify_password("correct horse battery", "not a hash"));
        assert!(matches!(
            hash_password("short"),
            Err(AccessError::ShortPassword)
        ));
        // Two hashes of one password differ (fresh salt).
        assert_ne!(h, hash_password("correct horse battery").unwrap());
    }

    #[test]
    fn tokens_are_long_random_and_kept_as_hashes() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 3 + 64);
        assert!(a.starts_with("ff_"));
        assert_eq!(secret_hash(&a).len(), 64);
        assert_eq!(secret_hash(&a), secret_hash(&a));
        assert_ne!(secret_hash(&a), secret_hash(&b));
        assert!(!token_role_allowed(Role::Admin) && token_role_allowed(Role::Consumer));
    }
}
