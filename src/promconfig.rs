//! The user's Prometheus configuration and the rule files it loads, checked as the pinned Prometheus loads them,
//! before the hook derives its own configuration from them: a configuration that Prometheus would refuse never
//! reaches the running replicas, which would keep their old one and fail at their next restart.
//!
//! What is checked: every key of every section against `keys.txt` (generated from Prometheus's Go source by
//! `hack/promkeys.sh`), the kind of every value (durations, sizes, label names, RE2 regular expressions), the
//! rules that Prometheus applies when it loads each section (`sections`), and in the rule files every PromQL
//! expression (`rules`). What is not, because it needs more than the text: files that must exist, the reach of
//! a service discovery, the Go templates of annotations. docs/usage.md lists what Prometheus's own corpus of bad
//! configurations shows passing.
//!
//! The walk reads the parsed YAML once, allocates nothing until it finds an error, and builds no regular
//! expression: `regex-syntax` parses the ones it meets.

use std::borrow::Cow;
use std::fmt;

use serde_yaml_ng::Value as Yaml;

mod rules;
mod schema;
mod sections;
mod value;

pub use rules::check_rules;
pub use value::Names;

use schema::{Kind, schema};

/// What is wrong, and where: the path of the key in the file (`scrape_configs[0].scrape_interval`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub path: String,
    pub message: String,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for Invalid {}

/// The version of Prometheus whose keys `keys.txt` holds: the default image's.
pub fn version() -> &'static str {
    crate::spec::PROMETHEUS_IMAGE
        .rsplit_once(':')
        .map_or("", |(_, tag)| tag)
}

/// What the rest of the hook needs from a checked configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// How names are checked, for the rule files (`global.metric_name_validation_scheme`).
    pub names: Names,
}

/// Check a parsed Prometheus configuration (`prometheus.yml`).
pub fn check_config(config: &Yaml) -> Result<Checked, Invalid> {
    let root = Path::ROOT;
    let map = match config {
        Yaml::Null => return Ok(Checked { names: Names::Utf8 }),
        Yaml::Mapping(map) => map,
        _ => return Err(root.invalid("the configuration must be a YAML mapping")),
    };
    // Go's YAML applies `<<` merge keys while it reads; serde's only on request, so merge a copy.
    if has_merge_key(config) {
        let mut merged = config.clone();
        merged
            .apply_merge()
            .map_err(|e| root.invalid(format!("a << merge key cannot be applied: {e}")))?;
        return check_config(&merged);
    }
    let global = sections::Global::read(map.get("global"), &root.key("global"))?;
    let names = global.names;
    let walk = Walk { global };
    walk.section("config.Config", config, &root, names)?;
    Ok(Checked { names })
}

/// Whether a YAML mapping anywhere in `value` has a `<<` key.
pub(crate) fn has_merge_key(value: &Yaml) -> bool {
    match value {
        Yaml::Mapping(map) => map
            .iter()
            .any(|(key, value)| key.as_str() == Some("<<") || has_merge_key(value)),
        Yaml::Sequence(items) => items.iter().any(has_merge_key),
        Yaml::Tagged(tagged) => has_merge_key(&tagged.value),
        _ => false,
    }
}

/// Whether Prometheus, reading its configuration from `dir`, loads the file `name` of that folder for the rule
/// file pattern `pattern` (a glob, relative to `dir` or absolute).
pub fn loads(pattern: &str, dir: &str, name: &str) -> bool {
    let relative = match pattern.strip_prefix(dir) {
        Some(rest) if rest.starts_with('/') => rest.trim_start_matches('/'),
        _ if pattern.starts_with('/') => return false,
        _ => pattern.strip_prefix("./").unwrap_or(pattern),
    };
    !relative.contains('/') && glob(relative.as_bytes(), name.as_bytes())
}

