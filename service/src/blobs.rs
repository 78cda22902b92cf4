//! Where originals are kept: content-addressed by SHA-256, written before
//! anything else is done with an upload.
//!
//! `FORMFLOW_STORAGE` is either a folder (the default) or an object-store
//! URL: `s3://bucket/prefix` for Amazon S3 or any S3-compatible store, with
//! credentials, region and endpoint from the usual `AWS_*` variables
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
//! `AWS_ENDPOINT` for MinIO and the like, `AWS_ALLOW_HTTP=true` for an
//! endpoint without TLS). An original's key is `sha256/ab/abcdef...`: the
//! same bytes are stored once however often they are uploaded.

use futures_util::StreamExt as _;
/// How an S3-compatible store is described to [`Blobs::s3`].
pub use object_store::aws::AmazonS3Builder;
use object_store::path::Path as StorePath;
use object_store::{ObjectStore, PutPayload};
use sha2::{Digest as _, Sha256};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Creates `dir` and any missing parents readable by this user alone
/// (0700): the folders formflow makes hold personal data. Folders that
/// already exist keep their mode.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Creates `path` (which must not exist) for writing, readable by this user
/// alone (0600).
pub fn create_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

/// Why storing or reading an original failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The storage setting names nothing usable.
    #[error("FORMFLOW_STORAGE {0:?} is neither a folder nor an s3:// URL: {1}")]
    Config(String, String),
    /// No original has this key.
    #[error("the original {0} is not in storage")]
    Missing(String),
    /// The folder could not be written or read.
    #[error("the originals folder could not be used: {0}")]
    Io(#[from] std::io::Error),
    /// The object store failed.
    #[error("the object store could not be used: {0}")]
    Store(#[from] object_store::Error),
}

impl BlobError {
    /// Whether trying again may succeed (the store is down or full), as
    /// opposed to an original that is not there.
    pub fn is_transient(&self) -> bool {
        !matches!(self, BlobError::Missing(_) | BlobError::Config(..))
    }

    /// Whether the folder's disk (or quota) is full.
    pub fn is_full(&self) -> bool {
        matches!(self, BlobError::Io(e) if is_full(e))
    }
}

/// Whether an I/O error says the disk (or the user's quota) is full.
pub fn is_full(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::StorageFull || e.kind() == std::io::ErrorKind::QuotaExceeded
}

/// Longest an object-store request is tried again before its failure is
/// returned.
pub const S3_RETRY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// Where originals are kept.
#[derive(Clone, Debug)]
pub enum Blobs {
    /// A local folder.
    Folder(PathBuf),
    /// An object store, with a key prefix.
    Store(Arc<dyn ObjectStore>, String),
}

/// The hex SHA-256 of `bytes`: an original's identity.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn key(sha: &str) -> String {
    format!("sha256/{}/{}", &sha[..2.min(sha.len())], sha)
}

