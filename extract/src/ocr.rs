//! The one place that talks to Tesseract.
//!
//! It owns an engine handle (one per thread: a handle serialises every call
//! made on it), the page segmentation modes and character whitelists, and
//! turns Tesseract's symbols and LSTM alternatives into [`CharCandidates`].
//! What to read and how to crop it is [`crate::read`]'s business.

use crate::raw::CharCandidates;
use image::GrayImage;
use std::path::{Path, PathBuf};
use tesseract_rs::{TessPageIteratorLevel, TessPageSegMode, TesseractAPI};

/// How the crop handed to Tesseract is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One line of text (page segmentation mode 7).
    Line,
    /// One character (page segmentation mode 10).
    Char,
}

/// A text read by Tesseract: characters with alternatives, spaces between
/// words.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OcrText {
    /// The characters, left to right.
    pub chars: Vec<CharCandidates>,
    /// Each character's left and right edge in the image (`None` for the
    /// spaces put between words).
    pub spans: Vec<Option<(i32, i32)>>,
}

impl OcrText {
    /// The best reading as a string.
    pub fn best(&self) -> String {
        self.chars
            .iter()
            .filter_map(|c| c.best().map(|(ch, _)| ch))
            .collect()
    }
}

/// Where Tesseract's language data is looked for, in order.
fn tessdata_candidates() -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Ok(p) = std::env::var("TESSDATA_PREFIX") {
        v.push(PathBuf::from(p));
    }
    v.push(PathBuf::from("/usr/share/tesseract-ocr/5/tessdata"));
    v.push(PathBuf::from("/usr/share/tesseract-ocr/4.00/tessdata"));
    v.push(PathBuf::from("/usr/share/tessdata"));
    v.push(PathBuf::from("/usr/local/share/tessdata"));
    v
}

/// Finds the folder holding `eng.traineddata`.
pub fn find_tessdata() -> Option<PathBuf> {
    tessdata_candidates()
        .into_iter()
        .find(|p| p.join("eng.traineddata").is_file())
}

/// One Tesseract engine. Not shared between threads.
pub struct Ocr {
    api: TesseractAPI,
    whitelist: String,
    layout: Option<Layout>,
    /// Time spent in Tesseract since [`Ocr::take_spent`] last asked.
    spent: std::time::Duration,
}

impl Ocr {
    /// Starts an engine with the English LSTM model.
    pub fn new() -> Result<Ocr, String> {
        let dir = find_tessdata().ok_or_else(|| {
            "Tesseract's English language data (eng.traineddata) was not found; install \
             tesseract-ocr-eng or set TESSDATA_PREFIX"
                .to_string()
        })?;
        Self::with_tessdata(&dir)
    }

    /// Starts an engine with language data from `dir`.
    pub fn with_tessdata(dir: &Path) -> Result<Ocr, String> {
        let api = TesseractAPI::new();
        api.init(dir, "eng")
            .map_err(|e| format!("Tesseract could not load eng from {}: {e}", dir.display()))?;
        for (k, v) in [
            ("lstm_choice_mode", "2"),
            ("load_system_dawg", "0"),
            ("load_freq_dawg", "0"),
            ("user_defined_dpi", "300"),
            ("debug_file", "/dev/null"),
        ] {
            api.set_variable(k, v)
                .map_err(|e| format!("Tesseract refused {k}={v}: {e}"))?;
        }
        Ok(Ocr {
            api,
            whitelist: String::new(),
            layout: None,
            spent: std::time::Duration::ZERO,
        })
    }

    fn configure(&mut self, layout: Layout, whitelist: &str) -> Result<(), String> {
        if self.layout != Some(layout) {
            let mode = match layout {
                Layout::Line => TessPageSegMode::PSM_SINGLE_LINE,
                Layout::Char => TessPageSegMode::PSM_SINGLE_CHAR,
            };
            self.api
                .set_page_seg_mode(mode)
                .map_err(|e| e.to_string())?;
            self.layout = Some(layout);
        }
        if self.whitelist != whitelist {
            self.api
                .set_variable("tessedit_char_whitelist", whitelist)
                .map_err(|e| e.to_string())?;
            self.whitelist = whitelist.to_string();
        }
        Ok(())
    }

    /// Reads a greyscale crop (dark ink on white) at `ppi` pixels per inch,
    /// allowing only the characters in `whitelist` (all when empty).
    pub fn read(
        &mut self,
        img: &GrayImage,
        ppi: u32,
        layout: Layout,
        whitelist: &str,
    ) -> Result<OcrText, String> {
        let (w, h) = img.dimensions();
        if w < 4 || h < 4 {
            return Ok(OcrText::default());
        }
        let started = std::time::Instant::now();
        let text = self.recognise(img, ppi, layout, whitelist);
        self.spent += started.elapsed();
        text
    }

