//! The stack's vocabulary, shared by rendering and status: its components, the names of their children, their
//! labels, how many pods each runs, their ports and the hosts its Ingresses expose. Rendering builds the
//! children with these; status reads the same ones back, so neither depends on how the other works.

use std::collections::BTreeMap;

use crate::spec::Stack;

/// Prometheus's web port.
pub const PROMETHEUS_PORT: i32 = 9090;
/// gRPC StoreAPI port of every Thanos component.
pub const GRPC_PORT: i32 = 10901;
/// HTTP port of every Thanos component (metrics, health).
pub const HTTP_PORT: i32 = 10902;
/// Grafana's HTTP port (UI, API, `/metrics`).
pub const GRAFANA_PORT: i32 = 3000;

/// Where Prometheus and the sidecar see the configuration ConfigMap: the whole directory, no `subPath`, so
/// that updates arrive.
pub const CONFIG_DIR: &str = "/etc/prometheus/config";

/// The value of `app.kubernetes.io/managed-by` on every child.
pub const MANAGED_BY: &str = "prometheus-replica-operator";

/// A part of the stack; it decides names and labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Component {
    Prometheus,
    Store,
    Query,
    Compact,
    QueryFrontend,
    /// Grafana, and the datasource and dashboard ConfigMaps that any Grafana can read.
    Grafana,
    /// memcached, the shared cache of the query frontend and the store gateway.
    Memcached,
}

impl Component {
    /// `app.kubernetes.io/component`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Prometheus => "prometheus",
            Self::Store => "store",
            Self::Query => "query",
            Self::Compact => "compact",
            Self::QueryFrontend => "query-frontend",
            Self::Grafana => "grafana",
            Self::Memcached => "memcached",
        }
    }

    /// The kind of the component's workload.
    pub fn kind(self) -> &'static str {
        match self {
            Self::Query | Self::QueryFrontend | Self::Grafana | Self::Memcached => "Deployment",
            Self::Prometheus | Self::Store | Self::Compact => "StatefulSet",
        }
    }

    /// `app.kubernetes.io/name`: the program the pods run.
    fn app(self) -> &'static str {
        match self {
            Self::Prometheus => "prometheus",
            Self::Grafana => "grafana",
            Self::Memcached => "memcached",
            Self::Store | Self::Query | Self::Compact | Self::QueryFrontend => "thanos",
        }
    }
}

/// The label of a store gateway shard's pods, its index: in the selector of the shard's StatefulSet, beside
/// the component's, so that each shard's StatefulSet, anti-affinity and zone spread select its own pods while
/// the `<name>-thanos-store` Service (and so the querier and self-monitoring) and the PodDisruptionBudget
/// select every store gateway pod.
pub const SHARD_LABEL: &str = "prometheus.robszumski.com/store-shard";
/// The pod template annotation of a shard: how many shards the bucket was split into when it was rendered.
/// The transition between shard counts reads it from the observed StatefulSets.
pub const SHARDS_ANNOTATION: &str = "prometheus.robszumski.com/store-shards";

/// One store gateway shard: the blocks whose id hashes to `index` modulo `of`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: i32,
    pub of: i32,
}

/// The store gateway StatefulSets of a stack: `[None]`, the one `<name>-thanos-store` that serves every block,
/// or one per shard.
pub fn store_shards(stack: &Stack) -> Vec<Option<Shard>> {
    if stack.store_shards <= 1 {
        return vec![None];
    }
    (0..stack.store_shards)
        .map(|index| {
            Some(Shard {
                index,
                of: stack.store_shards,
            })
        })
        .collect()
}

/// The names of every child of one parent.
pub struct Names<'a> {
    name: &'a str,
}

impl<'a> Names<'a> {
    pub fn new(stack: &'a Stack) -> Self {
        Self { name: &stack.name }
    }

