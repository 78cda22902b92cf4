//! A second recogniser for isolated hand-printed characters, next to
//! Tesseract, which reads typed text well but hand-printed block capitals
//! badly.
//!
//! This module owns:
//! - [`GlyphModel`]: prototypes of every character of [`CHARSET`] rendered
//!   from handwriting fonts with random variation (rotation, slant, width,
//!   stroke thickness, blur), built in memory at start-up, and a
//!   nearest-prototype classifier over gradient-direction features whose
//!   probabilities are calibrated on fonts left out of training;
//! - [`segment_line`]: cutting a one-line crop into character glyphs and
//!   finding the word gaps, and [`GlyphModel::read_line`], which also cuts
//!   touching letters where the model reads the halves clearly better;
//! - [`render_glyphs`] and [`render_line`]: synthetic test material from a
//!   font file, for evaluation and tests.
//!
//! The engine fuses the candidates with Tesseract's; nothing here reads or
//! writes files other than the font files themselves.

mod features;
mod lda;
mod linalg;
mod line;
mod model;
mod render;
mod segment;
#[cfg(test)]
mod tests;

pub use line::ReadGlyph;
pub use segment::{segment_line, Segment, MAX_LINE_PIXELS};

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// The characters a model learns by default: capitals, digits and the
/// punctuation forms ask for.
pub const CHARSET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/.,-'&()@+£";

/// Where [`GlyphModel::default_fonts`] looks when `FORMFLOW_GLYPH_FONTS` is
/// not set.
const SYSTEM_FONTS: &str = "/usr/share/fonts";

/// File-name beginnings (lower case) of the handwriting fonts installed by
/// `scripts/setup.sh`, with their Debian packages.
const KNOWN_FONTS: &[(&str, &str)] = &[
    ("dkg", "fonts-dkg-handwriting"),
    ("breip", "fonts-breip"),
    ("becausewe", "fonts-bwht"),
    ("femkeklaver", "fonts-femkeklaver"),
    ("humor-sans", "fonts-humor-sans"),
    ("comicneue", "fonts-comic-neue"),
    ("rufscript", "fonts-rufscript"),
];

/// The Debian packages that provide the default handwriting fonts.
pub const FONT_PACKAGES: &[&str] = &[
    "fonts-dkg-handwriting",
    "fonts-breip",
    "fonts-bwht",
    "fonts-femkeklaver",
    "fonts-humor-sans",
    "fonts-comic-neue",
    "fonts-rufscript",
];

/// Why a glyph model or a synthetic render could not be made.
#[derive(Debug, thiserror::Error)]
pub enum GlyphError {
    /// None of the given font files could be read as a font with glyphs.
    #[error("no handwriting font could be loaded from {tried} file(s); install the packages {packages} or set FORMFLOW_GLYPH_FONTS")]
    NoFonts {
        /// How many files were tried.
        tried: usize,
        /// The Debian packages that provide the default fonts.
        packages: String,
    },
    /// One font file could not be read or parsed.
    #[error("the font file {0} could not be read")]
    Font(PathBuf),
    /// The font has none of the requested characters.
    #[error("the font file {0} has none of the requested characters")]
    NoGlyphs(PathBuf),
}

/// Prototypes of hand-printed characters rendered from handwriting fonts.
///
/// Built once per process and shared by threads (it is `Send + Sync` and
/// cheap to clone: clones share the prototypes). Building again from the
/// same, unchanged font files reuses the prototypes already in memory.
#[derive(Clone, Debug)]
pub struct GlyphModel {
    protos: Arc<model::Prototypes>,
}

/// Models built in this process, by the font files (with size and
/// modification time) they came from.
type CacheKey = Vec<(PathBuf, u64, Option<std::time::SystemTime>)>;
type Cache = Mutex<Vec<(CacheKey, Arc<model::Prototypes>)>>;
static CACHE: OnceLock<Cache> = OnceLock::new();

