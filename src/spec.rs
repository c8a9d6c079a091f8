//! The parent, checked and defaulted: [`Stack`] is everything rendering needs, with every rule of the CRD
//! schema checked again (a cluster can run an older CRD than the hook).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ResourceRequirements, Toleration};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use serde_json::Value;

use crate::api::{AntiAffinity, PrometheusReplicaSpec, TopologySpread};
use crate::{Error, Result};

mod check;
mod frontend;
mod monitoring;
mod parts;
mod quantity;
mod scale;
mod version;

use check::{check_name, check_object_name, check_range, short};
pub use check::{is_dns1123_label, is_label_name, parse_duration};
pub use frontend::QueryFrontend;
pub use monitoring::{Alertmanager, RUNBOOK_URL};
pub use quantity::{canonical_quantity, quantity_number, quantity_value};
pub use scale::{
    MAX_STORE_SHARDS, MEMCACHED_IMAGE, MEMCACHED_PORT, Memcached, RETENTION_SIZE_PERCENT,
    byte_size, default_retention_size, quantity_bytes,
};
pub use version::{OLDEST_PROMETHEUS, OLDEST_THANOS, Version, image_version};

/// API group and version of the parent.
pub const API_VERSION: &str = "prometheus.robszumski.com/v1alpha1";
/// Kind of the parent.
pub const KIND: &str = "PrometheusReplica";

/// Default Prometheus image, a pinned release.
pub const PROMETHEUS_IMAGE: &str = "quay.io/prometheus/prometheus:v3.14.0";
/// Default Thanos image, a pinned release.
pub const THANOS_IMAGE: &str = "quay.io/thanos/thanos:v0.42.4";
/// Default Grafana image, a pinned release.
pub const GRAFANA_IMAGE: &str = "docker.io/grafana/grafana:12.4.2";
/// The default replica label, as kube-thanos and prometheus-operator name it: a target label of that name
/// is rare, whereas `replica` is a common one that the external label would overwrite.
pub const DEFAULT_REPLICA_LABEL: &str = "prometheus_replica";
/// The block length Thanos expects; another one is honoured with a warning.
pub const DEFAULT_BLOCK_DURATION: &str = "2h";

/// A parent that passed every rule, with every default applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Stack {
    pub name: String,
    pub namespace: String,
    /// `metadata.generation`, copied to the conditions' `observedGeneration`.
    pub generation: Option<i64>,
    /// `metadata.uid`: Metacontroller's generated selector is `controller-uid: <uid>`. The claim templates
    /// carry it so that the claims a StatefulSet makes become children (see `render::claims`). `None` for
    /// a manifest rendered outside a cluster.
    pub uid: Option<String>,
    pub config_map: String,
    pub bucket_secret: String,
    pub prometheus_replicas: i32,
    pub query_replicas: i32,
    /// Store gateway replicas, in each shard.
    pub store_replicas: i32,
    /// Store gateway shards (`spec.store.shards`): 1 is one StatefulSet serving every block.
    pub store_shards: i32,
    pub retention: String,
    /// `spec.metrics.retentionSize` as given (`0B` and the like turn it off); `None` derives it from the
    /// Prometheus volume ([`default_retention_size`]).
    pub retention_size: Option<String>,
    pub block_duration: String,
    pub prometheus_image: String,
    /// The Prometheus version the image's tag names (the default image's when it names none).
    pub prometheus_version: Version,
    pub thanos_image: String,
    /// The Thanos version the image's tag names (the default image's when it names none).
    pub thanos_version: Version,
    /// The user's `externalLabels`, without the two the operator owns.
    pub external_labels: BTreeMap<String, String>,
    pub replica_label: String,
    /// Whether `spec.replicaLabel` is unset: the querier then keeps deduplicating on the labels it already
    /// does (the replica labels of older blocks, such as the former default `replica`).
    pub replica_label_defaulted: bool,
    pub base_domain: Option<String>,
    pub storage: Storage,
    pub resources: Resources,
    pub compact: Option<Compact>,
    pub query_frontend: Option<QueryFrontend>,
    /// Self-monitoring: scrape jobs and alert rules in the derived configuration.
    pub monitoring: bool,
    /// Base URL of the alerts' `runbook_url` annotations.
    pub runbook_url: String,
    /// `spec.alerting.alertmanagers`, parsed.
    pub alertmanagers: Vec<Alertmanager>,
    pub grafana: Option<Grafana>,
    pub memcached: Option<Memcached>,
    pub ingress: Ingress,
    pub pod: Pod,
    /// Things the spec asks for that work but deserve attention.
    pub warnings: Vec<String>,
}

