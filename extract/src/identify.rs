//! Form identification: which template, and which of its pages, a scanned
//! page is — or that it is none of them.
//!
//! Owns the decision. Every template page is placed on the scan in each
//! plausible orientation ([`crate::register`]); the best placements then
//! have their printed marks (form code, "Page N of M") read where the
//! placement puts them. A page is only given a form when its box lines are
//! there and its printed marks agree: an unknown form or a blank page is
//! left unclassified, never guessed.

use crate::ocr::{Layout, Ocr};
use crate::read::{crop, CROP_PPMM};
use crate::register::{orientations, place, Lines, Placement, Reference, Upright};
use formflow_schemas::Template;
use image::GrayImage;

/// Below this share of its box lines found, a template page is not
/// considered at all.
const MIN_COVERAGE: f64 = 0.55;
/// With this much of its lines found and its marks read, a page is taken.
const MARK_MATCH: f64 = 0.6;

/// A page recognised as a page of a known form.
#[derive(Debug, Clone)]
pub struct Identified {
    /// The template key.
    pub form: String,
    /// Which page of the form, from 1.
    pub page: u32,
    /// Where the template page lies on the scan.
    pub placement: Placement,
    /// How well the printed marks read (0..1).
    pub marks: f64,
}

/// Decides which template page a scan is, if any.
pub fn identify(
    gray: &GrayImage,
    lines: &Lines,
    refs: &[Reference],
    templates: &[Template],
    ocr: &mut Ocr,
) -> Option<Identified> {
    let mut cands: Vec<(usize, Placement)> = Vec::new();
    let mut uprights: Vec<Upright> = Vec::new();
    for (i, r) in refs.iter().enumerate() {
        for o in orientations(lines, r) {
            if !uprights.iter().any(|u| u.orientation() == o) {
                match Upright::new(lines, o) {
                    Some(u) => uprights.push(u),
                    None => continue,
                }
            }
            let Some(u) = uprights.iter().find(|u| u.orientation() == o) else {
                continue;
            };
            if let Some(p) = place(lines, u, r) {
                if p.coverage >= MIN_COVERAGE {
                    cands.push((i, p));
                }
            }
        }
    }
    cands.sort_by(|a, b| b.1.coverage.total_cmp(&a.1.coverage));
    let mut best: Option<Identified> = None;
    for (i, p) in cands.into_iter().take(4) {
        // Once a page is sure (its marks read), only rivals nearly as well
        // placed are worth reading marks for.
        if best
            .as_ref()
            .is_some_and(|b| b.marks >= 0.9 && p.coverage + 0.1 < b.placement.coverage)
        {
            break;
        }
        let r = &refs[i];
        let Some(t) = templates.iter().find(|t| t.form == r.form) else {
            continue;
        };
        let marks = read_marks(gray, &p, t, r.page, ocr);
        let score = p.coverage + marks;
        if marks >= MARK_MATCH
            && best
                .as_ref()
                .is_none_or(|b| score > b.placement.coverage + b.marks)
        {
            best = Some(Identified {
                form: r.form.clone(),
                page: r.page,
                placement: p,
                marks,
            });
        }
    }
    best
}

/// How well the marks printed on a template page read where the placement
/// puts them: the best similarity among the page's marks.
fn read_marks(gray: &GrayImage, p: &Placement, t: &Template, page: u32, ocr: &mut Ocr) -> f64 {
    let mut best: f64 = 0.0;
    for m in t.marks_on(page) {
        let mut img = crop(gray, &p.pose, m.box_mm, CROP_PPMM);
        crate::prepare::level(&mut img);
        let Ok(text) = ocr.read(&img, (CROP_PPMM * 25.4) as u32, Layout::Line, "") else {
            continue;
        };
        best = best.max(similarity(&text.best(), &m.text));
        if best > 0.95 {
            break;
        }
    }
    best
}

/// 1 minus the edit distance over the longer length, comparing letters and
/// digits only, upper case.
pub fn similarity(a: &str, b: &str) -> f64 {
    let norm = |s: &str| -> Vec<char> {
        s.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_uppercase)
            .collect()
    };
    let (a, b) = (norm(a), norm(b));
    let n = a.len().max(b.len());
    if n == 0 {
        return 0.0;
    }
    1.0 - levenshtein(&a, &b) as f64 / n as f64
}

fn levenshtein(a: &[char], b: &[char]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarity_ignores_case_spaces_and_punctuation() {
        assert_eq!(similarity("Page 1 of 2", "PAGE1OF2"), 1.0);
        assert!((similarity("Page 1 of 2", "Page 2 of 2") - 7.0 / 8.0).abs() < 1e-9);
        assert_eq!(similarity("", "RTV-E"), 0.0);
        assert!(similarity("LA-CW1 (2025)", "RTV-E (2025)") < 0.6);
    }
}
