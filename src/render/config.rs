//! The derived Prometheus configuration, `<name>-prometheus-config`: the user's configuration (read and checked
//! in [`crate::related`]) with unique external labels, and with self-monitoring's scrape jobs and rules. When it
//! cannot be derived, the observed one is kept: nothing is deleted, and the running replicas keep the last good
//! configuration.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;

mod labels;

use labels::{add_external_labels, write};

use super::{meta, monitoring};
use crate::error::Problem;
use crate::hook::{self, Object, SyncRequest};
use crate::names::{Component, Names};
use crate::related::{CONFIG_KEY, CONFIG_KEY_2018, UserConfig};
use crate::spec::Stack;

/// The largest ConfigMap the API server stores.
const MAX_CONFIG_MAP_BYTES: usize = 1024 * 1024;

/// The configuration child, and why it is not the derived one.
#[derive(Debug, Default)]
pub struct Derived {
    /// The derived configuration, or the observed one kept while its source is broken; `None` without a
    /// customize hook, or when there is neither.
    pub child: Option<ConfigMap>,
    pub problem: Option<Problem>,
}

/// The configuration child of a request, from the user's configuration as the related objects gave it
/// ([`crate::related::Related::config`]).
pub fn derived(
    stack: &Stack,
    user: Option<Result<UserConfig, Problem>>,
    request: &SyncRequest,
    warnings: &mut Vec<String>,
) -> crate::Result<Derived> {
    let Some(user) = user else {
        return Ok(Derived::default());
    };
    match user.and_then(|user| derive_config(stack, user, warnings)) {
        Ok(config) => Ok(Derived {
            child: Some(config),
            problem: None,
        }),
        Err(problem) => Ok(Derived {
            child: hook::find(
                &request.children,
                "ConfigMap",
                &stack.namespace,
                &Names::new(stack).prometheus_config(),
            )
            .map(kept_config)
            .transpose()?,
            problem: Some(problem),
        }),
    }
}

/// The user's configuration with the operator's external labels, as the `<name>-prometheus-config` child.
fn derive_config(
    stack: &Stack,
    user: UserConfig,
    warnings: &mut Vec<String>,
) -> Result<ConfigMap, Problem> {
    let UserConfig {
        object,
        key,
        mut config,
        data,
        binary_data,
    } = user;
    let invalid = |error: String| Problem {
        reason: "ConfigInvalid",
        message: format!("{object} key {key}: {error}"),
    };
    add_external_labels(stack, &mut config, warnings).map_err(invalid)?;
    if let Some(root) = config.as_mapping_mut() {
        monitoring::apply(stack, root).map_err(invalid)?;
    }
    let config = write(&config).map_err(invalid)?;
    if stack.monitoring && data.contains_key(monitoring::RULES_KEY) {
        return Err(Problem {
            reason: "ConfigInvalid",
            message: format!(
                "{object} has the key {}, which self-monitoring reserves: rename it, or set \
                 spec.monitoring.enabled to false",
                monitoring::RULES_KEY
            ),
        });
    }

    let mut out: BTreeMap<String, String> = data
        .into_iter()
        .filter(|(k, _)| k != CONFIG_KEY && k != CONFIG_KEY_2018)
        .collect();
    out.insert(CONFIG_KEY.into(), config);
    if stack.monitoring {
        out.insert(monitoring::RULES_KEY.into(), monitoring::rules(stack));
    }
    let binary_data = match binary_data {
        None | Some(Value::Null) => None,
        Some(binary) => Some(serde_json::from_value(binary).map_err(|_| Problem {
            reason: "ConfigInvalid",
            message: format!("{object}: binaryData must map keys to base64 strings"),
        })?),
    };
    let size: usize = out.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > MAX_CONFIG_MAP_BYTES {
        return Err(Problem {
            reason: "ConfigInvalid",
            message: format!(
                "{object}: with the external labels added it exceeds the 1 MiB ConfigMap limit"
            ),
        });
    }
    tracing::debug!(
        "ConfigMap: Adding external labels to the Prometheus config from {object} key {key}"
    );
    let names = Names::new(stack);
    Ok(ConfigMap {
        metadata: meta::metadata(stack, Component::Prometheus, names.prometheus_config()),
        data: Some(out),
        binary_data,
        ..Default::default()
    })
}

/// The observed derived configuration, sent back as it is (without what the API server adds) so that the
/// running Prometheus keeps its last good configuration.
///
/// An observed ConfigMap that does not decode is a bad request: leaving it out of the answer would delete it.
fn kept_config(observed: &Object) -> crate::Result<ConfigMap> {
    let mut config: ConfigMap = observed.read().map_err(|e| {
        crate::Error::BadRequest(format!(
            "children: the observed ConfigMap is not a ConfigMap: {e}"
        ))
    })?;
    let metadata = std::mem::take(&mut config.metadata);
    config.metadata = ObjectMeta {
        name: metadata.name,
        namespace: metadata.namespace,
        labels: metadata.labels,
        ..Default::default()
    };
    Ok(config)
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use serde_yaml_ng::Value as Yaml;

    use super::*;
    use crate::related::parse;
    use crate::spec::testing::labelled as stack;

    /// The user's configuration of a ConfigMap's `source`, as the related objects give it.
    fn user(source: &Value) -> UserConfig {
        let data: BTreeMap<String, String> =
            serde_json::from_value(source["data"].clone()).unwrap();
        UserConfig {
            object: "ConfigMap monitoring/cfg".into(),
            key: CONFIG_KEY,
            config: parse(&data[CONFIG_KEY]).unwrap(),
            data,
            binary_data: None,
        }
    }

    #[test]
    fn the_derived_config_loads_the_self_monitoring_rules_it_carries() {
        let source = json!({"data": {"prometheus.yml": "rule_files: [mine.yml]\n", "mine.yml": "groups: []\n"}});
        let config = derive_config(&stack(), user(&source), &mut Vec::new()).unwrap();
        let data = config.data.unwrap();
        assert!(data[monitoring::RULES_KEY].contains("PrometheusReplicaComponentDown"));
        assert_eq!(data["mine.yml"], "groups: []\n");
        let yaml: Yaml = serde_yaml_ng::from_str(&data[CONFIG_KEY]).unwrap();
        assert_eq!(yaml["rule_files"][0], "mine.yml");
        assert_eq!(yaml["rule_files"][1], monitoring::RULES_KEY);
        assert!(yaml["scrape_configs"].as_sequence().unwrap().len() >= 5);
    }

    #[test]
    fn a_user_key_named_like_the_rules_file_is_a_problem() {
        let source = json!({"data": {"prometheus.yml": "{}", monitoring::RULES_KEY: "groups: []"}});
        let problem = derive_config(&stack(), user(&source), &mut Vec::new()).unwrap_err();
        assert_eq!(problem.reason, "ConfigInvalid");
        assert!(
            problem.message.contains(monitoring::RULES_KEY),
            "{}",
            problem.message
        );
    }
}
