//! Why a file could not be turned into pages: [`DecodeError`], each
//! variant one plain sentence for a back-office clerk, with the technical
//! cause kept as the error's `source()`.

use super::{Cause, Format, LooksLike};
use std::path::PathBuf;

/// Why a file could not be turned into pages.
///
/// `Display` is one plain sentence for a back-office clerk; the technical
/// cause, where there is one, is the error's `source()`.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The file has no bytes at all.
    #[error("the file is empty")]
    Empty,
    /// The file is bigger than [`Limits::max_file_bytes`].
    #[error("the file is {} MB; the limit is {} MB", megabytes(*.bytes), megabytes(*.limit))]
    FileTooLarge {
        /// The file's size in bytes.
        bytes: u64,
        /// The limit in bytes.
        limit: u64,
    },
    /// Not a PDF, TIFF, PNG or JPEG, whatever its name says.
    #[error("the file is not a PDF, TIFF, PNG or JPEG{}", looks_like_suffix(*.looks_like))]
    UnknownFormat {
        /// What it seems to be instead, when that is cheap to tell.
        looks_like: Option<LooksLike>,
    },
    /// The PDF needs a password to open.
    #[error("the PDF is protected by a password; send it without one")]
    PdfPassword,
    /// The PDF is locked by a security handler PDFium cannot open.
    #[error("the PDF is locked in a way that cannot be opened here; send it without protection")]
    PdfLocked,
    /// More pages than [`Limits::max_pages`].
    #[error("the {format} has {pages} pages; the limit is {limit}")]
    TooManyPages {
        /// The file's format.
        format: Format,
        /// How many pages it has (for huge TIFFs: at least this many).
        pages: usize,
        /// The limit.
        limit: usize,
    },
    /// A document with no page at all.
    #[error("the {format} has no pages")]
    NoPages {
        /// The file's format.
        format: Format,
    },
    /// A PDF page with a side longer than [`Limits::max_page_side_mm`].
    #[error(
        "page {page} is {width_mm:.0} x {height_mm:.0} mm; the largest page accepted is \
         {limit_mm:.0} mm a side"
    )]
    PageTooLarge {
        /// The page number, from 1.
        page: u32,
        /// The page's width in millimetres.
        width_mm: f64,
        /// The page's height in millimetres.
        height_mm: f64,
        /// The limit in millimetres.
        limit_mm: f64,
    },
    /// A page whose pixels would exceed [`Limits::max_page_pixels`].
    #[error("{} would be {width} x {height} pixels ({}); the limit is {} a page",
        page.map_or_else(|| "the image".to_string(), |p| format!("page {p}")),
        pixel_count(width.saturating_mul(*height)), pixel_count(*limit))]
    TooManyPixels {
        /// The page number within a multi-page file; `None` for a one-page image.
        page: Option<u32>,
        /// Width in pixels.
        width: u64,
        /// Height in pixels.
        height: u64,
        /// The limit in pixels.
        limit: u64,
    },
    /// The file ends before its data does (cut off in transfer or by the scanner).
    #[error("the {format} is cut short (truncated): scan it again")]
    Truncated {
        /// The file's format.
        format: Format,
        /// What the decoder reported, if it got that far.
        #[source]
        cause: Option<Cause>,
    },
    /// The file is of a known format but its content is broken.
    #[error("the {format} is damaged and cannot be read: scan it again")]
    Damaged {
        /// The file's format.
        format: Format,
        /// What the decoder reported.
        #[source]
        cause: Option<Cause>,
    },
    /// A valid file using a feature this program does not read.
    #[error(
        "the {format} is stored in a way this program cannot read ({what}); save it as a \
         plain greyscale or colour {format}"
    )]
    Unsupported {
        /// The file's format.
        format: Format,
        /// The feature, in a few words.
        what: String,
        /// What the decoder reported, if anything.
        #[source]
        cause: Option<Cause>,
    },
    /// PDFium, needed for PDFs, could not be found or loaded on this machine.
    #[error("PDF support is not installed: libpdfium was not found (run scripts/setup.sh)")]
    PdfiumMissing {
        /// The library paths tried, in order.
        tried: Vec<PathBuf>,
        /// Why loading failed, when a library file was there.
        #[source]
        cause: Option<Cause>,
    },
    /// PDFium opened the document but could not load or render one page.
    #[error("page {page} of the PDF could not be drawn: scan it again")]
    RenderFailed {
        /// The page number, from 1.
        page: u32,
        /// What PDFium reported.
        #[source]
        cause: Option<Cause>,
    },
    /// A caller asked for a page past the end of the file.
    #[error("page {number} was asked for, but the file has {count} pages")]
    NoSuchPage {
        /// The page number asked for, from 1.
        number: usize,
        /// How many pages the file has.
        count: usize,
    },
}

impl DecodeError {
    /// Whether the same file could succeed later: true only when the failure
    /// lies in this machine (PDFium missing), never for a bad file.
    pub fn is_transient(&self) -> bool {
        matches!(self, DecodeError::PdfiumMissing { .. })
    }

    /// A short stable key for the kind of failure, for metrics and events
    /// (the message is for people, this is for counting).
    pub fn kind(&self) -> &'static str {
        match self {
            DecodeError::Empty => "empty",
            DecodeError::FileTooLarge { .. } => "file_too_large",
            DecodeError::UnknownFormat { .. } => "unknown_format",
            DecodeError::PdfPassword | DecodeError::PdfLocked => "encrypted",
            DecodeError::TooManyPages { .. } => "too_many_pages",
            DecodeError::NoPages { .. } => "no_pages",
            DecodeError::PageTooLarge { .. } | DecodeError::TooManyPixels { .. } => {
                "page_too_large"
            }
            DecodeError::Truncated { .. } => "truncated",
            DecodeError::Damaged { .. } => "damaged",
            DecodeError::Unsupported { .. } => "unsupported",
            DecodeError::PdfiumMissing { .. } => "pdfium_missing",
            DecodeError::RenderFailed { .. } => "render_failed",
            DecodeError::NoSuchPage { .. } => "no_such_page",
        }
    }

    pub(crate) fn damaged(format: Format, cause: impl Into<Cause>) -> DecodeError {
        DecodeError::Damaged {
            format,
            cause: Some(cause.into()),
        }
    }
}

fn megabytes(bytes: u64) -> String {
    // Decimal megabytes, as the settings (FORMFLOW_MAX_FILE_MB) are given.
    let mb = bytes as f64 / 1_000_000.0;
    if mb >= 10.0 {
        format!("{mb:.0}")
    } else {
        format!("{mb:.1}")
    }
}

fn pixel_count(pixels: u64) -> String {
    let p = pixels as f64;
    if p >= 1e9 {
        format!("{:.1} gigapixels", p / 1e9)
    } else if pixels == 1_000_000 {
        "1 megapixel".to_string()
    } else if pixels.is_multiple_of(1_000_000) {
        format!("{} megapixels", pixels / 1_000_000)
    } else {
        format!("{:.1} megapixels", p / 1e6)
    }
}

fn looks_like_suffix(looks_like: Option<LooksLike>) -> String {
    looks_like
        .map(|l| format!(" (it looks like {})", l.phrase()))
        .unwrap_or_default()
}
