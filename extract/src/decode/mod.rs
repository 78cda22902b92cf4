//! Decoding: from a file's bytes to greyscale pages.
//!
//! This module owns everything between an uploaded file and a page image:
//! recognising the format by its content (never by its name), refusing files
//! that break the [`Limits`] before anything is decoded at full size, and
//! yielding pages one at a time as 8-bit greyscale with 0 = black ink,
//! together with the resolution each page was scanned at.
//!
//! - PDF pages are rendered through PDFium, bound once per process (`pdf.rs`);
//! - TIFF files, multi-page, CCITT Group 4, LZW, either photometric
//!   convention, through the `tiff` crate (`tiff.rs`);
//! - PNG and JPEG through the `image` crate (`raster.rs`);
//! - the resolution written in the file headers, or a guess assuming A4 when
//!   it is missing or implausible (`dpi.rs`).
//!
//! It leaves to others any clean-up of the pixels (levelling, binarisation,
//! deskew and orientation belong to `prepare` and `register`) and what a
//! refused file means for its batch (`pipeline`). Nothing here panics on any
//! input: every error is a [`DecodeError`] whose message is one plain sentence.

mod dpi;
mod error;
mod pdf;
mod raster;
mod tiff;

use std::fmt;

pub use error::DecodeError;
/// The environment variable naming the PDFium library (a file, or a folder
/// holding `libpdfium.so`); without it the library is looked for beside the
/// executable, then in the checkout's `vendor/pdfium/`.
pub use pdf::LIBRARY_ENV as PDFIUM_ENV;

/// The underlying error of a [`DecodeError`], kept for logs.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Limits checked before anything is decoded at full size.
///
/// They bound the memory and time one file can take, so that a hostile or
/// mistaken upload is refused with a plain sentence instead of taking a
/// worker down.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Largest file accepted, in bytes (default 100 MiB). The whole file is
    /// held in memory while its pages are decoded, so this bounds the memory
    /// of every file in flight; a 200-page greyscale scan at 300 dpi is well
    /// under it, so raising it mostly admits high-resolution colour scans.
    pub max_file_bytes: u64,
    /// Most pages in one file (default 200). Bounds the work a single upload
    /// queues; a bigger pile must be sent as several files rather than be
    /// half-processed.
    pub max_pages: usize,
    /// Most pixels in one decoded page (default 40 million: A4 at 300 dpi is
    /// 8.7 million, A3 at 400 dpi 31 million). A greyscale page costs this many
    /// bytes and a colour page briefly three or four times as much while it is
    /// converted; raising it admits bigger or finer scans at that price per
    /// worker. PDF pages that would exceed it are rendered at a lower
    /// resolution (never below 100 dpi) instead of being refused.
    pub max_page_pixels: u64,
    /// Longest side accepted for a PDF page, in millimetres (default 600, just
    /// above A2). Forms are A4 or A3; a bigger page is a mistake or an attack
    /// whose rendering would need gigabytes. Raster files are bounded by
    /// `max_page_pixels` instead, since their size in millimetres is only as
    /// good as the resolution they claim.
    pub max_page_side_mm: f64,
    /// Highest resolution PDF pages are rendered at, in dots per inch
    /// (default 300). A PDF page is rendered at its scan's own resolution
    /// capped at this (at least 100 dpi): more reads small print better, but
    /// rendering time and memory grow with its square.
    pub max_render_dpi: f32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_file_bytes: 100_000_000,
            max_pages: 200,
            max_page_pixels: 40_000_000,
            max_page_side_mm: 600.0,
            max_render_dpi: 300.0,
        }
    }
}

/// One decoded page, greyscale, 0 = black.
#[derive(Debug, Clone)]
pub struct Page {
    /// The pixels, 8-bit greyscale, 0 = black ink and 255 = white paper.
    pub image: image::GrayImage,
    /// Pixels per inch horizontally, from the file or inferred (see `dpi`).
    pub dpi: f32,
    /// Pixels per inch vertically (differs from `dpi` only for rare scans,
    /// such as faxes at 204 x 98 dpi).
    pub dpi_y: f32,
    /// The page's number within its file, from 1.
    pub number: u32,
}

