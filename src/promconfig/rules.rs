//! Rule files, checked as Prometheus's `model/rulefmt` loads them: the keys of groups and rules, durations,
//! label and annotation names, and every PromQL expression, parsed by `promql-parser`.

use std::borrow::Cow;

use serde_yaml_ng::{Mapping, Value as Yaml};

use super::value::{self, Names};
use super::{Invalid, Path, scalar};

const FILE_KEYS: [&str; 1] = ["groups"];
const GROUP_KEYS: [&str; 6] = [
    "name",
    "interval",
    "query_offset",
    "limit",
    "rules",
    "labels",
];
const RULE_KEYS: [&str; 7] = [
    "record",
    "alert",
    "expr",
    "for",
    "keep_firing_for",
    "labels",
    "annotations",
];

/// Check a rule file's text. `names` is the configuration's `metric_name_validation_scheme`.
pub fn check_rules(text: &str, names: Names) -> Result<(), Invalid> {
    let root = Path::ROOT;
    let mut file: Yaml =
        serde_yaml_ng::from_str(text).map_err(|e| root.invalid(format!("not valid YAML: {e}")))?;
    if super::has_merge_key(&file) {
        file.apply_merge()
            .map_err(|e| root.invalid(format!("a << merge key cannot be applied: {e}")))?;
    }
    let Some(file) = mapping(&file, &root)? else {
        return Ok(());
    };
    keys(file, &root, &FILE_KEYS)?;
    let groups = list(file.get("groups"), &root.key("groups"))?;
    for (index, group) in groups.iter().enumerate() {
        let at = root.key("groups");
        let at = at.index(index);
        let group = mapping(group, &at)?.ok_or_else(|| at.invalid("is empty (null)"))?;
        keys(group, &at, &GROUP_KEYS)?;
        let name = group
            .get("name")
            .map(|n| scalar(n, &at.key("name")))
            .transpose()?
            .unwrap_or_default();
        if name.is_empty() {
            return Err(at.key("name").invalid("must be set"));
        }
        let earlier = groups[..index]
            .iter()
            .any(|g| g.get("name").and_then(|n| scalar(n, &at).ok()).as_deref() == Some(&name));
        if earlier {
            return Err(at.key("name").invalid(format!(
                "{name:?} is the name of an earlier group in this file"
            )));
        }
        for key in ["interval", "query_offset"] {
            duration(group, &at, key)?;
        }
        if let Some(limit) = group.get("limit").filter(|l| !l.is_null())
            && !(limit.is_i64() || limit.is_u64())
        {
            return Err(at.key("limit").invalid("must be an integer"));
        }
        labels(group.get("labels"), &at.key("labels"), names, "label")?;
        let rules = list(group.get("rules"), &at.key("rules"))?;
        for (index, rule) in rules.iter().enumerate() {
            let rules_at = at.key("rules");
            let at = rules_at.index(index);
            let rule = mapping(rule, &at)?.ok_or_else(|| at.invalid("is empty (null)"))?;
            check_rule(rule, &at, names)?;
        }
    }
    Ok(())
}

fn check_rule(rule: &Mapping, at: &Path, names: Names) -> Result<(), Invalid> {
    keys(rule, at, &RULE_KEYS)?;
    let field = |key: &str| -> Result<String, Invalid> {
        Ok(rule
            .get(key)
            .map(|v| scalar(v, &at.key(key)))
            .transpose()?
            .unwrap_or_default()
            .into_owned())
    };
    let (record, alert, expr) = (field("record")?, field("alert")?, field("expr")?);
    match (record.is_empty(), alert.is_empty()) {
        (false, false) => return Err(at.invalid("only one of record and alert may be set")),
        (true, true) => return Err(at.invalid("one of record or alert must be set")),
        _ => {}
    }
    if expr.is_empty() {
        return Err(at.key("expr").invalid("must be set"));
    }
    let plain = without_regex_matchers(&expr).map_err(|e| at.key("expr").invalid(e))?;
    promql_parser::parser::parse(&plain).map_err(|e| {
        at.key("expr")
            .invalid(format!("is not a PromQL expression: {}", e.trim()))
    })?;
    for key in ["for", "keep_firing_for"] {
        let milliseconds = duration(rule, at, key)?;
        if !record.is_empty() && milliseconds > 0 {
            return Err(at.key(key).invalid("is not allowed in a recording rule"));
        }
    }
    if !record.is_empty() {
        if rule
            .get("annotations")
            .and_then(Yaml::as_mapping)
            .is_some_and(|a| !a.is_empty())
        {
            return Err(at
                .key("annotations")
                .invalid("are not allowed in a recording rule"));
        }
        if !names.metric_name(&record) {
            return Err(at
                .key("record")
                .invalid(format!("{record:?} is not a valid metric name")));
        }
        if record.contains(['{', '}']) {
            return Err(at.key("record").invalid(format!(
                "{record:?} has braces: the name of a recording rule is a metric name (should this be in expr?)"
            )));
        }
    }
    labels(rule.get("labels"), &at.key("labels"), names, "label")?;
    labels(
        rule.get("annotations"),
        &at.key("annotations"),
        names,
        "annotation",
    )
}

