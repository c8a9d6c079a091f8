//! Prometheus's own ServiceAccount, with read-only discovery in the parent's namespace for
//! `kubernetes_sd_configs`. Not rendered when `pod.serviceAccountName` names the user's account.

use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};

use super::meta;
use crate::names::{Component, Names};
use crate::spec::Stack;

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// `<name>-prometheus`: the account the Prometheus pods run as.
pub fn service_account(stack: &Stack) -> ServiceAccount {
    ServiceAccount {
        metadata: metadata(stack),
        ..Default::default()
    }
}

/// `<name>-prometheus`: get, list and watch what `kubernetes_sd_configs` discovers (roles `pod`, `service`,
/// `endpoints`, `endpointslice`) in the parent's namespace; nothing else, and nothing it can change.
pub fn role(stack: &Stack) -> Role {
    let read = |group: &str, resources: &[&str]| PolicyRule {
        api_groups: Some(vec![group.into()]),
        resources: Some(resources.iter().map(|r| (*r).into()).collect()),
        verbs: ["get", "list", "watch"].map(String::from).to_vec(),
        ..Default::default()
    };
    Role {
        metadata: metadata(stack),
        rules: Some(vec![
            read("", &["pods", "services", "endpoints"]),
            read("discovery.k8s.io", &["endpointslices"]),
        ]),
    }
}

/// `<name>-prometheus`: the [`role`] for the [`service_account`].
pub fn role_binding(stack: &Stack) -> RoleBinding {
    let name = Names::new(stack).workload(Component::Prometheus);
    RoleBinding {
        metadata: metadata(stack),
        role_ref: RoleRef {
            api_group: RBAC_GROUP.into(),
            kind: "Role".into(),
            name: name.clone(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name,
            namespace: Some(stack.namespace.clone()),
            ..Default::default()
        }]),
    }
}

fn metadata(stack: &Stack) -> k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
    let name = Names::new(stack).workload(Component::Prometheus);
    meta::metadata(stack, Component::Prometheus, name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::testing::stack;

    #[test]
    fn the_role_only_reads() {
        let role = role(&stack(serde_json::json!({})));
        for rule in role.rules.unwrap() {
            assert_eq!(rule.verbs, ["get", "list", "watch"]);
            assert!(rule.resource_names.is_none() && rule.non_resource_urls.is_none());
            assert!(
                !rule.resources.unwrap().iter().any(|r| r == "secrets"),
                "no Secret is readable"
            );
        }
    }

    #[test]
    fn the_binding_names_the_account_in_the_parents_namespace() {
        let stack = stack(serde_json::json!({}));
        let binding = role_binding(&stack);
        assert_eq!(binding.role_ref.name, "example-prometheus");
        let subject = &binding.subjects.unwrap()[0];
        assert_eq!(subject.name, "example-prometheus");
        assert_eq!(subject.namespace.as_deref(), Some("default"));
        assert_eq!(
            service_account(&stack).metadata.name.as_deref(),
            Some("example-prometheus")
        );
    }
}
