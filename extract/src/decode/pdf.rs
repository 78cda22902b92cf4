//! PDF: pages rendered through PDFium, bound once per process.
//!
//! PDFium is a shared library loaded at run time (`scripts/fetch-pdfium.sh`
//! puts it in `vendor/pdfium/`). Binding is process-global and a second bind
//! fails, so the one `Pdfium` lives in a `static`. With pdfium-render's
//! `thread_safe` feature every PDFium call takes one process-wide lock, which
//! makes an open document `Send` (and renders serial across threads).
//!
//! A scanned page is rendered at the resolution it was scanned at: that of
//! the largest image covering at least a quarter of the page, capped at
//! [`Limits::max_render_dpi`] and at least 100 dpi; a page without such an
//! image (a born-digital PDF) is rendered at 300 dpi, capped likewise. Page
//! count, page size in millimetres and the resulting pixels are checked
//! before anything is rendered. PDFium applies `/Rotate` itself.
//!
//! A file without `%%EOF` in its last KiB is refused as cut short before
//! PDFium sees it: PDFium repairs what it can and would draw a half page.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};

use image::GrayImage;
use pdfium_render::prelude::*;

use super::{page_label, Cause, DecodeError, Format, Limits, Page};

/// Environment variable naming the PDFium library, or the folder holding it.
pub const LIBRARY_ENV: &str = "FORMFLOW_PDFIUM";

/// Where `scripts/fetch-pdfium.sh` puts the library in a checkout.
const VENDORED_LIBRARY: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../vendor/pdfium/libpdfium.so");

/// The lowest resolution a scanned page is rendered at: below it, form text
/// becomes unreadable to OCR whatever the scan was.
const MIN_RENDER_DPI: f32 = 100.0;

/// The resolution of a page with no scan in it (before the cap).
const DEFAULT_RENDER_DPI: f32 = 300.0;

/// Share of the page an image must cover to count as the page's scan, so a
/// logo on a born-digital page does not set the resolution.
const SCAN_MIN_COVERAGE: f32 = 0.25;

/// Page objects looked at when searching for the scan, so a page of a
/// million vector strokes does not stall the search.
const MAX_OBJECTS_VISITED: usize = 10_000;

/// Form XObjects nested deeper than this are not searched for images.
const MAX_FORM_DEPTH: u8 = 4;

/// Where `%%EOF` must appear, counted from the end (as Acrobat requires).
const EOF_WINDOW: usize = 1024;

static PDFIUM: OnceLock<Pdfium> = OnceLock::new();
static BINDING: Mutex<()> = Mutex::new(());

/// PDFium's drawing buffer, kept from one page to the next: a fresh one for
/// every page is 35 MB at 300 dpi for the kernel to find and zero, a fifth
/// of the page's decoding time. Only one page is drawn at a time.
static DRAWING: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// Largest drawing buffer kept between pages (an A4 page at 400 dpi); a
/// larger one is freed once drawn.
const KEEP_DRAWING_BYTES: usize = 64 << 20;

/// The process's PDFium, bound on first use. A failed bind is not
/// remembered, so installing the library fixes a running process.
fn pdfium() -> Result<&'static Pdfium, DecodeError> {
    if let Some(pdfium) = PDFIUM.get() {
        return Ok(pdfium);
    }
    let _guard = BINDING.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(pdfium) = PDFIUM.get() {
        return Ok(pdfium);
    }
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf));
    let tried = library_candidates(std::env::var_os(LIBRARY_ENV), exe_dir);
    let mut cause = None;
    for path in tried.iter().filter(|p| p.is_file()) {
        match Pdfium::bind_to_library(path) {
            Ok(bindings) => return Ok(PDFIUM.get_or_init(|| Pdfium::new(bindings))),
            Err(e) => cause = Some(e.into()),
        }
    }
    Err(DecodeError::PdfiumMissing { tried, cause })
}

