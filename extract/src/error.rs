//! Why extraction of a file failed, as a type: each variant's message is a
//! plain sentence a back-office user can act on.

use crate::decode::DecodeError;

/// Why a file gave no records at all.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// The file could not be decoded into pages.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The OCR engine could not be started (missing language data).
    #[error("the OCR engine could not start: {0}")]
    Ocr(String),
}

impl ExtractError {
    /// Whether the same file could succeed on a later try (the failure lies
    /// in this machine, not in the file).
    pub fn is_transient(&self) -> bool {
        matches!(self, ExtractError::Ocr(_))
            || matches!(self, ExtractError::Decode(d) if d.is_transient())
    }

    /// A short stable key for the kind of failure (see [`DecodeError::kind`]).
    pub fn kind(&self) -> &'static str {
        match self {
            ExtractError::Decode(d) => d.kind(),
            ExtractError::Ocr(_) => "ocr_unavailable",
        }
    }
}
