//! How far a field's confidence can be trusted: accuracy by confidence band
//! (the calibration table) and the curve of accuracy against the share of
//! fields sent to review when the least sure go first, so a back office
//! can choose its review threshold knowing what it costs.

use serde_json::{json, Value};

/// The bands of the calibration table: lower bounds, the last band closed.
pub const BANDS: [f64; 8] = [0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0];

/// One band of the calibration table.
#[derive(Debug, Clone, PartialEq)]
pub struct Band {
    /// Confidence from (inclusive) ...
    pub from: f64,
    /// ... to (exclusive, except the last band).
    pub to: f64,
    /// Fields whose confidence lies in the band.
    pub fields: usize,
    /// Of those, read right.
    pub right: usize,
    /// Their mean confidence.
    pub mean_confidence: f64,
}

/// One point of the review curve.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Share of all fields sent to review (the least sure first).
    pub reviewed: f64,
    /// The threshold that sends them: fields below it are reviewed.
    pub threshold: f64,
    /// Accuracy of the fields not reviewed.
    pub accuracy_of_rest: f64,
    /// Wrong fields not reviewed, as a share of all fields.
    pub silent_errors: f64,
}

/// The calibration table and the review curve of a set's fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reliability {
    /// Accuracy by confidence band.
    pub bands: Vec<Band>,
    /// Expected calibration error: the fields' mean gap between confidence
    /// and accuracy over the bands.
    pub calibration_error: f64,
    /// Accuracy of what is left against the share reviewed.
    pub curve: Vec<Point>,
}

impl Reliability {
    /// From each field's confidence and whether it was read right.
    pub fn of(fields: &[(f64, bool)]) -> Reliability {
        let n = fields.len();
        let mut bands = Vec::new();
        let mut gap = 0.0;
        for w in BANDS.windows(2) {
            let last = w[1] >= 1.0;
            let inside: Vec<&(f64, bool)> = fields
                .iter()
                .filter(|(c, _)| *c >= w[0] && (*c < w[1] || (last && *c <= w[1])))
                .collect();
            let right = inside.iter().filter(|(_, r)| *r).count();
            let mean = inside.iter().map(|(c, _)| c).sum::<f64>() / inside.len().max(1) as f64;
            gap += (mean - right as f64 / inside.len().max(1) as f64).abs() * inside.len() as f64;
            bands.push(Band {
                from: w[0],
                to: w[1],
                fields: inside.len(),
                right,
                mean_confidence: mean,
            });
        }
        let mut sorted: Vec<(f64, bool)> = fields.to_vec();
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
        let total_wrong = sorted.iter().filter(|(_, r)| !r).count();
        let mut curve = Vec::new();
        let (mut reviewed_wrong, mut k) = (0usize, 0usize);
        for step in 0..=12 {
            let share = step as f64 * 0.05;
            let upto = ((share * n as f64).round() as usize).min(n);
            while k < upto {
                reviewed_wrong += usize::from(!sorted[k].1);
                k += 1;
            }
            let rest = n - k;
            let wrong_rest = total_wrong - reviewed_wrong;
            curve.push(Point {
                reviewed: share,
                threshold: sorted.get(k).map_or(1.0, |f| f.0),
                accuracy_of_rest: if rest == 0 {
                    1.0
                } else {
                    (rest - wrong_rest) as f64 / rest as f64
                },
                silent_errors: wrong_rest as f64 / n.max(1) as f64,
            });
        }
        Reliability {
            bands,
            calibration_error: gap / n.max(1) as f64,
            curve,
        }
    }

    /// As JSON: `bands`, `calibration_error` and `review_curve`.
    pub fn to_json(&self) -> Value {
        let r4 = |x: f64| (x * 10_000.0).round() / 10_000.0;
        json!({
            "bands": self.bands.iter().map(|b| json!({
                "from": b.from,
                "to": b.to,
                "fields": b.fields,
                "right": b.right,
                "accuracy": if b.fields == 0 {
                    Value::Null
                } else {
                    json!(r4(b.right as f64 / b.fields as f64))
                },
                "mean_confidence": if b.fields == 0 {
                    Value::Null
                } else {
                    json!(r4(b.mean_confidence))
                },
            })).collect::<Vec<_>>(),
            "calibration_error": r4(self.calibration_error),
            "review_curve": self.curve.iter().map(|p| json!({
                "reviewed": r4(p.reviewed),
                "threshold": r4(p.threshold),
                "accuracy_of_rest": r4(p.accuracy_of_rest),
                "silent_errors": r4(p.silent_errors),
            })).collect::<Vec<_>>(),
        })
    }

    /// A readable table of the bands and the curve.
    pub fn render_text(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::from("\nconfidence band   fields  accuracy  mean confidence\n");
        for b in &self.bands {
            if b.fields == 0 {
                continue;
            }
            let _ = writeln!(
                s,
                "{:.2}-{:.2}       {:>7}  {:>8.4}  {:>15.4}",
                b.from,
                b.to,
                b.fields,
                b.right as f64 / b.fields as f64,
                b.mean_confidence
            );
        }
        let _ = writeln!(s, "calibration error {:.4}", self.calibration_error);
        let _ = writeln!(s, "\nreviewed  threshold  accuracy of rest  silent errors");
        for p in &self.curve {
            let _ = writeln!(
                s,
                "{:>7.0}%  {:>9.4}  {:>16.4}  {:>13.4}",
                100.0 * p.reviewed,
                p.threshold,
                p.accuracy_of_rest,
                p.silent_errors
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_and_curve_count_exactly() {
        // Ten fields: the two least sure are wrong.
        let fields: Vec<(f64, bool)> = (0..10).map(|i| (0.1 * i as f64 + 0.05, i >= 2)).collect();
        let r = Reliability::of(&fields);
        let low = &r.bands[0];
        assert_eq!((low.fields, low.right), (5, 3));
        // The surest (0.95) opens the 0.95-0.99 band; none lies in 0.9-0.95.
        let top = r.bands.iter().find(|b| b.from == 0.95).unwrap();
        assert_eq!((top.fields, top.right), (1, 1));
        assert_eq!(r.bands.iter().find(|b| b.from == 0.9).unwrap().fields, 0);
        assert_eq!(r.bands.iter().map(|b| b.fields).sum::<usize>(), 10);
        // Nothing reviewed: 80% right, 20% silent; 20% reviewed: all right.
        assert_eq!(r.curve[0].accuracy_of_rest, 0.8);
        assert!((r.curve[0].silent_errors - 0.2).abs() < 1e-12);
        assert_eq!(r.curve[4].reviewed, 0.2);
        assert_eq!(r.curve[4].accuracy_of_rest, 1.0);
        assert_eq!(r.curve[4].silent_errors, 0.0);
        assert!((r.curve[4].threshold - 0.25).abs() < 1e-12);
        let j = r.to_json();
        assert_eq!(j["review_curve"].as_array().unwrap().len(), 13);
        assert_eq!(j["bands"][0]["accuracy"], 0.6);
    }

    #[test]
    fn empty_is_harmless() {
        let r = Reliability::of(&[]);
        assert!(r.bands.iter().all(|b| b.fields == 0));
        assert_eq!(r.curve[0].accuracy_of_rest, 1.0);
        assert!(!r.render_text().is_empty());
    }
}
