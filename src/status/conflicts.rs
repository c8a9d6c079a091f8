//! Objects with a child's kind and name that this parent does not control: those of the 2018 operator,
//! which made `<name>-prometheus`, `<name>-thanos-peers`, `<name>-thanos-store` and `<name>-thanos-query`
//! with other labels, or anyone's. Metacontroller neither adopts them (their labels differ) nor can create
//! ours (it ignores AlreadyExists), so the stack would wait for them forever. The customize hook asks for
//! every object named like a child, and the status names each one in the way.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::error::Problem;
use crate::hook::{self, Child, RelatedResourceRule, SyncRequest};
use crate::names::Names;
use crate::spec::Stack;

/// The customize rules that bring every object named like one of `children` (and like the derived
/// configuration, which is rendered only with a customize hook) into `related`.
pub fn rules(stack: &Stack, children: &[Child]) -> Vec<RelatedResourceRule> {
    let mut names: BTreeMap<(&str, &str), Vec<String>> = BTreeMap::new();
    names
        .entry(("v1", "configmaps"))
        .or_default()
        .push(Names::new(stack).prometheus_config());
    for child in children {
        names
            .entry(child.resource())
            .or_default()
            .push(child.name().to_owned());
    }
    names
        .into_iter()
        .map(|((api_version, resource), mut names)| {
            names.sort();
            names.dedup();
            RelatedResourceRule {
                api_version: api_version.into(),
                resource: resource.into(),
                namespace: Some(stack.namespace.clone()),
                names,
            }
        })
        .collect()
}

/// A `ConflictingObject` problem for each related object with the kind and name of one of `children`
/// that is neither controlled by the parent (ownerReference) nor labelled with its `controller-uid`.
pub fn problems(stack: &Stack, request: &SyncRequest, children: &[Child]) -> Vec<Problem> {
    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    struct Owners {
        metadata: Metadata,
    }
    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    struct Metadata {
        owner_references: Vec<Owner>,
        labels: BTreeMap<String, String>,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Owner {
        uid: String,
        controller: bool,
    }
    let uid = request.parent["metadata"]["uid"]
        .as_str()
        .unwrap_or_default();
    let mut problems = Vec::new();
    for child in children {
        let Some(object) = hook::find(
            &request.related,
            child.kind(),
            &stack.namespace,
            child.name(),
        ) else {
            continue;
        };
        // An object that does not decode as metadata is no object of ours either.
        let owners = object.read::<Owners>().unwrap_or_default();
        let ours = owners
            .metadata
            .owner_references
            .iter()
            .any(|o| o.controller && o.uid == uid)
            || owners
                .metadata
                .labels
                .get("controller-uid")
                .map(String::as_str)
                == Some(uid);
        if !ours {
            problems.push(Problem {
                reason: "ConflictingObject",
                message: format!(
                    "{} {}/{} exists and is not this PrometheusReplica's, so it cannot be created: delete it \
                     (a StatefulSet with --cascade=orphan to keep its pods and claims; see the migration in \
                     docs/install.md)",
                    child.kind(),
                    stack.namespace,
                    child.name()
                ),
            });
        }
    }
    problems
}
