//! `relabel.Config`: the actions and what each needs and refuses.

use serde_yaml_ng::{Mapping, Value as Yaml};

use super::{Invalid, Names, Path, scalar, text};

const ACTIONS: [&str; 11] = [
    "replace",
    "keep",
    "drop",
    "keepequal",
    "dropequal",
    "hashmod",
    "labelmap",
    "labeldrop",
    "labelkeep",
    "lowercase",
    "uppercase",
];

/// `relabel.Config.Validate`, with the defaults of `DefaultRelabelConfig`.
pub(super) fn relabel(map: &Mapping, path: &Path, names: Names) -> Result<(), Invalid> {
    let action = action(map, path)?;
    let target = text(map, "target_label").unwrap_or_default();
    let modulus = text(map, "modulus")
        .and_then(|m| m.parse::<u64>().ok())
        .unwrap_or(0);
    if action == "hashmod" && modulus == 0 {
        return Err(path
            .key("modulus")
            .invalid("must be set and non-zero for action hashmod"));
    }
    target_label(&action, &target, path, names)?;
    replacement(map, &action, path, names)?;
    let only = |allowed: &[&str], what: &str| -> Result<(), Invalid> {
        let others = [
            ("regex", default(map, "regex", "(.*)")),
            ("modulus", modulus == 0),
            ("separator", default(map, "separator", ";")),
            ("replacement", default(map, "replacement", "$1")),
            ("source_labels", map.get("source_labels").is_none()),
            ("target_label", target.is_empty()),
        ];
        match others
            .iter()
            .find(|(key, unset)| !allowed.contains(key) && !unset)
        {
            Some((key, _)) => Err(path
                .key(key)
                .invalid(format!("action {action} takes only {what}"))),
            None => Ok(()),
        }
    };
    match action.as_str() {
        "keepequal" | "dropequal" => only(
            &["source_labels", "target_label"],
            "source_labels and target_label",
        ),
        "labeldrop" | "labelkeep" => only(&["regex"], "regex"),
        _ => Ok(()),
    }
}

/// The action, lower-cased; `replace` when unset.
fn action(map: &Mapping, path: &Path) -> Result<String, Invalid> {
    let action = match map.get("action") {
        None | Some(Yaml::Null) => "replace".to_string(),
        Some(value) => scalar(value, path)?.to_lowercase(),
    };
    let at = path.key("action");
    if action.is_empty() {
        return Err(at.invalid("cannot be empty"));
    }
    if !ACTIONS.contains(&action.as_str()) {
        return Err(at.invalid(format!(
            "unknown relabel action {action:?}: use one of {}",
            ACTIONS.join(", ")
        )));
    }
    Ok(action)
}

/// Whether `key` is unset or at its default.
fn default(map: &Mapping, key: &str, default: &str) -> bool {
    text(map, key).is_none_or(|v| v == default)
}

/// The actions that write a label need a valid one.
fn target_label(action: &str, target: &str, path: &Path, names: Names) -> Result<(), Invalid> {
    let needs_target = [
        "replace",
        "hashmod",
        "lowercase",
        "uppercase",
        "keepequal",
        "dropequal",
    ];
    if needs_target.contains(&action) && target.is_empty() {
        return Err(path
            .key("target_label")
            .invalid(format!("must be set for action {action}")));
    }
    let target_ok = match action {
        "replace" if target.contains('$') => names == Names::Utf8 || legacy_template(target),
        "replace" | "hashmod" | "lowercase" | "uppercase" | "keepequal" | "dropequal" => {
            names.label_name(target)
        }
        _ => true,
    };
    if !target_ok {
        return Err(path.key("target_label").invalid(format!(
            "{target:?} is not a valid label name for action {action}"
        )));
    }
    Ok(())
}

/// The actions that take no replacement, and labelmap's, which names labels.
fn replacement(map: &Mapping, action: &str, path: &Path, names: Names) -> Result<(), Invalid> {
    if ["lowercase", "uppercase", "keepequal", "dropequal"].contains(&action)
        && !default(map, "replacement", "$1")
    {
        return Err(path
            .key("replacement")
            .invalid(format!("cannot be set for action {action}")));
    }
    if action == "labelmap" {
        let replacement = text(map, "replacement");
        let replacement = replacement.as_deref().unwrap_or("$1");
        let ok = match names {
            Names::Utf8 => !replacement.is_empty(),
            Names::Legacy => legacy_template(replacement),
        };
        if !ok {
            return Err(path.key("replacement").invalid(format!(
                "{replacement:?} is not a valid label name for action labelmap"
            )));
        }
    }
    Ok(())
}

/// Prometheus's legacy rule for a label name that holds `$1`-style references: `[a-zA-Z_]`, `$name` or `${name}`
/// in sequence, then word characters.
fn legacy_template(text: &str) -> bool {
    !text.is_empty()
        && !text.starts_with(|c: char| c.is_ascii_digit())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_${}".contains(c))
}
