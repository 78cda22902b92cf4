//! Extraction of whole files: decode, then per page prepare, identify and
//! read, then group pages into documents and check them.
//!
//! Owns the order of the steps, batch splitting (a file holding several
//! documents gives one record per document, its pages in the form's page
//! order however they were scanned) and the record's status, and the
//! steps a review needs one page at a time: decoding a page alone, reading
//! a page as the form page a person names ([`Worker::read_page_as`]), and
//! the page a caseworker sees ([`Worker::prepared_page`]). The [`Engine`]
//! holds what is shared and read-only (templates, their line references,
//! limits, knobs); a [`Worker`] adds one thread's OCR engine.

use crate::crop::page_view;
use crate::decode::{DecodeError, Limits, Page, Source};
use crate::error::ExtractError;
use crate::glyph::GlyphModel;
use crate::identify::identify;
use crate::normalise::{normalise, page_missing, Context, Normalised};
use crate::ocr::Ocr;
use crate::pool::{Extraction, PreparedPage};
use crate::prepare::{binarise, ink_threshold};
use crate::raw::RawValue;
use crate::read::PageReader;
use crate::register::{place_best, Lines, Pose, Reference};
use crate::validate::apply_rules;
use formflow_schemas::{Record, Status, Template, TemplateSet};
use std::sync::Arc;

/// The least share of a form page's box lines that must be found on a scan
/// for [`Worker::read_page_as`] to read it as that page.
///
/// Lower than identification's floor (0.55), which must tell every
/// template page from every other unaided, backed by the printed marks:
/// here a person has named the page, so the lines only have to place its
/// boxes. Measured over the public and stress sample sets, a page placed on
/// its own template page covers 0.93 or more, except on stressed scans
/// (0.63 at worst where it is placed at all); chance, on a scan whose lines
/// are not found, is near 0, and the least alike layouts (the legal aid
/// form's page 2 against either form's page 1) cover 0.11 to 0.17. A third
/// keeps clear of those with a wide margin under the worst good placement.
/// It does not catch every wrong choice: the two forms share their first
/// boxes (name, date of birth, National Insurance number, address), and
/// their other pages place on each other at 0.22 to 0.67. There the shared
/// boxes do line up, and the person who named the page, seeing the crops,
/// is the check.
pub const NAMED_MIN_COVERAGE: f64 = 0.3;

/// Knobs of extraction.
#[derive(Debug, Clone)]
pub struct Config {
    /// What a file may be before it is refused.
    pub limits: Limits,
    /// Fields whose (calibrated) confidence is below this are flagged
    /// `low_confidence`. Higher sends more to caseworkers and lets fewer
    /// errors through unseen; lower the reverse. `formflow eval --json`'s
    /// review curve gives the price of each choice on a set.
    pub review_threshold: f64,
    /// The date rules are checked against (dates of birth, signing dates);
    /// today when `None`.
    pub today: Option<chrono::NaiveDate>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            limits: Limits::default(),
            // On the shared sets, 0.94 lets 0.15% of public fields and none
            // of stress or real-hands through wrong and unflagged; 0.90
            // would flag 3% fewer fields and let 0.45% of real-hands
            // through.
            review_threshold: 0.94,
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
        // The weights are built in; were they damaged, the engine would still
        // work, on Tesseract alone (a test loads them).
        let glyphs = GlyphModel::shipped().ok();
        Engine {
            templates,
            references,
            config,
            glyphs,
        }
    }

    /// Whether the recogniser for hand-printed capitals and digits is in
    /// use (its weights are built into the binary).
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

    /// What normalisation and the rules are judged by: the configured day
    /// (today when none) and review threshold. Corrections a person types
    /// are checked against the same ([`crate::review`]).
    pub fn context(&self) -> Context {
        Context {
            today: self
                .config
                .today
                .unwrap_or_else(|| chrono::Local::now().date_naive()),
            review_threshold: self.config.review_threshold,
        }
    }

    /// Page `number` (from 1) of a file, decoded alone (greyscale, with its
    /// resolution) under the engine's limits, for a caller that cuts many
    /// crops from one page ([`crate::crop`]). A number the file does not
    /// have is an error saying how many pages it has.
    pub fn decode_page(&self, bytes: Vec<u8>, number: u32) -> Result<Page, ExtractError> {
        let mut src = Source::open(bytes, &self.config.limits)?;
        let index = (number as usize)
            .checked_sub(1)
            .ok_or(DecodeError::NoSuchPage {
                number: 0,
                count: src.page_count(),
            })?;
        Ok(src.page(index)?)
    }

    /// Groups a file's pages, read in any order by any number of workers,
    /// into documents and checks each: the records [`Worker::extract_file`]
    /// gives for the whole file. Pages are taken in their file order.
    pub fn records(&self, source: &str, mut pages: Vec<PageResult>) -> Vec<Record> {
        pages.sort_by_key(|p| p.number);
        let ctx = self.context();
        group(&self.templates, pages)
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

    /// A file's extraction from its pages as read ([`Worker::read_page`]),
    /// in any order: its records and its pages as identified and placed,
    /// the same as [`Worker::extract_file`] gives reading the file whole.
    pub fn extraction(&self, source: &str, mut pages: Vec<PageResult>) -> Extraction {
        pages.sort_by_key(|p| p.number);
        let prepared = pages
            .iter()
            .map(|p| PreparedPage {
                number: p.number,
                form: p.form.clone(),
                pose: p.pose,
            })
            .collect();
        Extraction {
            records: self.records(source, pages),
            pages: prepared,
        }
    }

    /// A worker for the calling thread.
    pub fn worker(self: &Arc<Self>) -> Result<Worker, ExtractError> {
        Ok(Worker {
            engine: Arc::clone(self),
            ocr: Ocr::new().map_err(ExtractError::Ocr)?,
            timings: Vec::new(),
        })
    }
}