/// Where to look for the library, in order: `FORMFLOW_PDFIUM` (a file, or a
/// folder holding `libpdfium.so`) alone if set; else beside the executable,
/// then the checkout's `vendor/pdfium/`.
fn library_candidates(env: Option<OsString>, exe_dir: Option<PathBuf>) -> Vec<PathBuf> {
    if let Some(path) = env.filter(|v| !v.is_empty()).map(PathBuf::from) {
        return vec![if path.is_dir() {
            Pdfium::pdfium_platform_library_name_at_path(&path)
        } else {
            path
        }];
    }
    exe_dir
        .map(|dir| Pdfium::pdfium_platform_library_name_at_path(&dir))
        .into_iter()
        .chain([PathBuf::from(VENDORED_LIBRARY)])
        .collect()
}

/// An opened PDF document.
pub(super) struct PdfFile {
    document: PdfDocument<'static>,
    count: usize,
    limits: Limits,
}

impl PdfFile {
    /// Loads the document and checks its page count and every page's size.
    pub fn open(bytes: Vec<u8>, limits: &Limits) -> Result<PdfFile, DecodeError> {
        // PDFium rebuilds a cut file and draws what it finds; a scan cut off
        // in transfer must be refused, not read half-blank.
        let tail = bytes
            .get(bytes.len().saturating_sub(EOF_WINDOW)..)
            .unwrap_or_default();
        if !tail.windows(5).any(|w| w == b"%%EOF") {
            return Err(DecodeError::Truncated {
                format: Format::Pdf,
                cause: None,
            });
        }
        let document = pdfium()?
            .load_pdf_from_byte_vec(bytes, None)
            .map_err(load_error)?;
        let count = usize::try_from(document.pages().len()).unwrap_or(0);
        if count == 0 {
            return Err(DecodeError::NoPages {
                format: Format::Pdf,
            });
        }
        if count > limits.max_pages {
            return Err(DecodeError::TooManyPages {
                format: Format::Pdf,
                pages: count,
                limit: limits.max_pages,
            });
        }
        for (index, number) in (0..count).zip(1u32..) {
            let size = PdfPageIndex::try_from(index)
                .ok()
                .and_then(|i| document.pages().page_size(i).ok())
                .ok_or_else(|| {
                    DecodeError::damaged(Format::Pdf, format!("page {number} has no size"))
                })?;
            check_side(number, size.width().value, size.height().value, limits)?;
        }
        Ok(PdfFile {
            document,
            count,
            limits: limits.clone(),
        })
    }

    /// How many pages the document has.
    pub fn page_count(&self) -> usize {
        self.count
    }

    /// Renders page `index` (from 0) in greyscale at its scan's resolution.
    pub fn page(&mut self, index: usize, number: u32) -> Result<Page, DecodeError> {
        let failed = |e: PdfiumError| DecodeError::RenderFailed {
            page: number,
            cause: Some(e.into()),
        };
        let index = PdfPageIndex::try_from(index).map_err(|_| DecodeError::NoSuchPage {
            number: number as usize,
            count: self.count,
        })?;
        let page = self.document.pages().get(index).map_err(failed)?;
        let (width_pt, height_pt) = (page.width().value, page.height().value);
        check_side(number, width_pt, height_pt, &self.limits)?;

        let dpi = render_dpi(scan_dpi(&page, width_pt, height_pt), &self.limits);
        let label = page_label(number, self.count);
        let (dpi, width, height) = fit_pixels(width_pt, height_pt, dpi, label, &self.limits)?;
        let config = PdfRenderConfig::new()
            .set_target_size(width, height)
            .set_reverse_byte_order(false)
            .render_form_data(true)
            .render_annotations(true)
            // The drawing buffer is reused from the page before.
            .clear_before_rendering(true)
            .set_clear_color(PdfColor::WHITE);
        let image = render_gray(&page, &config, width, height, number)?;
        Ok(Page {
            image,
            dpi,
            dpi_y: dpi,
            number,
        })
    }
}

fn load_error(e: PdfiumError) -> DecodeError {
    match e {
        PdfiumError::PdfiumLibraryInternalError(PdfiumInternalError::PasswordError) => {
            DecodeError::PdfPassword
        }
        PdfiumError::PdfiumLibraryInternalError(PdfiumInternalError::SecurityError) => {
            DecodeError::PdfLocked
        }
        other => DecodeError::damaged(Format::Pdf, other),
    }
}

