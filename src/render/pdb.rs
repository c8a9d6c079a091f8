//! PodDisruptionBudgets: a drain never takes down every replica of a highly available component at once.

use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::meta;
use crate::names::{Component, Names};
use crate::spec::Stack;

/// A budget that lets one pod of `component` go at a time. Rendered only for components with two or more
/// replicas: with one, a budget would block every node drain.
pub fn budget(stack: &Stack, component: Component) -> PodDisruptionBudget {
    let name = Names::new(stack).workload(component);
    PodDisruptionBudget {
        metadata: meta::metadata(stack, component, name),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(meta::selector(stack, component)),
            ..Default::default()
        }),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::testing::stack;

    #[test]
    fn a_budget_lets_one_pod_go_at_a_time_and_selects_its_component() {
        let stack = stack(serde_json::json!({"highlyAvailable": true}));
        let spec = budget(&stack, Component::Prometheus).spec.unwrap();
        assert_eq!(spec.max_unavailable, Some(IntOrString::Int(1)));
        assert!(spec.min_available.is_none());
        assert_eq!(
            spec.selector,
            Some(meta::selector(&stack, Component::Prometheus))
        );
    }
}
