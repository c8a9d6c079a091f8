//! The user's Prometheus configuration as YAML, and the external labels that make every replica unique.

use serde_yaml_ng::Value as Yaml;

use crate::render::pod::CLUSTER_LABEL;
use crate::render::yaml::mapping;
use crate::spec::Stack;

pub(super) fn write(config: &Yaml) -> Result<String, String> {
    serde_yaml_ng::to_string(config).map_err(|e| format!("cannot be written back: {e}"))
}

pub(super) fn add_external_labels(
    stack: &Stack,
    config: &mut Yaml,
    warnings: &mut Vec<String>,
) -> Result<(), String> {
    let root = config
        .as_mapping_mut()
        .ok_or("the configuration must be a YAML mapping")?;
    let global = mapping(root, "global")?;
    let labels = mapping(global, "external_labels").map_err(|e| format!("global.{e}"))?;

    let mut merged: Vec<(String, String)> = Vec::new();
    for (key, value) in labels.iter() {
        let (Some(key), Some(value)) = (key.as_str(), scalar(value)) else {
            return Err("global.external_labels must map label names to strings".into());
        };
        if key == "prometheus" || key == stack.replica_label {
            warnings.push(format!(
                "ConfigMap {}: global.external_labels.{key} is replaced: the operator sets it to tell replicas apart",
                stack.config_map
            ));
            continue;
        }
        if key == CLUSTER_LABEL && !stack.external_labels.contains_key(key) {
            warnings.push(format!(
                "ConfigMap {}: global.external_labels.{key} is not used to select this stack's blocks in the \
                 bucket: the store gateway and the compactor select by spec.externalLabels.{key}; move it there \
                 if another cluster has a stack of the same namespace and name on this bucket",
                stack.config_map
            ));
        }
        let value = expand_2018(&value);
        if per_pod(&value) {
            warnings.push(format!(
                "ConfigMap {}: global.external_labels.{key} is left out: its value differs between the replicas, \
                 which would keep the querier from deduplicating them; the operator's {} tells replicas apart",
                stack.config_map, stack.replica_label
            ));
            continue;
        }
        merged.push((key.to_string(), value));
    }
    for (key, value) in &stack.external_labels {
        merged.retain(|(k, _)| k != key);
        let value = expand_2018(value);
        if per_pod(&value) {
            warnings.push(format!(
                "spec.externalLabels.{key} is left out: its value differs between the replicas, which would keep \
                 the querier from deduplicating them; the operator's {} tells replicas apart",
                stack.replica_label
            ));
            continue;
        }
        merged.push((key.clone(), value));
    }
    merged.push((
        "prometheus".into(),
        escape(&format!("{}/{}", stack.namespace, stack.name)),
    ));
    merged.push((stack.replica_label.clone(), "${POD_NAME}".into()));

    *labels = merged
        .into_iter()
        .map(|(k, v)| (Yaml::from(k), Yaml::from(v)))
        .collect();
    Ok(())
}

/// Whether an (expanded) external label value names a variable that differs between the pods of one
/// StatefulSet: the pod's host name, or the `POD_NAME` the operator sets. Such a label is a second replica
/// label, as the 2018 example's `replica: $(HOSTNAME)` was: blocks would differ by it and never deduplicate.
fn per_pod(value: &str) -> bool {
    value.contains("${HOSTNAME}") || value.contains("${POD_NAME}")
}

