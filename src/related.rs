//! The related objects, the parent's inputs beside its spec: the user's Prometheus ConfigMap and the bucket
//! Secret.
//!
//! With a customize hook, Metacontroller sends both in `related`. Here they are read: the user's configuration
//! is parsed and checked as Prometheus loads it ([`UserConfig`]; rendering derives `<name>-prometheus-config`
//! from it), the Secret's format is detected from its key names and its data hashed for the pod templates. A
//! missing or broken object is a [`Problem`] in status. Secret values are read only to hash them, and the 2018
//! bucket and endpoint to check that they fit in one line of YAML.

use std::collections::BTreeMap;

use serde_json::Value;
use serde_yaml_ng::{Mapping, Value as Yaml};

mod bucket;

pub use bucket::{S3_INSECURE_KEY, S3_KEYS};

use bucket::{bucket_format, hash_secret};

use crate::error::Problem;
use crate::hook::{self, RelatedResourceRule, SyncRequest};
use crate::names::{CONFIG_DIR, Names};
use crate::promconfig;
use crate::spec::Stack;

/// The key of the Prometheus configuration in the user's ConfigMap and in the derived one.
pub const CONFIG_KEY: &str = "prometheus.yml";
/// The 2018 key, for a configuration written for the old reloader's envsubst.
pub const CONFIG_KEY_2018: &str = "prometheus.yml.tmpl";
/// The key of a Thanos object-storage configuration in the bucket Secret.
pub const OBJSTORE_KEY: &str = "objstore.yml";

/// How the pods reach the bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bucket {
    /// The Secret holds a Thanos `objstore.yml` (any provider) under `key`: mounted as a file.
    File { secret: String, key: String },
    /// The Secret holds the 2018 `s3_*` keys: passed as `secretKeyRef` environment variables. `insecure` is
    /// the optional `s3_insecure` key: plain HTTP to the endpoint, as Thanos's S3 `insecure`.
    S3Keys { secret: String, insecure: bool },
}

/// What the pods mount, decided by the related objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sources {
    /// The ConfigMap mounted as Prometheus's configuration directory.
    pub config_map: String,
    /// The configuration file in it.
    pub config_file: String,
    pub bucket: Bucket,
    /// SHA-256 of the bucket Secret's data, when the Secret was seen.
    pub bucket_hash: Option<String>,
    /// Whether the hook sets the stack's external labels (a customize hook derives the configuration). Only
    /// then do the store gateway and the compactor select the stack's own blocks by them: without it, the
    /// user's configuration may not carry them, and a selector would hide every block.
    pub labelled: bool,
}

/// The user's Prometheus configuration, read from the ConfigMap and checked as the pinned Prometheus loads it.
#[derive(Debug, Clone, PartialEq)]
pub struct UserConfig {
    /// `ConfigMap <namespace>/<name>`, for messages.
    pub object: String,
    /// The key the configuration was read from: [`CONFIG_KEY`] or [`CONFIG_KEY_2018`].
    pub key: &'static str,
    /// The configuration, parsed.
    pub config: Yaml,
    /// The ConfigMap's `data`, the configuration included.
    pub data: BTreeMap<String, String>,
    /// The ConfigMap's `binaryData`, as sent.
    pub binary_data: Option<Value>,
}

/// The outcome of reading the related objects.
#[derive(Debug, Clone, PartialEq)]
pub struct Related {
    pub sources: Sources,
    /// The user's configuration: `None` without a customize hook, a [`Problem`] when the ConfigMap is missing or
    /// its configuration unusable.
    pub config: Option<Result<UserConfig, Problem>>,
    /// Whether the bucket Secret was read and its format known. When it is missing or unusable, the wiring of
    /// [`Sources::bucket`] is a guess, so no workload that reads the bucket may be changed or created with it.
    pub bucket_known: bool,
    /// The bucket Secret's problems (the configuration's are in [`Related::config`]).
    pub problems: Vec<Problem>,
    pub warnings: Vec<String>,
}

/// What the customize hook asks Metacontroller for: the ConfigMap and the Secret named in the spec, from
/// the parent's namespace.
pub fn rules(stack: &Stack) -> Vec<RelatedResourceRule> {
    vec![
        RelatedResourceRule {
            api_version: "v1".into(),
            resource: "configmaps".into(),
            namespace: Some(stack.namespace.clone()),
            names: vec![stack.config_map.clone()],
        },
        RelatedResourceRule {
            api_version: "v1".into(),
            resource: "secrets".into(),
            namespace: Some(stack.namespace.clone()),
            names: vec![stack.bucket_secret.clone()],
        },
    ]
}