/// Refuses a page with a side longer than the limit (or of no size).
fn check_side(
    number: u32,
    width_pt: f32,
    height_pt: f32,
    limits: &Limits,
) -> Result<(), DecodeError> {
    let mm = |pt: f32| f64::from(pt) / 72.0 * 25.4;
    let (width_mm, height_mm) = (mm(width_pt), mm(height_pt));
    if !(width_mm.is_finite() && height_mm.is_finite() && width_mm > 0.0 && height_mm > 0.0) {
        return Err(DecodeError::damaged(
            Format::Pdf,
            format!("page {number} has no size"),
        ));
    }
    if width_mm.max(height_mm) > limits.max_page_side_mm {
        return Err(DecodeError::PageTooLarge {
            page: number,
            width_mm,
            height_mm,
            limit_mm: limits.max_page_side_mm,
        });
    }
    Ok(())
}

/// The resolution of the page's scan: that of the image covering most of
/// the page, if it covers at least a quarter of it.
fn scan_dpi(page: &PdfPage, width_pt: f32, height_pt: f32) -> Option<f32> {
    let mut images = Vec::new();
    let mut budget = MAX_OBJECTS_VISITED;
    let objects = page.objects();
    for i in 0..objects.len() {
        if budget == 0 {
            break;
        }
        if let Ok(object) = objects.get(i) {
            visit(object, Linear::IDENTITY, 0, &mut budget, &mut images);
        }
    }
    let (area, dpi) = images.into_iter().max_by(|a, b| a.0.total_cmp(&b.0))?;
    (area >= SCAN_MIN_COVERAGE * width_pt * height_pt).then_some(dpi)
}

/// The linear part of a PDF transformation matrix `[a b c d]`: where the
/// unit square of an image lands on the page, translation aside.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Linear {
    a: f32,
    b: f32,
    c: f32,
    d: f32,
}

impl Linear {
    const IDENTITY: Linear = Linear {
        a: 1.0,
        b: 0.0,
        c: 0.0,
        d: 1.0,
    };

    fn of(matrix: &PdfMatrix) -> Linear {
        Linear {
            a: matrix.a(),
            b: matrix.b(),
            c: matrix.c(),
            d: matrix.d(),
        }
    }

    /// `self` applied first, then `outer` (PDF's row-vector convention).
    fn then(self, outer: Linear) -> Linear {
        Linear {
            a: self.a * outer.a + self.b * outer.c,
            b: self.a * outer.b + self.b * outer.d,
            c: self.c * outer.a + self.d * outer.c,
            d: self.c * outer.b + self.d * outer.d,
        }
    }
}

/// Adds the (area in square points, resolution) of each image in `object`,
/// whose enclosing form XObjects map their content by `outer`.
fn visit(
    object: PdfPageObject,
    outer: Linear,
    depth: u8,
    budget: &mut usize,
    images: &mut Vec<(f32, f32)>,
) {
    *budget = budget.saturating_sub(1);
    match &object {
        PdfPageObject::Image(image) => {
            if let Ok(matrix) = image.matrix() {
                images.extend(image_extent(image, Linear::of(&matrix).then(outer)));
            }
        }
        PdfPageObject::XObjectForm(form) if depth < MAX_FORM_DEPTH => {
            let Ok(matrix) = form.matrix() else { return };
            let inner = Linear::of(&matrix).then(outer);
            for i in 0..form.len() {
                if *budget == 0 {
                    return;
                }
                if let Ok(object) = form.get(i) {
                    visit(object, inner, depth + 1, budget, images);
                }
            }
        }
        _ => {}
    }
}

/// An image's area on the page and its resolution along its finer axis,
/// from its pixel size and where its unit square lands: exact for images
/// drawn turned or skewed, and whatever the page's `/Rotate`.
fn image_extent(image: &PdfPageImageObject, placed: Linear) -> Option<(f32, f32)> {
    let px_w = image.width().ok().filter(|&w| w > 0)? as f32;
    let px_h = image.height().ok().filter(|&h| h > 0)? as f32;
    let width_pt = placed.a.hypot(placed.b);
    let height_pt = placed.c.hypot(placed.d);
    let area = (placed.a * placed.d - placed.b * placed.c).abs();
    let dpi = (px_w * 72.0 / width_pt).max(px_h * 72.0 / height_pt);
    (area.is_finite() && area > 0.0 && dpi.is_finite() && dpi > 0.0).then_some((area, dpi))
}