/// Go's `filepath.Match` for one path element: `*`, `?`, `[...]` (with `^` and ranges) and `\` escapes.
fn glob(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|at| glob(rest, &name[at..])),
        Some((b'?', rest)) => !name.is_empty() && glob(rest, &name[1..]),
        Some((b'[', rest)) => {
            let Some((&c, name_rest)) = name.split_first() else {
                return false;
            };
            let (negated, mut class) = match rest.split_first() {
                Some((b'^', class)) => (true, class),
                _ => (false, rest),
            };
            let mut matched = false;
            let mut first = true;
            loop {
                match class {
                    [b']', after @ ..] if !first => {
                        return matched != negated && glob(after, name_rest);
                    }
                    [] => return false,
                    _ => {}
                }
                first = false;
                let (low, after) = escaped(class);
                let (high, after) = match after {
                    [b'-', more @ ..] if !more.is_empty() && more[0] != b']' => escaped(more),
                    _ => (low, after),
                };
                matched |= low <= c && c <= high;
                class = after;
            }
        }
        Some((b'\\', [c, rest @ ..])) => name.first() == Some(c) && glob(rest, &name[1..]),
        Some((c, rest)) => name.first() == Some(c) && glob(rest, &name[1..]),
    }
}

fn escaped(class: &[u8]) -> (u8, &[u8]) {
    match class {
        [b'\\', c, rest @ ..] => (*c, rest),
        [c, rest @ ..] => (*c, rest),
        [] => (0, class),
    }
}

/// Where a value is, as a chain of steps on the stack: nothing is allocated until an error names it.
#[derive(Clone, Copy)]
pub(crate) struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    step: Step<'a>,
}

#[derive(Clone, Copy)]
enum Step<'a> {
    Root,
    Key(&'a str),
    Index(usize),
}

impl<'a> Path<'a> {
    const ROOT: Path<'static> = Path {
        parent: None,
        step: Step::Root,
    };

    fn key(&'a self, key: &'a str) -> Path<'a> {
        Path {
            parent: Some(self),
            step: Step::Key(key),
        }
    }

    fn index(&'a self, index: usize) -> Path<'a> {
        Path {
            parent: Some(self),
            step: Step::Index(index),
        }
    }

    fn invalid(&self, message: impl Into<String>) -> Invalid {
        let mut steps = Vec::new();
        let mut at = Some(self);
        while let Some(path) = at {
            steps.push(path.step);
            at = path.parent;
        }
        let mut path = String::new();
        for step in steps.iter().rev() {
            match step {
                Step::Root => {}
                Step::Key(key) => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key);
                }
                Step::Index(index) => path.push_str(&format!("[{index}]")),
            }
        }
        Invalid {
            path,
            message: message.into(),
        }
    }
}

/// The walk over a configuration, with what its sections inherit from `global`.
struct Walk {
    global: sections::Global,
}

impl Walk {
    /// Check a section's keys and values, then the rules Prometheus applies to the whole section.
    fn section(&self, name: &str, value: &Yaml, path: &Path, names: Names) -> Result<(), Invalid> {
        let map = match value {
            // An absent section and a null one are the same to Prometheus.
            Yaml::Null => return Ok(()),
            Yaml::Mapping(map) => map,
            _ => return Err(path.invalid("must be a mapping")),
        };
        let names = sections::names_in(name, map, path, names)?;
        for (key, value) in map {
            let Some(key) = key.as_str() else {
                return Err(path.invalid("keys must be strings"));
            };
            let at = path.key(key);
            let kind = schema().kind(name, key).ok_or_else(|| {
                at.invalid(format!("Prometheus {} has no such key here", version()))
            })?;
            self.value(kind, value, &at, names)?;
        }
        sections::check(name, map, path, names, &self.global)
    }