/// A file format this module decodes, recognised by content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// A PDF document, rendered page by page through PDFium.
    Pdf,
    /// A TIFF image, possibly with many pages.
    Tiff,
    /// A PNG image: one page.
    Png,
    /// A JPEG image: one page.
    Jpeg,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Pdf => "PDF",
            Format::Tiff => "TIFF",
            Format::Png => "PNG",
            Format::Jpeg => "JPEG",
        })
    }
}

/// What a file of no supported format seems to be, for a kinder message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LooksLike {
    /// A web page (often a login or error page saved instead of the scan).
    Html,
    /// An XML document (SVG drawings included).
    Xml,
    /// Plain text.
    Text,
    /// A ZIP archive, which includes Word, Excel and OpenDocument files.
    Zip,
    /// An older Word or Excel document.
    LegacyOffice,
    /// A GIF image.
    Gif,
    /// A BMP image.
    Bmp,
    /// A WebP image.
    Webp,
    /// A HEIC or AVIF photo, as phones take them.
    Heic,
}

impl LooksLike {
    /// Cheap guesses from the first bytes; `None` when nothing fits.
    fn guess(bytes: &[u8]) -> Option<LooksLike> {
        let head = bytes.get(..1024).unwrap_or(bytes);
        if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
            return Some(LooksLike::Zip);
        }
        if head.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
            return Some(LooksLike::LegacyOffice);
        }
        if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
            return Some(LooksLike::Gif);
        }
        if head.starts_with(b"BM") && head.len() >= 26 {
            return Some(LooksLike::Bmp);
        }
        if head.starts_with(b"RIFF") && head.get(8..12) == Some(b"WEBP".as_slice()) {
            return Some(LooksLike::Webp);
        }
        if head.get(4..8) == Some(b"ftyp".as_slice()) {
            let brand = head.get(8..12).unwrap_or_default();
            if [b"heic", b"heix", b"mif1", b"msf1", b"avif", b"heif"]
                .iter()
                .any(|b| brand == b.as_slice())
            {
                return Some(LooksLike::Heic);
            }
        }
        if !is_text(head) {
            return None;
        }
        let text = String::from_utf8_lossy(head).to_ascii_lowercase();
        let start = text.trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n']);
        if start.starts_with("<!doctype html")
            || ["<html", "<head", "<body"].iter().any(|t| text.contains(t))
        {
            Some(LooksLike::Html)
        } else if start.starts_with("<?xml") || start.starts_with("<svg") {
            Some(LooksLike::Xml)
        } else {
            Some(LooksLike::Text)
        }
    }

    fn phrase(self) -> &'static str {
        match self {
            LooksLike::Html => "an HTML page",
            LooksLike::Xml => "an XML file",
            LooksLike::Text => "plain text",
            LooksLike::Zip => "a ZIP archive or an Office document",
            LooksLike::LegacyOffice => "a Word or Excel document",
            LooksLike::Gif => "a GIF image",
            LooksLike::Bmp => "a BMP image",
            LooksLike::Webp => "a WebP image",
            LooksLike::Heic => "a HEIC photo",
        }
    }
}

/// Whether these bytes read as UTF-8 text (a character cut at the end is fine).
fn is_text(head: &[u8]) -> bool {
    let valid = match std::str::from_utf8(head) {
        Ok(s) => s,
        Err(e) if e.error_len().is_none() => head
            .get(..e.valid_up_to())
            .and_then(|h| std::str::from_utf8(h).ok())
            .unwrap_or_default(),
        Err(_) => return false,
    };
    !valid.is_empty()
        && valid
            .chars()
            .all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r' | '\x0c'))
}

