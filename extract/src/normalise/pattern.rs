//! Turns a template's simple regular expression into the character class of
//! each position, so that a pattern field's candidates can be chosen by the
//! same grammar the whole value is later checked against.
//!
//! Understood: `^` and `$` anchors (both required, else the pattern may
//! match part of a value and says nothing about positions), literal
//! characters, escapes (`\d`, `\w`, `\s`, `\/`, ...), `.`, bracket classes
//! with ranges (`[A-Z0-9]`), and the quantifiers `{n}`, `{n,m}` and `?`.
//! Anything else (groups, alternation, `*`, `+`, negated classes,
//! non-ASCII) gives `None`: the field is then read without positional
//! constraints and only the final regex check applies.

use super::chars::Class;

/// Most formats a pattern may expand to (each `{n,m}` multiplies them).
const MAX_FORMATS: usize = 64;

/// Longest value a format may describe.
const MAX_LEN: usize = 64;

/// The class of every position, one list per length the pattern allows,
/// or `None` when the pattern is beyond this small converter.
pub fn formats(pattern: &str) -> Option<Vec<Vec<Class>>> {
    let body = pattern.strip_prefix('^')?;
    let body = body.strip_suffix('$')?;
    if body.ends_with('\\') && !body.ends_with("\\\\") {
        return None; // the `$` was escaped
    }
    let chars: Vec<char> = body.chars().collect();
    let mut atoms: Vec<(Class, usize, usize)> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (class, next) = atom(&chars, i)?;
        let (lo, hi, next) = quantifier(&chars, next)?;
        atoms.push((class, lo, hi));
        i = next;
    }
    let mut out: Vec<Vec<Class>> = vec![Vec::new()];
    for (class, lo, hi) in atoms {
        let mut grown = Vec::new();
        for f in &out {
            for n in lo..=hi {
                let mut g = f.clone();
                g.extend(std::iter::repeat_n(class, n));
                if g.len() > MAX_LEN {
                    return None;
                }
                grown.push(g);
            }
        }
        if grown.len() > MAX_FORMATS {
            return None;
        }
        out = grown;
    }
    Some(out)
}

/// One atom starting at `i`: its class and the index after it.
fn atom(chars: &[char], i: usize) -> Option<(Class, usize)> {
    let c = *chars.get(i)?;
    match c {
        '\\' => Some((escape(*chars.get(i + 1)?)?, i + 2)),
        '[' => bracket(chars, i + 1),
        '.' => Some((Class::ANY, i + 1)),
        '(' | ')' | '|' | '*' | '+' | '?' | '{' | '}' | '^' | '$' | ']' => None,
        c if c.is_ascii() => Some((Class::lit(c), i + 1)),
        _ => None,
    }
}

/// The class an escape stands for.
fn escape(c: char) -> Option<Class> {
    match c {
        'd' => Some(Class::digit()),
        'w' => Some(
            Class::range('a', 'z')
                .union(Class::upper())
                .union(Class::digit())
                .union(Class::lit('_')),
        ),
        's' => Some(Class::lit(' ')),
        c if c.is_ascii_punctuation() || c == ' ' => Some(Class::lit(c)),
        _ => None,
    }
}

/// A bracket class whose contents start at `i`: its class and the index
/// after the closing `]`.
fn bracket(chars: &[char], mut i: usize) -> Option<(Class, usize)> {
    if chars.get(i) == Some(&'^') {
        return None;
    }
    let mut class = Class::NONE;
    let mut first = true;
    loop {
        let c = *chars.get(i)?;
        if c == ']' && !first {
            return Some((class, i + 1));
        }
        first = false;
        let (lo, next) = if c == '\\' {
            let e = *chars.get(i + 1)?;
            if e == 'd' || e == 'w' || e == 's' {
                class = class.union(escape(e)?);
                i += 2;
                continue;
            }
            if !(e.is_ascii_punctuation() || e == ' ') {
                return None;
            }
            (e, i + 2)
        } else {
            (c, i + 1)
        };
        if !lo.is_ascii() {
            return None;
        }
        if chars.get(next) == Some(&'-') && chars.get(next + 1).is_some_and(|&h| h != ']') {
            let hi = *chars.get(next + 1)?;
            if !hi.is_ascii() || hi == '\\' || hi < lo {
                return None;
            }
            class = class.union(Class::range(lo, hi));
            i = next + 2;
        } else {
            class = class.union(Class::lit(lo));
            i = next;
        }
    }
}

/// The repeat count after an atom: `(min, max, index after)`.
fn quantifier(chars: &[char], i: usize) -> Option<(usize, usize, usize)> {
    match chars.get(i) {
        Some('?') => Some((0, 1, i + 1)),
        Some('{') => {
            let close = i + chars[i..].iter().position(|&c| c == '}')?;
            let inner: String = chars[i + 1..close].iter().collect();
            let (lo, hi) = match inner.split_once(',') {
                Some((a, b)) => (a.trim().parse().ok()?, b.trim().parse().ok()?),
                None => {
                    let n: usize = inner.trim().parse().ok()?;
                    (n, n)
                }
            };
            if lo > hi || hi > MAX_LEN {
                return None;
            }
            Some((lo, hi, close + 1))
        }
        Some('*') | Some('+') => None,
        _ => Some((1, 1, i)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(f: &[Class]) -> String {
        f.iter()
            .map(|c| {
                if let Some(l) = c.literal() {
                    l
                } else if *c == Class::digit() {
                    '9'
                } else if *c == Class::upper() {
                    'A'
                } else if *c == Class::ANY {
                    '.'
                } else {
                    '*'
                }
            })
            .collect()
    }

    #[test]
    fn the_template_patterns_convert() {
        let f = formats("^[0-9][A-Z][0-9]{3}[A-Z]$").unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(show(&f[0]), "9A999A");
        let f = formats("^[0-9]{6}/[0-9]{3}$").unwrap();
        assert_eq!(show(&f[0]), "999999/999");
        let f = formats(r"^\d{2}\/\d?$").unwrap();
        assert_eq!(
            f.iter().map(|f| show(f)).collect::<Vec<_>>(),
            ["99/", "99/9"]
        );
    }

    #[test]
    fn mixed_classes_and_escapes_convert() {
        let f = formats(r"^[A-Z0-9\-]{2}.$").unwrap();
        assert_eq!(show(&f[0]), "**.");
        assert!(f[0][0].contains('-') && f[0][0].contains('Q') && f[0][0].contains('4'));
        assert!(!f[0][0].contains('a'));
    }

    #[test]
    fn patterns_beyond_the_converter_give_none() {
        for p in [
            "[0-9]{3}",
            "^(AB|CD)$",
            "^A+$",
            "^[^A]$",
            "^A*$",
            "^\\bA$",
            "^é$",
            "^[9-0]$",
            "^A{3,1}$",
            "^[A-Z$",
            "^A{2$",
        ] {
            assert_eq!(formats(p), None, "{p}");
        }
    }
}
