//! The scalar values of a Prometheus configuration, read as Prometheus reads them: durations, sizes, label and
//! metric names, regular expressions.

use std::borrow::Cow;

use crate::spec::parse_duration;

/// How Prometheus checks label and metric names (`metric_name_validation_scheme`): UTF-8 by default in v3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Names {
    Utf8,
    Legacy,
}

impl Names {
    /// A scheme as written in the configuration; empty is "the default", which is `None` here.
    pub fn parse(text: &str) -> Result<Option<Self>, String> {
        match text {
            "" => Ok(None),
            "utf8" => Ok(Some(Self::Utf8)),
            "legacy" => Ok(Some(Self::Legacy)),
            other => Err(format!(
                "unknown name validation scheme {other:?}: use utf8 or legacy"
            )),
        }
    }

    pub fn label_name(self, name: &str) -> bool {
        match self {
            // Any non-empty UTF-8; a Rust string is always UTF-8.
            Self::Utf8 => !name.is_empty(),
            Self::Legacy => legacy(
                name,
                |c| c.is_ascii_alphabetic() || c == '_',
                |c| c.is_ascii_alphanumeric() || c == '_',
            ),
        }
    }

    pub fn metric_name(self, name: &str) -> bool {
        match self {
            Self::Utf8 => !name.is_empty(),
            Self::Legacy => legacy(
                name,
                |c| c.is_ascii_alphabetic() || c == '_' || c == ':',
                |c| c.is_ascii_alphanumeric() || c == '_' || c == ':',
            ),
        }
    }
}

fn legacy(name: &str, first: fn(char) -> bool, rest: fn(char) -> bool) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(first) && chars.all(rest)
}

/// A Prometheus duration in milliseconds: `0`, or units from `y` down to `ms`, each at most once, in order.
pub fn duration(text: &str) -> Result<u64, String> {
    if text == "0" {
        return Ok(0);
    }
    parse_duration(text)
        // Go keeps durations in int64 nanoseconds.
        .filter(|ms| *ms <= i64::MAX as u64 / 1_000_000)
        .ok_or_else(|| {
            format!("{text:?} is not a duration: use a number and a unit among y, w, d, h, m, s, ms, such as 30s or 1h30m")
        })
}

/// A Go duration (`time.ParseDuration`): `0`, or a sequence of decimal numbers with units ns, us, µs, ms, s, m, h.
pub fn go_duration(text: &str) -> Result<(), String> {
    let invalid =
        || format!("{text:?} is not a duration: use a number and a unit among h, m, s, ms, us, ns");
    let rest = text.strip_prefix(['-', '+']).unwrap_or(text);
    if rest == "0" {
        return Ok(());
    }
    number_unit_sequence(rest, &["ns", "us", "µs", "μs", "ms", "s", "m", "h"]).ok_or_else(invalid)
}

/// A byte size (`units.ParseBase2Bytes`): `0`, or a sequence of decimal numbers with units B, KB, KiB ... EiB.
/// Returns whether it is negative.
pub fn size(text: &str) -> Result<bool, String> {
    const UNITS: [&str; 13] = [
        "B", "KB", "MB", "GB", "TB", "PB", "EB", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB",
    ];
    let negative = text.starts_with('-');
    let rest = text.strip_prefix(['-', '+']).unwrap_or(text);
    if rest == "0" {
        return Ok(false);
    }
    number_unit_sequence(rest, &UNITS)
        .map(|()| negative)
        .ok_or_else(|| format!("{text:?} is not a size: use a number and a unit among B, KB, MB, GB, KiB, MiB, GiB, such as 100MB"))
}

/// `([0-9]*(\.[0-9]*)?unit)+`, with at least one digit in each number and a unit of `units` after it.
fn number_unit_sequence(mut rest: &str, units: &[&str]) -> Option<()> {
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let digits = &rest[..number];
        if !digits.bytes().any(|b| b.is_ascii_digit()) || digits.matches('.').count() > 1 {
            return None;
        }
        rest = &rest[number..];
        let unit = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        if !units.contains(&&rest[..unit]) {
            return None;
        }
        rest = &rest[unit..];
    }
    Some(())
}

/// Whether `text` is an RE2 expression as Prometheus compiles it (`^(?s:text)$`). Parsed, not compiled: the
/// syntax is all a check needs. `regex-syntax` reads RE2's syntax with a few differences, handled here or
/// documented in docs/usage.md: RE2 knows only the flags i, m, s and U, nests up to 1000 deep, and quotes
/// with `\Q...\E`, which `regex-syntax` refuses.
pub fn regex(text: &str) -> Result<(), String> {
    if let Some(reason) = not_re2(text) {
        return Err(format!(
            "{text:?} is not an RE2 regular expression: {reason}"
        ));
    }
    let anchored = format!("^(?s:{})$", literal_braces(text));
    regex_syntax::ParserBuilder::new()
        .nest_limit(1000)
        .build()
        .parse(&anchored)
        .map(|_| ())
        .map_err(|e| {
            let kind = match &e {
                regex_syntax::Error::Parse(e) => e.kind().to_string(),
                regex_syntax::Error::Translate(e) => e.kind().to_string(),
                other => other.to_string(),
            };
            format!("{text:?} is not an RE2 regular expression: {kind}")
        })
}

