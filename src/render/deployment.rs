//! The Deployments of the stateless components: the querier and the query frontend.

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{Container, Volume};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::meta;
use super::{Sources, pod};
use crate::names::{self, Component, Names};
use crate::spec::{Grafana, Memcached, QueryFrontend, Stack};

/// `<name>-thanos-query`: stateless, so a Deployment. `observed_spec` is the running querier's, whose replica
/// labels are kept while `spec.replicaLabel` is unset (see [`replica_labels`]).
pub fn query(
    stack: &Stack,
    sources: &Sources,
    observed_spec: Option<&serde_json::Value>,
) -> Deployment {
    tracing::debug!(
        "Deployment: Translating HighlyAvailable to {} replica(s)",
        stack.query_replicas
    );
    let labels = replica_labels(stack, observed_spec);
    tracing::debug!("Deployment: Deduplicating replicas on the labels {labels:?}");
    deployment(
        stack,
        sources,
        Component::Query,
        pod::query(stack, &labels),
        Vec::new(),
    )
}

/// The labels the querier deduplicates on: the replica label, then, while `spec.replicaLabel` is unset, every
/// other one the observed querier already deduplicates on. Blocks keep the external labels they were uploaded
/// with, so a stack whose replicas were told apart by the former default `replica` keeps deduplicating its
/// older blocks after the default became `prometheus_replica`, and goes on doing so (its observed querier
/// carries both) until the user sets `spec.replicaLabel`, which names the one label to deduplicate on.
pub fn replica_labels(stack: &Stack, observed_spec: Option<&serde_json::Value>) -> Vec<String> {
    let mut labels = vec![stack.replica_label.clone()];
    if !stack.replica_label_defaulted {
        return labels;
    }
    let containers = observed_spec
        .and_then(|spec| spec.pointer("/template/spec/containers"))
        .and_then(serde_json::Value::as_array);
    let args = containers
        .into_iter()
        .flatten()
        .filter(|c| c.get("name").and_then(serde_json::Value::as_str) == Some(pod::QUERY_CONTAINER))
        .filter_map(|c| c.get("args").and_then(serde_json::Value::as_array))
        .flatten()
        .filter_map(serde_json::Value::as_str);
    for arg in args {
        let Some(label) = arg.strip_prefix(pod::REPLICA_LABEL_FLAG) else {
            continue;
        };
        // Only a valid label name: the flag is rendered again, so nothing else may pass through.
        if crate::spec::is_label_name(label) && !labels.iter().any(|l| l == label) {
            labels.push(label.to_owned());
        }
    }
    labels
}

/// `<name>-thanos-query-frontend`, in front of the querier.
pub fn query_frontend(stack: &Stack, sources: &Sources, frontend: &QueryFrontend) -> Deployment {
    deployment(
        stack,
        sources,
        Component::QueryFrontend,
        pod::query_frontend(stack, frontend),
        Vec::new(),
    )
}

/// `<name>-grafana`, with `grafana.enabled`.
pub fn grafana(stack: &Stack, sources: &Sources, grafana: &Grafana) -> Deployment {
    deployment(
        stack,
        sources,
        Component::Grafana,
        pod::grafana(stack, grafana),
        pod::grafana_volumes(stack),
    )
}

/// `<name>-memcached`, with `memcached.enabled`: stateless (a cache), so a Deployment; its clients find the pods
/// through the headless Service of the same name.
pub fn memcached(stack: &Stack, sources: &Sources, memcached: &Memcached) -> Deployment {
    deployment(
        stack,
        sources,
        Component::Memcached,
        pod::memcached(stack, memcached),
        Vec::new(),
    )
}

fn deployment(
    stack: &Stack,
    sources: &Sources,
    component: Component,
    container: Container,
    volumes: Vec<Volume>,
) -> Deployment {
    let name = Names::new(stack).workload(component);
    let template = pod::template(stack, sources, component, vec![container], volumes);
    Deployment {
        metadata: meta::metadata(stack, component, name),
        spec: Some(DeploymentSpec {
            replicas: Some(names::replicas(stack, component)),
            selector: meta::selector(stack, component),
            strategy: strategy(stack, component),
            template,
            ..Default::default()
        }),
        status: None,
    }
}

/// The rollout of a Deployment: the default (one surge pod, none unavailable) unless the replicas must run on
/// distinct nodes. Then, with as many eligible nodes as replicas, the surge pod fits on no node and the rollout
/// waits forever; taking one old pod down first frees a node for its replacement.
fn strategy(stack: &Stack, component: Component) -> Option<DeploymentStrategy> {
    pod::distinct_nodes_required(stack, component).then(|| DeploymentStrategy {
        type_: Some("RollingUpdate".into()),
        rolling_update: Some(RollingUpdateDeployment {
            max_surge: Some(IntOrString::Int(0)),
            max_unavailable: Some(IntOrString::Int(1)),
        }),
    })
}

