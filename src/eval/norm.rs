//! score.py's `norm()`, value for value, Python quirks included.
//!
//! The reference scorer compares a prediction with the truth after
//! normalising both with Python's own `str()`, `strip()`, `int()`,
//! `decimal.Decimal()` and `re` rules. To agree with it to the last field this
//! module re-implements just enough of those: Python's whitespace set (which
//! has `\x1c`..`\x1f` that Rust's does not), Unicode decimal digits (which
//! `int()`, `Decimal()` and `\D` all accept), `int()`'s underscores and
//! 4300-digit limit, `Decimal()`'s grammar and exponent limits, `str()` of a
//! float, and `repr()` for the wrong-field lines.

use formflow_schemas::FieldType;
use serde_json::Value;

/// What score.py's `norm()` returns for one value; `==` is Python's `==`.
#[derive(Debug, Clone)]
pub(crate) enum Norm {
    /// `None`.
    None,
    /// A `bool` (checkboxes and signatures).
    Bool(bool),
    /// An `int`, as canonical decimal digits with an optional `-`.
    Int(String),
    /// A `decimal.Decimal` (money).
    Dec(Dec),
    /// A `str`.
    Str(String),
}

/// A `decimal.Decimal` as parsed from a string: exact, any size.
#[derive(Debug, Clone)]
pub(crate) enum Dec {
    /// A number: `(-1)^neg * coef * 10^exp`, `coef` without leading zeros.
    Finite { neg: bool, coef: String, exp: i128 },
    /// Plus or minus infinity.
    Inf { neg: bool },
    /// A quiet or signalling NaN with its payload digits.
    NaN {
        neg: bool,
        signaling: bool,
        payload: String,
    },
}

impl PartialEq for Norm {
    fn eq(&self, other: &Norm) -> bool {
        match (self, other) {
            (Norm::None, Norm::None) => true,
            (Norm::Bool(a), Norm::Bool(b)) => a == b,
            (Norm::Int(a), Norm::Int(b)) => a == b,
            (Norm::Str(a), Norm::Str(b)) => a == b,
            (Norm::Dec(a), Norm::Dec(b)) => a.numerically_equal(b),
            // int == bool would be true in Python, but no kind yields both.
            _ => false,
        }
    }
}

/// The largest adjusted exponent, and the smallest exponent, that
/// `Decimal(str)` accepts exactly on a 64-bit build (`MPD_MAX_EMAX`,
/// `MPD_MIN_ETINY`).
const EMAX: i128 = 999_999_999_999_999_999;
const ETINY: i128 = -EMAX - EMAX + 1;

impl Dec {
    /// Python's `Decimal.__eq__`. A NaN equals nothing; comparing with an
    /// sNaN raises in Python (score.py would crash), here it is unequal.
    fn numerically_equal(&self, other: &Dec) -> bool {
        match (self, other) {
            (Dec::Inf { neg: a }, Dec::Inf { neg: b }) => a == b,
            (
                Dec::Finite {
                    neg: na,
                    coef: ca,
                    exp: ea,
                },
                Dec::Finite {
                    neg: nb,
                    coef: cb,
                    exp: eb,
                },
            ) => {
                let (za, zb) = (ca == "0", cb == "0");
                if za || zb {
                    return za && zb;
                }
                let trim = |c: &str, e: i128| {
                    let t = c.trim_end_matches('0');
                    (t.len(), e + (c.len() - t.len()) as i128)
                };
                let ((la, xa), (lb, xb)) = (trim(ca, *ea), trim(cb, *eb));
                na == nb && xa == xb && ca[..la] == cb[..lb]
            }
            _ => false,
        }
    }

    /// `str(Decimal)`: the to-scientific-string of the decimal spec.
    fn to_sci_string(&self) -> String {
        let sign = |neg: bool| if neg { "-" } else { "" };
        match self {
            Dec::Inf { neg } => format!("{}Infinity", sign(*neg)),
            Dec::NaN {
                neg,
                signaling,
                payload,
            } => {
                format!(
                    "{}{}NaN{payload}",
                    sign(*neg),
                    if *signaling { "s" } else { "" }
                )
            }
            Dec::Finite { neg, coef, exp } => {
                let len = coef.len() as i128;
                let leftdigits = exp + len;
                let dotplace = if *exp <= 0 && leftdigits > -6 {
                    leftdigits
                } else {
                    1
                };
                let (int, frac) = if dotplace <= 0 {
                    (
                        "0".to_string(),
                        format!(".{}{coef}", "0".repeat((-dotplace) as usize)),
                    )
                } else if dotplace >= len {
                    (
                        format!("{coef}{}", "0".repeat((dotplace - len) as usize)),
                        String::new(),
                    )
                } else {
                    (
                        coef[..dotplace as usize].to_string(),
                        format!(".{}", &coef[dotplace as usize..]),
                    )
                };
                let e = if leftdigits == dotplace {
                    String::new()
                } else {
                    format!("E{:+}", leftdigits - dotplace)
                };
                format!("{}{int}{frac}{e}", sign(*neg))
            }
        }
    }
}

