//! Fusing two readings of the same writing: Tesseract's (strong on type)
//! and the glyph recogniser's (strong on hand-printed capitals).
//!
//! Owns how the two are aligned and weighed. A character both agree on
//! comes out surer than either alone; where they disagree the belief is
//! shared, so the normaliser's rules can choose and the confidence says
//! how doubtful the field is. Reading and cropping stay in [`crate::read`].

use crate::raw::CharCandidates;

/// Above this belief in its own character, Tesseract is reading type,
/// which it does far better than the glyph recogniser (trained on
/// handwriting): its reading stands, and the glyph's only adds alternatives.
/// Set high: Tesseract reads a hand-written 7 as 1 with a belief of 0.9
/// and more (at 0.9, hand-printed fields read right fell from 79% to 74%
/// on the public set and from 74% to 71% on real writers').
const TESSERACT_SURE: f32 = 0.98;
/// How sure the glyph recogniser must be of another character for a sure
/// Tesseract not to stand alone: two readers each sure of something
/// different is doubt, to be shared and flagged (Tesseract has read a
/// clear hand-written 3 as 4 with a belief above 0.98).
const GLYPH_CONTRADICTS: f32 = 0.95;
/// Tesseract's share of the belief when it is not sure: below one half,
/// because when it hesitates the writing is usually hand-printed.
const TESSERACT_WEIGHT: f32 = 0.4;
/// How sure of its own reading the glyph recogniser must be for its
/// reading to stand where Tesseract found fewer characters (Tesseract
/// sometimes drops the last letters of a line outright).
const GLYPH_SURE: f32 = 0.6;
/// What a glyph-only alternative keeps when Tesseract is sure.
const GLYPH_ALTERNATIVE: f32 = 0.05;

/// Merges two candidate lists for one character into one, best first.
pub fn merge(tess: Option<&CharCandidates>, glyph: Option<&[(char, f32)]>) -> CharCandidates {
    let t: &[(char, f32)] = tess.map(|c| c.0.as_slice()).unwrap_or(&[]);
    let g: &[(char, f32)] = glyph.unwrap_or(&[]);
    if g.is_empty() {
        return CharCandidates(t.to_vec());
    }
    if t.is_empty() || t.iter().all(|(c, _)| *c == '?') {
        return CharCandidates(g.to_vec());
    }
    let contradicted = g[0].1 >= GLYPH_CONTRADICTS && !g[0].0.eq_ignore_ascii_case(&t[0].0);
    let sure = t[0].1 >= TESSERACT_SURE && !contradicted;
    let (wt, wg) = if sure {
        (1.0, GLYPH_ALTERNATIVE)
    } else {
        (TESSERACT_WEIGHT, 1.0 - TESSERACT_WEIGHT)
    };
    let mut out: Vec<(char, f32)> = t.iter().map(|&(c, p)| (c, wt * p)).collect();
    for &(c, p) in g {
        match out.iter_mut().find(|(o, _)| o.eq_ignore_ascii_case(&c)) {
            Some(e) if !sure => e.1 += wg * p,
            Some(_) => {}
            None => out.push((c, wg * p)),
        }
    }
    out.iter_mut().for_each(|e| e.1 = e.1.min(1.0));
    if !sure {
        out.sort_by(|a, b| b.1.total_cmp(&a.1));
    }
    CharCandidates(out)
}

/// One character of a line as the glyph recogniser saw it.
#[derive(Debug, Clone)]
pub struct GlyphChar {
    /// Left and right edge in the line image.
    pub span: (i32, i32),
    /// Whether a word gap comes before it.
    pub space_before: bool,
    /// Its candidates, best first.
    pub cands: Vec<(char, f32)>,
}

fn overlap(a: (i32, i32), b: (i32, i32)) -> i32 {
    (a.1.min(b.1) - a.0.max(b.0)).max(0)
}

fn mean_top(xs: impl Iterator<Item = f32>) -> f32 {
    let (mut s, mut n) = (0.0, 0);
    for x in xs {
        s += x;
        n += 1;
    }
    if n == 0 {
        0.0
    } else {
        s / n as f32
    }
}