/// Tells the format from the first bytes of a file, never from its name.
///
/// A PDF may have a little junk before `%PDF-` (PDFium accepts up to 1 KiB);
/// the image formats must start with their signature.
pub fn sniff(bytes: &[u8]) -> Result<Format, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Ok(Format::Png);
    }
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Ok(Format::Jpeg);
    }
    if [b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"]
        .iter()
        .any(|m| bytes.starts_with(m.as_slice()))
    {
        return Ok(Format::Tiff);
    }
    let head = bytes.get(..1024).unwrap_or(bytes);
    if head.windows(5).any(|w| w == b"%PDF-") {
        return Ok(Format::Pdf);
    }
    Err(DecodeError::UnknownFormat {
        looks_like: LooksLike::guess(bytes),
    })
}

/// An opened file whose format and page count are known and whose limits
/// were checked; pages are decoded one at a time so a 200-page batch never
/// sits in memory at once.
///
/// `Source` is `Send`: open it on one thread and decode on another. PDF pages
/// are rendered one at a time across the whole process (PDFium is not
/// thread-safe and sits behind one lock), TIFF, PNG and JPEG pages in parallel.
pub struct Source {
    format: Format,
    inner: Inner,
}

enum Inner {
    Pdf(pdf::PdfFile),
    Tiff(Box<tiff::TiffFile>),
    Raster(raster::RasterFile),
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Source")
            .field("format", &self.format)
            .field("pages", &self.page_count())
            .finish()
    }
}

impl Source {
    /// Checks the file's size, recognises its format, reads its headers and
    /// checks every page's size against `limits`, without decoding any page.
    pub fn open(bytes: Vec<u8>, limits: &Limits) -> Result<Source, DecodeError> {
        if bytes.is_empty() {
            return Err(DecodeError::Empty);
        }
        let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        if size > limits.max_file_bytes {
            return Err(DecodeError::FileTooLarge {
                bytes: size,
                limit: limits.max_file_bytes,
            });
        }
        let format = sniff(&bytes)?;
        let inner = match format {
            Format::Pdf => Inner::Pdf(pdf::PdfFile::open(bytes, limits)?),
            Format::Tiff => Inner::Tiff(Box::new(tiff::TiffFile::open(bytes, limits)?)),
            Format::Png | Format::Jpeg => {
                Inner::Raster(raster::RasterFile::open(bytes, format, limits)?)
            }
        };
        Ok(Source { format, inner })
    }

    /// The file's format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// How many pages the file has (1 for PNG and JPEG).
    pub fn page_count(&self) -> usize {
        match &self.inner {
            Inner::Pdf(f) => f.page_count(),
            Inner::Tiff(f) => f.page_count(),
            Inner::Raster(_) => 1,
        }
    }

    /// Decodes one page (`index` from 0), checking its size and pixel limits
    /// again before it is rendered or decoded.
    pub fn page(&mut self, index: usize) -> Result<Page, DecodeError> {
        let count = self.page_count();
        if index >= count {
            return Err(DecodeError::NoSuchPage {
                number: index.saturating_add(1),
                count,
            });
        }
        let number = u32::try_from(index)
            .ok()
            .and_then(|i| i.checked_add(1))
            .ok_or(DecodeError::NoSuchPage {
                number: index.saturating_add(1),
                count,
            })?;
        match &mut self.inner {
            Inner::Pdf(f) => f.page(index, number),
            Inner::Tiff(f) => f.page(index, number),
            Inner::Raster(f) => f.page(number),
        }
    }
}