impl Blobs {
    /// The storage `FORMFLOW_STORAGE` names: an `s3://` URL, or a folder
    /// (created when missing).
    pub fn open(setting: &str) -> Result<Blobs, BlobError> {
        if let Some(rest) = setting.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(BlobError::Config(
                    setting.into(),
                    "the URL names no bucket".into(),
                ));
            }
            Blobs::s3(AmazonS3Builder::from_env().with_bucket_name(bucket), prefix)
                .map_err(|e| BlobError::Config(setting.into(), e.to_string()))
        } else if setting.contains("://") {
            Err(BlobError::Config(
                setting.into(),
                "only s3:// object stores are supported".into(),
            ))
        } else {
            let dir = PathBuf::from(setting);
            create_private_dir(&dir.join("tmp"))?;
            Ok(Blobs::Folder(dir))
        }
    }

    /// An S3-compatible store as `builder` describes it (bucket,
    /// endpoint, credentials), originals under `prefix`. A request the
    /// store fails or does not answer is tried again for at most
    /// [`S3_RETRY_TIMEOUT`] (object_store's own default is three minutes):
    /// past that the error is a passing one, which the worker's and the
    /// upload's own retries see to.
    pub fn s3(builder: AmazonS3Builder, prefix: &str) -> Result<Blobs, object_store::Error> {
        let retry = object_store::RetryConfig {
            max_retries: 3,
            retry_timeout: S3_RETRY_TIMEOUT,
            ..object_store::RetryConfig::default()
        };
        let store = builder.with_retry(retry).build()?;
        Ok(Blobs::Store(
            Arc::new(store),
            prefix.trim_matches('/').to_string(),
        ))
    }

    /// Stores `bytes` (once: the same bytes again change nothing) and
    /// returns their SHA-256. Returns only once the bytes are durable.
    pub async fn put(&self, bytes: &[u8]) -> Result<String, BlobError> {
        let sha = sha256_hex(bytes);
        match self {
            Blobs::Folder(dir) => {
                let dir = dir.clone();
                let sha2 = sha.clone();
                let bytes = bytes.to_vec();
                tokio::task::spawn_blocking(move || write_file(&dir, &sha2, &bytes))
                    .await
                    .map_err(std::io::Error::other)??;
            }
            Blobs::Store(store, prefix) => {
                let path = StorePath::from(format!("{}{}", prefixed(prefix), key(&sha)));
                match store.head(&path).await {
                    Ok(_) => {}
                    Err(object_store::Error::NotFound { .. }) => {
                        store.put(&path, PutPayload::from(bytes.to_vec())).await?;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(sha)
    }

    /// Bytes free for originals in a folder (for this user, as `df`
    /// counts them); `None` for an object store, which has no such limit.
    pub fn room(&self) -> Option<std::io::Result<u64>> {
        match self {
            Blobs::Folder(dir) => Some(
                rustix::fs::statvfs(dir.as_path())
                    .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
                    .map_err(std::io::Error::from),
            ),
            Blobs::Store(..) => None,
        }
    }

    /// Where a file being received is written before it is checked: the
    /// folder's own `tmp/` (so that keeping it is a rename), or the
    /// system's temporary folder for an object store.
    pub fn spool_dir(&self) -> PathBuf {
        match self {
            Blobs::Folder(dir) => dir.join("tmp"),
            Blobs::Store(..) => std::env::temp_dir(),
        }
    }

    /// Keeps the file at `path`, whose bytes have the SHA-256 `sha`, as that
    /// original (once: the same bytes again change nothing). In a folder
    /// the file is synced and moved into place, so it should be in
    /// [`Blobs::spool_dir`]; an object store is sent a copy. Returns only
    /// once the bytes are durable.
    pub async fn put_file(&self, path: &Path, sha: &str) -> Result<(), BlobError> {
        match self {
            Blobs::Folder(dir) => {
                let (dir, path, sha) = (dir.clone(), path.to_path_buf(), sha.to_string());
                tokio::task::spawn_blocking(move || move_file(&dir, &sha, &path))
                    .await
                    .map_err(std::io::Error::other)??;
            }
            Blobs::Store(store, prefix) => {
                let key = StorePath::from(format!("{}{}", prefixed(prefix), key(sha)));
                match store.head(&key).await {
                    Ok(_) => {}
                    Err(object_store::Error::NotFound { .. }) => {
                        let bytes = tokio::fs::read(path).await?;
                        store.put(&key, PutPayload::from(bytes)).await?;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(())
    }

    /// The original stored under `sha` as a stream of pieces, with its
    /// size: for sending it on without holding it whole.
    pub async fn stream(&self, sha: &str) -> Result<(u64, ByteStream), BlobError> {
        if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(BlobError::Missing(sha.to_string()));
        }
        match self {
            Blobs::Folder(dir) => {
                let file = match tokio::fs::File::open(dir.join(key(sha))).await {
                    Ok(f) => f,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        return Err(BlobError::Missing(sha.to_string()))
                    }
                    Err(e) => return Err(e.into()),
                };
                let size = file.metadata().await?.len();
                // Pieces of 64 KiB until the end, or until a read fails.
                let pieces = futures_util::stream::unfold(Some(file), |file| async move {
                    let mut file = file?;
                    let mut buf = vec![0u8; 64 * 1024];
                    match tokio::io::AsyncReadExt::read(&mut file, &mut buf).await {
                        Ok(0) => None,
                        Ok(n) => {
                            buf.truncate(n);
                            Some((Ok(bytes::Bytes::from(buf)), Some(file)))
                        }
                        Err(e) => Some((Err(BlobError::from(e)), None)),
                    }
                });
                Ok((size, Box::pin(pieces)))
            }
            Blobs::Store(store, prefix) => {
                let path = StorePath::from(format!("{}{}", prefixed(prefix), key(sha)));
                match store.get(&path).await {
                    Ok(r) => {
                        let size = r.meta.size;
                        let pieces = r.into_stream().map(|p| p.map_err(BlobError::from));
                        Ok((size, Box::pin(pieces)))
                    }
                    Err(object_store::Error::NotFound { .. }) => {
                        Err(BlobError::Missing(sha.to_string()))
                    }
                    Err(e) => Err(e.into()),
                }
            }
        }
    }

    /// The original stored under `sha`.
    pub async fn get(&self, sha: &str) -> Result<Vec<u8>, BlobError> {
        if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(BlobError::Missing(sha.to_string()));
        }
        match self {
            Blobs::Folder(dir) => match tokio::fs::read(dir.join(key(sha))).await {
                Ok(b) => Ok(b),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    Err(BlobError::Missing(sha.to_string()))
                }
                Err(e) => Err(e.into()),
            },
            Blobs::Store(store, prefix) => {
                let path = StorePath::from(format!("{}{}", prefixed(prefix), key(sha)));
                match store.get(&path).await {
                    Ok(r) => Ok(r.bytes().await?.to_vec()),
                    Err(object_store::Error::NotFound { .. }) => {
                        Err(BlobError::Missing(sha.to_string()))
                    }
                    Err(e) => Err(e.into()),
                }
            }
        }
    }
}

impl Blobs {
    /// Deletes the original stored under `sha`; one already gone is no
    /// error. For erasure: the caller has made sure no document uses it.
    pub async fn delete(&self, sha: &str) -> Result<(), BlobError> {
        if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(BlobError::Missing(sha.to_string()));
        }
        match self {
            Blobs::Folder(dir) => match tokio::fs::remove_file(dir.join(key(sha))).await {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e.into()),
            },
            Blobs::Store(store, prefix) => {
                let path = StorePath::from(format!("{}{}", prefixed(prefix), key(sha)));
                match store.delete(&path).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                    Err(e) => Err(e.into()),
                }
            }
        }
    }
}