/// One claim template's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Volume {
    pub size: Quantity,
    /// Whether `size` is the default: a StatefulSet that is observed then keeps the size its claims were made
    /// with, so that a new default changes no running stack.
    pub size_defaulted: bool,
    pub storage_class_name: Option<String>,
}

/// Volumes of each stateful component.
#[derive(Debug, Clone, PartialEq)]
pub struct Storage {
    pub prometheus: Volume,
    pub store: Volume,
    pub compact: Volume,
}

/// Resources of each container.
#[derive(Debug, Clone, PartialEq)]
pub struct Resources {
    pub prometheus: ResourceRequirements,
    pub sidecar: ResourceRequirements,
    pub store: ResourceRequirements,
    pub query: ResourceRequirements,
    pub compact: ResourceRequirements,
    pub query_frontend: ResourceRequirements,
    pub grafana: ResourceRequirements,
    /// Meaningful with `memcached` only.
    pub memcached: ResourceRequirements,
}

/// The compactor, when enabled.
#[derive(Debug, Clone, PartialEq)]
pub struct Compact {
    pub retention_raw: String,
    pub retention_5m: String,
    pub retention_1h: String,
    /// `--compact.concurrency`.
    pub concurrency: i32,
    /// Offline deduplication of the replicas' blocks on the replica label.
    pub deduplication: bool,
}

/// Grafana, when enabled.
#[derive(Debug, Clone, PartialEq)]
pub struct Grafana {
    pub image: String,
    /// The Secret with `admin-user` and `admin-password`.
    pub admin_secret: String,
}

/// Ingress settings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Ingress {
    pub class_name: Option<String>,
    /// One Secret for every host.
    pub tls_secret_name: Option<String>,
    /// Each host its own Secret, `<ingress name>-tls`.
    pub tls_per_host: bool,
    /// An Ingress for Prometheus too, not only the querier.
    pub expose_prometheus: bool,
    pub annotations: BTreeMap<String, String>,
}

/// The annotations by which cert-manager's ingress-shim issues a certificate into an Ingress's TLS Secret.
const INGRESS_SHIM_ANNOTATIONS: [&str; 5] = [
    "cert-manager.io/cluster-issuer",
    "cert-manager.io/issuer",
    "kubernetes.io/tls-acme",
    "certmanager.k8s.io/cluster-issuer",
    "certmanager.k8s.io/issuer",
];

impl Ingress {
    /// Whether the Ingresses serve HTTPS.
    pub fn tls(&self) -> bool {
        self.tls_per_host || self.tls_secret_name.is_some()
    }

    /// The TLS Secret of the Ingress named `ingress`, if any.
    pub fn tls_secret(&self, ingress: &str) -> Option<String> {
        if self.tls_per_host {
            Some(format!("{ingress}-tls"))
        } else {
            self.tls_secret_name.clone()
        }
    }
}

/// Scheduling of every pod.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Pod {
    pub node_selector: BTreeMap<String, String>,
    pub tolerations: Vec<Toleration>,
    pub priority_class_name: Option<String>,
    pub anti_affinity: AntiAffinity,
    pub topology_spread: TopologySpread,
    /// The user's ServiceAccount for every pod; the rendered `<name>-prometheus` when absent.
    pub service_account_name: Option<String>,
}

impl Stack {
    /// Whether two or more Prometheus replicas run.
    pub fn highly_available(&self) -> bool {
        self.prometheus_replicas > 1
    }