impl GlyphModel {
    /// Font files to learn from: those listed in the environment variable
    /// `FORMFLOW_GLYPH_FONTS` (`:`-separated files or folders, folders
    /// searched for `.ttf`/`.otf`), else the known handwriting fonts found
    /// under `/usr/share/fonts` (see [`FONT_PACKAGES`]). Sorted, without
    /// duplicates; may be empty.
    pub fn default_fonts() -> Vec<PathBuf> {
        let mut out = Vec::new();
        match std::env::var("FORMFLOW_GLYPH_FONTS") {
            Ok(list) if !list.trim().is_empty() => {
                for entry in list.split(':').map(str::trim).filter(|e| !e.is_empty()) {
                    let p = PathBuf::from(entry);
                    if p.is_dir() {
                        font_files(&p, &mut out, 0);
                    } else {
                        out.push(p);
                    }
                }
            }
            _ => {
                let mut all = Vec::new();
                font_files(Path::new(SYSTEM_FONTS), &mut all, 0);
                out.extend(all.into_iter().filter(|p| known_family(p).is_some()));
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// Renders every character of [`CHARSET`] from each font, plain and with
    /// random variations, and builds the model. A font file that cannot be
    /// read is skipped; characters a font lacks are learnt from the others.
    /// Fails only when no font loads.
    pub fn from_fonts(fonts: &[PathBuf]) -> Result<GlyphModel, GlyphError> {
        Self::from_fonts_with(fonts, CHARSET)
    }

    /// As [`GlyphModel::from_fonts`], learning the characters of `charset`.
    pub fn from_fonts_with(fonts: &[PathBuf], charset: &str) -> Result<GlyphModel, GlyphError> {
        let key: CacheKey = fonts
            .iter()
            .map(|p| {
                let meta = std::fs::metadata(p).ok();
                (
                    p.clone(),
                    meta.as_ref().map_or(0, |m| m.len()),
                    meta.and_then(|m| m.modified().ok()),
                )
            })
            .collect();
        let cache = CACHE.get_or_init(|| Mutex::new(Vec::new()));
        let charset_key = PathBuf::from(format!("\0charset:{charset}"));
        let mut full_key = key;
        full_key.push((charset_key, 0, None));
        if let Ok(entries) = cache.lock() {
            if let Some((_, p)) = entries.iter().find(|(k, _)| *k == full_key) {
                return Ok(GlyphModel {
                    protos: Arc::clone(p),
                });
            }
        }
        let mut protos = model::Prototypes::new(charset);
        for (i, path) in fonts.iter().enumerate() {
            // An unreadable font is skipped: the others still teach.
            let Some(font) = render::load(path) else {
                continue;
            };
            protos.learn_font(&font, 0x5eed ^ ((i as u64) << 20));
        }
        protos.finish();
        if protos.fonts == 0 {
            return Err(GlyphError::NoFonts {
                tried: fonts.len(),
                packages: FONT_PACKAGES.join(" "),
            });
        }
        let protos = Arc::new(protos);
        if let Ok(mut entries) = cache.lock() {
            if entries.len() >= 8 {
                entries.remove(0);
            }
            entries.push((full_key, Arc::clone(&protos)));
        }
        Ok(GlyphModel { protos })
    }

    /// How many fonts were learnt.
    pub fn fonts(&self) -> usize {
        self.protos.fonts
    }

    /// The smallest squared feature distance from the glyph to each allowed
    /// character's prototypes, nearest first: the raw evidence behind
    /// [`GlyphModel::classify`], for evaluation and calibration. Empty for a
    /// blank image.
    pub fn distances(&self, glyph: &image::GrayImage, allowed: &str) -> Vec<(char, f32)> {
        self.protos.distances(glyph, allowed)
    }

    /// How many prototypes the model holds.
    pub fn prototypes(&self) -> usize {
        self.protos.labels.len()
    }

    /// The characters the model knows.
    pub fn charset(&self) -> String {
        self.protos.chars.iter().collect()
    }

    /// Candidates for one glyph image (dark ink on white, any size, white
    /// margins allowed), restricted to the characters of `allowed` (all when
    /// empty), best first. Probabilities are in 0..1, sum to at most 1 (the
    /// rest is "none of these") and are calibrated on fonts left out of
    /// training. A blank image gives no candidates.
    pub fn classify(&self, glyph: &image::GrayImage, allowed: &str) -> Vec<(char, f32)> {
        self.protos.classify(glyph, allowed)
    }
}

/// The known handwriting family a font file belongs to (its Debian
/// package), `None` for other fonts.
pub fn known_family(path: &Path) -> Option<&'static str> {
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    if !(name.ends_with(".ttf") || name.ends_with(".otf")) {
        return None;
    }
    KNOWN_FONTS
        .iter()
        .find(|(prefix, _)| name.starts_with(prefix))
        .map(|(_, pkg)| *pkg)
}

/// Collects `.ttf` and `.otf` files under `dir` (a few levels deep).
fn font_files(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    if depth > 6 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            font_files(&p, out, depth + 1);
        } else if p
            .extension()
            .and_then(|x| x.to_str())
            .is_some_and(|x| x.eq_ignore_ascii_case("ttf") || x.eq_ignore_ascii_case("otf"))
        {
            out.push(p);
        }
    }
}

/// Synthetic glyph images of each character of `charset` from one font file
/// (characters it lacks are left out): the plain render then `variations - 1`
/// modest random variations each (rotation, slant, size, thickness, blur), dark on white with a white margin. Seeded, so the
/// same call gives the same images. For evaluation and tests.
pub fn render_glyphs(
    font: &Path,
    charset: &str,
    variations: usize,
    seed: u64,
) -> Result<Vec<(char, image::GrayImage)>, GlyphError> {
    let f = render::load(font).ok_or_else(|| GlyphError::Font(font.to_path_buf()))?;
    let mut out = Vec::new();
    for (ci, c) in charset.chars().filter(|c| !c.is_whitespace()).enumerate() {
        let Some(ink) = render::render_char(&f, c, render::RENDER_PX * 1.5) else {
            continue;
        };
        let mut rng = render::Rng::new(seed ^ ((ci as u64 + 7) << 32));
        for k in 0..variations {
            let v = if k == 0 {
                render::Variation::identity()
            } else {
                render::Variation::test(&mut rng)
            };
            let ink = render::vary(&ink, &v);
            let m = 4u32;
            let mut img = image::GrayImage::from_pixel(
                ink.w as u32 + 2 * m,
                ink.h as u32 + 2 * m,
                image::Luma([255]),
            );
            for y in 0..ink.h {
                for x in 0..ink.w {
                    let v = (255.0 * (1.0 - ink.data[y * ink.w + x].clamp(0.0, 1.0))).round() as u8;
                    img.put_pixel(x as u32 + m, y as u32 + m, image::Luma([v]));
                }
            }
            out.push((c, img));
        }
    }
    if out.is_empty() {
        return Err(GlyphError::NoGlyphs(font.to_path_buf()));
    }
    Ok(out)
}

/// A one-line text rendered from a font file at `px` pixels per em, dark on
/// white with a white margin, with the font's own spacing and kerning.
/// Characters the font lacks are left out. For evaluation and tests.
pub fn render_line(font: &Path, text: &str, px: f32) -> Result<image::GrayImage, GlyphError> {
    let f = render::load(font).ok_or_else(|| GlyphError::Font(font.to_path_buf()))?;
    render::render_line(&f, text, px.clamp(4.0, 400.0))
        .ok_or_else(|| GlyphError::NoGlyphs(font.to_path_buf()))
}
