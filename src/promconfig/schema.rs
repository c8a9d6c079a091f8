//! The keys of each section of a Prometheus configuration and the kind of each value: `keys.txt`, generated from
//! Prometheus's Go source by `hack/promkeys.sh`, read once per process.

use std::collections::HashMap;
use std::sync::LazyLock;

/// What a value must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    String,
    Bool,
    Int,
    Uint,
    Float,
    /// A Prometheus duration (`1h30m`, `0`).
    Duration,
    /// A Go duration (`1.5s`, `300ms`).
    GoDuration,
    LabelName,
    /// A mapping of label names to values.
    LabelSet,
    /// An RE2 regular expression.
    Regex,
    /// A byte size with a unit (`100MB`, `1GiB`).
    Size,
    Url,
    /// A mapping of strings to strings.
    Map,
    /// Anything: a type that reads itself.
    Any,
    List(Box<Kind>),
    /// A mapping whose values are all of one kind.
    MapOf(Box<Kind>),
    /// A section, by name.
    Section(&'static str),
}

/// The keys of one section, sorted for a binary search.
#[derive(Debug, Default)]
pub struct Section {
    keys: Vec<(&'static str, Kind)>,
    /// Any key, with values of this kind (`config.Headers`).
    any_key: Option<Kind>,
    /// Also the `<name>_sd_configs` keys (`scrape_configs`, `alertmanagers`).
    discovery: bool,
}

pub struct Schema {
    sections: HashMap<&'static str, Section>,
}

static SCHEMA: LazyLock<Schema> =
    LazyLock::new(|| Schema::parse(include_str!("keys.txt")).expect("keys.txt is well formed"));

/// The schema of the pinned Prometheus.
pub fn schema() -> &'static Schema {
    &SCHEMA
}

impl Schema {
    fn parse(text: &'static str) -> Result<Self, String> {
        let mut sections: HashMap<&'static str, Section> = HashMap::new();
        let mut current: Option<&'static str> = None;
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                current = Some(name);
                sections.entry(name).or_default();
                continue;
            }
            let name = current.ok_or(format!("line {}: a key before any section", number + 1))?;
            let (key, kind) = line
                .split_once(' ')
                .ok_or(format!("line {}: not `key kind`", number + 1))?;
            let section = sections.get_mut(name).expect("made at its header");
            match key {
                "<sd>" => section.discovery = true,
                "*" => section.any_key = Some(parse_kind(kind)),
                _ => section.keys.push((key, parse_kind(kind))),
            }
        }
        for section in sections.values_mut() {
            section.keys.sort_by_key(|(key, _)| *key);
        }
        let schema = Self { sections };
        // Every section a kind names exists: a typo in keys.txt fails the first test, not a sync.
        for section in schema.sections.values() {
            for (_, kind) in &section.keys {
                let mut kind = kind;
                while let Kind::List(inner) | Kind::MapOf(inner) = kind {
                    kind = inner;
                }
                if let Kind::Section(name) = kind
                    && !schema.sections.contains_key(name)
                {
                    return Err(format!("no section [{name}]"));
                }
            }
        }
        Ok(schema)
    }

    /// The kind of `key` in `section`, or `None` when Prometheus does not know the key there.
    pub fn kind(&self, section: &str, key: &str) -> Option<&Kind> {
        let found = self.sections.get(section)?;
        if let Ok(at) = found.keys.binary_search_by_key(&key, |(k, _)| *k) {
            return Some(&found.keys[at].1);
        }
        if found.discovery
            && let Some(kind) = self.kind("sd", key)
        {
            return Some(kind);
        }
        found.any_key.as_ref()
    }

    /// Whether `section` has the keys of Prometheus's HTTP client configuration (inlined in many sections).
    pub fn has_http_client(&self, section: &str) -> bool {
        self.kind(section, "bearer_token_file").is_some()
            && self.kind(section, "basic_auth").is_some()
    }
}

fn parse_kind(text: &'static str) -> Kind {
    if let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        return Kind::List(Box::new(parse_kind(inner)));
    }
    if let Some(inner) = text.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
        return Kind::MapOf(Box::new(parse_kind(inner)));
    }
    match text {
        "string" => Kind::String,
        "bool" => Kind::Bool,
        "int" => Kind::Int,
        "uint" => Kind::Uint,
        "float" => Kind::Float,
        "duration" => Kind::Duration,
        "goduration" => Kind::GoDuration,
        "labelname" => Kind::LabelName,
        "labelset" => Kind::LabelSet,
        "regex" => Kind::Regex,
        "size" => Kind::Size,
        "url" => Kind::Url,
        "map" => Kind::Map,
        "any" => Kind::Any,
        section => Kind::Section(section),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_reads_and_knows_the_sections_of_prometheus_3() {
        let schema = schema();
        assert_eq!(
            schema.kind("config.ScrapeConfig", "scrape_interval"),
            Some(&Kind::Duration)
        );
        assert_eq!(
            schema.kind("config.ScrapeConfig", "kubernetes_sd_configs"),
            Some(&Kind::List(Box::new(Kind::Section("kubernetes.SDConfig"))))
        );
        // Inlined HTTP client keys, and keys Prometheus 3 does not know.
        assert!(schema.has_http_client("config.ScrapeConfig"));
        assert_eq!(
            schema.kind("config.ScrapeConfig", "consult_sd_configs"),
            None
        );
        assert_eq!(
            schema.kind("config.GlobalConfig", "nonexistent_field"),
            None
        );
        assert_eq!(
            schema.kind("config.Headers", "X-Anything"),
            Some(&Kind::Section("config.Header"))
        );
    }

    #[test]
    fn a_kind_naming_no_section_is_refused() {
        let error = Schema::parse("[a]\nx [b]\n").err().expect("refused");
        assert_eq!(error, "no section [b]");
    }
}