    /// Check and default the parent of a request. A parent that is not a PrometheusReplica object is
    /// [`Error::BadRequest`]; a spec that breaks a rule is [`Error::Invalid`] naming the field.
    pub fn from_parent(parent: &Value) -> Result<Self> {
        let Value::Object(object) = parent else {
            return Err(Error::BadRequest("parent: expected an object".into()));
        };
        let api_version = object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let kind = object
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if api_version != API_VERSION || kind != KIND {
            return Err(Error::BadRequest(format!(
                "parent: expected {API_VERSION} {KIND}, got {:?} {:?}",
                short(api_version),
                short(kind)
            )));
        }
        let meta = object.get("metadata").unwrap_or(&Value::Null);
        let name = meta.get("name").and_then(Value::as_str).unwrap_or_default();
        check_name(name)?;
        let namespace = meta
            .get("namespace")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !is_dns1123_label(namespace) {
            return Err(Error::BadRequest(format!(
                "parent metadata.namespace: {:?} is not a namespace name",
                short(namespace)
            )));
        }
        let generation = meta.get("generation").and_then(Value::as_i64);
        let spec = match object.get("spec") {
            None | Some(Value::Null) => return Err(Error::invalid("spec", "is required")),
            Some(spec) => spec,
        };
        let spec: PrometheusReplicaSpec = serde_path_to_error::deserialize(spec).map_err(|e| {
            let path = e.path().to_string();
            Error::invalid(
                format!("spec.{path}").trim_end_matches('.'),
                e.into_inner().to_string(),
            )
        })?;
        let uid = meta
            .get("uid")
            .and_then(Value::as_str)
            .filter(|uid| !uid.is_empty())
            .map(str::to_owned);
        Self::new(name, namespace, generation, &spec).map(|stack| Self { uid, ..stack })
    }

    fn new(
        name: &str,
        namespace: &str,
        generation: Option<i64>,
        spec: &PrometheusReplicaSpec,
    ) -> Result<Self> {
        let mut warnings = Vec::new();
        let config_map = parts::config_map(name, spec, &mut warnings)?;
        check_object_name("spec.bucketSecret", &spec.bucket_secret)?;

        let highly_available = parts::highly_available(spec, &mut warnings);
        let default_replicas = if highly_available { 2 } else { 1 };
        let replicas = spec.replicas.clone().unwrap_or_default();
        let prometheus_replicas = replicas.prometheus.unwrap_or(default_replicas);
        check_range("spec.replicas.prometheus", prometheus_replicas, 1, 10)?;
        let query_replicas = replicas.query.unwrap_or(default_replicas);
        check_range("spec.replicas.query", query_replicas, 1, 100)?;
        let store_replicas = replicas.store.unwrap_or(default_replicas);
        check_range("spec.replicas.store", store_replicas, 1, 10)?;
        let store_shards = scale::store_shards(spec)?;

        let (retention, block_duration) = parts::metrics(spec, &mut warnings)?;
        let [
            (prometheus_image, prometheus_version),
            (thanos_image, thanos_version),
        ] = parts::images(spec, &mut warnings)?;
        let (replica_label, replica_label_defaulted, external_labels) =
            parts::labels(spec, &mut warnings)?;
        parts::check_base_domain(name, spec)?;

        let retention_size = scale::retention_size(spec)?;
        let compact_concurrency = scale::compact_concurrency(spec)?;
        let storage = parts::storage(
            spec,
            compact_concurrency,
            retention_size.as_deref(),
            &mut warnings,
        )?;
        let memcached = scale::memcached(spec, highly_available)?;
        let query_frontend = frontend::query_frontend(spec, query_replicas)?;
        let resources = parts::resources(
            spec,
            compact_concurrency,
            query_frontend.as_ref(),
            memcached.as_ref(),
            &mut warnings,
        )?;
        let monitoring = monitoring::enabled(spec);
        let runbook_url = monitoring::runbook_url(spec)?;
        let alertmanagers = monitoring::alertmanagers(spec)?;
        let grafana = parts::grafana(spec)?;
        let compact = parts::compact(
            spec,
            prometheus_replicas,
            compact_concurrency,
            &mut warnings,
        )?;
        let ingress = parts::ingress(spec, grafana.is_some(), &mut warnings)?;
        let pod = parts::pod(spec)?;

        Ok(Self {
            name: name.into(),
            namespace: namespace.into(),
            generation,
            uid: None,
            config_map,
            bucket_secret: spec.bucket_secret.clone(),
            prometheus_replicas,
            query_replicas,
            store_replicas,
            store_shards,
            retention,
            retention_size,
            block_duration,
            prometheus_image,
            prometheus_version,
            thanos_image,
            thanos_version,
            external_labels,
            replica_label,
            replica_label_defaulted,
            base_domain: spec.base_domain.clone(),
            storage,
            resources,
            compact,
            query_frontend,
            monitoring,
            runbook_url,
            alertmanagers,
            grafana,
            memcached,
            ingress,
            pod,
            warnings,
        })
    }
}