/// `expr` with each regex matcher (`=~`, `!~`) made an equality matcher (`=`, `!=`), once its regex is checked
/// as RE2: the parser compiles every regex it meets (about 100 µs each, more than a whole sync), and a syntax
/// check is all this needs. The rest of the expression is left to the parser.
fn without_regex_matchers(expr: &str) -> Result<Cow<'_, str>, String> {
    if !expr.contains('~') {
        return Ok(Cow::Borrowed(expr));
    }
    let bytes = expr.as_bytes();
    let mut out = String::with_capacity(expr.len());
    let (mut i, mut copied, mut regex_next) = (0, 0, false);
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'"' | b'\'' | b'`') => {
                let (literal, end) = string_literal(&expr[i..], quote);
                if regex_next {
                    value::regex(&literal)?;
                }
                regex_next = false;
                i += end;
            }
            b'~' if i > 0 && matches!(bytes[i - 1], b'=' | b'!') => {
                out.push_str(&expr[copied..i]);
                if bytes[i - 1] == b'!' {
                    out.push('=');
                }
                copied = i + 1;
                regex_next = true;
                i += 1;
            }
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            _ => {
                regex_next = false;
                i += 1;
            }
        }
    }
    out.push_str(&expr[copied..]);
    Ok(Cow::Owned(out))
}

/// The value of the PromQL string literal at the start of `text` (quoted with `quote`) and its length. Escapes
/// are read as Go reads them where it matters to a regex; a literal without its end runs to the end of `text`
/// (the parser then says what is wrong).
fn string_literal(text: &str, quote: u8) -> (String, usize) {
    let mut value = String::new();
    let mut chars = text.char_indices().skip(1);
    while let Some((at, c)) = chars.next() {
        match c {
            c if c as u32 == u32::from(quote) => return (value, at + 1),
            '\\' if quote != b'`' => match chars.next() {
                Some((_, 'n')) => value.push('\n'),
                Some((_, 't')) => value.push('\t'),
                Some((_, 'r')) => value.push('\r'),
                Some((_, escaped)) => {
                    if !matches!(escaped, '\\' | '"' | '\'') {
                        value.push('\\');
                    }
                    value.push(escaped);
                }
                None => break,
            },
            c => value.push(c),
        }
    }
    (value, text.len())
}

/// Only the keys of `allowed`.
fn keys(map: &Mapping, at: &Path, allowed: &[&str]) -> Result<(), Invalid> {
    for key in map.keys() {
        let key = key
            .as_str()
            .ok_or_else(|| at.invalid("keys must be strings"))?;
        if !allowed.contains(&key) {
            return Err(at.key(key).invalid(format!(
                "is not a key of a rule file here: use {}",
                allowed.join(", ")
            )));
        }
    }
    Ok(())
}

fn mapping<'a>(value: &'a Yaml, at: &Path) -> Result<Option<&'a Mapping>, Invalid> {
    match value {
        Yaml::Null => Ok(None),
        Yaml::Mapping(map) => Ok(Some(map)),
        _ => Err(at.invalid("must be a mapping")),
    }
}

fn list<'a>(value: Option<&'a Yaml>, at: &Path) -> Result<&'a [Yaml], Invalid> {
    match value {
        None | Some(Yaml::Null) => Ok(&[]),
        Some(Yaml::Sequence(items)) => Ok(items),
        Some(_) => Err(at.invalid("must be a list")),
    }
}

fn duration(map: &Mapping, at: &Path, key: &str) -> Result<u64, Invalid> {
    match map.get(key) {
        None | Some(Yaml::Null) => Ok(0),
        Some(value) => {
            value::duration(&scalar(value, &at.key(key))?).map_err(|e| at.key(key).invalid(e))
        }
    }
}

/// Label (or annotation) names valid under `names`, never `__name__` for labels, and values that are strings.
fn labels(value: Option<&Yaml>, at: &Path, names: Names, what: &str) -> Result<(), Invalid> {
    let Some(map) = value.map(|v| mapping(v, at)).transpose()?.flatten() else {
        return Ok(());
    };
    for (name, value) in map {
        let name = scalar(name, at)?;
        let here = at.key(&name);
        if !names.label_name(&name) || (what == "label" && name == "__name__") {
            return Err(here.invalid(format!("{name:?} is not a valid {what} name")));
        }
        scalar(value, &here)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_matchers_are_checked_as_re2_and_handed_to_the_parser_as_equality() {
        let expr = r#"rate(x{code=~"5..", path!~'/a\\.b|/c'}[5m]) and on() y{a="=~"}"#;
        assert_eq!(
            without_regex_matchers(expr).unwrap(),
            r#"rate(x{code="5..", path!='/a\\.b|/c'}[5m]) and on() y{a="=~"}"#
        );
        assert!(promql_parser::parser::parse(&without_regex_matchers(expr).unwrap()).is_ok());
        assert!(
            without_regex_matchers(r#"x{a=~"(b"}"#)
                .unwrap_err()
                .contains("unclosed group")
        );
        assert!(without_regex_matchers("x{a =~ `(b`}").is_err());
        assert!(matches!(
            without_regex_matchers("up == 0"),
            Ok(Cow::Borrowed(_))
        ));
        assert_eq!(
            string_literal(r#""a\"b\\." rest"#, b'"'),
            ("a\"b\\.".to_string(), 9)
        );
    }
}