/// The resolution to render at: the scan's, snapped to a whole number when
/// within half a percent of one, kept within 100 dpi and the cap.
fn render_dpi(scan: Option<f32>, limits: &Limits) -> f32 {
    let cap = Some(limits.max_render_dpi)
        .filter(|d| d.is_finite() && *d > 0.0)
        .unwrap_or(DEFAULT_RENDER_DPI);
    match scan.filter(|d| d.is_finite() && *d > 0.0) {
        Some(d) => {
            let whole = d.round();
            let d = if (d - whole).abs() <= whole * 0.005 {
                whole
            } else {
                d
            };
            d.clamp(MIN_RENDER_DPI.min(cap), cap)
        }
        None => DEFAULT_RENDER_DPI.min(cap),
    }
}

/// The pixel size at `dpi`, lowering the resolution (to 100 dpi at most)
/// when the page would exceed the pixel limit.
fn fit_pixels(
    width_pt: f32,
    height_pt: f32,
    dpi: f32,
    page: Option<u32>,
    limits: &Limits,
) -> Result<(f32, Pixels, Pixels), DecodeError> {
    let size = |dpi: f32| {
        let side = |pt: f32| (f64::from(pt) / 72.0 * f64::from(dpi)).round().max(1.0);
        (side(width_pt), side(height_pt))
    };
    let fits = |(w, h): (f64, f64)| {
        w * h <= limits.max_page_pixels as f64
            && w <= f64::from(Pixels::MAX)
            && h <= f64::from(Pixels::MAX)
    };
    let mut dpi = dpi;
    let mut wh = size(dpi);
    if !fits(wh) {
        let floor = MIN_RENDER_DPI.min(dpi);
        let scale = (limits.max_page_pixels as f64 / (wh.0 * wh.1)).sqrt() * 0.999;
        dpi = ((f64::from(dpi) * scale) as f32).max(floor);
        wh = size(dpi);
        if !fits(wh) {
            return Err(DecodeError::TooManyPixels {
                page,
                width: wh.0 as u64,
                height: wh.1 as u64,
                limit: limits.max_page_pixels,
            });
        }
    }
    Ok((dpi, wh.0 as Pixels, wh.1 as Pixels))
}