/// One page after identification and reading: what a worker that read one
/// page of a stack hands on (it serialises) for the stack to be joined
/// ([`Engine::extraction`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
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

/// Page timings a worker keeps until they are taken: a caller that never
/// takes them holds no more than this.
pub const TIMINGS_KEPT: usize = 1024;

/// Extracts files on one thread.
pub struct Worker {
    engine: Arc<Engine>,
    ocr: Ocr,
    timings: Vec<PageTiming>,
}

/// How long a page took to identify and read, for the service's metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct PageTiming {
    /// The form it was read as, when recognised.
    pub form: Option<String>,
    /// Identifying and reading it (not decoding), in seconds.
    pub seconds: f64,
    /// Of which in the OCR engine (Tesseract), in seconds.
    pub ocr_seconds: f64,
}

impl Worker {
    /// Every document in the file, as records, with the file's pages as
    /// identified and placed: the one call the service and the commands
    /// make. Fails when the file cannot be read, saying why.
    pub fn extract_file(
        &mut self,
        source: &str,
        bytes: Vec<u8>,
    ) -> Result<Extraction, ExtractError> {
        let pages = self.extract_pages(bytes)?;
        Ok(self.engine.extraction(source, pages))
    }

    /// Every document in the file, as records. Never fails: a file that
    /// cannot be read gives one `failed` record saying why.
    pub fn extract(&mut self, source: &str, bytes: Vec<u8>) -> Vec<Record> {
        match self.extract_file(source, bytes) {
            Ok(x) => x.records,
            Err(e) => vec![Record::failed(source, e.to_string())],
        }
    }

    /// Decodes and reads every page of a file.
    fn extract_pages(&mut self, bytes: Vec<u8>) -> Result<Vec<PageResult>, ExtractError> {
        let mut src = Source::open(bytes, &self.engine.config.limits)?;
        let mut out = Vec::with_capacity(src.page_count());
        for i in 0..src.page_count() {
            let page = src.page(i)?;
            out.push(self.read_page(&page));
        }
        Ok(out)
    }

    /// The timings of the pages this worker read since this was last
    /// asked (at most the last [`TIMINGS_KEPT`]).
    pub fn take_timings(&mut self) -> Vec<PageTiming> {
        std::mem::take(&mut self.timings)
    }

    /// Identifies and reads one decoded page.
    pub fn read_page(&mut self, page: &Page) -> PageResult {
        let started = std::time::Instant::now();
        let _ = self.ocr.take_spent();
        let read = self.read_page_untimed(page);
        if self.timings.len() >= TIMINGS_KEPT {
            self.timings.remove(0);
        }
        self.timings.push(PageTiming {
            form: read.form.as_ref().map(|(f, _)| f.clone()),
            seconds: started.elapsed().as_secs_f64(),
            ocr_seconds: self.ocr.take_spent().as_secs_f64(),
        });
        read
    }