/// The version of a default image, which always names one.
fn default_version(image: &str) -> Version {
    image_version(image).expect("a default image's tag names its version")
}

/// Fixtures for the unit tests of every module above the spec.
#[cfg(test)]
pub(crate) mod testing {
    use serde_json::{Value, json};

    use super::Stack;

    /// A checked stack in namespace `monitoring` with one external label, `cluster: eu`.
    pub fn labelled() -> Stack {
        Stack::from_parent(&json!({
            "apiVersion": super::API_VERSION, "kind": super::KIND,
            "metadata": {"name": "example", "namespace": "monitoring"},
            "spec": {"configMap": "cfg", "bucketSecret": "bucket", "externalLabels": {"cluster": "eu"}},
        }))
        .expect("valid")
    }

    /// A checked stack of `spec` (merged over the smallest valid one), named `example` in `default`.
    pub fn stack(spec: Value) -> Stack {
        let mut full = json!({"configMap": "cfg", "bucketSecret": "bucket"});
        for (key, value) in spec.as_object().expect("a spec is an object") {
            full[key] = value.clone();
        }
        Stack::from_parent(&json!({
            "apiVersion": super::API_VERSION, "kind": super::KIND,
            "metadata": {"name": "example", "namespace": "default"},
            "spec": full,
        }))
        .expect("the test spec is valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parent(spec: Value) -> Value {
        json!({
            "apiVersion": API_VERSION, "kind": KIND,
            "metadata": {"name": "example", "namespace": "default", "generation": 3},
            "spec": spec,
        })
    }

    fn stack(spec: Value) -> Stack {
        Stack::from_parent(&parent(spec)).expect("the spec is valid")
    }

    #[test]
    fn defaults_match_the_2018_operator_and_the_design() {
        let stack = stack(json!({"configMap": "cfg", "bucketSecret": "bucket"}));
        assert_eq!(stack.prometheus_replicas, 1);
        assert_eq!(stack.query_replicas, 1);
        assert_eq!(stack.retention, "24h");
        assert_eq!(stack.block_duration, "2h");
        assert_eq!(stack.replica_label, "prometheus_replica");
        assert!(stack.replica_label_defaulted);
        assert_eq!(stack.prometheus_version, Version::new(3, 14, 0));
        assert_eq!(stack.thanos_version, Version::new(0, 42, 4));
        assert_eq!(stack.prometheus_image, PROMETHEUS_IMAGE);
        assert_eq!(stack.thanos_image, THANOS_IMAGE);
        assert_eq!(stack.generation, Some(3));
        assert!(stack.compact.is_some());
        assert!(stack.warnings.is_empty(), "{:?}", stack.warnings);
    }

    #[test]
    fn highly_available_means_two_of_each() {
        let stack =
            stack(json!({"configMap": "cfg", "bucketSecret": "b", "highlyAvailable": true}));
        assert_eq!(
            (
                stack.prometheus_replicas,
                stack.query_replicas,
                stack.store_replicas
            ),
            (2, 2, 2)
        );
        assert!(stack.highly_available());
    }

    #[test]
    fn the_2018_spellings_are_accepted_with_a_warning() {
        let stack = stack(json!({"config": "cfg", "HighlyAvailable": true, "bucketSecret": "b"}));
        assert_eq!(stack.config_map, "cfg");
        assert_eq!(stack.prometheus_replicas, 2);
        assert_eq!(stack.warnings.len(), 2, "{:?}", stack.warnings);
        assert!(stack.warnings[0].contains("rename it to spec.configMap"));
    }

    #[test]
    fn retention_shorter_than_three_blocks_is_warned() {
        let stack =
            stack(json!({"configMap": "c", "bucketSecret": "b", "metrics": {"retention": "4h"}}));
        assert!(
            stack
                .warnings
                .iter()
                .any(|w| w.contains("shorter than 3 times")),
            "{:?}",
            stack.warnings
        );
    }

    #[test]
    fn operator_labels_win_over_spec_external_labels() {
        let stack = stack(json!({"configMap": "c", "bucketSecret": "b",
            "externalLabels": {"prometheus": "x", "prometheus_replica": "y", "cluster": "eu"}}));
        assert_eq!(
            stack.external_labels,
            BTreeMap::from([("cluster".into(), "eu".into())])
        );
        assert_eq!(stack.warnings.len(), 2, "{:?}", stack.warnings);
    }

    #[test]
    fn images_older_than_supported_are_refused_naming_the_field() {
        for (images, field) in [
            (
                json!({"prometheus": "prom/prometheus:v2.45.0"}),
                "spec.images.prometheus",
            ),
            (
                json!({"thanos": "quay.io/thanos/thanos:v0.36.1"}),
                "spec.images.thanos",
            ),
        ] {
            let error = Stack::from_parent(&parent(
                json!({"configMap": "c", "bucketSecret": "b", "images": images}),
            ))
            .unwrap_err()
            .to_string();
            assert!(
                error.contains(field) && error.contains("oldest supported"),
                "{error}"
            );
        }
        let stack = stack(json!({"configMap": "c", "bucketSecret": "b", "images": {
            "prometheus": "prom/prometheus:v2.53.3", "thanos": "quay.io/thanos/thanos:v0.37.2"}}));
        assert_eq!(stack.prometheus_version, Version::new(2, 53, 3));
        assert_eq!(stack.thanos_version, Version::new(0, 37, 2));
        assert!(stack.warnings.is_empty(), "{:?}", stack.warnings);
    }

    #[test]
    fn tls_per_host_and_one_shared_secret_exclude_each_other() {
        let error = Stack::from_parent(&parent(json!({"configMap": "c", "bucketSecret": "b",
            "ingress": {"tlsSecretName": "tls", "tlsPerHost": true}})))
        .unwrap_err();
        assert!(
            matches!(&error, Error::Invalid { field, .. } if field == "spec.ingress.tlsPerHost"),
            "{error}"
        );
        let per_host = stack(json!({"configMap": "c", "bucketSecret": "b",
            "ingress": {"tlsSecretName": "tls", "tlsPerHost": false}}));
        assert_eq!(
            per_host.ingress.tls_secret("example-query").as_deref(),
            Some("tls")
        );
    }

    #[test]
    fn a_secret_shared_by_ingresses_under_cert_managers_ingress_shim_is_warned() {
        let warned = |spec: Value| {
            stack(spec)
                .warnings
                .iter()
                .any(|w| w.contains("spec.ingress.tlsSecretName") && w.contains("tlsPerHost"))
        };
        let shim = json!({"cert-manager.io/cluster-issuer": "letsencrypt"});
        assert!(warned(
            json!({"configMap": "c", "bucketSecret": "b", "baseDomain": "example.org",
            "ingress": {"tlsSecretName": "tls", "exposePrometheus": true, "annotations": shim}})
        ));
        // One host, no shim, or a Secret per host: nothing to say.
        assert!(!warned(
            json!({"configMap": "c", "bucketSecret": "b", "baseDomain": "example.org",
            "ingress": {"tlsSecretName": "tls", "annotations": shim}})
        ));
        assert!(!warned(
            json!({"configMap": "c", "bucketSecret": "b", "baseDomain": "example.org",
            "ingress": {"tlsSecretName": "tls", "exposePrometheus": true}})
        ));
        assert!(!warned(
            json!({"configMap": "c", "bucketSecret": "b", "baseDomain": "example.org",
            "ingress": {"tlsPerHost": true, "exposePrometheus": true, "annotations": shim}})
        ));
    }

    #[test]
    fn compactor_retention_of_zero_keeps_forever() {
        let stack = stack(json!({"configMap": "c", "bucketSecret": "b",
            "compact": {"retention": {"raw": "0d", "fiveMinutes": "0d", "oneHour": "0d"}}}));
        assert_eq!(stack.compact.unwrap().retention_raw, "0d");
    }

    #[test]
    fn a_parent_that_is_not_an_object_or_lacks_a_namespace_is_a_bad_request() {
        assert!(matches!(
            Stack::from_parent(&Value::Null),
            Err(Error::BadRequest(_))
        ));
        let mut no_namespace = parent(json!({"configMap": "c", "bucketSecret": "b"}));
        no_namespace["metadata"]["namespace"].take();
        let error = Stack::from_parent(&no_namespace).unwrap_err();
        assert!(
            matches!(&error, Error::BadRequest(m) if m.contains("metadata.namespace")),
            "{error}"
        );
    }

    #[test]
    fn scale_settings_that_do_not_fit_are_warned() {
        let warned =
            |spec: Value, text: &str| stack(spec).warnings.iter().any(|w| w.contains(text));
        assert!(warned(
            json!({"configMap": "c", "bucketSecret": "b", "metrics": {"retentionSize": "10GB"},
                "storage": {"prometheus": {"size": "10Gi"}}}),
            "spec.metrics.retentionSize is not below"
        ));
        assert!(!warned(
            json!({"configMap": "c", "bucketSecret": "b", "metrics": {"retentionSize": "9GB"},
                "storage": {"prometheus": {"size": "10Gi"}}}),
            "spec.metrics.retentionSize"
        ));
        assert!(warned(
            json!({"configMap": "c", "bucketSecret": "b", "compact": {"deduplication": true}}),
            "no replica blocks to merge"
        ));
        assert!(!warned(
            json!({"configMap": "c", "bucketSecret": "b", "highlyAvailable": true,
                "compact": {"deduplication": true}}),
            "spec.compact.deduplication"
        ));
    }

    #[test]
    fn defaults_for_scale_follow_the_thanos_docs() {
        let stack = stack(json!({"configMap": "c", "bucketSecret": "b"}));
        assert_eq!(stack.storage.compact.size.0, "100Gi");
        assert!(stack.storage.compact.size_defaulted);
        let compact = stack.compact.as_ref().unwrap();
        assert_eq!((compact.concurrency, compact.deduplication), (1, false));
        assert_eq!(stack.retention_size, None);
        assert_eq!(stack.memcached, None);
        assert_eq!(stack.pod.topology_spread, TopologySpread::Soft);
        assert_eq!(
            stack.resources.compact.requests.as_ref().unwrap()["memory"].0,
            "1Gi"
        );
        // The frontend's request holds its 256MB cache and the process.
        assert_eq!(
            stack.resources.query_frontend.requests.as_ref().unwrap()["memory"].0,
            "501Mi"
        );
    }

    #[test]
    fn errors_quote_long_values_briefly() {
        let error = Stack::from_parent(&parent(json!({"configMap": "c", "bucketSecret": "b",
            "metrics": {"retention": "x".repeat(1000)}})))
        .unwrap_err();
        assert!(error.to_string().len() < 300, "{error}");
    }
}