/// An original's bytes, piece by piece.
pub type ByteStream =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<bytes::Bytes, BlobError>> + Send>>;

fn prefixed(prefix: &str) -> String {
    if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}/")
    }
}

/// Syncs a file received whole and moves it into place (unless the same
/// bytes are there already).
fn move_file(dir: &Path, sha: &str, from: &Path) -> std::io::Result<()> {
    let dest = dir.join(key(sha));
    if dest.exists() {
        return Ok(());
    }
    let parent = dest.parent().expect("a key has a folder");
    create_private_dir(parent)?;
    std::fs::File::open(from)?.sync_all()?;
    std::fs::rename(from, &dest)?;
    std::fs::File::open(parent)?.sync_all()
}

/// Writes to a temporary file, then moves it into place ([`move_file`]:
/// synced, renamed), so a crash leaves either the whole original or none.
fn write_file(dir: &std::path::Path, sha: &str, bytes: &[u8]) -> std::io::Result<()> {
    if dir.join(key(sha)).exists() {
        return Ok(());
    }
    let tmp = dir
        .join("tmp")
        .join(format!("{sha}.{}", uuid::Uuid::now_v7()));
    let written = create_private_file(&tmp)
        .and_then(|mut f| f.write_all(bytes))
        .and_then(|()| move_file(dir, sha, &tmp));
    // Gone once renamed; otherwise (a full disk, or the same bytes stored
    // meanwhile) no partial or spare file is left behind.
    let _ = std::fs::remove_file(&tmp);
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_same_bytes_are_stored_once_under_their_hash() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::open(dir.path().to_str().unwrap()).unwrap();
        let a = blobs.put(b"scan one").await.unwrap();
        let b = blobs.put(b"scan one").await.unwrap();
        assert_eq!(a, b);
        assert_eq!(
            a,
            "1a3db7bae48d688b04ca6f76ba156d90e2a89b3ba60610958cb41c4c2e98c061"
        );
        assert_eq!(blobs.get(&a).await.unwrap(), b"scan one");
        let files: Vec<_> = walk(dir.path());
        assert_eq!(files.len(), 1, "{files:?}");
        assert!(files[0].ends_with(format!("sha256/{}/{}", &a[..2], a)));
        // Personal data: for this user alone.
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&files[0]), 0o600);
        for d in ["tmp", "sha256", &format!("sha256/{}", &a[..2])] {
            assert_eq!(mode(&dir.path().join(d)), 0o700, "{d}");
        }
    }

    #[tokio::test]
    async fn a_missing_original_is_not_transient() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::open(dir.path().to_str().unwrap()).unwrap();
        let e = blobs.get(&"0".repeat(64)).await.unwrap_err();
        assert!(matches!(e, BlobError::Missing(_)) && !e.is_transient());
        assert!(matches!(
            blobs.get("../../etc/passwd").await.unwrap_err(),
            BlobError::Missing(_)
        ));
    }

    #[tokio::test]
    async fn an_object_store_keeps_originals_under_the_same_keys() {
        let store = Arc::new(object_store::memory::InMemory::new());
        let blobs = Blobs::Store(store.clone(), "scans".into());
        let a = blobs.put(b"scan two").await.unwrap();
        assert_eq!(blobs.put(b"scan two").await.unwrap(), a);
        assert_eq!(blobs.get(&a).await.unwrap(), b"scan two");
        let key = StorePath::from(format!("scans/sha256/{}/{}", &a[..2], a));
        assert!(store.head(&key).await.is_ok());
        assert!(matches!(
            blobs.get(&"f".repeat(64)).await.unwrap_err(),
            BlobError::Missing(_)
        ));
        assert_eq!(streamed(&blobs, &a).await, (8, b"scan two".to_vec()));
    }

    /// An original read through [`Blobs::stream`]: its size and bytes.
    async fn streamed(blobs: &Blobs, sha: &str) -> (u64, Vec<u8>) {
        let (size, mut pieces) = blobs.stream(sha).await.unwrap();
        let mut all = Vec::new();
        while let Some(p) = pieces.next().await {
            all.extend_from_slice(&p.unwrap());
        }
        (size, all)
    }

    #[tokio::test]
    async fn an_original_streams_in_pieces_and_a_missing_one_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::open(&dir.path().display().to_string()).unwrap();
        // Several pieces of 64 KiB and a part of one.
        let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let sha = blobs.put(&bytes).await.unwrap();
        assert_eq!(streamed(&blobs, &sha).await, (300_000, bytes));
        assert!(matches!(
            blobs.stream(&"e".repeat(64)).await.err(),
            Some(BlobError::Missing(_))
        ));
    }

    #[test]
    fn other_urls_are_refused_in_plain_words() {
        let e = Blobs::open("ftp://example/x").unwrap_err().to_string();
        assert!(e.contains("only s3://"), "{e}");
    }

    fn walk(p: &std::path::Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(p).unwrap() {
            let e = e.unwrap().path();
            if e.is_dir() {
                out.extend(walk(&e));
            } else {
                out.push(e);
            }
        }
        out
    }
}
