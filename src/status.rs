//! The parent's status, computed from the observed children only.
//!
//! Deterministic: no clock. A condition's `lastTransitionTime` is carried over from the parent's current
//! status while the condition does not change; on a change it is the newest timestamp found in the request
//! (creation, managedFields and condition times of the parent and the observed children).

mod conditions;
pub mod conflicts;
mod workload;

pub use conditions::newest_timestamp;

use crate::Result;
use crate::api::{LocalStatus, OutputStatus, PrometheusReplicaStatus};
use crate::error::Problem;
use crate::hook::SyncRequest;
use crate::names::{self, Component, GRAFANA_PORT, HTTP_PORT, Names, PROMETHEUS_PORT};
use crate::spec::Stack;
use workload::{Workload, workload_names};

/// The status of a parent whose desired children were rendered with these problems and warnings.
pub fn status(
    stack: &Stack,
    request: &SyncRequest,
    problems: &[Problem],
    pending_immutable: bool,
    warnings: Vec<String>,
) -> Result<PrometheusReplicaStatus> {
    let workloads: Vec<Workload> = components(stack)
        .iter()
        .map(|c| Workload::observe(stack, request, *c))
        .collect::<Result<_>>()?;

    let phase = conditions::phase(&workloads, problems);
    let conditions =
        conditions::conditions(stack, request, &workloads, problems, pending_immutable);

    let component_status = |component: Component| {
        workloads
            .iter()
            .find(|w| w.component == component)
            .map(|w| w.status.clone())
    };

    let mut warnings = warnings;
    let mut seen = std::collections::BTreeSet::new();
    warnings.retain(|w| seen.insert(w.clone()));

    Ok(PrometheusReplicaStatus {
        phase: Some(phase),
        conditions,
        observed_generation: None,
        prometheus: component_status(Component::Prometheus),
        query: component_status(Component::Query),
        store: component_status(Component::Store),
        compact: component_status(Component::Compact),
        query_frontend: component_status(Component::QueryFrontend),
        grafana: component_status(Component::Grafana),
        memcached: component_status(Component::Memcached),
        output: Some(output(stack)),
        local: Some(local(stack)),
        warnings,
    })
}

/// The components the stack runs.
fn components(stack: &Stack) -> Vec<Component> {
    let mut components = vec![Component::Prometheus, Component::Store, Component::Query];
    if stack.compact.is_some() {
        components.push(Component::Compact);
    }
    if stack.query_frontend.is_some() {
        components.push(Component::QueryFrontend);
    }
    if stack.grafana.is_some() {
        components.push(Component::Grafana);
    }
    if stack.memcached.is_some() {
        components.push(Component::Memcached);
    }
    components
}

/// Where the stack answers: its Services' URLs in the cluster, and its Ingresses' outside it.
fn output(stack: &Stack) -> OutputStatus {
    let names = Names::new(stack);
    let external = |component| names::external_url(stack, component);
    let query_entry = if stack.query_frontend.is_some() {
        Component::QueryFrontend
    } else {
        Component::Query
    };
    OutputStatus {
        query: format!(
            "http://{}.{}.svc:{HTTP_PORT}",
            names.workload(query_entry),
            stack.namespace
        ),
        query_external: external(Component::Query),
        prometheus: format!(
            "http://{}.{}.svc:{PROMETHEUS_PORT}",
            names.workload(Component::Prometheus),
            stack.namespace
        ),
        prometheus_external: external(Component::Prometheus),
        grafana: stack.grafana.as_ref().map(|_| {
            format!(
                "http://{}.{}.svc:{GRAFANA_PORT}",
                names.workload(Component::Grafana),
                stack.namespace
            )
        }),
        grafana_external: external(Component::Grafana),
    }
}

