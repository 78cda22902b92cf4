//! Hand-printed characters drawn by the tests themselves: each character
//! is a few pen strokes (polylines in a unit box, y down) drawn with a round
//! pen, so no font or data set is needed to test the recogniser.

use image::{GrayImage, Luma};

/// Points of an ellipse centred at (cx, cy) with radii (rx, ry), from
/// angle `a0` to `a1` (degrees, 0 = right, 90 = down).
fn arc(cx: f32, cy: f32, rx: f32, ry: f32, a0: f32, a1: f32) -> Vec<(f32, f32)> {
    (0..=24)
        .map(|i| {
            let a = (a0 + (a1 - a0) * i as f32 / 24.0).to_radians();
            (cx + rx * a.cos(), cy + ry * a.sin())
        })
        .collect()
}

/// The strokes of a character, `None` for one the tests do not draw.
pub fn strokes(c: char) -> Option<Vec<Vec<(f32, f32)>>> {
    let p = |v: &[(f32, f32)]| v.to_vec();
    Some(match c {
        '.' => vec![p(&[(0.45, 0.97), (0.55, 1.0)])],
        ',' => vec![p(&[(0.55, 0.95), (0.35, 1.2)])],
        '-' => vec![p(&[(0.1, 0.55), (0.9, 0.55)])],
        '/' => vec![p(&[(0.95, 0.0), (0.05, 1.0)])],
        '0' => vec![arc(0.5, 0.5, 0.4, 0.5, 0.0, 360.0)],
        '1' => vec![p(&[(0.25, 0.25), (0.55, 0.0), (0.55, 1.0)])],
        '2' => {
            let mut a = arc(0.5, 0.28, 0.38, 0.28, 200.0, 380.0);
            a.extend([(0.1, 1.0), (0.9, 1.0)]);
            vec![a]
        }
        '3' => {
            let mut a = arc(0.48, 0.25, 0.36, 0.25, 210.0, 450.0);
            a.extend(arc(0.48, 0.73, 0.4, 0.27, 270.0, 500.0));
            vec![a]
        }
        '4' => vec![p(&[(0.7, 1.0), (0.7, 0.0), (0.05, 0.68), (0.95, 0.68)])],
        '5' => {
            let mut a = p(&[(0.85, 0.0), (0.2, 0.0), (0.15, 0.45)]);
            a.extend(arc(0.48, 0.68, 0.38, 0.32, 230.0, 500.0));
            vec![a]
        }
        '6' => {
            let mut a = arc(0.95, 0.75, 0.8, 0.75, 250.0, 180.0);
            a.extend(arc(0.5, 0.72, 0.35, 0.28, 180.0, 540.0));
            vec![a]
        }
        '7' => vec![p(&[(0.0, 0.02), (1.0, 0.0), (0.3, 1.0)])],
        '8' => vec![
            arc(0.5, 0.24, 0.3, 0.24, 0.0, 360.0),
            arc(0.5, 0.74, 0.36, 0.26, 0.0, 360.0),
        ],
        '9' => {
            let mut a = arc(0.5, 0.28, 0.35, 0.28, 0.0, 360.0);
            a.extend([(0.85, 0.3), (0.75, 1.0)]);
            vec![a]
        }
        'A' => vec![
            p(&[(0.0, 1.0), (0.5, 0.0), (1.0, 1.0)]),
            p(&[(0.22, 0.6), (0.78, 0.6)]),
        ],
        'E' => vec![
            p(&[(0.85, 0.0), (0.1, 0.0), (0.1, 1.0), (0.85, 1.0)]),
            p(&[(0.1, 0.5), (0.7, 0.5)]),
        ],
        'F' => vec![
            p(&[(0.85, 0.0), (0.1, 0.0), (0.1, 1.0)]),
            p(&[(0.1, 0.5), (0.7, 0.5)]),
        ],
        'H' => vec![
            p(&[(0.1, 0.0), (0.1, 1.0)]),
            p(&[(0.9, 0.0), (0.9, 1.0)]),
            p(&[(0.1, 0.5), (0.9, 0.5)]),
        ],
        'K' => vec![
            p(&[(0.1, 0.0), (0.1, 1.0)]),
            p(&[(0.85, 0.0), (0.1, 0.6)]),
            p(&[(0.35, 0.42), (0.9, 1.0)]),
        ],
        'L' => vec![p(&[(0.1, 0.0), (0.1, 1.0), (0.85, 1.0)])],
        'M' => vec![p(&[
            (0.05, 1.0),
            (0.1, 0.0),
            (0.5, 0.65),
            (0.9, 0.0),
            (0.95, 1.0),
        ])],
        'N' => vec![p(&[(0.1, 1.0), (0.1, 0.0), (0.9, 1.0), (0.9, 0.0)])],
        'P' => {
            let mut a = p(&[(0.1, 1.0), (0.1, 0.0), (0.5, 0.0)]);
            a.extend(arc(0.5, 0.26, 0.38, 0.26, 270.0, 450.0));
            a.push((0.1, 0.52));
            vec![a]
        }
        'R' => {
            let mut a = p(&[(0.1, 1.0), (0.1, 0.0), (0.5, 0.0)]);
            a.extend(arc(0.5, 0.26, 0.38, 0.26, 270.0, 450.0));
            a.extend([(0.1, 0.52), (0.45, 0.52), (0.9, 1.0)]);
            vec![a]
        }
        'T' => vec![p(&[(0.0, 0.0), (1.0, 0.0)]), p(&[(0.5, 0.0), (0.5, 1.0)])],
        'U' => {
            let mut a = p(&[(0.1, 0.0), (0.1, 0.65)]);
            a.extend(arc(0.5, 0.65, 0.4, 0.35, 180.0, 0.0));
            a.push((0.9, 0.0));
            vec![a]
        }
        'V' => vec![p(&[(0.0, 0.0), (0.5, 1.0), (1.0, 0.0)])],
        'W' => vec![p(&[
            (0.0, 0.0),
            (0.25, 1.0),
            (0.5, 0.35),
            (0.75, 1.0),
            (1.0, 0.0),
        ])],
        'X' => vec![p(&[(0.0, 0.0), (1.0, 1.0)]), p(&[(1.0, 0.0), (0.0, 1.0)])],
        'Y' => vec![
            p(&[(0.0, 0.0), (0.5, 0.5), (1.0, 0.0)]),
            p(&[(0.5, 0.5), (0.5, 1.0)]),
        ],
        'Z' => vec![p(&[(0.05, 0.0), (0.95, 0.0), (0.05, 1.0), (0.95, 1.0)])],
        'C' => vec![arc(0.55, 0.5, 0.45, 0.5, 40.0, 320.0)],
        'O' => vec![arc(0.5, 0.5, 0.48, 0.5, 0.0, 360.0)],
        _ => return None,
    })
}