impl Norm {
    /// Python's `repr()` of the value, as score.py prints it.
    pub(crate) fn repr(&self) -> String {
        match self {
            Norm::None => "None".into(),
            Norm::Bool(b) => if *b { "True" } else { "False" }.into(),
            Norm::Int(i) => i.clone(),
            Norm::Dec(d) => format!("Decimal('{}')", d.to_sci_string()),
            Norm::Str(s) => py_str_repr(s),
        }
    }
}

/// score.py's `norm(kind, v)`.
pub(crate) fn norm(kind: FieldType, v: &Value) -> Norm {
    use FieldType::*;
    // `v in (None, "", False)` is also true for 0 and 0.0, since 0 == False.
    let none_like = match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::String(s) => s.is_empty(),
        Value::Number(n) => n.as_f64() == Some(0.0),
        _ => false,
    };
    if none_like && !matches!(kind, Checkbox | Signature | Integer) {
        return Norm::None;
    }
    match kind {
        Checkbox | Signature => {
            let no = matches!(v, Value::String(s) if s == "false" || s == "no" || s == "0");
            Norm::Bool(truthy(v) && !no)
        }
        Integer => {
            if v.is_null() || v.as_str() == Some("") {
                return Norm::None;
            }
            let s = py_str(v);
            match py_int(py_strip(&s)) {
                Some(i) => Norm::Int(i),
                None => Norm::Str(s),
            }
        }
        Money => {
            let s = py_str(v);
            match py_decimal(py_strip(&s.replace([',', '£'], ""))) {
                Some(d) => Norm::Dec(d),
                None => Norm::Str(s),
            }
        }
        _ => {
            let raw = py_str(v);
            let s = py_strip(&raw);
            Norm::Str(match kind {
                Postcode | NiNumber => s
                    .chars()
                    .filter(|c| !py_isspace(*c))
                    .collect::<String>()
                    .to_uppercase(),
                Phone => s.chars().filter(|c| nd_value(*c).is_some()).collect(),
                Email => s.to_lowercase(),
                Date | Choice => s.to_string(),
                _ => collapse_whitespace(s).to_uppercase(),
            })
        }
    }
}

/// Python's `bool(v)` for a JSON value.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Python's `str.isspace()`, which is also what `re`'s `\s` matches.
pub(crate) fn py_isspace(c: char) -> bool {
    matches!(c,
        '\t'..='\r' | '\x1c'..='\x1f' | ' ' | '\u{85}' | '\u{a0}' | '\u{1680}'
        | '\u{2000}'..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}')
}

/// Python's `str.strip()` with no argument.
pub(crate) fn py_strip(s: &str) -> &str {
    s.trim_matches(py_isspace)
}

/// `re.sub(r"\s+", " ", s)`.
fn collapse_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_space = false;
    for c in s.chars() {
        if py_isspace(c) {
            if !in_space {
                out.push(' ');
            }
            in_space = true;
        } else {
            out.push(c);
            in_space = false;
        }
    }
    out
}

/// The first code point of every run of ten Unicode decimal digits (general
/// category Nd) in Python 3.11's Unicode 14 database; each run is 0..9.
const ND_RUNS: [u32; 66] = [
    0x30, 0x660, 0x6f0, 0x7c0, 0x966, 0x9e6, 0xa66, 0xae6, 0xb66, 0xbe6, 0xc66, 0xce6, 0xd66,
    0xde6, 0xe50, 0xed0, 0xf20, 0x1040, 0x1090, 0x17e0, 0x1810, 0x1946, 0x19d0, 0x1a80, 0x1a90,
    0x1b50, 0x1bb0, 0x1c40, 0x1c50, 0xa620, 0xa8d0, 0xa900, 0xa9d0, 0xa9f0, 0xaa50, 0xabf0, 0xff10,
    0x104a0, 0x10d30, 0x11066, 0x110f0, 0x11136, 0x111d0, 0x112f0, 0x11450, 0x114d0, 0x11650,
    0x116c0, 0x11730, 0x118e0, 0x11950, 0x11c50, 0x11d50, 0x11da0, 0x16a60, 0x16ac0, 0x16b50,
    0x1d7ce, 0x1d7d8, 0x1d7e2, 0x1d7ec, 0x1d7f6, 0x1e140, 0x1e2f0, 0x1e950, 0x1fbf0,
];