    fn value(&self, kind: &Kind, value: &Yaml, path: &Path, names: Names) -> Result<(), Invalid> {
        match kind {
            Kind::Any => Ok(()),
            Kind::String | Kind::Url => scalar(value, path).map(|_| ()),
            Kind::Bool => match value {
                Yaml::Bool(_) | Yaml::Null => Ok(()),
                // YAML 1.1, which Prometheus's parser reads, also spells booleans these ways.
                Yaml::String(s)
                    if matches!(
                        s.as_str(),
                        "y" | "Y"
                            | "yes"
                            | "Yes"
                            | "YES"
                            | "n"
                            | "N"
                            | "no"
                            | "No"
                            | "NO"
                            | "on"
                            | "On"
                            | "ON"
                            | "off"
                            | "Off"
                            | "OFF"
                            | "true"
                            | "True"
                            | "TRUE"
                            | "false"
                            | "False"
                            | "FALSE"
                    ) =>
                {
                    Ok(())
                }
                _ => Err(path.invalid("must be true or false")),
            },
            Kind::Int | Kind::Uint | Kind::Float => number(kind, value, path),
            Kind::Duration => text(value, path, |t| value::duration(t).map(|_| ())),
            Kind::GoDuration => text(value, path, value::go_duration),
            Kind::Size => text(value, path, |t| value::size(t).map(|_| ())),
            Kind::Regex => text(value, path, value::regex),
            Kind::LabelName => text(value, path, |t| label_name(t, names)),
            Kind::LabelSet => {
                for (name, value) in mapping(value, path)? {
                    let name = name
                        .as_str()
                        .ok_or_else(|| path.invalid("label names must be strings"))?;
                    let at = path.key(name);
                    label_name(name, names).map_err(|e| at.invalid(e))?;
                    scalar(value, &at)?;
                }
                Ok(())
            }
            Kind::Map => {
                for (key, value) in mapping(value, path)? {
                    let key = scalar(key, path)?;
                    scalar(value, &path.key(&key))?;
                }
                Ok(())
            }
            Kind::MapOf(inner) => {
                for (key, value) in mapping(value, path)? {
                    let key = scalar(key, path)?;
                    self.value(inner, value, &path.key(&key), names)?;
                }
                Ok(())
            }
            Kind::List(inner) => {
                let items = match value {
                    Yaml::Null => return Ok(()),
                    Yaml::Sequence(items) => items,
                    _ => return Err(path.invalid("must be a list")),
                };
                for (index, item) in items.iter().enumerate() {
                    let at = path.index(index);
                    if item.is_null() && matches!(**inner, Kind::Section(_)) {
                        return Err(at.invalid("is empty (null): remove it or fill it in"));
                    }
                    self.value(inner, item, &at, names)?;
                }
                Ok(())
            }
            Kind::Section(name) => self.section(name, value, path, names),
        }
    }
}

fn label_name(name: &str, names: Names) -> Result<(), String> {
    if names.label_name(name) {
        Ok(())
    } else {
        Err(format!("{name:?} is not a valid label name"))
    }
}

/// The entries of a mapping; none when null.
fn mapping<'a>(
    value: &'a Yaml,
    path: &Path,
) -> Result<impl Iterator<Item = (&'a Yaml, &'a Yaml)>, Invalid> {
    match value {
        Yaml::Null => Ok(None.into_iter().flatten()),
        Yaml::Mapping(map) => Ok(Some(map).into_iter().flatten()),
        _ => Err(path.invalid("must be a mapping")),
    }
}

/// A scalar as text: strings as they are, numbers and booleans as written.
pub(crate) fn scalar<'a>(value: &'a Yaml, path: &Path) -> Result<Cow<'a, str>, Invalid> {
    match value {
        Yaml::String(s) => Ok(Cow::Borrowed(s)),
        Yaml::Number(n) => Ok(Cow::Owned(n.to_string())),
        Yaml::Bool(b) => Ok(Cow::Borrowed(if *b { "true" } else { "false" })),
        Yaml::Null => Ok(Cow::Borrowed("")),
        _ => Err(path.invalid("must be a single value, not a list or a mapping")),
    }
}

fn text(
    value: &Yaml,
    path: &Path,
    check: impl Fn(&str) -> Result<(), String>,
) -> Result<(), Invalid> {
    if value.is_null() {
        return Ok(());
    }
    check(&scalar(value, path)?).map_err(|e| path.invalid(e))
}

fn number(kind: &Kind, value: &Yaml, path: &Path) -> Result<(), Invalid> {
    let what = match kind {
        Kind::Int => "an integer",
        Kind::Uint => "a non-negative integer",
        _ => "a number",
    };
    let ok = match value {
        Yaml::Null => true,
        Yaml::Number(n) => match kind {
            Kind::Int => n.is_i64() || n.is_u64(),
            Kind::Uint => n.is_u64(),
            _ => true,
        },
        Yaml::String(s) => match kind {
            Kind::Int => s.parse::<i64>().is_ok(),
            Kind::Uint => s.parse::<u64>().is_ok(),
            _ => s.parse::<f64>().is_ok(),
        },
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(path.invalid(format!("must be {what}")))
    }
}

#[cfg(test)]
mod tests;