/// Distance from point (x, y) to the segment a-b.
fn dist(x: f32, y: f32, a: (f32, f32), b: (f32, f32)) -> f32 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 {
        (((x - a.0) * dx + (y - a.1) * dy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (px, py) = (a.0 + t * dx, a.1 + t * dy);
    ((x - px).powi(2) + (y - py).powi(2)).sqrt()
}

/// Draws `text` (characters [`strokes`] knows, spaces for gaps) as one line
/// of hand printing: letters `height` pixels high, `pen` pixels wide,
/// slanted by `slant` (x per unit of y), dark ink on white.
pub fn draw_line(text: &str, height: f32, pen: f32, slant: f32) -> GrayImage {
    let width_of = |c: char| match c {
        '.' | ',' => 0.2,
        '1' | '-' => 0.45,
        _ => 0.7,
    } * height;
    let gap = 0.3 * height;
    let margin = (0.4 * height).ceil();
    let total: f32 = text
        .chars()
        .map(|c| {
            if c == ' ' {
                0.7 * height
            } else {
                width_of(c) + gap
            }
        })
        .sum();
    let (w, h) = (
        (total + 2.0 * margin + slant.abs() * height) as u32,
        (height + 2.0 * margin) as u32,
    );
    let mut segs: Vec<((f32, f32), (f32, f32))> = Vec::new();
    let mut x = margin;
    for c in text.chars() {
        if c == ' ' {
            x += height;
            continue;
        }
        let cw = width_of(c);
        for stroke in strokes(c).unwrap_or_default() {
            let pts: Vec<(f32, f32)> = stroke
                .iter()
                .map(|&(u, v)| {
                    let y = margin + v * height;
                    (x + u * cw + slant * (1.0 - v) * height, y)
                })
                .collect();
            segs.extend(pts.windows(2).map(|p| (p[0], p[1])));
        }
        x += cw + gap;
    }
    let r = pen / 2.0;
    let mut img = GrayImage::from_pixel(w.max(1), h.max(1), Luma([255]));
    for (px, py, p) in img.enumerate_pixels_mut() {
        let (fx, fy) = (px as f32 + 0.5, py as f32 + 0.5);
        let d = segs
            .iter()
            .map(|&(a, b)| dist(fx, fy, a, b))
            .fold(f32::MAX, f32::min);
        // Anti-aliased edge one pixel wide.
        let ink = (r + 0.5 - d).clamp(0.0, 1.0);
        p.0[0] = (255.0 * (1.0 - ink)).round() as u8;
    }
    img
}