/// The names of the stack's workloads.
fn local(stack: &Stack) -> LocalStatus {
    let names = Names::new(stack);
    LocalStatus {
        stores: workload_names(stack, Component::Store),
        prometheuses: vec![names.workload(Component::Prometheus)],
        queries: vec![names.workload(Component::Query)],
        compactors: stack
            .compact
            .iter()
            .map(|_| names.workload(Component::Compact))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::spec::testing::stack;
    use k8s_openapi::jiff::Timestamp;

    fn request(children: Value) -> SyncRequest {
        serde_json::from_value(json!({
            "parent": {"metadata": {"name": "example", "creationTimestamp": "2026-01-01T00:00:00Z"}},
            "children": children,
        }))
        .unwrap()
    }

    /// The status of a parent with `spec` before any child exists.
    fn fresh(spec: Value) -> PrometheusReplicaStatus {
        status(&stack(spec), &request(json!({})), &[], false, Vec::new()).unwrap()
    }

    fn statefulset(name: &str, generation: i64, observed: i64, ready: i64) -> Value {
        json!({"metadata": {"name": name, "generation": generation,
                            "creationTimestamp": "2026-01-02T00:00:00Z",
                            "managedFields": [{"time": "2026-01-03T00:00:00Z"}]},
               "status": {"observedGeneration": observed, "readyReplicas": ready, "updatedReplicas": ready,
                          "conditions": [{"lastTransitionTime": "2026-01-04T05:06:07Z"}]}})
    }

    #[test]
    fn the_newest_time_of_the_request_is_found_wherever_it_is() {
        let request = request(json!({"StatefulSet.apps/v1": {"a": statefulset("a", 1, 1, 1)}}));
        assert_eq!(
            newest_timestamp(&request).0.to_string(),
            "2026-01-04T05:06:07Z"
        );
        assert_eq!(
            newest_timestamp(&self::request(json!({}))).0.to_string(),
            "2026-01-01T00:00:00Z"
        );
        let bare: SyncRequest = serde_json::from_value(json!({"parent": {}})).unwrap();
        assert_eq!(
            newest_timestamp(&bare).0,
            Timestamp::UNIX_EPOCH,
            "no time at all: the epoch, not the clock"
        );
    }

    #[test]
    fn a_workload_whose_controller_has_not_seen_its_generation_is_still_rolling_out() {
        let stack = stack(json!({}));
        let stale = request(
            json!({"StatefulSet.apps/v1": {"p": statefulset("example-prometheus", 2, 1, 1)}}),
        );
        assert!(
            !Workload::observe(&stack, &stale, Component::Prometheus)
                .unwrap()
                .complete
        );
        let current = request(
            json!({"StatefulSet.apps/v1": {"p": statefulset("example-prometheus", 2, 2, 1)}}),
        );
        let workload = Workload::observe(&stack, &current, Component::Prometheus).unwrap();
        assert!(workload.complete);
        assert_eq!(workload.status.ready, "1/1");
    }

    #[test]
    fn the_store_gateway_counts_every_shards_replicas_and_completes_with_the_last_shard() {
        let stack = stack(json!({"replicas": {"store": 2}, "store": {"shards": 2}}));
        let one = request(json!({"StatefulSet.apps/v1": {
            "s0": statefulset("example-thanos-store-0", 1, 1, 2)}}));
        let workload = Workload::observe(&stack, &one, Component::Store).unwrap();
        assert_eq!(workload.status.ready, "2/4");
        assert!(!workload.complete, "a shard is missing");
        assert!(!workload.serving, "a shard's blocks are served by no pod");
        let both = request(json!({"StatefulSet.apps/v1": {
            "s0": statefulset("example-thanos-store-0", 1, 1, 2),
            "s1": statefulset("example-thanos-store-1", 1, 1, 2)}}));
        let workload = Workload::observe(&stack, &both, Component::Store).unwrap();
        assert_eq!(workload.status.ready, "4/4");
        assert!(workload.complete && workload.serving);
        let one_each = request(json!({"StatefulSet.apps/v1": {
            "s0": statefulset("example-thanos-store-0", 1, 1, 1),
            "s1": statefulset("example-thanos-store-1", 1, 1, 1)}}));
        let workload = Workload::observe(&stack, &one_each, Component::Store).unwrap();
        assert!(
            !workload.complete && workload.serving,
            "each shard has a ready replica"
        );
        // A StatefulSet being replaced is not counted.
        let old = request(json!({"StatefulSet.apps/v1": {
            "s": statefulset("example-thanos-store", 1, 1, 2)}}));
        let workload = Workload::observe(&stack, &old, Component::Store).unwrap();
        assert_eq!(workload.status.ready, "0/4");
    }

    #[test]
    fn the_query_url_is_the_frontends_while_it_runs() {
        let on = fresh(json!({}));
        assert_eq!(
            on.output.unwrap().query,
            "http://example-thanos-query-frontend.default.svc:10902"
        );
        assert_eq!(on.query_frontend.unwrap().ready, "0/1");
        let off = fresh(json!({"queryFrontend": {"enabled": false}}));
        assert_eq!(
            off.output.unwrap().query,
            "http://example-thanos-query.default.svc:10902"
        );
        assert!(off.query_frontend.is_none());
    }

    #[test]
    fn grafana_has_a_url_and_replica_counts_only_when_it_runs() {
        let on = fresh(json!({"baseDomain": "example.org",
            "grafana": {"enabled": true, "adminSecret": "admin"}}));
        let output = on.output.unwrap();
        assert_eq!(
            output.grafana.as_deref(),
            Some("http://example-grafana.default.svc:3000")
        );
        assert_eq!(
            output.grafana_external.as_deref(),
            Some("http://example-grafana.example.org")
        );
        assert_eq!(on.grafana.unwrap().ready, "0/1");
        let off = fresh(json!({}));
        assert!(off.output.unwrap().grafana.is_none() && off.grafana.is_none());
    }
}