/// Read the related objects of a request.
pub fn resolve(stack: &Stack, request: &SyncRequest) -> crate::Result<Related> {
    if !request.has_customize_hook() {
        return Ok(Related {
            sources: Sources {
                config_map: stack.config_map.clone(),
                config_file: CONFIG_KEY.into(),
                bucket: Bucket::File {
                    secret: stack.bucket_secret.clone(),
                    key: OBJSTORE_KEY.into(),
                },
                bucket_hash: None,
                labelled: false,
            },
            config: None,
            // Without a customize hook there is nothing to know: the Secret's `objstore.yml` is mounted.
            bucket_known: true,
            problems: Vec::new(),
            warnings: no_customize_hook(stack),
        });
    }
    let mut problems = Vec::new();
    let names = Names::new(stack);

    let config = match related(stack, request, "ConfigMap", &stack.config_map)? {
        None => Err(Problem {
            reason: "ConfigMapNotFound",
            message: format!(
                "ConfigMap {}/{} (spec.configMap) does not exist",
                stack.namespace, stack.config_map
            ),
        }),
        Some(source) => read_config(stack, source),
    };

    let (bucket, bucket_hash) = match related(stack, request, "Secret", &stack.bucket_secret)? {
        None => {
            problems.push(Problem {
                reason: "BucketSecretNotFound",
                message: format!(
                    "Secret {}/{} (spec.bucketSecret) does not exist",
                    stack.namespace, stack.bucket_secret
                ),
            });
            (None, None)
        }
        Some(secret) => match bucket_format(stack, &secret) {
            Ok(bucket) => (Some(bucket), Some(hash_secret(&secret))),
            Err(problem) => {
                problems.push(problem);
                (None, None)
            }
        },
    };

    let bucket_known = bucket.is_some();
    Ok(Related {
        sources: Sources {
            config_map: names.prometheus_config(),
            config_file: CONFIG_KEY.into(),
            bucket: bucket.unwrap_or_else(|| Bucket::File {
                secret: stack.bucket_secret.clone(),
                key: OBJSTORE_KEY.into(),
            }),
            bucket_hash,
            labelled: true,
        },
        config: Some(config),
        bucket_known,
        problems,
        warnings: Vec::new(),
    })
}

/// What cannot work without a customize hook, which derives the configuration.
fn no_customize_hook(stack: &Stack) -> Vec<String> {
    let mut warnings = vec![format!(
        "no customize hook is configured, so the hook cannot add external labels: ConfigMap {} is mounted \
         as it is. Unless its global.external_labels set {}: ${{POD_NAME}}, the sidecars will not upload \
         and the replicas will not deduplicate; and the store gateway and the compactor act on every block \
         of the bucket, other stacks' included. Configure the customize hook (deploy/compositecontroller.yaml)",
        stack.config_map, stack.replica_label
    )];
    if stack.monitoring {
        warnings.push(
            "self-monitoring is off: without a customize hook there is no derived configuration to add its scrape \
             jobs and alert rules to (spec.monitoring.enabled)"
                .into(),
        );
    }
    if !stack.alertmanagers.is_empty() {
        warnings.push(
            "spec.alerting.alertmanagers is ignored: without a customize hook there is no derived configuration \
             to add them to"
                .into(),
        );
    }
    warnings
}

/// The related object of `kind` named `name`, whole: the hook reads its data.
fn related(
    stack: &Stack,
    request: &SyncRequest,
    kind: &str,
    name: &str,
) -> crate::Result<Option<Value>> {
    hook::find(&request.related, kind, &stack.namespace, name)
        .map(|object| {
            object
                .read()
                .map_err(|e| crate::Error::BadRequest(format!("related: {kind} {name}: {e}")))
        })
        .transpose()
}

/// The user's configuration from its ConfigMap: its data, the key of the configuration, parsed and checked.
fn read_config(stack: &Stack, source: Value) -> Result<UserConfig, Problem> {
    let object = format!("ConfigMap {}/{}", stack.namespace, stack.config_map);
    let data: BTreeMap<String, String> = match source.get("data") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(data) => serde_json::from_value(data.clone()).map_err(|_| Problem {
            reason: "ConfigInvalid",
            message: format!("{object}: data must map keys to strings"),
        })?,
    };
    let (key, text) = [CONFIG_KEY, CONFIG_KEY_2018]
        .into_iter()
        .find_map(|key| data.get(key).map(|text| (key, text)))
        .ok_or_else(|| Problem {
            reason: "ConfigKeyMissing",
            message: format!("{object} has no key {CONFIG_KEY} (or the 2018 {CONFIG_KEY_2018})"),
        })?;
    let config = parse(text).map_err(|error| Problem {
        reason: "ConfigInvalid",
        message: format!("{object} key {key}: {error}"),
    })?;
    check_as_prometheus(&object, key, &config, &data)?;
    let binary_data = match source {
        Value::Object(mut source) => source.remove("binaryData"),
        _ => None,
    };
    Ok(UserConfig {
        object,
        key,
        config,
        data,
        binary_data,
    })
}

