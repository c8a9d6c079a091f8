//! The parent's status, computed from the observed children only.
//!
//! Deterministic: no clock. A condition's `lastTransitionTime` is carried over from the parent's current
//! status while the condition does not change; on a change it is the newest timestamp found in the request
//! (creation, managedFields and condition times of the parent and the observed children).

pub mod conflicts;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use serde::Deserialize;
use serde_json::Value;

use crate::api::{ComponentStatus, LocalStatus, OutputStatus, Phase, PrometheusReplicaStatus};
use crate::error::Problem;
use crate::hook::{self, Object, SyncRequest};
use crate::names::{self, Component, Names};
use crate::names::{GRAFANA_PORT, HTTP_PORT, PROMETHEUS_PORT};
use crate::spec::Stack;
use crate::{Error, Result};

/// What the status reads of an observed workload; the rest of it is skipped unread.
#[derive(Deserialize)]
struct Rollout {
    #[serde(default)]
    metadata: Generation,
    #[serde(default)]
    status: Value,
}

#[derive(Deserialize, Default)]
struct Generation {
    #[serde(default)]
    generation: Value,
}

/// A workload as observed.
struct Workload {
    component: Component,
    status: ComponentStatus,
    observed: bool,
    /// Observed, with every replica ready and running the current template.
    complete: bool,
    /// Whether each of its workloads (each store gateway shard) has a ready replica: else some data is
    /// unserved.
    serving: bool,
}

impl Workload {
    /// A component's workloads as observed: for the store gateway, every shard's StatefulSet, summed.
    fn observe(stack: &Stack, request: &SyncRequest, component: Component) -> Result<Self> {
        let kind = component.kind();
        let (per_workload, desired) = (
            names::replicas(stack, component),
            names::pods(stack, component),
        );
        let (mut ready, mut updated) = (0, 0);
        let (mut observed, mut complete, mut serving) = (false, true, true);
        for name in workload_names(stack, component) {
            let rollout = hook::find(&request.children, kind, &stack.namespace, &name)
                .map(|object| {
                    object
                        .read::<Rollout>()
                        .map_err(|e| Error::BadRequest(format!("children: {kind} {name}: {e}")))
                })
                .transpose()?;
            let Some(rollout) = rollout else {
                complete = false;
                serving = false;
                continue;
            };
            observed = true;
            let count = |field: &str| {
                rollout
                    .status
                    .get(field)
                    .and_then(Value::as_i64)
                    .and_then(|n| i32::try_from(n).ok())
                    .unwrap_or(0)
            };
            let generation = rollout.metadata.generation.as_i64();
            let seen = rollout
                .status
                .get("observedGeneration")
                .and_then(Value::as_i64);
            let current = match (generation, seen) {
                (Some(generation), Some(seen)) => seen >= generation,
                (None, _) => true,
                (Some(_), None) => false,
            };
            let (set_ready, set_updated) = (count("readyReplicas"), count("updatedReplicas"));
            complete &= current && set_ready >= per_workload && set_updated >= per_workload;
            serving &= set_ready >= 1;
            ready += set_ready;
            updated += set_updated;
        }
        Ok(Self {
            component,
            status: ComponentStatus {
                replicas: desired,
                ready_replicas: ready,
                updated_replicas: updated,
                ready: format!("{ready}/{desired}"),
            },
            observed,
            complete: observed && complete,
            serving,
        })
    }

    fn describe(&self) -> String {
        let s = &self.status;
        if self.observed {
            format!(
                "{} (ready {}/{}, updated {}/{})",
                self.component.label(),
                s.ready_replicas,
                s.replicas,
                s.updated_replicas,
                s.replicas
            )
        } else {
            format!("{} (not created yet)", self.component.label())
        }
    }
}

/// The names of a component's workloads: one per store gateway shard, else one.
fn workload_names(stack: &Stack, component: Component) -> Vec<String> {
    let names = Names::new(stack);
    if component == Component::Store {
        names::store_shards(stack)
            .into_iter()
            .map(|shard| names.store(shard.map(|s| s.index)))
            .collect()
    } else {
        vec![names.workload(component)]
    }
}

