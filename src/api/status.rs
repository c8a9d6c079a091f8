//! The `status` of a `PrometheusReplica`: computed by [`crate::status`] from the observed children only.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The observed state, computed from the observed children only.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusReplicaStatus {
    /// `Install` before any workload exists, `Creating` while one is not fully ready, `Running` when all are,
    /// `Error` when the stack cannot run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,

    /// `Available`, `Progressing` and `Degraded`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,

    /// The parent generation that this status describes (written by Metacontroller).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// The Prometheus StatefulSet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<ComponentStatus>,
    /// The Thanos querier Deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<ComponentStatus>,
    /// The Thanos store gateway StatefulSet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<ComponentStatus>,
    /// The Thanos compactor StatefulSet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compact: Option<ComponentStatus>,
    /// The Thanos query frontend Deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_frontend: Option<ComponentStatus>,
    /// The Grafana Deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grafana: Option<ComponentStatus>,
    /// The memcached Deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memcached: Option<ComponentStatus>,

    /// Where to reach the stack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<OutputStatus>,

    /// The names of the workloads, as in 2018.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<LocalStatus>,

    /// Things that work but deserve attention, such as a change that cannot be applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// The lifecycle phase, with the 2018 names.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum Phase {
    /// No workload has been observed yet.
    Install,
    /// A workload is not fully ready.
    Creating,
    /// Every workload is ready.
    Running,
    /// The stack cannot run until the spec or a referenced object is fixed.
    Error,
}

/// Replica counts of one workload.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComponentStatus {
    /// Desired replicas.
    pub replicas: i32,
    /// Ready replicas.
    pub ready_replicas: i32,
    /// Replicas running the current template.
    pub updated_replicas: i32,
    /// `ready/desired`, for `kubectl get`.
    pub ready: String,
}

/// Where to reach the stack.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutputStatus {
    /// In-cluster URL of the Prometheus HTTP API over the whole stack, deduplicated: the query frontend's, or
    /// the querier's when the frontend is off.
    pub query: String,
    /// External URL of the same, with `baseDomain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_external: Option<String>,
    /// In-cluster URL of Prometheus.
    pub prometheus: String,
    /// External URL of Prometheus, with `baseDomain` and `ingress.exposePrometheus`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus_external: Option<String>,
    /// In-cluster URL of Grafana, when it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grafana: Option<String>,
    /// External URL of Grafana, with `baseDomain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grafana_external: Option<String>,
}

/// The names of the workloads.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LocalStatus {
    /// Store gateway StatefulSets.
    pub stores: Vec<String>,
    /// Prometheus StatefulSets.
    pub prometheuses: Vec<String>,
    /// Querier Deployments.
    pub queries: Vec<String>,
    /// Compactor StatefulSets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compactors: Vec<String>,
}