/// The value of a Unicode decimal digit (what `\d`, `int()` and `Decimal()`
/// accept), or `None`.
pub(crate) fn nd_value(c: char) -> Option<u8> {
    let c = c as u32;
    let i = ND_RUNS.partition_point(|&start| start <= c);
    let start = *ND_RUNS.get(i.checked_sub(1)?)?;
    (c - start < 10).then(|| (c - start) as u8)
}

/// `int(s)` for an already stripped `s`: canonical digits, or `None` where
/// Python raises `ValueError`.
fn py_int(s: &str) -> Option<String> {
    let (neg, body) = match s.chars().next()? {
        '-' => (true, &s[1..]),
        '+' => (false, &s[1..]),
        _ => (false, s),
    };
    let mut digits = String::new();
    let mut after_underscore = true; // also forbids a leading '_'
    for c in body.chars() {
        if c == '_' && !after_underscore {
            after_underscore = true;
        } else if let Some(d) = nd_value(c) {
            digits.push((b'0' + d) as char);
            after_underscore = false;
        } else {
            return None;
        }
    }
    // int() refuses more than 4300 digits (sys.int_info.default_max_str_digits).
    if digits.is_empty() || after_underscore || digits.len() > 4300 {
        return None;
    }
    let t = digits.trim_start_matches('0');
    Some(match (t.is_empty(), neg) {
        (true, _) => "0".into(),
        (false, true) => format!("-{t}"),
        (false, false) => t.into(),
    })
}

/// `Decimal(s)` for an already stripped `s`, or `None` where Python raises
/// `InvalidOperation`.
fn py_decimal(s: &str) -> Option<Dec> {
    // What _decimal does first: drop every '_', map Unicode digits to ASCII,
    // refuse anything else outside ASCII (and NUL).
    let mut a = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '_' => {}
            '\x01'..='\x7f' => a.push(c),
            _ => a.push((b'0' + nd_value(c)?) as char),
        }
    }
    let (neg, body) = match a.as_bytes().first()? {
        b'-' => (true, &a[1..]),
        b'+' => (false, &a[1..]),
        _ => (false, &a[..]),
    };
    let lower = body.to_ascii_lowercase();
    if lower == "inf" || lower == "infinity" {
        return Some(Dec::Inf { neg });
    }
    for (prefix, signaling) in [("snan", true), ("nan", false)] {
        if let Some(p) = lower.strip_prefix(prefix) {
            if !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let payload = p.trim_start_matches('0').to_string();
            return Some(Dec::NaN {
                neg,
                signaling,
                payload,
            });
        }
    }
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.len() + frac.len() == 0 || !(int.bytes().chain(frac.bytes())).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let mut exp: i128 = 0;
    if let Some(e) = exponent {
        let (eneg, ed) = match e.as_bytes().first()? {
            b'-' => (true, &e[1..]),
            b'+' => (false, &e[1..]),
            _ => (false, e),
        };
        if ed.is_empty() || !ed.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // Saturate: anything this large is out of range anyway.
        for b in ed.bytes() {
            exp = (exp * 10 + i128::from(b - b'0')).min(10i128.pow(30));
        }
        if eneg {
            exp = -exp;
        }
    }
    exp -= frac.len() as i128;
    let all = format!("{int}{frac}");
    let coef = match all.trim_start_matches('0') {
        "" => "0".to_string(),
        t => t.to_string(),
    };
    // Decimal(str) must be exact in the widest context; outside it, it raises.
    let top = if coef == "0" {
        exp
    } else {
        exp + coef.len() as i128 - 1
    };
    if top > EMAX || exp < ETINY {
        return None;
    }
    Some(Dec::Finite { neg, coef, exp })
}

/// Python's `str()` of a value `json.loads` produced.
pub(crate) fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => py_repr(other),
    }
}

