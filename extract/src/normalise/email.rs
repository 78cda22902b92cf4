//! Email addresses: lower case, no spaces, `local@domain.tld`. Owns the
//! small repairs the grammar allows: an `@` the reader offered only as a
//! second choice, and look-alike digits in the top-level domain.

use super::chars::{Case, Class, Fitted, Slot};
use super::note;
use super::{Normalised, Written};
use crate::raw::CharCandidates;
use regex::Regex;
use serde_json::Value;
use std::sync::LazyLock;

/// What an address must look like once lower-cased.
static ADDRESS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[a-z0-9._%+'-]+@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}$")
        .expect("the address pattern compiles")
});

/// Whether `s` looks like `local@domain.tld`.
pub fn is_address(s: &str) -> bool {
    ADDRESS.is_match(s)
}

/// Normalises an email field.
pub(super) fn normalise(w: &Written) -> Normalised {
    let cands = w.solid();
    let mut classes = vec![Class::ANY; cands.len()];
    let as_read = Fitted::new(&cands, &classes, Case::Lower);
    let noted = |fitted: &Fitted, text: &str| {
        note::about_characters(&fitted.doubts(text), |d| {
            note::nth(d.at + 1, "character of the address")
        })
    };
    let first = as_read.best();
    if is_address(&first.text) {
        let noted = noted(&as_read, &first.text);
        return Normalised::new(Value::String(first.text), first.confidence).noted(noted);
    }
    // The `@`: the position (not first or last) where the reader offered it.
    let has_at = first.text.contains('@');
    if !has_at {
        let offered = |c: &CharCandidates| {
            c.0.iter()
                .find(|(ch, _)| *ch == '@')
                .map(|&(_, p)| super::chars::clean(p))
        };
        let best = (1..cands.len().saturating_sub(1))
            .filter_map(|i| offered(cands[i]).map(|p| (i, p)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((i, _)) = best {
            classes[i] = Class::lit('@');
        }
    }
    // The top-level domain: letters after the last point of the domain.
    let text: Vec<char> = Fitted::new(&cands, &classes, Case::Lower)
        .best()
        .text
        .chars()
        .collect();
    let at = text.iter().position(|&c| c == '@');
    let dot = text.iter().rposition(|&c| c == '.');
    if let (Some(at), Some(dot)) = (at, dot) {
        if dot > at {
            for c in classes.iter_mut().skip(dot + 1) {
                *c = Class::range('a', 'z');
            }
        }
    }
    let fitted = Fitted {
        slots: cands
            .iter()
            .zip(&classes)
            .map(|(c, &k)| Slot::new(c, k, Case::Lower))
            .collect(),
    };
    let repaired = fitted.best();
    if !repaired.broken && is_address(&repaired.text) {
        let noted = noted(&fitted, &repaired.text);
        Normalised::new(Value::String(repaired.text), repaired.confidence).noted(noted)
    } else {
        let noted = noted(&as_read, &first.text);
        Normalised::invalid(Value::String(first.text), first.confidence).noted(noted)
    }
}

#[cfg(test)]
mod tests {
    use super::super::normalise as run;
    use super::super::test_support::*;
    use super::*;
    use crate::raw::RawValue;
    use formflow_schemas::record::Flag;
    use formflow_schemas::template::FieldType;
    use proptest::prelude::*;
    use serde_json::json;

    fn email() -> formflow_schemas::template::FieldSpec {
        spec("email", FieldType::Email)
    }

    #[test]
    fn addresses_are_lower_case_without_spaces() {
        let n = run(&email(), &line("ANGELA.COLLINS@MAIL.CO.UK"), &ctx());
        assert_eq!(
            (n.value, n.flags),
            (json!("angela.collins@mail.co.uk"), vec![])
        );
        let n = run(&email(), &line("kelly.jones @ example.com"), &ctx());
        assert_eq!(
            (n.value, n.flags),
            (json!("kelly.jones@example.com"), vec![])
        );
    }

    #[test]
    fn what_is_not_an_address_is_kept_and_invalid() {
        for (read, value) in [
            ("KELLY.JONES", "kelly.jones"),
            ("a@b", "a@b"),
            ("a@@b.com", "a@@b.com"),
            ("@b.com", "@b.com"),
        ] {
            let n = run(&email(), &line(read), &ctx());
            assert_eq!(
                (n.value, n.flags),
                (json!(value), vec![Flag::Invalid]),
                "{read}"
            );
        }
    }

    #[test]
    fn an_offered_at_sign_and_a_letter_domain_are_repaired() {
        let mut chars: Vec<CharCandidates> = "kelly.jonesaexample.c0m"
            .chars()
            .map(|c| CharCandidates::sure(c, 0.99))
            .collect();
        chars[11] = CharCandidates(vec![('a', 0.6), ('@', 0.35)]);
        let n = run(&email(), &RawValue::Line { chars, ink: true }, &ctx());
        assert_eq!(n.value, json!("kelly.jones@example.com"));
        assert!(n.confidence < calibrated(0.8));
    }

    proptest! {
        #[test]
        fn any_plain_address_round_trips(
            local in "[a-z][a-z0-9.]{0,10}[a-z]",
            domain in "[a-z]{1,8}",
            tld in "(com|org|co\\.uk)",
        ) {
            let v = format!("{local}@{domain}.{tld}");
            let n = run(&email(), &line(&v.to_uppercase()), &ctx());
            prop_assert_eq!(n.value, json!(v));
            prop_assert!(n.flags.is_empty());
        }

        #[test]
        fn no_string_makes_an_email_panic(s in "\\PC{0,24}") {
            let n = run(&email(), &line(&s), &ctx());
            prop_assert!((0.0..=1.0).contains(&n.confidence));
        }
    }
}