/// Renders the page into a buffer of ours and turns it to luma.
///
/// PDFium draws nothing into 8-bit grey bitmaps (measured: all white), and
/// 32-bit BGRx renders faster than 24-bit BGR (55 against 80 ms for an A4
/// page at 300 dpi), so it draws BGRx into a buffer we own, sparing the copy
/// out of PDFium's (30 ms at 300 dpi). Peak memory is 5 bytes a pixel.
fn render_gray(
    page: &PdfPage,
    config: &PdfRenderConfig,
    width: Pixels,
    height: Pixels,
    number: u32,
) -> Result<GrayImage, DecodeError> {
    let failed = |cause: Option<Cause>| DecodeError::RenderFailed {
        page: number,
        cause,
    };
    let (w, h) = (
        u32::try_from(width).map_err(|_| failed(None))?,
        u32::try_from(height).map_err(|_| failed(None))?,
    );
    let bytes = usize::try_from(u64::from(w) * u64::from(h) * 4).map_err(|_| failed(None))?;
    let mut drawing = DRAWING.lock().unwrap_or_else(PoisonError::into_inner);
    let mut bgrx = std::mem::take(&mut *drawing);
    // Every byte is drawn over: PDFium clears the bitmap before rendering.
    bgrx.resize(bytes, 0);
    {
        let mut bitmap = PdfBitmap::from_bytes(width, height, PdfBitmapFormat::BGRx, &mut bgrx)
            .map_err(|e| failed(Some(e.into())))?;
        page.render_into_bitmap_with_config(&mut bitmap, config)
            .map_err(|e| failed(Some(e.into())))?;
    }
    // Rec. 709 luma, as the `image` crate uses for PNG and JPEG: its
    // (2126 r + 7152 g + 722 b + 5000) / 10000 to the level, in a
    // multiply and shift the compiler can vectorise (checked equal for all
    // 2^24 colours). 255 × 2^24 plus the rounding still fits in 32 bits.
    let grey: Vec<u8> = bgrx
        .chunks_exact(4)
        .map(|px| {
            let (b, g, r) = (u32::from(px[0]), u32::from(px[1]), u32::from(px[2]));
            ((3_566_836 * r + 11_999_065 * g + 1_211_315 * b + 8_388_708) >> 24) as u8
        })
        .collect();
    if bgrx.capacity() <= KEEP_DRAWING_BYTES {
        *drawing = bgrx;
    }
    drop(drawing);
    GrayImage::from_raw(w, h, grey).ok_or_else(|| failed(None))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{assert_ink, sample};
    use super::super::Source;
    use super::*;

    fn render_all(rel: &str, limits: &Limits) -> Vec<Page> {
        let mut s = Source::open(sample(rel), limits).expect("opens");
        assert_eq!(s.format(), Format::Pdf);
        (0..s.page_count())
            .map(|i| s.page(i).expect("renders"))
            .collect()
    }

    #[test]
    fn pdf_scan_renders_at_its_own_200_dpi() {
        let pages = render_all("documents/voter-registration-037.pdf", &Limits::default());
        assert_eq!(pages.len(), 1);
        assert_eq!(pages[0].image.dimensions(), (1654, 2339));
        assert_eq!(
            (pages[0].dpi, pages[0].dpi_y, pages[0].number),
            (200.0, 200.0, 1)
        );
        assert_ink(&pages[0]);
    }

    #[test]
    fn pdf_batch_of_three_pages_at_200_dpi() {
        let pages = render_all("batches/batch-mini.pdf", &Limits::default());
        assert_eq!(pages.len(), 3);
        for (i, page) in pages.iter().enumerate() {
            assert_eq!(page.number as usize, i + 1);
            assert_eq!(page.image.dimensions(), (1654, 2339));
            assert_eq!((page.dpi, page.dpi_y), (200.0, 200.0));
            assert_ink(page);
        }
    }

    #[test]
    fn pdf_300_dpi_scan_is_rendered_at_300() {
        let pages = render_all("documents/legal-aid-cw1-003.pdf", &Limits::default());
        assert_eq!(pages.len(), 2);
        for page in &pages {
            assert_eq!(page.image.dimensions(), (2481, 3508));
            assert_eq!(page.dpi, 300.0);
            assert_ink(page);
        }
    }

    #[test]
    fn pdf_render_dpi_is_capped() {
        let limits = Limits {
            max_render_dpi: 150.0,
            ..Limits::default()
        };
        let pages = render_all("documents/voter-registration-037.pdf", &limits);
        assert_eq!(pages[0].dpi, 150.0);
        assert_eq!(pages[0].image.dimensions(), (1241, 1754));
    }

    #[test]
    fn pdf_page_over_the_pixel_limit_is_rendered_smaller() {
        let limits = Limits {
            max_page_pixels: 2_000_000,
            ..Limits::default()
        };
        let pages = render_all("documents/voter-registration-037.pdf", &limits);
        let (w, h) = pages[0].image.dimensions();
        assert!(u64::from(w) * u64::from(h) <= 2_000_000, "{w} x {h}");
        assert!(
            pages[0].dpi > 140.0 && pages[0].dpi < 145.0,
            "dpi {}",
            pages[0].dpi
        );
        let tiny = Limits {
            max_page_pixels: 100_000,
            ..Limits::default()
        };
        let e = Source::open(sample("documents/voter-registration-037.pdf"), &tiny)
            .and_then(|mut s| s.page(0));
        assert_eq!(
            e.err().map(|e| e.to_string()).as_deref(),
            Some(
                "the image would be 827 x 1169 pixels (1.0 megapixels); the limit is 0.1 \
                 megapixels a page"
            )
        );
    }

    #[test]
    fn pdf_cut_short_is_refused() {
        let pdf = sample("documents/voter-registration-037.pdf");
        let e = Source::open(pdf[..pdf.len() - 2000].to_vec(), &Limits::default())
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("the PDF is cut short (truncated): scan it again")
        );
    }

    #[test]
    fn pdf_garbage_with_a_header_is_damaged() {
        let e = Source::open(
            b"%PDF-1.3\nThis is not a valid PDF file\n%%EOF\n".to_vec(),
            &Limits::default(),
        );
        assert_eq!(
            e.err().map(|e| e.to_string()).as_deref(),
            Some("the PDF is damaged and cannot be read: scan it again")
        );
    }

    #[test]
    fn pdf_source_moves_to_another_thread() {
        let mut s =
            Source::open(sample("batches/batch-mini.pdf"), &Limits::default()).expect("opens");
        let page = std::thread::spawn(move || s.page(2))
            .join()
            .expect("no panic")
            .expect("renders");
        assert_eq!(page.number, 3);
    }

    #[test]
    fn pdfium_is_looked_for_in_order() {
        let exe = Some(PathBuf::from("/opt/formflow/bin"));
        let found = library_candidates(None, exe.clone());
        assert_eq!(
            found,
            vec![
                PathBuf::from("/opt/formflow/bin/libpdfium.so"),
                PathBuf::from(VENDORED_LIBRARY)
            ]
        );
        let set = library_candidates(Some("/usr/lib/x/libpdfium.so".into()), exe.clone());
        assert_eq!(set, vec![PathBuf::from("/usr/lib/x/libpdfium.so")]);
        let dir = format!("{}/src", env!("CARGO_MANIFEST_DIR"));
        assert_eq!(
            library_candidates(Some(dir.clone().into()), exe.clone()),
            vec![PathBuf::from(dir).join("libpdfium.so")]
        );
        assert_eq!(
            library_candidates(Some("".into()), None),
            vec![PathBuf::from(VENDORED_LIBRARY)]
        );
    }

    #[test]
    fn image_placement_gives_its_resolution() {
        // A 2550 x 3300 scan on a letter page, turned 3 degrees.
        let (sin, cos) = 3f32.to_radians().sin_cos();
        let turned = Linear {
            a: 612.0 * cos,
            b: 612.0 * sin,
            c: -792.0 * sin,
            d: 792.0 * cos,
        };
        let (w, h) = (2550.0f32, 3300.0f32);
        let dpi = (w * 72.0 / turned.a.hypot(turned.b)).max(h * 72.0 / turned.c.hypot(turned.d));
        assert!((dpi - 300.0).abs() < 0.01);
        // A form scaling its content by half doubles the resolution.
        let half = Linear {
            a: 0.5,
            b: 0.0,
            c: 0.0,
            d: 0.5,
        };
        let placed = Linear {
            a: 612.0,
            b: 0.0,
            c: 0.0,
            d: 792.0,
        }
        .then(half);
        assert_eq!(
            placed,
            Linear {
                a: 306.0,
                b: 0.0,
                c: 0.0,
                d: 396.0
            }
        );
        assert_eq!(Linear::IDENTITY.then(turned), turned);
    }

    #[test]
    fn render_dpi_rules() {
        let l = Limits::default();
        assert_eq!(render_dpi(Some(199.6), &l), 200.0);
        assert_eq!(render_dpi(Some(2400.0), &l), 300.0);
        assert_eq!(render_dpi(Some(36.0), &l), 100.0);
        assert_eq!(render_dpi(None, &l), 300.0);
        assert_eq!(render_dpi(Some(f32::NAN), &l), 300.0);
        assert_eq!(
            render_dpi(
                Some(250.0),
                &Limits {
                    max_render_dpi: 72.0,
                    ..l.clone()
                }
            ),
            72.0
        );
        assert_eq!(
            render_dpi(
                None,
                &Limits {
                    max_render_dpi: f32::NAN,
                    ..l
                }
            ),
            300.0
        );
    }
}