/// Fuses a line read by Tesseract (characters with their spans; spaces
/// have none) with the same line cut into glyphs and classified.
///
/// When both found the same characters in the same places, each is
/// merged. When they disagree on how many characters there are, the
/// reading that is surer of itself is kept, its beliefs lowered: the
/// disagreement itself is doubt.
pub fn fuse_line(
    tess: &[CharCandidates],
    spans: &[Option<(i32, i32)>],
    glyphs: &[GlyphChar],
) -> Vec<CharCandidates> {
    let tchars: Vec<(usize, (i32, i32))> = spans
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.map(|s| (i, s)))
        .collect();
    if glyphs.is_empty() {
        return tess.to_vec();
    }
    if tchars.is_empty() {
        return from_glyphs(glyphs, 1.0);
    }
    // One to one: each Tesseract character overlaps best with a distinct glyph, in order.
    let mut pairs = Vec::with_capacity(tchars.len());
    let mut aligned = tchars.len() == glyphs.len();
    if aligned {
        for (k, (_, ts)) in tchars.iter().enumerate() {
            let best = glyphs
                .iter()
                .enumerate()
                .max_by_key(|(_, g)| overlap(*ts, g.span))
                .map(|(j, _)| j);
            if best != Some(k) || overlap(*ts, glyphs[k].span) == 0 {
                aligned = false;
                break;
            }
            pairs.push(k);
        }
    }
    if aligned {
        let mut out = Vec::with_capacity(tess.len());
        let mut k = 0;
        for (i, c) in tess.iter().enumerate() {
            if spans.get(i).copied().flatten().is_none() {
                out.push(c.clone());
                continue;
            }
            let g = &glyphs[pairs[k]];
            if k > 0
                && g.space_before
                && out
                    .last()
                    .is_some_and(|l: &CharCandidates| l.best().map(|b| b.0) != Some(' '))
            {
                // A clear gap Tesseract did not see: a likely space, unsure.
                out.push(CharCandidates(vec![(' ', 0.6)]));
            }
            out.push(merge(Some(c), Some(&g.cands)));
            k += 1;
        }
        return out;
    }
    let t_conf = mean_top(
        tchars
            .iter()
            .filter_map(|(i, _)| tess[*i].best().map(|b| b.1)),
    );
    let g_conf = mean_top(glyphs.iter().filter_map(|g| g.cands.first().map(|c| c.1)));
    // The glyph recogniser knows capitals and digits only: a line Tesseract
    // read in small letters (a typed email address) is not for it to redo.
    let lower = tchars
        .iter()
        .any(|(i, _)| tess[*i].best().is_some_and(|b| b.0.is_lowercase()));
    let g_more = glyphs.len() > tchars.len() && !lower;
    if t_conf >= TESSERACT_SURE && !(g_more && g_conf >= GLYPH_SURE) {
        // Typed text that the glyph cutter split differently: Tesseract
        // reads type, and touching typed letters are what split badly.
        tess.to_vec()
    } else if t_conf >= g_conf && !(g_more && g_conf >= GLYPH_SURE) {
        tess.iter()
            .map(|c| {
                CharCandidates(
                    c.0.iter()
                        .map(|&(ch, p)| (ch, if ch == ' ' { p } else { p * 0.7 }))
                        .collect(),
                )
            })
            .collect()
    } else {
        from_glyphs(glyphs, 0.7)
    }
}

fn from_glyphs(glyphs: &[GlyphChar], factor: f32) -> Vec<CharCandidates> {
    let mut out = Vec::new();
    for (k, g) in glyphs.iter().enumerate() {
        if k > 0 && g.space_before {
            out.push(CharCandidates(vec![(' ', 0.9)]));
        }
        // A mark the network left to Tesseract has no reading here.
        if g.cands.is_empty() {
            continue;
        }
        out.push(CharCandidates(
            g.cands.iter().map(|&(c, p)| (c, p * factor)).collect(),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(span: (i32, i32), space: bool, c: char, p: f32) -> GlyphChar {
        GlyphChar {
            span,
            space_before: space,
            cands: vec![(c, p)],
        }
    }

    #[test]
    fn agreement_strengthens_and_disagreement_shares() {
        let t = CharCandidates(vec![('8', 0.6), ('B', 0.3)]);
        let m = merge(Some(&t), Some(&[('B', 0.9), ('8', 0.05)]));
        assert_eq!(m.best().map(|b| b.0), Some('B'));
        let m = merge(
            Some(&CharCandidates(vec![('A', 0.95)])),
            Some(&[('A', 0.9)]),
        );
        assert!(m.best().is_some_and(|b| b.0 == 'A' && b.1 > 0.9));
    }

    #[test]
    fn a_sure_tesseract_stands_unless_the_glyph_reader_is_sure_of_another() {
        let tess = CharCandidates(vec![('4', 0.99)]);
        // Type: Tesseract stands; a hesitant other reading is an alternative.
        let m = merge(Some(&tess), Some(&[('3', 0.6), ('4', 0.3)]));
        assert_eq!(m.0[0], ('4', 0.99));
        assert!(m.0.iter().any(|c| c.0 == '3' && c.1 < 0.1));
        // Both sure of different characters: shared, and no longer sure.
        let m = merge(Some(&tess), Some(&[('3', 0.999)]));
        let best = m.best().unwrap();
        assert_eq!(best.0, '3');
        assert!(best.1 < 0.75, "{m:?}");
    }

    #[test]
    fn aligned_lines_merge_character_by_character() {
        let tess = vec![
            CharCandidates(vec![('C', 0.5)]),
            CharCandidates(vec![(' ', 1.0)]),
            CharCandidates(vec![('0', 0.5)]),
        ];
        let spans = vec![Some((0, 10)), None, Some((30, 40))];
        let glyphs = vec![g((1, 9), false, 'C', 0.9), g((31, 41), true, 'O', 0.9)];
        let out = fuse_line(&tess, &spans, &glyphs);
        let s: String = out.iter().filter_map(|c| c.best().map(|b| b.0)).collect();
        assert_eq!(s, "C O");
    }

    #[test]
    fn a_count_mismatch_keeps_the_surer_reading_with_doubt() {
        let tess = vec![CharCandidates(vec![('M', 0.4)])];
        let spans = vec![Some((0, 30))];
        let glyphs = vec![g((0, 14), false, 'N', 0.9), g((15, 30), false, 'I', 0.9)];
        let out = fuse_line(&tess, &spans, &glyphs);
        let s: String = out.iter().filter_map(|c| c.best().map(|b| b.0)).collect();
        assert_eq!(s, "NI");
        assert!(out
            .iter()
            .all(|c| c.best().is_some_and(|b| b.1 <= 0.63 + 1e-6)));
    }
}
