//! Extraction of whole files: decode, then per page prepare, identify and
//! read, then group pages into documents and check them.
//!
//! Owns the order of the steps, batch splitting (a file holding several
//! documents gives one record per document, its pages in the form's page
//! order however they were scanned) and the record's status. The [`Engine`]
//! holds what is shared and read-only (templates, their line references,
//! limits, knobs); a [`Worker`] adds one thread's OCR engine.

use crate::decode::{DecodeError, Limits, Page, Source};
use crate::error::ExtractError;
use crate::glyph::GlyphModel;
use crate::identify::identify;
use crate::normalise::{normalise, Context, Normalised};
use crate::ocr::Ocr;
use crate::prepare::{binarise, ink_threshold};
use crate::raw::RawValue;
use crate::read::PageReader;
use crate::register::{Lines, Pose, Reference};
use crate::validate::apply_rules;
use formflow_schemas::{FieldResult, Flag, Record, Status, Template, TemplateSet};
use std::sync::Arc;

/// Knobs of extraction.
#[derive(Debug, Clone)]
pub struct Config {
    /// What a file may be before it is refused.
    pub limits: Limits,
    /// Fields the engine believes less than this are flagged
    /// `low_confidence`. Higher sends more to caseworkers and lets fewer
    /// errors through unseen; lower the reverse.
    pub review_threshold: f64,
    /// The date rules are checked against (dates of birth, signing dates);
    /// today when `None`.
    pub today: Option<chrono::NaiveDate>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            limits: Limits::default(),
            review_threshold: 0.75,
            today: None,
        }
    }
}

/// What is shared by every extraction thread.
pub struct Engine {
    templates: TemplateSet,
    references: Vec<Reference>,
    config: Config,
    glyphs: Option<GlyphModel>,
}

impl Engine {
    /// An engine for these templates.
    pub fn new(templates: TemplateSet, config: Config) -> Engine {
        let references = templates
            .all()
            .iter()
            .flat_map(|t| (1..=t.pages).map(move |p| Reference::of(t, p)))
            .collect();
        // Without handwriting fonts the engine still works, on Tesseract alone.
        let glyphs = GlyphModel::from_fonts(&GlyphModel::default_fonts()).ok();
        Engine {
            templates,
            references,
            config,
            glyphs,
        }
    }

    /// Whether the glyph recogniser (for hand-printed capitals) is in use:
    /// it needs the handwriting fonts `scripts/setup.sh` installs.
    pub fn has_glyph_model(&self) -> bool {
        self.glyphs.is_some()
    }

    /// The templates it knows.
    pub fn templates(&self) -> &TemplateSet {
        &self.templates
    }

    /// Its knobs.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A worker for the calling thread.
    pub fn worker(self: &Arc<Self>) -> Result<Worker, ExtractError> {
        Ok(Worker {
            engine: Arc::clone(self),
            ocr: Ocr::new().map_err(ExtractError::Ocr)?,
        })
    }
}

/// One page after identification and reading.
#[derive(Debug, Clone)]
pub struct PageResult {
    /// Page number within the file, from 1.
    pub number: u32,
    /// The form and its page, when recognised.
    pub form: Option<(String, u32)>,
    /// Where the template lies on the scan, when recognised.
    pub pose: Option<Pose>,
    /// Each field of that template page as read.
    pub fields: Vec<(String, RawValue)>,
}

/// Extracts files on one thread.
pub struct Worker {
    engine: Arc<Engine>,
    ocr: Ocr,
}

impl Worker {
    /// Every document in the file, as records. Never fails: a file that
    /// cannot be read gives one `failed` record saying why.
    pub fn extract(&mut self, source: &str, bytes: Vec<u8>) -> Vec<Record> {
        match self.extract_pages(bytes) {
            Ok(pages) => self.records(source, pages),
            Err(e) => vec![Record::failed(source, e.to_string())],
        }
    }

    /// Decodes and reads every page of a file.
    pub fn extract_pages(&mut self, bytes: Vec<u8>) -> Result<Vec<PageResult>, ExtractError> {
        let mut src = Source::open(bytes, &self.engine.config.limits)?;
        let mut out = Vec::with_capacity(src.page_count());
        for i in 0..src.page_count() {
            let page = src.page(i)?;
            out.push(self.read_page(&page));
        }
        Ok(out)
    }