/// Keep a Deployment's selector as the observed Deployment's `spec` has it (it cannot change) and say so when
/// it differs; true when a change is pending.
pub fn keep_selector(
    desired: &mut Deployment,
    observed_spec: Option<&serde_json::Value>,
    warnings: &mut Vec<String>,
) -> crate::Result<bool> {
    let (Some(observed_spec), Some(spec)) = (observed_spec, desired.spec.as_mut()) else {
        return Ok(false);
    };
    let name = desired.metadata.name.clone().unwrap_or_default();
    if super::statefulset::keep_observed(
        observed_spec,
        "selector",
        "Deployment",
        &name,
        &mut spec.selector,
    )? {
        warnings.push(format!(
            "Deployment {name}: spec.selector cannot change in place; the observed value is kept. To apply the \
             change, delete the Deployment: it is recreated at once"
        ));
        return Ok(true);
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::render::testing::{sources, stack};

    #[test]
    fn the_querier_keeps_an_observed_selector_that_differs() {
        let mut desired = query(&stack(json!({})), &sources(), None);
        let mut warnings = Vec::new();
        let same = json!({"selector": serde_json::to_value(&desired.spec.as_ref().unwrap().selector).unwrap()});
        keep_selector(&mut desired, Some(&same), &mut warnings).unwrap();
        assert!(warnings.is_empty());
        let other = json!({"selector": {"matchLabels": {"app": "thanos-query"}}});
        keep_selector(&mut desired, Some(&other), &mut warnings).unwrap();
        assert_eq!(
            desired.spec.unwrap().selector.match_labels.unwrap()["app"],
            "thanos-query"
        );
        assert_eq!(warnings.len(), 1);
    }

    #[test]
    fn hard_anti_affinity_rolls_one_pod_down_before_one_comes_up() {
        let hard = query(
            &stack(json!({"highlyAvailable": true, "pod": {"antiAffinity": "hard"}})),
            &sources(),
            None,
        );
        let rolling = hard.spec.unwrap().strategy.unwrap().rolling_update.unwrap();
        assert_eq!(rolling.max_surge, Some(IntOrString::Int(0)));
        assert_eq!(rolling.max_unavailable, Some(IntOrString::Int(1)));
        // Soft anti-affinity, or a single replica, can always place a surge pod: the default stays.
        for spec in [
            json!({"highlyAvailable": true}),
            json!({"pod": {"antiAffinity": "hard"}}),
        ] {
            assert!(
                query(&stack(spec), &sources(), None)
                    .spec
                    .unwrap()
                    .strategy
                    .is_none()
            );
        }
    }

    fn observed_querier(labels: &[&str]) -> serde_json::Value {
        let args: Vec<String> = labels
            .iter()
            .map(|l| format!("--query.replica-label={l}"))
            .chain(["--query.auto-downsampling".to_owned()])
            .collect();
        json!({"template": {"spec": {"containers": [
            {"name": "other", "args": ["--query.replica-label=other"]},
            {"name": "thanos-query", "args": args},
        ]}}})
    }

    #[test]
    fn a_new_querier_deduplicates_on_prometheus_replica_alone() {
        assert_eq!(
            replica_labels(&stack(json!({})), None),
            ["prometheus_replica"]
        );
    }

    #[test]
    fn the_querier_keeps_deduplicating_on_the_former_default_while_the_label_is_defaulted() {
        let stack = stack(json!({}));
        let upgraded = replica_labels(&stack, Some(&observed_querier(&["replica"])));
        assert_eq!(upgraded, ["prometheus_replica", "replica"]);
        // The next sync sees both and keeps both, in the same order: no write.
        let next = replica_labels(
            &stack,
            Some(&observed_querier(&["prometheus_replica", "replica"])),
        );
        assert_eq!(next, upgraded);
        let args = pod::query(&stack, &next).args.unwrap();
        assert_eq!(
            args.iter()
                .filter(|a| a.starts_with("--query.replica-label="))
                .collect::<Vec<_>>(),
            [
                "--query.replica-label=prometheus_replica",
                "--query.replica-label=replica"
            ]
        );
        // Anything but a label name in an observed flag is not rendered again.
        assert_eq!(
            replica_labels(&stack, Some(&observed_querier(&["a b", "$(X)", ""]))),
            ["prometheus_replica"]
        );
    }

    #[test]
    fn a_replica_label_set_in_the_spec_is_the_only_one() {
        let stack = stack(json!({"replicaLabel": "prometheus_replica"}));
        assert_eq!(
            replica_labels(&stack, Some(&observed_querier(&["replica"]))),
            ["prometheus_replica"]
        );
    }

    #[test]
    fn replicas_follow_the_spec() {
        let desired = query(&stack(json!({"replicas": {"query": 3}})), &sources(), None);
        assert_eq!(desired.spec.unwrap().replicas, Some(3));
    }

    #[test]
    fn the_frontend_runs_as_many_replicas_as_queriers_unless_told() {
        let stack = stack(json!({"replicas": {"query": 3}}));
        let desired = query_frontend(&stack, &sources(), stack.query_frontend.as_ref().unwrap());
        assert_eq!(
            desired.metadata.name.as_deref(),
            Some("example-thanos-query-frontend")
        );
        let spec = desired.spec.unwrap();
        assert_eq!(spec.replicas, Some(3));
        assert_eq!(
            spec.selector,
            meta::selector(&stack, Component::QueryFrontend)
        );
        let stack = self::stack(json!({"replicas": {"query": 3, "queryFrontend": 1}}));
        let desired = query_frontend(&stack, &sources(), stack.query_frontend.as_ref().unwrap());
        assert_eq!(desired.spec.unwrap().replicas, Some(1));
    }
}