    /// The workload of a component, and the Service in front of it.
    pub fn workload(&self, component: Component) -> String {
        match component {
            Component::Prometheus => format!("{}-prometheus", self.name),
            Component::Store => format!("{}-thanos-store", self.name),
            Component::Query => format!("{}-thanos-query", self.name),
            Component::Compact => format!("{}-thanos-compact", self.name),
            Component::QueryFrontend => format!("{}-thanos-query-frontend", self.name),
            Component::Grafana => format!("{}-grafana", self.name),
            Component::Memcached => format!("{}-memcached", self.name),
        }
    }

    /// The StatefulSet of a store gateway shard (`None`: the unsharded one, `<name>-thanos-store`). The
    /// index is one digit (at most [`crate::spec::MAX_STORE_SHARDS`] shards), so that the name fits at the
    /// longest parent name.
    pub fn store(&self, shard: Option<i32>) -> String {
        match shard {
            None => self.workload(Component::Store),
            Some(index) => format!("{}-{index}", self.workload(Component::Store)),
        }
    }

    /// The Grafana datasource of the stack, for the usual Grafana sidecar (`grafana_datasource: "1"`).
    pub fn grafana_datasources(&self) -> String {
        format!("{}-grafana-datasources", self.name)
    }

    /// The Grafana dashboard of the stack, for the usual Grafana sidecar (`grafana_dashboard: "1"`).
    pub fn grafana_dashboards(&self) -> String {
        format!("{}-grafana-dashboards", self.name)
    }

    /// The headless Service of the sidecars' gRPC ports (the 2018 "peers" Service).
    pub fn peers(&self) -> String {
        format!("{}-thanos-peers", self.name)
    }

    /// A headless Service for self-monitoring, for a component whose Service has a virtual IP (the querier,
    /// the query frontend, Grafana): its DNS SRV records list every pod.
    pub fn discovery(&self, component: Component) -> String {
        format!("{}-sd", self.workload(component))
    }

    /// The derived Prometheus configuration.
    pub fn prometheus_config(&self) -> String {
        format!("{}{}", self.name, crate::api::DERIVED_CONFIG_SUFFIX)
    }

    /// The Ingress of a component (`<name>-query`, `<name>-prometheus`).
    pub fn ingress(&self, component: Component) -> String {
        format!("{}-{}", self.name, component.label())
    }
}

/// How many pods each workload of a component runs (each store gateway shard runs `replicas.store`). The
/// compactor runs one: two compactors on one bucket corrupt it. A disabled query frontend or Grafana runs none.
pub fn replicas(stack: &Stack, component: Component) -> i32 {
    match component {
        Component::Prometheus => stack.prometheus_replicas,
        Component::Query => stack.query_replicas,
        Component::QueryFrontend => stack.query_frontend.as_ref().map_or(0, |f| f.replicas),
        Component::Store => stack.store_replicas,
        Component::Compact => 1,
        Component::Grafana => i32::from(stack.grafana.is_some()),
        Component::Memcached => stack.memcached.as_ref().map_or(0, |m| m.replicas),
    }
}

/// How many workloads a component runs: one per store gateway shard, else one.
pub fn workloads(stack: &Stack, component: Component) -> i32 {
    match component {
        Component::Store => stack.store_shards,
        _ => 1,
    }
}

/// How many pods of a component should run in all: [`replicas`] of each of its [`workloads`]. Self-monitoring
/// and the status expect this many.
pub fn pods(stack: &Stack, component: Component) -> i32 {
    replicas(stack, component) * workloads(stack, component)
}

/// All labels of a component's objects and pods.
pub fn labels(stack: &Stack, component: Component) -> BTreeMap<String, String> {
    let mut labels = selector_labels(stack, component);
    labels.insert("app.kubernetes.io/managed-by".into(), MANAGED_BY.into());
    labels
}

/// The stable subset of [`labels`] that selectors use: it never changes for a given parent and component,
/// because a workload's selector is immutable.
pub fn selector_labels(stack: &Stack, component: Component) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".into(), component.app().into()),
        ("app.kubernetes.io/instance".into(), stack.name.clone()),
        (
            "app.kubernetes.io/component".into(),
            component.label().into(),
        ),
    ])
}