    fn read_page_untimed(&mut self, page: &Page) -> PageResult {
        self.locate(page)
            .and_then(|(form, form_page, pose, threshold)| {
                self.read_fields(page, &form, form_page, pose, threshold)
            })
            .unwrap_or_else(|| PageResult {
                number: page.number,
                form: None,
                pose: None,
                fields: Vec::new(),
            })
    }

    /// Reads one decoded page as page `form_page` of the form `form`, as a
    /// person says it is (a page left unclassified, say): that template
    /// page's box lines are placed on the scan in every plausible
    /// orientation and the best placement is taken, without asking the
    /// page's printed marks to agree, and then every field of the template
    /// page is read as [`Worker::read_page`] reads it.
    ///
    /// Fails, saying so in plain words, when the engine knows no such form
    /// page, or when too few of its box lines are found on the scan to
    /// place it (below [`NAMED_MIN_COVERAGE`]).
    pub fn read_page_as(
        &mut self,
        page: &Page,
        form: &str,
        form_page: u32,
    ) -> Result<PageResult, ExtractError> {
        let engine = Arc::clone(&self.engine);
        let unknown = || ExtractError::UnknownFormPage {
            form: form.to_string(),
            page: form_page,
        };
        let reference = engine
            .references
            .iter()
            .find(|r| r.form == form && r.page == form_page)
            .ok_or_else(unknown)?;
        let (lines, threshold) = page_lines(page);
        let coverage = match place_best(&lines, reference) {
            Some(p) if p.coverage >= NAMED_MIN_COVERAGE => {
                return self
                    .read_fields(page, form, form_page, p.pose, threshold)
                    .ok_or_else(unknown);
            }
            Some(p) => p.coverage,
            None => 0.0,
        };
        Err(ExtractError::NotThatFormPage {
            form: form.to_string(),
            page: form_page,
            coverage,
        })
    }

    /// Reads every field of page `form_page` of `form`, placed on the page
    /// by `pose`; `None` when the engine has no such template.
    fn read_fields(
        &mut self,
        page: &Page,
        form: &str,
        form_page: u32,
        pose: Pose,
        threshold: u8,
    ) -> Option<PageResult> {
        let engine = Arc::clone(&self.engine);
        let t = engine.templates.get(form)?;
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
        Some(PageResult {
            number: page.number,
            form: Some((form.to_string(), form_page)),
            pose: Some(pose),
            fields,
        })
    }

    /// Which form page this is and where it lies, with the page's ink
    /// threshold; none when no known form page is recognised.
    fn locate(&mut self, page: &Page) -> Option<(String, u32, Pose, u8)> {
        let engine = Arc::clone(&self.engine);
        let (lines, threshold) = page_lines(page);
        let id = identify(
            &page.image,
            &lines,
            &engine.references,
            engine.templates.all(),
            &mut self.ocr,
        )?;
        Some((id.form, id.page, id.placement.pose, threshold))
    }

    /// Page `number` (from 1) of a file, decoded alone with the engine's
    /// limits (see [`Engine::decode_page`]).
    pub fn decode_page(&self, bytes: Vec<u8>, number: u32) -> Result<Page, ExtractError> {
        self.engine.decode_page(bytes, number)
    }