    /// Identifies and reads one decoded page.
    pub fn read_page(&mut self, page: &Page) -> PageResult {
        let engine = Arc::clone(&self.engine);
        let Some((form, form_page, pose, threshold)) = self.locate(page) else {
            return PageResult {
                number: page.number,
                form: None,
                pose: None,
                fields: Vec::new(),
            };
        };
        let Some(t) = engine.templates.get(&form) else {
            return PageResult {
                number: page.number,
                form: None,
                pose: None,
                fields: Vec::new(),
            };
        };
        let reader = PageReader {
            gray: &page.image,
            pose,
            threshold,
            glyphs: engine.glyphs.as_ref(),
        };
        let fields = t
            .fields_on(form_page)
            .map(|f| (f.name.clone(), reader.read(f, &mut self.ocr)))
            .collect();
        PageResult {
            number: page.number,
            form: Some((form, form_page)),
            pose: Some(pose),
            fields,
        }
    }

    /// Which form page this is and where it lies, with the page's ink
    /// threshold; none when no known form page is recognised.
    fn locate(&mut self, page: &Page) -> Option<(String, u32, Pose, u8)> {
        let engine = Arc::clone(&self.engine);
        let threshold = ink_threshold(&page.image);
        let ink = binarise(&page.image, threshold);
        let ppmm = page.dpi as f64 / 25.4;
        let lines = Lines::find(&ink, ppmm);
        drop(ink);
        let id = identify(
            &page.image,
            &lines,
            &engine.references,
            engine.templates.all(),
            &mut self.ocr,
        )?;
        Some((id.form, id.page, id.placement.pose, threshold))
    }

    /// Page `number` (from 1) of a file as a caseworker should see it: when
    /// it is a known form page, turned upright, deskewed and cut to the
    /// template's page at `dpi`, so that the template's boxes fall on its
    /// fields; otherwise the page as scanned, scaled to `dpi`.
    pub fn prepared_page(
        &mut self,
        bytes: Vec<u8>,
        number: u32,
        dpi: f64,
    ) -> Result<image::GrayImage, ExtractError> {
        let mut src = Source::open(bytes, &self.engine.config.limits)?;
        let index = (number as usize)
            .checked_sub(1)
            .ok_or(DecodeError::NoSuchPage {
                number: 0,
                count: src.page_count(),
            })?;
        let page = src.page(index)?;
        let located = self.locate(&page);
        let size = located
            .as_ref()
            .and_then(|(form, _, _, _)| self.engine.templates.get(form).map(|t| t.page_size_mm));
        Ok(match (located, size) {
            (Some((_, _, pose, _)), Some(size)) => warp(&page.image, &pose, size, dpi),
            _ => {
                let scale = (dpi / page.dpi as f64).min(1.0);
                let (w, h) = (
                    ((page.image.width() as f64) * scale).round().max(1.0),
                    ((page.image.height() as f64) * scale).round().max(1.0),
                );
                image::imageops::resize(
                    &page.image,
                    w as u32,
                    h as u32,
                    image::imageops::FilterType::Triangle,
                )
            }
        })
    }

    /// Groups pages into documents and checks each.
    pub fn records(&self, source: &str, pages: Vec<PageResult>) -> Vec<Record> {
        let ctx = Context {
            today: self
                .engine
                .config
                .today
                .unwrap_or_else(|| chrono::Local::now().date_naive()),
            review_threshold: self.engine.config.review_threshold,
        };
        group(&self.engine.templates, pages)
            .into_iter()
            .map(|doc| match doc {
                Doc::Unclassified(p) => Record {
                    source: source.to_string(),
                    form: None,
                    pages: vec![p.number],
                    status: Status::Unclassified,
                    fields: Vec::new(),
                    error: None,
                },
                Doc::Form { template, pages } => document(template, source, pages, &ctx),
            })
            .collect()
    }
}

/// Pages that make up one document.
enum Doc<'t> {
    Unclassified(PageResult),
    Form {
        template: &'t Template,
        pages: Vec<PageResult>,
    },
}

