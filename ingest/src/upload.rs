//! Accepting files: each is received into a spool file as it arrives
//! (hashed on the way, refused once past the size limit, so no upload is
//! ever held whole in memory), checked (format by content, size, pages)
//! before anything is kept, then stored by its SHA-256, then recorded with
//! its job in one transaction. The HTTP upload and `formflow run` both come
//! here.

use crate::App;
use formflow_extract::decode::{DecodeError, Source};
use formflow_service::blobs::BlobError;
use formflow_service::db::{Accepted, Actor, DbError, NewDocument, Refusal};
use futures_util::StreamExt as _;
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use uuid::Uuid;

/// One file as received whole, waiting in the spool.
pub struct Incoming {
    /// Its name as sent (the path is dropped).
    pub name: String,
    /// Its bytes, in a file only this user can read, removed when dropped
    /// (unless it was kept as the original).
    pub file: tempfile::TempPath,
    /// Its size.
    pub size: u64,
    /// SHA-256 of its bytes, hex.
    pub sha256: String,
}

/// A file being received: written to the spool as its chunks arrive,
/// hashed on the way; past the file size limit the rest is only counted.
pub struct Receiving {
    name: String,
    out: tokio::fs::File,
    path: tempfile::TempPath,
    size: u64,
    limit: u64,
    hash: Sha256,
}

impl Receiving {
    /// Starts receiving the file `name` into the app's spool.
    pub fn start(app: &App, name: &str) -> std::io::Result<Receiving> {
        let (file, path) = tempfile::Builder::new()
            .prefix("upload-")
            .tempfile_in(app.blobs.spool_dir())?
            .into_parts();
        Ok(Receiving {
            name: clean_name(name),
            out: tokio::fs::File::from_std(file),
            path,
            size: 0,
            limit: app.engine.config().limits.max_file_bytes,
            hash: Sha256::new(),
        })
    }

    /// The next piece of the file.
    pub async fn write(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        let before = self.size;
        self.size = self.size.saturating_add(chunk.len() as u64);
        if self.size > self.limit {
            if before <= self.limit && before > 0 {
                // Over the limit: what was kept goes.
                self.out.set_len(0).await?;
            }
            return Ok(());
        }
        self.hash.update(chunk);
        self.out.write_all(chunk).await
    }

    /// The whole file, or its refusal (counted) when it was over the limit.
    pub async fn finish(mut self, app: &App) -> std::io::Result<Result<Incoming, Refusal>> {
        if self.size > self.limit {
            app.metrics.refused(self.size as usize);
            let error = DecodeError::FileTooLarge {
                bytes: self.size,
                limit: self.limit,
            };
            return Ok(Err(Refusal {
                file: self.name,
                error: error.to_string(),
            }));
        }
        self.out.flush().await?;
        Ok(Ok(Incoming {
            name: self.name,
            file: self.path,
            size: self.size,
            sha256: hex::encode(self.hash.finalize()),
        }))
    }

    /// Receives a whole file from `reader` (`formflow run`'s files).
    pub async fn read_from(
        mut self,
        app: &App,
        mut reader: impl tokio::io::AsyncRead + Unpin,
    ) -> std::io::Result<Result<Incoming, Refusal>> {
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = reader.read(&mut buf).await?;
            if n == 0 {
                return self.finish(app).await;
            }
            self.write(&buf[..n]).await?;
        }
    }
}

/// One accepted file, as the upload answer lists it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AcceptedFile {
    /// The file's name.
    pub file: String,
    /// Its document.
    pub document_id: Uuid,
    /// `queued`, or `duplicate` when the same bytes were uploaded before.
    #[schema(value_type = String, pattern = "^(queued|duplicate)$")]
    pub status: &'static str,
    /// For a duplicate, the document first uploaded with these bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<Uuid>,
}

/// The answer to an upload.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UploadAnswer {
    /// The batch, when any file was accepted.
    pub batch_id: Option<Uuid>,
    /// Files accepted, in the order sent.
    pub documents: Vec<AcceptedFile>,
    /// Files refused, with why.
    pub refused: Vec<Refusal>,
}

/// Why an upload could not be taken at all (no file is then kept).
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// Storage failed.
    #[error("the originals could not be stored, so nothing was accepted: {0}")]
    Storage(#[from] BlobError),
    /// The database failed.
    #[error("the upload could not be recorded, so nothing was accepted: {0}")]
    Db(#[from] DbError),
}

impl UploadError {
    /// Whether a disk was full.
    pub fn is_full(&self) -> bool {
        match self {
            UploadError::Storage(e) => e.is_full(),
            UploadError::Db(e) => e.is_full(),
        }
    }
}

impl From<UploadError> for crate::error::ApiError {
    fn from(e: UploadError) -> crate::error::ApiError {
        if e.is_full() {
            crate::error::ApiError::full(e)
        } else {
            crate::error::ApiError::internal(e)
        }
    }
}

/// The name a file is kept under: its last path component, without control
/// characters, at most 255 bytes.
pub fn clean_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or(raw);
    let mut name: String = base.chars().filter(|c| !c.is_control()).collect();
    if name.trim().is_empty() {
        name = "unnamed".into();
    }
    while name.len() > 255 {
        name.pop();
    }
    name
}