/// A Prometheus configuration as YAML; empty is an empty mapping.
pub fn parse(text: &str) -> Result<Yaml, String> {
    let config: Yaml = serde_yaml_ng::from_str(text).map_err(|e| format!("not valid YAML: {e}"))?;
    Ok(if config.is_null() {
        Yaml::Mapping(Mapping::new())
    } else {
        config
    })
}

/// The user's configuration, and the rule files of the ConfigMap that it loads, checked as the pinned Prometheus
/// loads them ([`promconfig`]): one that Prometheus would refuse is never derived, so the running replicas keep
/// the last good one instead of failing at their next restart.
fn check_as_prometheus(
    object: &str,
    key: &str,
    config: &Yaml,
    data: &BTreeMap<String, String>,
) -> Result<(), Problem> {
    let invalid = |key: &str, error: promconfig::Invalid| Problem {
        reason: "ConfigInvalid",
        message: format!("{object} key {key}: {error}"),
    };
    let checked = promconfig::check_config(config).map_err(|e| invalid(key, e))?;
    let patterns: Vec<&str> = config
        .get("rule_files")
        .and_then(Yaml::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(Yaml::as_str)
        .collect();
    if patterns.is_empty() {
        return Ok(());
    }
    for (name, text) in data {
        if name != CONFIG_KEY
            && name != CONFIG_KEY_2018
            && patterns
                .iter()
                .any(|p| promconfig::loads(p, CONFIG_DIR, name))
        {
            promconfig::check_rules(text, checked.names).map_err(|e| invalid(name, e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::testing::labelled as stack;
    use serde_json::json;

    #[test]
    fn the_secret_format_comes_from_key_names() {
        let stack = stack();
        let file = json!({"data": {"objstore.yml": "eA==", "s3_bucket": "eA=="}});
        assert!(matches!(
            bucket_format(&stack, &file),
            Ok(Bucket::File { .. })
        ));
        let s3 = json!({"data": {"s3_bucket": "", "s3_endpoint": "", "s3_access_key": "", "s3_secret_key": ""}});
        assert!(matches!(
            bucket_format(&stack, &s3),
            Ok(Bucket::S3Keys { .. })
        ));
        let partial = json!({"data": {"s3_bucket": "", "s3_endpoint": ""}});
        let problem = bucket_format(&stack, &partial).unwrap_err();
        assert_eq!(problem.reason, "BucketSecretInvalid");
        assert!(
            problem
                .message
                .contains("lacks s3_access_key, s3_secret_key"),
            "{}",
            problem.message
        );
        let neither = json!({"data": {"password": "eA=="}});
        let problem = bucket_format(&stack, &neither).unwrap_err();
        assert!(
            problem
                .message
                .contains("Secret monitoring/bucket has neither"),
            "{}",
            problem.message
        );
    }

    #[test]
    fn a_2018_bucket_or_endpoint_that_yaml_cannot_hold_is_refused_by_key() {
        let stack = stack();
        // base64 of "thanos", "minio:9000", "a\nb", "x\r", and 0xff.
        let secret = |bucket: &str, endpoint: &str| {
            json!({"data": {"s3_bucket": bucket, "s3_endpoint": endpoint,
                            "s3_access_key": "YQo=", "s3_secret_key": "Ig=="}})
        };
        assert!(bucket_format(&stack, &secret("dGhhbm9z", "bWluaW86OTAwMA==")).is_ok());
        for (bucket, endpoint, key) in [
            ("YQpi", "bWluaW86OTAwMA==", "s3_bucket"),
            ("dGhhbm9z", "eA0=", "s3_endpoint"),
            ("/w==", "bWluaW86OTAwMA==", "s3_bucket"),
        ] {
            let problem = bucket_format(&stack, &secret(bucket, endpoint)).unwrap_err();
            assert_eq!(problem.reason, "BucketSecretInvalid");
            assert!(
                problem
                    .message
                    .contains(&format!("key {key} must be one line")),
                "{}",
                problem.message
            );
        }
        // Credentials never reach the YAML: a line break in them is fine.
        let mut newline_key = secret("dGhhbm9z", "bWluaW86OTAwMA==");
        newline_key["data"]["s3_secret_key"] = json!("YQpi");
        assert!(bucket_format(&stack, &newline_key).is_ok());
    }

    #[test]
    fn the_secret_hash_changes_with_any_value_and_not_with_key_order() {
        let a = hash_secret(&json!({"data": {"a": "MQ==", "b": "Mg=="}}));
        let b =
            hash_secret(&serde_json::from_str(r#"{"data": {"b": "Mg==", "a": "MQ=="}}"#).unwrap());
        let c = hash_secret(&json!({"data": {"a": "MQ==", "b": "Mw=="}}));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 64);
    }
}