fn scalar(value: &Yaml) -> Option<String> {
    match value {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A label value for Prometheus v3, which expands `${VAR}` and `$VAR` in external labels itself: the 2018
/// reloader's `$(VAR)` becomes `${VAR}`, `${VAR}` and `$$` stay, and any other `$` is a literal, so `$$`.
pub fn expand_2018(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let after = &rest[1..];
        if let Some(name) = braced(after, '(', ')') {
            out.push_str(&format!("${{{name}}}"));
            rest = &after[name.len() + 2..];
        } else if let Some(name) = braced(after, '{', '}') {
            out.push_str(&format!("${{{name}}}"));
            rest = &after[name.len() + 2..];
        } else {
            // `$$` is already an escaped `$`; a lone `$` is a literal and gets escaped.
            out.push_str("$$");
            rest = after.strip_prefix('$').unwrap_or(after);
        }
    }
    out.push_str(rest);
    out
}

/// `(NAME)` or `{NAME}` at the start of `text`, with a valid environment variable name: the name.
fn braced(text: &str, open: char, close: char) -> Option<&str> {
    let inner = text.strip_prefix(open)?;
    let end = inner.find(close)?;
    let name = &inner[..end];
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    valid.then_some(name)
}

/// A literal label value: every `$` doubled.
fn escape(value: &str) -> String {
    value.replace('$', "$$")
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::related::parse;
    use crate::spec::testing::labelled as stack;

    /// Parse a Prometheus configuration and set its `global.external_labels`: the user's own, then
    /// `spec.externalLabels`, then `prometheus` and the replica label, which win.
    fn with_external_labels(
        stack: &Stack,
        text: &str,
        warnings: &mut Vec<String>,
    ) -> Result<String, String> {
        let mut config = parse(text)?;
        add_external_labels(stack, &mut config, warnings)?;
        write(&config)
    }

    fn labels(config: &str) -> Vec<(String, String)> {
        let yaml: Yaml = serde_yaml_ng::from_str(config).unwrap();
        yaml["global"]["external_labels"]
            .as_mapping()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.as_str().unwrap().into(), v.as_str().unwrap().into()))
            .collect()
    }

    fn derive(text: &str) -> (String, Vec<String>) {
        let mut warnings = Vec::new();
        let config = with_external_labels(&stack(), text, &mut warnings).expect("derives");
        (config, warnings)
    }

    #[test]
    fn labels_are_added_to_a_config_without_global() {
        let (config, warnings) = derive("scrape_configs: []\n");
        assert_eq!(
            labels(&config),
            [
                ("cluster".into(), "eu".into()),
                ("prometheus".into(), "monitoring/example".into()),
                ("prometheus_replica".into(), "${POD_NAME}".into())
            ]
        );
        assert!(config.contains("scrape_configs: []"));
        assert!(warnings.is_empty());
    }

    #[test]
    fn an_empty_config_gets_the_labels() {
        for text in ["", "global:\n", "global:\n  external_labels:\n"] {
            let (config, _) = derive(text);
            assert_eq!(labels(&config).len(), 3, "{text:?}");
        }
    }

    #[test]
    fn user_labels_are_kept_and_ours_win_on_a_clash() {
        let (config, warnings) = derive(
            "global:\n  scrape_interval: 15s\n  external_labels:\n    region: us\n    prometheus_replica: a\n",
        );
        let labels = labels(&config);
        assert_eq!(labels[0], ("region".into(), "us".into()));
        assert!(labels.contains(&("prometheus_replica".into(), "${POD_NAME}".into())));
        assert!(config.contains("scrape_interval: 15s"));
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("external_labels.prometheus_replica is replaced"));
    }

    #[test]
    fn the_2018_replica_label_on_the_host_name_is_left_out_so_replicas_deduplicate() {
        let (config, warnings) = derive(
            "global:\n  external_labels:\n    replica: $(HOSTNAME)\n    pod: x-${POD_NAME}\n    zone: a\n",
        );
        let labels = labels(&config);
        assert!(
            labels.iter().all(|(k, _)| k != "replica" && k != "pod"),
            "{labels:?}"
        );
        assert!(labels.contains(&("zone".into(), "a".into())));
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("external_labels.replica is left out"));
    }

    #[test]
    fn a_users_own_replica_label_is_no_longer_overwritten() {
        let (config, warnings) = derive("global:\n  external_labels:\n    replica: blue\n");
        assert!(labels(&config).contains(&("replica".into(), "blue".into())));
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn a_cluster_label_only_in_the_config_map_is_kept_with_a_warning_to_move_it() {
        let mut stack = stack();
        stack.external_labels.clear();
        let mut warnings = Vec::new();
        let config = with_external_labels(
            &stack,
            "global:\n  external_labels:\n    cluster: eu\n",
            &mut warnings,
        )
        .unwrap();
        assert!(labels(&config).contains(&("cluster".into(), "eu".into())));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("spec.externalLabels.cluster"),
            "{warnings:?}"
        );
    }

    #[test]
    fn the_2018_envsubst_syntax_becomes_prometheus_expansion_and_dollars_are_literal() {
        assert_eq!(expand_2018("$(HOSTNAME)"), "${HOSTNAME}");
        assert_eq!(expand_2018("a-$(NODE_NAME)-b"), "a-${NODE_NAME}-b");
        assert_eq!(expand_2018("${POD_NAME}"), "${POD_NAME}");
        assert_eq!(expand_2018("cost: $5"), "cost: $$5");
        assert_eq!(expand_2018("$$"), "$$");
        assert_eq!(expand_2018("$"), "$$");
        assert_eq!(expand_2018("$(not valid)"), "$$(not valid)");
        assert_eq!(expand_2018("plain"), "plain");
    }

    #[test]
    fn invalid_configs_say_what_is_wrong() {
        let mut warnings = Vec::new();
        for (text, words) in [
            ("global: [unclosed", "not valid YAML"),
            ("- a list\n", "must be a YAML mapping"),
            ("global: 5\n", "global must be a mapping"),
            (
                "global:\n  external_labels: [a]\n",
                "external_labels must be a mapping",
            ),
            (
                "global:\n  external_labels:\n    a: {b: c}\n",
                "label names to strings",
            ),
        ] {
            let error = with_external_labels(&stack(), text, &mut warnings).unwrap_err();
            assert!(error.contains(words), "{text:?}: {error}");
        }
    }
}