    /// Page `number` (from 1) of a file as a caseworker should see it: when
    /// it is a known form page, turned upright, deskewed and cut to the
    /// template's page at `dpi` (see [`page_view`]), so that the template's
    /// boxes fall on its fields; otherwise the page as scanned, scaled to
    /// `dpi`.
    pub fn prepared_page(
        &mut self,
        bytes: Vec<u8>,
        number: u32,
        dpi: f64,
    ) -> Result<image::GrayImage, ExtractError> {
        let page = self.engine.decode_page(bytes, number)?;
        let located = self.locate(&page);
        let size = located
            .as_ref()
            .and_then(|(form, _, _, _)| self.engine.templates.get(form).map(|t| t.page_size_mm));
        Ok(match (located, size) {
            (Some((_, _, pose, _)), Some(size)) => page_view(&page.image, &pose, size, dpi),
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

    /// Groups pages into documents and checks each (see
    /// [`Engine::records`]).
    pub fn records(&self, source: &str, pages: Vec<PageResult>) -> Vec<Record> {
        self.engine.records(source, pages)
    }
}

/// A page's printed lines and its ink threshold.
fn page_lines(page: &Page) -> (Lines, u8) {
    let threshold = ink_threshold(&page.image);
    let ink = binarise(&page.image, threshold);
    let ppmm = page.dpi as f64 / 25.4;
    (Lines::find(&ink, ppmm), threshold)
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
            None => page_missing(),
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
            .map(|(n, f)| (n, f.into_field_result()))
            .collect(),
        error: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::test_support::sample;
    use serde_json::json;

    /// The one page of a typed voter registration form.
    fn voter_page(w: &Worker) -> Page {
        w.decode_page(sample("documents/voter-registration-035.png"), 1)
            .unwrap()
    }

    fn worker() -> Worker {
        let config = Config {
            today: chrono::NaiveDate::from_ymd_opt(2026, 6, 1),
            ..Config::default()
        };
        Arc::new(Engine::new(TemplateSet::builtin(), config))
            .worker()
            .unwrap()
    }

    #[test]
    fn one_page_is_decoded_alone() {
        let w = worker();
        let page = w
            .decode_page(sample("documents/legal-aid-cw1-038.tif"), 2)
            .unwrap();
        assert_eq!(page.number, 2);
        crate::decode::test_support::assert_ink(&page);
        for (rel, number, count) in [
            ("documents/voter-registration-035.png", 0, 1),
            ("documents/voter-registration-035.png", 2, 1),
            ("documents/legal-aid-cw1-038.tif", 3, 2),
        ] {
            match w.decode_page(sample(rel), number) {
                Err(ExtractError::Decode(DecodeError::NoSuchPage {
                    number: n,
                    count: c,
                })) => {
                    assert_eq!((n, c), (number as usize, count), "{rel} {number}")
                }
                other => panic!("{rel} {number}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_page_is_read_as_the_form_page_a_person_names() {
        let mut w = worker();
        let page = voter_page(&w);
        let named = w.read_page_as(&page, "voter-registration", 1).unwrap();
        assert_eq!(named.form, Some(("voter-registration".to_string(), 1)));
        assert_eq!(named.number, 1);
        assert!(named.pose.is_some());
        // A page the engine recognises by itself reads the same either way.
        assert_eq!(w.read_page(&page).fields, named.fields);
        let records = w.records("voter-registration-035.png", vec![named]);
        assert_eq!(records.len(), 1);
        let r = &records[0];
        assert_eq!(r.form.as_deref(), Some("voter-registration"));
        for (name, want) in [
            ("surname", json!("THOMPSON")),
            ("first_names", json!("BETHAN")),
            ("date_of_birth", json!("1974-09-07")),
            ("ni_number", json!("GN433832A")),
            ("postcode", json!("LL34 5ZD")),
            ("nationality", json!("british")),
            ("signature", json!(true)),
            ("signed_on", json!("2025-01-01")),
        ] {
            assert_eq!(r.field(name).map(|f| &f.value), Some(&want), "{name}");
        }
    }

    #[test]
    fn a_page_that_is_not_the_named_form_page_is_refused() {
        let mut w = worker();
        let page = voter_page(&w);
        for (form, n) in [
            ("tax-return", 1),
            ("legal-aid-cw1", 3),
            ("legal-aid-cw1", 0),
        ] {
            match w.read_page_as(&page, form, n) {
                Err(e @ ExtractError::UnknownFormPage { .. }) => assert_eq!(
                    e.to_string(),
                    format!(
                        "the page could not be matched to page {n} of {form}: there is no such \
                         form page"
                    )
                ),
                other => panic!("{form} {n}: {other:?}"),
            }
        }
        // Page 2 of the legal aid form has none of the voter form's layout.
        let page = w
            .decode_page(sample("documents/legal-aid-cw1-038.tif"), 2)
            .unwrap();
        match w.read_page_as(&page, "voter-registration", 1) {
            Err(ExtractError::NotThatFormPage {
                form,
                page,
                coverage,
            }) => {
                assert_eq!((form.as_str(), page), ("voter-registration", 1));
                assert!(coverage < NAMED_MIN_COVERAGE, "{coverage}");
            }
            other => panic!("{other:?}"),
        }
    }
}