/// How pages are named in errors: "page 3" in a multi-page file, "the image"
/// in a one-page one.
fn page_label(number: u32, count: usize) -> Option<u32> {
    (count > 1).then_some(number)
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::Page;

    /// Reads a fixture under the repository's `samples/`.
    pub fn sample(rel: &str) -> Vec<u8> {
        let path = format!("{}/../samples/{rel}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
    }

    /// Asserts that a page looks like a scanned form: mostly white paper
    /// with some black ink.
    pub fn assert_ink(page: &Page) {
        let pixels = page.image.as_raw();
        assert!(!pixels.is_empty());
        let mean = pixels.iter().map(|&p| u64::from(p)).sum::<u64>() as f64 / pixels.len() as f64;
        let min = pixels.iter().copied().min().unwrap_or(255);
        assert!(
            mean > 180.0,
            "page {} mean {mean:.1}: not mostly white paper",
            page.number
        );
        assert!(min < 64, "page {} min {min}: no black ink", page.number);
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{assert_ink, sample};
    use super::*;

    fn open_err(rel: &str) -> DecodeError {
        match Source::open(sample(rel), &Limits::default()) {
            Ok(s) => panic!("{rel} opened as {s:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn source_and_errors_can_cross_threads() {
        fn is_send<T: Send>() {}
        fn is_error<T: std::error::Error + Send + Sync + 'static>() {}
        is_send::<Source>();
        is_error::<DecodeError>();
    }

    #[test]
    fn sniff_goes_by_content() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n....").ok(), Some(Format::Png));
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]).ok(), Some(Format::Jpeg));
        assert_eq!(sniff(b"II*\0\x08\0\0\0").ok(), Some(Format::Tiff));
        assert_eq!(sniff(b"MM\0*\0\0\0\x08").ok(), Some(Format::Tiff));
        assert_eq!(sniff(b"%PDF-1.7\n").ok(), Some(Format::Pdf));
        assert_eq!(sniff(b"\r\n  %PDF-1.4\n").ok(), Some(Format::Pdf));
        let msg = |b: &[u8]| {
            sniff(b)
                .map(|f| f.to_string())
                .unwrap_or_else(|e| e.to_string())
        };
        assert_eq!(
            msg(b"PK\x03\x04abc"),
            "the file is not a PDF, TIFF, PNG or JPEG (it looks like a ZIP archive or an \
             Office document)"
        );
        assert_eq!(
            msg(b"GIF89a...."),
            "the file is not a PDF, TIFF, PNG or JPEG (it looks like a GIF image)"
        );
        assert_eq!(
            msg(b"<?xml version='1.0'?><svg/>"),
            "the file is not a PDF, TIFF, PNG or JPEG (it looks like an XML file)"
        );
        assert_eq!(
            msg(b"\0\x01\x02"),
            "the file is not a PDF, TIFF, PNG or JPEG"
        );
        assert_eq!(msg(b""), "the file is empty");
    }

    #[test]
    fn bad_input_empty_pdf_is_refused() {
        assert_eq!(
            sniff(&sample("bad-inputs/empty.pdf"))
                .err()
                .map(|e| e.to_string())
                .as_deref(),
            Some("the file is empty")
        );
        assert_eq!(
            open_err("bad-inputs/empty.pdf").to_string(),
            "the file is empty"
        );
    }

    #[test]
    fn bad_input_text_named_pdf_is_refused() {
        let e = open_err("bad-inputs/text-named.pdf");
        assert!(matches!(
            e,
            DecodeError::UnknownFormat {
                looks_like: Some(LooksLike::Text)
            }
        ));
        assert_eq!(
            e.to_string(),
            "the file is not a PDF, TIFF, PNG or JPEG (it looks like plain text)"
        );
        assert!(!e.is_transient());
    }

    #[test]
    fn bad_input_html_named_png_is_refused() {
        let e = open_err("bad-inputs/html-named.png");
        assert_eq!(
            e.to_string(),
            "the file is not a PDF, TIFF, PNG or JPEG (it looks like an HTML page)"
        );
    }

    #[test]
    fn bad_input_random_bin_is_refused() {
        let e = open_err("bad-inputs/random.bin");
        assert_eq!(e.to_string(), "the file is not a PDF, TIFF, PNG or JPEG");
    }

    #[test]
    fn bad_input_encrypted_pdf_asks_for_no_password() {
        let e = open_err("bad-inputs/encrypted.pdf");
        assert_eq!(
            e.to_string(),
            "the PDF is protected by a password; send it without one"
        );
        assert!(!e.is_transient());
    }

    #[test]
    fn bad_input_thousand_pages_pdf_is_refused() {
        let e = open_err("bad-inputs/thousand-pages.pdf");
        assert_eq!(e.to_string(), "the PDF has 1000 pages; the limit is 200");
    }

    #[test]
    fn bad_input_giant_page_pdf_is_refused_before_rendering() {
        let e = open_err("bad-inputs/giant-page.pdf");
        assert_eq!(
            e.to_string(),
            "page 1 is 4939 x 4939 mm; the largest page accepted is 600 mm a side"
        );
    }

    #[test]
    fn bad_input_pixel_bomb_png_is_refused_before_decoding() {
        let e = open_err("bad-inputs/pixel-bomb.png");
        assert_eq!(
            e.to_string(),
            "the image would be 60000 x 60000 pixels (3.6 gigapixels); the limit is 40 \
             megapixels a page"
        );
    }

    #[test]
    fn bad_input_truncated_jpg_is_refused() {
        let e = open_err("bad-inputs/truncated.jpg");
        assert_eq!(
            e.to_string(),
            "the JPEG is cut short (truncated): scan it again"
        );
    }

    #[test]
    fn bad_input_truncated_scan_pdf_is_refused() {
        // Cut off in transfer: no `%%EOF` in its last KiB. PDFium would repair
        // it and draw what it has, so it is refused before PDFium sees it.
        let e = open_err("bad-inputs/truncated-scan.pdf");
        assert_eq!(
            e.to_string(),
            "the PDF is cut short (truncated): scan it again"
        );
    }

    #[test]
    fn bad_input_blank_page_jpg_decodes_to_one_white_page() {
        let mut s =
            Source::open(sample("bad-inputs/blank-page.jpg"), &Limits::default()).expect("opens");
        assert_eq!((s.format(), s.page_count()), (Format::Jpeg, 1));
        let page = s.page(0).expect("decodes");
        assert_eq!(page.image.dimensions(), (1654, 2339));
        // JFIF gives only an aspect ratio, so the resolution is inferred as A4.
        assert!((page.dpi - 2339.0 / 11.69).abs() < 0.01, "dpi {}", page.dpi);
        assert!(
            page.image
                .as_raw()
                .iter()
                .map(|&p| u64::from(p))
                .sum::<u64>()
                / (1654 * 2339)
                > 200
        );
    }

    #[test]
    fn bad_input_unknown_form_pdf_decodes_to_one_page() {
        let mut s =
            Source::open(sample("bad-inputs/unknown-form.pdf"), &Limits::default()).expect("opens");
        assert_eq!((s.format(), s.page_count()), (Format::Pdf, 1));
        let page = s.page(0).expect("renders");
        // A text-only page has no scan in it: rendered at 300 dpi.
        assert_eq!((page.dpi, page.dpi_y, page.number), (300.0, 300.0, 1));
        assert_eq!(page.image.dimensions(), (2480, 3508));
        assert_ink(&page);
    }

    #[test]
    fn limits_are_checked_before_format_work() {
        let small = Limits {
            max_file_bytes: 1_000_000,
            ..Limits::default()
        };
        let e = Source::open(vec![0; 2_000_100], &small)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("the file is 2.0 MB; the limit is 1.0 MB")
        );
        let few_pixels = Limits {
            max_page_pixels: 2_000_000,
            ..Limits::default()
        };
        let e = Source::open(sample("documents/voter-registration-035.png"), &few_pixels)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some(
                "the image would be 2481 x 3508 pixels (8.7 megapixels); the limit is 2 \
                 megapixels a page"
            )
        );
    }

    #[test]
    fn asking_past_the_last_page_is_an_error_not_a_panic() {
        let mut s = Source::open(
            sample("documents/voter-registration-035.png"),
            &Limits::default(),
        )
        .expect("opens");
        assert_eq!(
            s.page(1).err().map(|e| e.to_string()).as_deref(),
            Some("page 2 was asked for, but the file has 1 pages")
        );
        assert!(s.page(usize::MAX).is_err());
    }
}