/// Python's `repr()` of a value `json.loads` produced. (An object's keys come
/// out in serde_json's order, which may differ from the file's.)
fn py_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(b) => if *b { "True" } else { "False" }.into(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => py_float_repr(f),
            _ => n.to_string(),
        },
        Value::String(s) => py_str_repr(s),
        Value::Array(a) => format!("[{}]", a.iter().map(py_repr).collect::<Vec<_>>().join(", ")),
        Value::Object(o) => format!(
            "{{{}}}",
            o.iter()
                .map(|(k, v)| format!("{}: {}", py_str_repr(k), py_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Python's `repr(float)`: the shortest digits that round-trip, fixed
/// notation from 1e-4 up to 1e16, else `1.5e+16` style.
pub(crate) fn py_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.into();
    }
    // Rust's `{:e}` gives the same shortest round-trip digits: "-1.25e1".
    let e = format!("{f:e}");
    let (mantissa, exp) = e.split_once('e').expect("LowerExp always has an exponent");
    let (sign, mantissa) = mantissa
        .strip_prefix('-')
        .map_or(("", mantissa), |m| ("-", m));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let decpt: i64 = exp.parse::<i64>().expect("LowerExp exponent is an integer") + 1;
    let n = digits.len() as i64;
    if decpt <= -4 || decpt > 16 {
        let frac = if n > 1 {
            format!(".{}", &digits[1..])
        } else {
            String::new()
        };
        let x = decpt - 1;
        format!(
            "{sign}{}{frac}e{}{:02}",
            &digits[..1],
            if x < 0 { '-' } else { '+' },
            x.abs()
        )
    } else if decpt <= 0 {
        format!("{sign}0.{}{digits}", "0".repeat((-decpt) as usize))
    } else if decpt >= n {
        format!("{sign}{digits}{}.0", "0".repeat((decpt - n) as usize))
    } else {
        format!(
            "{sign}{}.{}",
            &digits[..decpt as usize],
            &digits[decpt as usize..]
        )
    }
}

/// Python's `repr(str)`. Which characters count as printable is
/// approximated (controls, separators, a few format characters), which only
/// matters for the wrong-field lines.
pub(crate) fn py_str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control()
                || matches!(c, '\u{a0}' | '\u{ad}' | '\u{1680}' | '\u{2000}'..='\u{200f}'
                    | '\u{2028}'..='\u{202f}' | '\u{205f}'..='\u{2064}' | '\u{3000}'
                    | '\u{feff}') =>
            {
                let n = c as u32;
                out.push_str(&match n {
                    0..=0xff => format!("\\x{n:02x}"),
                    0x100..=0xffff => format!("\\u{n:04x}"),
                    _ => format!("\\U{n:08x}"),
                });
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// `Path(s).name` for a POSIX path: the last part that is not empty or `.`.
pub(crate) fn py_path_name(s: &str) -> &str {
    s.split('/')
        .rfind(|p| !p.is_empty() && *p != ".")
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use FieldType::*;

    fn n(kind: FieldType, v: Value) -> String {
        norm(kind, &v).repr()
    }

    #[test]
    fn zero_and_false_are_blank_except_for_marks_and_integers() {
        assert_eq!(n(Text, json!(0)), "None");
        assert_eq!(n(Money, json!(0.0)), "None");
        assert_eq!(n(Phone, json!(false)), "None");
        assert_eq!(n(Money, json!("0")), "Decimal('0')");
        assert_eq!(n(Integer, json!(0)), "0");
        assert_eq!(n(Integer, json!(false)), "'False'");
        assert_eq!(n(Integer, json!(0.0)), "'0.0'");
        assert_eq!(n(Checkbox, json!(0)), "False");
    }

    #[test]
    fn checkboxes_follow_python_truthiness() {
        for (v, want) in [
            (json!(null), false),
            (json!(false), false),
            (json!("false"), false),
            (json!("no"), false),
            (json!("0"), false),
            (json!(""), false),
            (json!([]), false),
            (json!(true), true),
            (json!("No"), true),
            (json!("FALSE"), true),
            (json!(" no"), true),
            (json!(2), true),
            (json!([0]), true),
        ] {
            assert!(norm(Signature, &v) == Norm::Bool(want), "{v}");
        }
    }

    #[test]
    fn integers_parse_like_int() {
        assert_eq!(n(Integer, json!(" 007 ")), "7");
        assert_eq!(n(Integer, json!("-0")), "0");
        assert_eq!(n(Integer, json!("1_000")), "1000");
        assert_eq!(n(Integer, json!("\u{0661}\u{0662}")), "12");
        assert_eq!(n(Integer, json!("1__0")), "'1__0'");
        assert_eq!(n(Integer, json!("_1")), "'_1'");
        assert_eq!(n(Integer, json!(" 3a ")), "' 3a '");
        assert_eq!(n(Integer, json!("")), "None");
        assert_eq!(n(Integer, json!("  ")), "'  '");
        assert_eq!(n(Integer, json!("1".repeat(4301))).len(), 4303);
        assert_eq!(n(Integer, json!(u64::MAX)), u64::MAX.to_string());
    }

    #[test]
    fn money_compares_as_decimals() {
        let eq = |a: Value, b: Value| norm(Money, &a) == norm(Money, &b);
        assert!(eq(json!("12.5"), json!("12.50")));
        assert!(eq(json!(12.5), json!("£12.50")));
        assert!(eq(json!("1,234.5"), json!("1234.50")));
        assert!(eq(json!("1e2"), json!(100)));
        assert!(eq(json!("-0"), json!("0.00")));
        assert!(eq(json!("inf"), json!("Infinity")));
        assert!(!eq(json!("nan"), json!("nan")));
        assert!(
            !eq(json!("0"), json!(0)),
            "0 is blank, \"0\" is Decimal('0')"
        );
        assert!(!eq(json!("12.5 GBP"), json!("12.5")));
        assert_eq!(n(Money, json!("0012.50")), "Decimal('12.50')");
        assert_eq!(n(Money, json!("1e-7")), "Decimal('1E-7')");
        assert_eq!(n(Money, json!("1000e3")), "Decimal('1.000E+6')");
        assert_eq!(n(Money, json!("  ")), "'  '");
        assert_eq!(n(Money, json!("1_0.5")), "Decimal('10.5')");
        assert_eq!(
            n(Money, json!("1e999999999999999999")),
            "Decimal('1E+999999999999999999')"
        );
        assert_eq!(
            n(Money, json!("10e999999999999999999")),
            "'10e999999999999999999'"
        );
    }

    #[test]
    fn text_kinds_normalise_as_score_py_does() {
        assert_eq!(n(Text, json!("  smith \t jones\x1c")), "'SMITH JONES'");
        assert_eq!(n(Text, json!("straße")), "'STRASSE'");
        assert_eq!(
            n(Text, json!("   ")),
            "''",
            "blank after strip is '' not None"
        );
        assert_eq!(n(Text, json!(1e16)), "'1E+16'");
        assert_eq!(n(Text, json!(true)), "'TRUE'");
        assert_eq!(n(Postcode, json!(" w12\u{a0}1ns ")), "'W121NS'");
        assert_eq!(n(NiNumber, json!("ab 12 34 56 c")), "'AB123456C'");
        assert_eq!(n(Phone, json!("+44 (0)7337-304833")), "'4407337304833'");
        assert_eq!(n(Phone, json!("n/a")), "''");
        assert_eq!(
            n(Phone, json!("\u{ff10}7")),
            "'\u{ff10}7'",
            "digits are kept, not converted"
        );
        assert_eq!(n(Email, json!(" Mail@Example.COM ")), "'mail@example.com'");
        assert_eq!(n(Choice, json!("British")), "'British'");
        assert_eq!(n(Date, json!(" 2025-01-02 ")), "'2025-01-02'");
        assert_eq!(n(Date, json!("a'b")), "\"a'b\"");
    }

    #[test]
    fn floats_print_like_python() {
        for (f, want) in [
            (12.5, "12.5"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (-0.0, "-0.0"),
            (1.5e16, "1.5e+16"),
            (5e-324, "5e-324"),
            (123456789012345.67, "123456789012345.67"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
        ] {
            assert_eq!(py_float_repr(f), want);
        }
    }

    #[test]
    fn path_names_follow_pathlib() {
        for (p, want) in [
            ("a/b.pdf", "b.pdf"),
            ("dir/", "dir"),
            (".", ""),
            ("a/..", ".."),
            ("a/.", "a"),
            ("", ""),
            ("x.pdf", "x.pdf"),
        ] {
            assert_eq!(py_path_name(p), want);
        }
    }
}