/// What RE2 refuses and `regex-syntax` accepts: a flag other than i, m, s and U in a `(?flags)` group
/// (`regex-syntax` also has x, u and R), and a repetition of a repetition (`a**`, `a+{2}`), which RE2 calls an
/// invalid nested repetition operator.
fn not_re2(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let (mut i, mut in_class, mut repeated) = (0, false, false);
    while i < bytes.len() {
        let c = bytes[i];
        if in_class {
            match c {
                b'\\' => i += 1,
                b']' => in_class = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        let repetition = match c {
            b'*' | b'+' | b'?' => 1,
            b'{' => counted(&bytes[i..]),
            _ => 0,
        };
        if repetition > 0 {
            if repeated {
                return Some(format!(
                    "{:?} repeats a repetition",
                    &text[..i + repetition]
                ));
            }
            i += repetition;
            // A `?` after a repetition makes it lazy, and is not a repetition itself.
            if bytes.get(i) == Some(&b'?') {
                i += 1;
            }
            repeated = true;
            continue;
        }
        repeated = false;
        match c {
            b'\\' => i += 1,
            b'[' => {
                in_class = true;
                // `[]` and `[^]` open a class that holds `]`.
                i += 1;
                if bytes.get(i) == Some(&b'^') {
                    i += 1;
                }
                if bytes.get(i) == Some(&b']') {
                    i += 1;
                }
                continue;
            }
            b'(' if bytes.get(i + 1) == Some(&b'?') => {
                let flags = &text[i + 2..];
                if !flags.starts_with(['P', '<']) {
                    let end = flags.find([')', ':']).unwrap_or(flags.len());
                    if let Some(flag) = flags[..end].chars().find(|c| !"imsU-".contains(*c)) {
                        return Some(format!("RE2 has no flag {flag:?} (only i, m, s and U)"));
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// `text` with every `{` that does not open a counted repetition escaped: RE2 reads such a brace as a literal
/// (`a{,2}`, `{x}`), `regex-syntax` as a broken repetition.
fn literal_braces(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let (mut i, mut in_class, mut copied) = (0, false, 0);
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'[' if !in_class => in_class = true,
            b']' if in_class => in_class = false,
            b'{' if !in_class && counted(&bytes[i..]) == 0 => {
                let out = out.get_or_insert_with(|| String::with_capacity(text.len() + 2));
                out.push_str(&text[copied..i]);
                out.push_str("\\{");
                copied = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    match out {
        Some(mut out) => {
            out.push_str(&text[copied..]);
            Cow::Owned(out)
        }
        None => Cow::Borrowed(text),
    }
}

/// The length of a counted repetition (`{2}`, `{2,}`, `{2,5}`) at the start of `bytes`; 0 when it is not one (RE2
/// then reads `{` as a literal).
fn counted(bytes: &[u8]) -> usize {
    let Some(end) = bytes.iter().position(|b| *b == b'}') else {
        return 0;
    };
    let inner = &bytes[1..end];
    let mut parts = inner.splitn(2, |b| *b == b',');
    let low = parts.next().unwrap_or_default();
    let high = parts.next();
    let digits = |p: &[u8]| p.iter().all(u8::is_ascii_digit);
    if !low.is_empty() && digits(low) && high.is_none_or(digits) {
        end + 1
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_prometheus_durations() {
        assert_eq!(duration("0"), Ok(0));
        assert_eq!(duration("1h30m"), Ok(5_400_000));
        assert_eq!(duration("15s"), Ok(15_000));
        for bad in ["", "-1h", "1.5h", "30m1h", "10", "1x", "300000y"] {
            assert!(duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn go_durations_and_sizes_take_fractions_and_their_own_units() {
        for good in ["0", "1.5s", "300ms", "1h2m", "-5s", "10us", ".5s"] {
            assert_eq!(go_duration(good), Ok(()), "{good}");
        }
        for bad in ["", "1", "1d", "s", "1..5s"] {
            assert!(go_duration(bad).is_err(), "{bad:?}");
        }
        assert_eq!(size("100MB"), Ok(false));
        assert_eq!(size("1.5GiB"), Ok(false));
        assert_eq!(size("-1GB"), Ok(true));
        assert_eq!(size("0"), Ok(false));
        for bad in ["100", "1Mb", "MB", "1 MB"] {
            assert!(size(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names_follow_the_validation_scheme() {
        assert!(Names::Utf8.label_name("service.name"));
        assert!(!Names::Utf8.label_name(""));
        assert!(Names::Legacy.label_name("_job1"));
        assert!(!Names::Legacy.label_name("ins-tance"));
        assert!(!Names::Legacy.label_name("1a"));
        assert!(Names::Legacy.metric_name("job:up:sum"));
        assert!(!Names::Legacy.label_name("job:up"));
        assert_eq!(Names::parse(""), Ok(None));
        assert!(Names::parse("invalid_scheme").is_err());
    }

    #[test]
    fn regexes_are_checked_as_re2_anchored_the_way_prometheus_anchors_them() {
        for good in [
            "(.*)",
            "foo|bar",
            "a)(b",
            "[[:alpha:]]+",
            "(?i)up",
            "(?P<x>a)",
            "(?<x>a)",
            r"\pL",
            "a*?b",
            "[*+]+",
            "a{,2}*",
            r"\**",
            "{x}",
            "a{",
            "[{]{2}",
        ] {
            assert_eq!(regex(good), Ok(()), "{good}");
        }
        for (bad, words) in [
            ("abc(def", "unclosed group"),
            ("a**", "\"a**\" repeats a repetition"),
            ("a+{2}", "repeats a repetition"),
            (r"(\1)", "backreferences"),
            ("(?x)a b", "no flag 'x'"),
            ("(?u:a)", "no flag 'u'"),
            ("[z-a]", "invalid character class range"),
        ] {
            let error = regex(bad).unwrap_err();
            assert!(error.contains(words), "{bad}: {error}");
        }
    }
}
