//! The table `formflow run` and `formflow upload` end with: each file's
//! outcome, then the totals.

use formflow_service::db::Refusal;
use std::collections::BTreeMap;

/// One document's line.
#[derive(Debug, Clone)]
pub struct Line {
    /// The file.
    pub file: String,
    /// Its status.
    pub status: String,
    /// The form of each record found in it.
    pub forms: Vec<String>,
    /// Fields flagged for review, over all its records.
    pub flagged: usize,
    /// Why it failed.
    pub error: Option<String>,
    /// The document's id.
    pub document_id: Option<String>,
}

/// The summary as one JSON object (for `--json`): each document, each
/// refused file, and the totals.
pub fn summary_json(lines: &[Line], refused: &[Refusal]) -> serde_json::Value {
    let totals: serde_json::Map<String, serde_json::Value> = totals(lines, refused.len())
        .into_iter()
        .map(|(k, n)| (k.replace(' ', "_"), n.into()))
        .collect();
    serde_json::json!({
        "documents": lines.iter().map(|l| serde_json::json!({
            "file": l.file,
            "document_id": l.document_id,
            "status": l.status,
            "forms": l.forms,
            "flagged": l.flagged,
            "error": l.error,
        })).collect::<Vec<_>>(),
        "refused": refused,
        "totals": totals,
    })
}

/// `Ok` when every file was read; else the [`super::Exit`] that says how
/// many failed or were refused (exit code 2).
pub fn outcome(lines: &[Line], refused: &[Refusal]) -> anyhow::Result<()> {
    let failed = lines.iter().filter(|l| l.status == "failed").count();
    if failed + refused.len() == 0 {
        return Ok(());
    }
    Err(super::Exit::SomeFailed(format!(
        "{failed} file(s) failed and {} were refused, of {}",
        refused.len(),
        lines.len() + refused.len()
    ))
    .into())
}

/// The totals line's counts: extracted, needs review, unclassified,
/// failed, then anything else seen.
pub fn totals(lines: &[Line], refused: usize) -> Vec<(String, usize)> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for l in lines {
        let key = l.status.split(' ').next().unwrap_or("").to_string();
        *counts.entry(key).or_default() += 1;
    }
    let mut out = Vec::new();
    for k in ["extracted", "needs_review", "unclassified", "failed"] {
        out.push((k.replace('_', " "), counts.remove(k).unwrap_or(0)));
    }
    for (k, n) in counts {
        out.push((k.replace('_', " "), n));
    }
    if refused > 0 {
        out.push(("refused".into(), refused));
    }
    out
}

/// Prints the table to stdout.
pub fn print_summary(lines: &[Line], refused: &[Refusal]) {
    let w = lines
        .iter()
        .map(|l| l.file.chars().count())
        .chain(refused.iter().map(|r| r.file.chars().count()))
        .max()
        .unwrap_or(4)
        .clamp(4, 48);
    let sw = lines
        .iter()
        .map(|l| l.status.chars().count())
        .max()
        .unwrap_or(0)
        .max(12);
    println!(
        "{:<w$}  {:<sw$}  {:<34}  {:>7}",
        "file", "status", "forms", "flagged"
    );
    for l in lines {
        let forms = if l.forms.is_empty() {
            "-".to_string()
        } else {
            l.forms.join(", ")
        };
        println!(
            "{:<w$}  {:<sw$}  {:<34}  {:>7}",
            clip(&l.file, w),
            l.status,
            clip(&forms, 34),
            l.flagged
        );
        if let Some(e) = &l.error {
            println!("{:<w$}  {}", "", e);
        }
    }
    for r in refused {
        println!("{:<w$}  {:<sw$}  {}", clip(&r.file, w), "refused", r.error);
    }
    let t: Vec<String> = totals(lines, refused.len())
        .into_iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    println!(
        "\n{} file(s): {}",
        lines.len() + refused.len(),
        t.join(" · ")
    );
}

fn clip(s: &str, w: usize) -> String {
    if s.chars().count() <= w {
        s.to_string()
    } else {
        let mut c: String = s.chars().take(w.saturating_sub(1)).collect();
        c.push('…');
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(status: &str) -> Line {
        Line {
            file: "a.pdf".into(),
            status: status.into(),
            forms: vec![],
            flagged: 0,
            error: None,
            document_id: None,
        }
    }

    #[test]
    fn totals_count_each_outcome_in_a_fixed_order() {
        let lines = [
            line("extracted"),
            line("needs_review"),
            line("needs_review"),
            line("duplicate (extracted)"),
            line("failed"),
        ];
        let t = totals(&lines, 2);
        assert_eq!(
            t,
            vec![
                ("extracted".to_string(), 1),
                ("needs review".to_string(), 2),
                ("unclassified".to_string(), 0),
                ("failed".to_string(), 1),
                ("duplicate".to_string(), 1),
                ("refused".to_string(), 2)
            ]
        );
    }
}