/// The host of a component's Ingress.
pub fn host(stack: &Stack, component: Component, base_domain: &str) -> String {
    format!("{}.{base_domain}", Names::new(stack).ingress(component))
}

/// The components exposed by an Ingress: none without `baseDomain`.
pub fn exposed(stack: &Stack) -> Vec<Component> {
    if stack.base_domain.is_none() {
        return Vec::new();
    }
    let mut exposed = vec![Component::Query];
    if stack.ingress.expose_prometheus {
        exposed.push(Component::Prometheus);
    }
    if stack.grafana.is_some() {
        exposed.push(Component::Grafana);
    }
    exposed
}

/// The external URL of a component, `http(s)://<host>`, when an Ingress exposes it.
pub fn external_url(stack: &Stack, component: Component) -> Option<String> {
    let domain = stack.base_domain.as_ref()?;
    if !exposed(stack).contains(&component) {
        return None;
    }
    let scheme = if stack.ingress.tls() { "https" } else { "http" };
    Some(format!("{scheme}://{}", host(stack, component, domain)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::testing::stack;

    #[test]
    fn every_child_name_is_prefixed_with_the_parent_name() {
        let stack = stack(serde_json::json!({}));
        let names = Names::new(&stack);
        assert_eq!(names.workload(Component::Prometheus), "example-prometheus");
        assert_eq!(names.workload(Component::Store), "example-thanos-store");
        assert_eq!(names.workload(Component::Query), "example-thanos-query");
        assert_eq!(names.workload(Component::Compact), "example-thanos-compact");
        assert_eq!(
            names.workload(Component::QueryFrontend),
            "example-thanos-query-frontend"
        );
        assert_eq!(names.peers(), "example-thanos-peers");
        assert_eq!(names.prometheus_config(), "example-prometheus-config");
        assert_eq!(
            names.discovery(Component::QueryFrontend),
            "example-thanos-query-frontend-sd"
        );
        assert_eq!(names.ingress(Component::Query), "example-query");
    }

    #[test]
    fn store_shards_are_named_by_a_one_digit_index_and_counted_in_the_pods() {
        let one = stack(serde_json::json!({"highlyAvailable": true}));
        assert_eq!(store_shards(&one), [None]);
        assert_eq!(pods(&one, Component::Store), 2);
        let three = stack(serde_json::json!({"highlyAvailable": true, "store": {"shards": 3}}));
        let shards = store_shards(&three);
        assert_eq!(shards.len(), 3);
        assert_eq!(shards[2], Some(Shard { index: 2, of: 3 }));
        assert_eq!(replicas(&three, Component::Store), 2, "per shard");
        assert_eq!(pods(&three, Component::Store), 6, "shards x replicas");
        let names = Names::new(&three);
        assert_eq!(names.store(None), "example-thanos-store");
        assert_eq!(names.store(Some(9)), "example-thanos-store-9");
        assert_eq!(pods(&three, Component::Prometheus), 2);
    }

    #[test]
    fn selectors_are_a_stable_subset_of_the_labels() {
        let stack = stack(serde_json::json!({}));
        for component in [
            Component::Prometheus,
            Component::Store,
            Component::Query,
            Component::Compact,
            Component::QueryFrontend,
        ] {
            let labels = labels(&stack, component);
            let selector = selector_labels(&stack, component);
            assert!(selector.iter().all(|(k, v)| labels.get(k) == Some(v)));
            // managed-by may change with the operator's name; a selector cannot.
            assert!(!selector.contains_key("app.kubernetes.io/managed-by"));
            assert_eq!(labels["app.kubernetes.io/managed-by"], MANAGED_BY);
        }
        assert_ne!(
            selector_labels(&stack, Component::Store),
            selector_labels(&stack, Component::Compact),
            "each component selects its own pods"
        );
    }
}
