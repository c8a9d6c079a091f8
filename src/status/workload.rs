//! The workloads of a component as observed: how many of their pods are ready and up to date.

use serde::Deserialize;
use serde_json::Value;

use crate::api::ComponentStatus;
use crate::hook::{self, SyncRequest};
use crate::names::{self, Component, Names};
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
pub(super) struct Workload {
    pub component: Component,
    pub status: ComponentStatus,
    pub observed: bool,
    /// Observed, with every replica ready and running the current template.
    pub complete: bool,
    /// Whether each of its workloads (each store gateway shard) has a ready replica: else some data is
    /// unserved.
    pub serving: bool,
}

impl Workload {
    /// A component's workloads as observed: for the store gateway, every shard's StatefulSet, summed.
    pub fn observe(stack: &Stack, request: &SyncRequest, component: Component) -> Result<Self> {
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

    pub fn describe(&self) -> String {
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
pub(super) fn workload_names(stack: &Stack, component: Component) -> Vec<String> {
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
