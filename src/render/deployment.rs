//! The querier Deployment.

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::meta::{self, Component, Names};
use super::{Sources, pod};
use crate::spec::Stack;

/// `<name>-thanos-query`: stateless, so a Deployment.
pub fn query(stack: &Stack, sources: &Sources) -> Deployment {
    let name = Names::new(stack).workload(Component::Query);
    tracing::debug!(
        "Deployment: Translating HighlyAvailable to {} replica(s)",
        stack.query_replicas
    );
    tracing::debug!(
        "Deployment: Deduplicating replicas on the label {}",
        stack.replica_label
    );
    let template = pod::template(
        stack,
        sources,
        Component::Query,
        vec![pod::query(stack)],
        Vec::new(),
    );
    Deployment {
        metadata: meta::metadata(stack, Component::Query, name),
        spec: Some(DeploymentSpec {
            replicas: Some(meta::replicas(stack, Component::Query)),
            selector: meta::selector(stack, Component::Query),
            strategy: strategy(stack, Component::Query),
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

/// Keep the querier's selector as the observed Deployment's `spec` has it (it cannot change) and say so when
/// it differs.
pub fn keep_selector(
    desired: &mut Deployment,
    observed_spec: Option<&serde_json::Value>,
    warnings: &mut Vec<String>,
) -> crate::Result<()> {
    let (Some(observed_spec), Some(spec)) = (observed_spec, desired.spec.as_mut()) else {
        return Ok(());
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
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::render::testing::{sources, stack};

    #[test]
    fn the_querier_keeps_an_observed_selector_that_differs() {
        let mut desired = query(&stack(json!({})), &sources());
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
                query(&stack(spec), &sources())
                    .spec
                    .unwrap()
                    .strategy
                    .is_none()
            );
        }
    }

    #[test]
    fn replicas_follow_the_spec() {
        let desired = query(&stack(json!({"replicas": {"query": 3}})), &sources());
        assert_eq!(desired.spec.unwrap().replicas, Some(3));
    }
}