/// Splits a file's pages into documents. A document is a run of pages of
/// one form holding each of its pages at most once; it ends when the form
/// changes, a page of it comes again, or it is complete.
fn group(templates: &TemplateSet, pages: Vec<PageResult>) -> Vec<Doc<'_>> {
    let mut out: Vec<Doc> = Vec::new();
    let mut open: Option<(&Template, Vec<PageResult>)> = None;
    for p in pages {
        let Some((form, n)) = p.form.clone() else {
            if let Some((t, ps)) = open.take() {
                out.push(Doc::Form {
                    template: t,
                    pages: ps,
                });
            }
            out.push(Doc::Unclassified(p));
            continue;
        };
        let Some(t) = templates.get(&form) else {
            continue;
        };
        if let Some((ot, ops)) = &mut open {
            let fits = ot.form == form
                && !ops
                    .iter()
                    .any(|q| q.form.as_ref().is_some_and(|f| f.1 == n))
                && (ops.len() as u32) < ot.pages;
            if fits {
                ops.push(p);
                continue;
            }
            let (t0, ps) = open.take().expect("open");
            out.push(Doc::Form {
                template: t0,
                pages: ps,
            });
        }
        open = Some((t, vec![p]));
    }
    if let Some((t, ps)) = open {
        out.push(Doc::Form {
            template: t,
            pages: ps,
        });
    }
    out
}

/// One document's record: every field of the form, normalised and checked.
fn document(t: &Template, source: &str, mut pages: Vec<PageResult>, ctx: &Context) -> Record {
    pages.sort_by_key(|p| p.form.as_ref().map(|f| f.1).unwrap_or(0));
    let mut fields: Vec<(String, Normalised)> = Vec::with_capacity(t.fields.len());
    for spec in &t.fields {
        let raw = pages
            .iter()
            .filter(|p| p.form.as_ref().is_some_and(|f| f.1 == spec.page))
            .flat_map(|p| p.fields.iter())
            .find(|(n, _)| *n == spec.name)
            .map(|(_, r)| r.clone());
        let n = match raw {
            Some(r) => normalise(spec, &r, ctx),
            // The page holding this field is missing from the file.
            None => Normalised {
                value: serde_json::Value::Null,
                confidence: 0.0,
                flags: vec![Flag::Unreadable],
            },
        };
        fields.push((spec.name.clone(), n));
    }
    apply_rules(t, &mut fields, ctx);
    let flagged = fields.iter().any(|(_, f)| !f.flags.is_empty());
    Record {
        source: source.to_string(),
        form: Some(t.form.clone()),
        pages: pages.iter().map(|p| p.number).collect(),
        status: if flagged {
            Status::NeedsReview
        } else {
            Status::Extracted
        },
        fields: fields
            .into_iter()
            .map(|(n, f)| {
                (
                    n,
                    FieldResult {
                        value: f.value,
                        confidence: (f.confidence * 1000.0).round() / 1000.0,
                        flags: f.flags,
                    },
                )
            })
            .collect(),
        error: None,
    }
}

/// The template page of `size_mm`, sampled from the scan through `pose`
/// at `dpi` (bilinear).
fn warp(scan: &image::GrayImage, pose: &Pose, size_mm: [f64; 2], dpi: f64) -> image::GrayImage {
    let ppmm = dpi / 25.4;
    let (w, h) = (
        (size_mm[0] * ppmm).round().max(1.0) as u32,
        (size_mm[1] * ppmm).round().max(1.0) as u32,
    );
    let (sw, sh) = (scan.width() as f64, scan.height() as f64);
    image::GrayImage::from_fn(w, h, |x, y| {
        let (sx, sy) = pose.to_scan((x as f64 + 0.5) / ppmm, (y as f64 + 0.5) / ppmm);
        if sx < 0.0 || sy < 0.0 || sx > sw - 1.0 || sy > sh - 1.0 {
            return image::Luma([255]);
        }
        let (x0, y0) = (sx.floor(), sy.floor());
        let (fx, fy) = (sx - x0, sy - y0);
        let (x0, y0) = (x0 as u32, y0 as u32);
        let (x1, y1) = (
            (x0 + 1).min(scan.width() - 1),
            (y0 + 1).min(scan.height() - 1),
        );
        let p = |x, y| scan.get_pixel(x, y).0[0] as f64;
        let v = p(x0, y0) * (1.0 - fx) * (1.0 - fy)
            + p(x1, y0) * fx * (1.0 - fy)
            + p(x0, y1) * (1.0 - fx) * fy
            + p(x1, y1) * fx * fy;
        image::Luma([v.round().clamp(0.0, 255.0) as u8])
    })
}