    /// Time spent in Tesseract since this was last asked.
    pub fn take_spent(&mut self) -> std::time::Duration {
        std::mem::take(&mut self.spent)
    }

    fn recognise(
        &mut self,
        img: &GrayImage,
        ppi: u32,
        layout: Layout,
        whitelist: &str,
    ) -> Result<OcrText, String> {
        let (w, h) = img.dimensions();
        self.configure(layout, whitelist)?;
        self.api
            .set_image(img.as_raw(), w as i32, h as i32, 1, w as i32)
            .map_err(|e| format!("Tesseract refused the image: {e}"))?;
        self.api
            .set_source_resolution(ppi as i32)
            .map_err(|e| e.to_string())?;
        self.api
            .recognize()
            .map_err(|e| format!("Tesseract failed to recognise: {e}"))?;
        let text = self.collect(whitelist);
        let _ = self.api.clear();
        text
    }

    /// Walks words then symbols; words give the spaces, symbols the
    /// candidates.
    fn collect(&self, whitelist: &str) -> Result<OcrText, String> {
        let it = match self.api.get_iterator() {
            Ok(it) => it,
            Err(_) => return Ok(OcrText::default()),
        };
        let mut word_lens = Vec::new();
        loop {
            if let Ok(w) = it.get_utf8_text(TessPageIteratorLevel::RIL_WORD) {
                let n = w.chars().filter(|c| !c.is_whitespace()).count();
                if n > 0 {
                    word_lens.push(n);
                }
            }
            if !it.next(TessPageIteratorLevel::RIL_WORD).unwrap_or(false) {
                break;
            }
        }
        drop(it);
        let it = match self.api.get_iterator() {
            Ok(it) => it,
            Err(_) => return Ok(OcrText::default()),
        };
        let allowed = |c: char| whitelist.is_empty() || whitelist.contains(c);
        let mut symbols: Vec<CharCandidates> = Vec::new();
        let mut spans: Vec<(i32, i32)> = Vec::new();
        loop {
            if let Ok(s) = it.get_utf8_text(TessPageIteratorLevel::RIL_SYMBOL) {
                let top_conf = it
                    .confidence(TessPageIteratorLevel::RIL_SYMBOL)
                    .unwrap_or(0.0);
                let span = it
                    .get_bounding_box(TessPageIteratorLevel::RIL_SYMBOL)
                    .map(|(l, _, r, _)| (l, r))
                    .unwrap_or((0, 0));
                for ch in s.chars().filter(|c| !c.is_whitespace()) {
                    let mut cands: Vec<(char, f32)> =
                        vec![(ch, (top_conf / 100.0).clamp(0.0, 1.0))];
                    if let Ok(ci) = it.get_choice_iterator() {
                        loop {
                            if let (Ok(t), Ok(c)) = (ci.get_utf8_text(), ci.confidence()) {
                                for alt in t.chars().filter(|c| !c.is_whitespace()).take(1) {
                                    let p = (c / 100.0).clamp(0.0, 1.0);
                                    if !allowed(alt) {
                                        continue;
                                    }
                                    match cands.iter_mut().find(|(c0, _)| *c0 == alt) {
                                        Some(e) => e.1 = e.1.max(p),
                                        None => cands.push((alt, p)),
                                    }
                                }
                            }
                            if !ci.next().unwrap_or(false) {
                                break;
                            }
                        }
                    }
                    // The chosen symbol stays first; alternatives follow by belief.
                    let first = cands[0];
                    let mut rest: Vec<_> = cands[1..].to_vec();
                    rest.sort_by(|a, b| b.1.total_cmp(&a.1));
                    let mut all = vec![first];
                    all.extend(rest);
                    symbols.push(CharCandidates(all));
                    spans.push(span);
                }
            }
            if !it.next(TessPageIteratorLevel::RIL_SYMBOL).unwrap_or(false) {
                break;
            }
        }
        // Re-insert the spaces between words.
        let mut chars = Vec::with_capacity(symbols.len() + word_lens.len());
        let mut out_spans = Vec::with_capacity(symbols.len() + word_lens.len());
        let mut taken = 0;
        let total: usize = word_lens.iter().sum();
        if total == symbols.len() {
            for (i, n) in word_lens.iter().enumerate() {
                if i > 0 {
                    chars.push(CharCandidates::sure(' ', 1.0));
                    out_spans.push(None);
                }
                chars.extend(symbols[taken..taken + n].iter().cloned());
                out_spans.extend(spans[taken..taken + n].iter().map(|s| Some(*s)));
                taken += n;
            }
        } else {
            out_spans = spans.into_iter().map(Some).collect();
            chars = symbols;
        }
        Ok(OcrText {
            chars,
            spans: out_spans,
        })
    }
}