/// Files checked and stored at once.
const PARALLEL: usize = 4;

/// Checks, stores and records a batch of files. Refused files are listed
/// with why and nothing of them is kept; if every file is refused, no batch
/// is made.
pub async fn accept(
    app: &App,
    files: Vec<Result<Incoming, Refusal>>,
    by: &Actor,
) -> Result<UploadAnswer, UploadError> {
    let total = files.len();
    let mut refused = Vec::new();
    let mut docs = Vec::new();
    // Checked and stored a few at a time (each waits on a disk sync), kept
    // in the order sent.
    let checked: Vec<Result<Result<NewDocument, Refusal>, BlobError>> =
        futures_util::stream::iter(files)
            .map(|f| async move {
                let f = match f {
                    Ok(f) => f,
                    Err(refused) => return Ok(Err(refused)),
                };
                match check(app, &f).await {
                    Ok((format, pages)) => {
                        app.blobs.put_file(&f.file, &f.sha256).await?;
                        Ok(Ok(NewDocument {
                            id: Uuid::now_v7(),
                            source: f.name,
                            sha256: f.sha256,
                            bytes: f.size as i64,
                            format,
                            page_count: pages as i32,
                        }))
                    }
                    Err(error) => {
                        app.metrics.refused(f.size as usize);
                        Ok(Err(Refusal {
                            file: f.name,
                            error,
                        }))
                    }
                }
            })
            .buffered(PARALLEL)
            .collect()
            .await;
    for c in checked {
        match c? {
            Ok(d) => docs.push(d),
            Err(r) => refused.push(r),
        }
    }
    if docs.is_empty() {
        return Ok(UploadAnswer {
            batch_id: None,
            documents: Vec::new(),
            refused,
        });
    }
    let batch_id = Uuid::now_v7();
    let accepted: Vec<Accepted> = app
        .db
        .accept_batch(
            batch_id,
            total,
            &refused,
            &docs,
            &by.clone().via(crate::request_id()),
        )
        .await?;
    app.wake.notify_one();
    let documents = docs
        .iter()
        .zip(accepted)
        .map(|(d, a)| {
            app.metrics
                .accepted(d.bytes as usize, a.duplicate_of.is_some());
            AcceptedFile {
                file: d.source.clone(),
                document_id: a.id,
                status: if a.duplicate_of.is_some() {
                    "duplicate"
                } else {
                    "queued"
                },
                // Another upload's document: named only to those who may
                // look at it.
                duplicate_of: a
                    .duplicate_of
                    .filter(|_| crate::auth::sees_documents(by.role)),
            }
        })
        .collect();
    Ok(UploadAnswer {
        batch_id: Some(batch_id),
        documents,
        refused,
    })
}

/// Whether a file can be taken: its format by content, its size and its
/// page count within limits. Opening a PDF reads its page tree only;
/// nothing is rendered here. The file is read back from the spool, at most
/// [`App::checking`] files at once across every upload, which bounds the
/// memory uploads take. Gives the format and pages.
async fn check(app: &App, f: &Incoming) -> Result<(String, usize), String> {
    if f.size == 0 {
        return Err(DecodeError::Empty.to_string());
    }
    let limits = app.engine.config().limits.clone();
    let _slot = app
        .checking
        .acquire()
        .await
        .map_err(|_| "the service is stopping: send the file again".to_string())?;
    let bytes = tokio::fs::read(&f.file).await.map_err(|e| {
        tracing::error!(error = %e, "a received file could not be read back");
        "the file could not be checked: the service could not read it back; send it again"
            .to_string()
    })?;
    let opened = tokio::task::spawn_blocking(move || {
        let src = Source::open(bytes, &limits)?;
        Ok::<_, DecodeError>((src.format().to_string(), src.page_count()))
    })
    .await;
    match opened {
        Ok(Ok(ok)) => Ok(ok),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => {
            Err("the file could not be checked: it stopped the checker; it was not accepted".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::clean_name;

    #[test]
    fn names_lose_their_paths_and_control_characters() {
        assert_eq!(clean_name("C:\\scans\\form 1.pdf"), "form 1.pdf");
        assert_eq!(clean_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_name("a\nb\u{0}.png"), "ab.png");
        assert_eq!(clean_name("   "), "unnamed");
        assert_eq!(clean_name(&"x".repeat(400)).len(), 255);
    }
}
