//! Accepting files: each is checked (format by content, size, pages) before
//! anything is kept, then stored by its SHA-256, then recorded with its job
//! in one transaction. The HTTP upload and `formflow run` both come here.

use crate::App;
use formflow_extract::decode::{DecodeError, Source};
use formflow_service::blobs::BlobError;
use formflow_service::db::{Accepted, Actor, DbError, NewDocument, Refusal};
use futures_util::StreamExt as _;
use serde::Serialize;
use uuid::Uuid;

/// One file as received.
pub struct Incoming {
    /// Its name as sent (the path is dropped).
    pub name: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// One accepted file, as the upload answer lists it.
#[derive(Debug, Clone, Serialize)]
pub struct AcceptedFile {
    /// The file's name.
    pub file: String,
    /// Its document.
    pub document_id: Uuid,
    /// `queued`, or `duplicate` when the same bytes were uploaded before.
    pub status: &'static str,
    /// For a duplicate, the document first uploaded with these bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<Uuid>,
}

/// The answer to an upload.
#[derive(Debug, Clone, Serialize)]
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
    files: Vec<Incoming>,
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
                let name = clean_name(&f.name);
                let size = f.bytes.len();
                match check(app, f.bytes).await {
                    Ok((bytes, format, pages)) => {
                        let sha256 = app.blobs.put(&bytes).await?;
                        Ok(Ok(NewDocument {
                            id: Uuid::now_v7(),
                            source: name,
                            sha256,
                            bytes: bytes.len() as i64,
                            format,
                            page_count: pages as i32,
                        }))
                    }
                    Err(error) => {
                        app.metrics.refused(size);
                        Ok(Err(Refusal { file: name, error }))
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
        .accept_batch(batch_id, total, &refused, &docs, by)
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
                duplicate_of: a.duplicate_of,
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
/// nothing is rendered here. Gives the bytes back with the format and pages.
async fn check(app: &App, bytes: Vec<u8>) -> Result<(Vec<u8>, String, usize), String> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty.to_string());
    }
    let limits = app.engine.config().limits.clone();
    let opened = tokio::task::spawn_blocking(move || {
        let src = Source::open(bytes.clone(), &limits)?;
        Ok::<_, DecodeError>((bytes, src.format().to_string(), src.page_count()))
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
