//! Why extraction of a file failed, as a type: each variant's message is a
//! plain sentence a back-office user can act on.

use crate::decode::DecodeError;

/// Why a file gave no records at all, or a page could not be read as asked.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// The file could not be decoded into pages.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The OCR engine could not be started (missing language data).
    #[error("the OCR engine could not start: {0}")]
    Ocr(String),
    /// A page was to be read as a form page the engine does not know: no
    /// template has that key, or the form has no such page.
    #[error("the page could not be matched to page {page} of {form}: there is no such form page")]
    UnknownFormPage {
        /// The form key asked for.
        form: String,
        /// The page of the form asked for, from 1.
        page: u32,
    },
    /// A page was to be read as a form page whose printed box lines are
    /// not on it (too few of them were found to place the page).
    #[error(
        "the page could not be matched to page {page} of {form}: only {percent}% of that \
         page's box lines were found on it",
        percent = (.coverage * 100.0).round()
    )]
    NotThatFormPage {
        /// The form key asked for.
        form: String,
        /// The page of the form asked for, from 1.
        page: u32,
        /// The share (0..1) of its box lines found in the best placement.
        coverage: f64,
    },
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
            ExtractError::UnknownFormPage { .. } => "unknown_form_page",
            ExtractError::NotThatFormPage { .. } => "form_page_mismatch",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_that_is_not_the_named_form_page_says_so() {
        let e = ExtractError::NotThatFormPage {
            form: "legal-aid-cw1".into(),
            page: 2,
            coverage: 0.214,
        };
        assert_eq!(
            e.to_string(),
            "the page could not be matched to page 2 of legal-aid-cw1: only 21% of that page's \
             box lines were found on it"
        );
        assert_eq!((e.kind(), e.is_transient()), ("form_page_mismatch", false));
        let e = ExtractError::UnknownFormPage {
            form: "tax-return".into(),
            page: 1,
        };
        assert_eq!(
            e.to_string(),
            "the page could not be matched to page 1 of tax-return: there is no such form page"
        );
        assert_eq!((e.kind(), e.is_transient()), ("unknown_form_page", false));
    }
}