/// The status of a parent whose desired children were rendered with these problems and warnings.
pub fn status(
    stack: &Stack,
    request: &SyncRequest,
    problems: &[Problem],
    pending_immutable: bool,
    warnings: Vec<String>,
) -> Result<PrometheusReplicaStatus> {
    let names = Names::new(stack);
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
    let workloads: Vec<Workload> = components
        .iter()
        .map(|c| Workload::observe(stack, request, *c))
        .collect::<Result<_>>()?;

    let nothing_observed = workloads.iter().all(|w| !w.observed);
    let all_complete = workloads.iter().all(|w| w.complete);
    let phase = if !problems.is_empty() && !all_complete {
        Phase::Error
    } else if nothing_observed {
        Phase::Install
    } else if all_complete {
        Phase::Running
    } else {
        Phase::Creating
    };

    let unavailable: Vec<&str> = workloads
        .iter()
        .filter(|w| {
            // A cache: queries are answered without it, only slower.
            !matches!(
                w.component,
                Component::Compact | Component::Grafana | Component::Memcached
            ) && !w.serving
        })
        .map(|w| w.component.label())
        .collect();
    let available = if unavailable.is_empty() {
        (
            "True",
            "MinimumReplicasAvailable",
            "every component that serves queries has a ready replica".to_string(),
        )
    } else {
        (
            "False",
            "ComponentsUnavailable",
            format!("no ready replica yet: {}", unavailable.join(", ")),
        )
    };

    let rolling: Vec<String> = workloads
        .iter()
        .filter(|w| !w.complete)
        .map(Workload::describe)
        .collect();
    let progressing = if rolling.is_empty() {
        (
            "False",
            "RolloutComplete",
            "every workload is ready and up to date".to_string(),
        )
    } else {
        (
            "True",
            "RollingOut",
            format!("waiting for {}", rolling.join(", ")),
        )
    };

    let degraded = if let Some(first) = problems.first() {
        let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        ("True", first.reason, messages.join("; "))
    } else if pending_immutable {
        (
            "True",
            "ImmutableFieldChangePending",
            "a change cannot be applied in place: see status.warnings".to_string(),
        )
    } else {
        (
            "False",
            "AsExpected",
            "the referenced ConfigMap and Secret are usable".to_string(),
        )
    };

    let newest = newest_timestamp(request);
    let current = current_conditions(&request.parent);
    let conditions = [
        ("Available", available),
        ("Progressing", progressing),
        ("Degraded", degraded),
    ]
    .into_iter()
    .map(|(type_, (status, reason, message))| {
        let last_transition_time = current
            .iter()
            .find(|c| c.type_ == type_ && c.status == status)
            .map(|c| c.last_transition_time.clone())
            .unwrap_or_else(|| newest.clone());
        Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message,
            last_transition_time,
            observed_generation: stack.generation,
        }
    })
    .collect();

    let external = |component| names::external_url(stack, component);
    let component_status = |component: Component| {
        workloads
            .iter()
            .find(|w| w.component == component)
            .map(|w| w.status.clone())
    };

    let query_entry = if stack.query_frontend.is_some() {
        Component::QueryFrontend
    } else {
        Component::Query
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
        output: Some(OutputStatus {
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
        }),
        local: Some(LocalStatus {
            stores: workload_names(stack, Component::Store),
            prometheuses: vec![names.workload(Component::Prometheus)],
            queries: vec![names.workload(Component::Query)],
            compactors: stack
                .compact
                .iter()
                .map(|_| names.workload(Component::Compact))
                .collect(),
        }),
        warnings,
    })
}

/// The conditions of the parent's current status; unreadable ones are ignored (they are replaced).
fn current_conditions(parent: &Value) -> Vec<Condition> {
    parent
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| serde_json::from_value(c.clone()).ok())
        .collect()
}

/// The newest timestamp of the parent and the observed children, or the Unix epoch when there is none.
pub fn newest_timestamp(request: &SyncRequest) -> Time {
    let children = request.children.values().flat_map(|m| m.values());
    let newest = children
        .filter_map(Object::newest_time)
        .chain(hook::newest_time(&request.parent))
        .fold(Timestamp::UNIX_EPOCH, Timestamp::max);
    Time(newest)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::render::testing::stack;

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
