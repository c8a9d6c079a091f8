//! The store gateway's StatefulSets across a change of `spec.store.shards`, make before break: the history
//! older than the local retention is served by the store gateways alone, so none that serves it is left out
//! of the answer (which deletes it) before what replaces it is observed ready.
//!
//! A pure function of the spec and the observed StatefulSets:
//!
//! - the targets are `<name>-thanos-store` (one shard) or `<name>-thanos-store-<i>` (N shards). Once every
//!   target is observed ready, running the shard count of the spec, the answer is the targets alone, and
//!   Metacontroller deletes any other store gateway StatefulSet;
//! - until then, every other observed store gateway StatefulSet stays in the answer, rendered for the shard
//!   count it runs (read from its pods' [`names::SHARDS_ANNOTATION`]), so that it keeps serving the blocks it
//!   serves and, when nothing else changed, is not even written; the targets are rendered beside it. From 1
//!   to N and back, the names differ, so the old StatefulSet serves every block while the new ones start;
//! - from N to M shards (both above 1), the shards `0..min(N, M)` would change their blocks in place, and
//!   while they roll some blocks would be served by no pod. So the unsharded `<name>-thanos-store` is started
//!   first as a bridge that serves every block, those shards are kept as they run until it is ready, then
//!   they change, and the bridge goes with the rest once every target is ready.
//!
//! Readiness is read from the observed status: the controller has seen the StatefulSet's generation, and
//! `readyReplicas` and `updatedReplicas` reach `replicas.store`.

use serde::Deserialize;
use serde_json::Value;

use crate::hook::{self, Observed};
use crate::names::{self, Names, Shard};
use crate::spec::{MAX_STORE_SHARDS, Stack};
use crate::{Error, Result};

/// One store gateway StatefulSet of the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreSet {
    /// `None`: the unsharded `<name>-thanos-store`.
    pub shard: Option<Shard>,
    pub name: String,
    /// Kept while what replaces it is not ready: rendered for the shard count it runs, not the spec's.
    pub kept: bool,
    /// Kept, and its shard count unknown (its pods lack [`names::SHARDS_ANNOTATION`]): sent back as observed.
    pub frozen: bool,
}

/// The store gateway StatefulSets of the answer, and what the status should say while a change of the shard
/// count is under way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub sets: Vec<StoreSet>,
    pub warning: Option<String>,
}

/// What the plan reads of an observed store gateway StatefulSet; the rest is skipped unread.
#[derive(Deserialize, Default)]
struct Set {
    #[serde(default)]
    metadata: SetMeta,
    #[serde(default)]
    spec: SetSpec,
    #[serde(default)]
    status: Value,
}

#[derive(Deserialize, Default)]
struct SetMeta {
    #[serde(default)]
    generation: Option<i64>,
}

#[derive(Deserialize, Default)]
struct SetSpec {
    #[serde(default)]
    template: Template,
}

#[derive(Deserialize, Default)]
struct Template {
    #[serde(default)]
    metadata: TemplateMeta,
}

#[derive(Deserialize, Default)]
struct TemplateMeta {
    #[serde(default)]
    annotations: Option<std::collections::BTreeMap<String, String>>,
}

/// An observed store gateway StatefulSet, as the plan sees it.
struct Seen {
    /// The shard count its pods were rendered for: 1 for the unsharded one, `None` when unknown.
    shards: Option<i32>,
    ready: bool,
}

impl Seen {
    fn read(set: &Set, unsharded: bool, replicas: i32) -> Self {
        let shards = if unsharded {
            Some(1)
        } else {
            set.spec
                .template
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(names::SHARDS_ANNOTATION))
                .and_then(|count| count.parse().ok())
        };
        let count = |field: &str| set.status.get(field).and_then(Value::as_i64);
        let current = match (set.metadata.generation, count("observedGeneration")) {
            (Some(generation), Some(seen)) => seen >= generation,
            (None, _) => true,
            (Some(_), None) => false,
        };
        let enough = |field| count(field).unwrap_or(0) >= i64::from(replicas);
        Self {
            shards,
            ready: current && enough("readyReplicas") && enough("updatedReplicas"),
        }
    }
}

/// The store gateway StatefulSets to answer with (see the module's documentation).
pub fn plan(stack: &Stack, children: &Observed) -> Result<Plan> {
    let names = Names::new(stack);
    let targets: Vec<StoreSet> = names::store_shards(stack)
        .into_iter()
        .map(|shard| StoreSet {
            shard,
            name: names.store(shard.map(|s| s.index)),
            kept: false,
            frozen: false,
        })
        .collect();
    let steady = |sets| {
        Ok(Plan {
            sets,
            warning: None,
        })
    };
    let Some(observed) = observe(stack, &names, children)? else {
        return steady(targets);
    };
    let settled = |set: &StoreSet| {
        seen(&observed, &set.name).is_some_and(|s| s.ready && s.shards == Some(count(set)))
    };
    if targets.iter().all(settled) {
        return steady(targets);
    }
    let mut sets = transition(stack, &names, &targets, &observed);
    if sets == targets {
        // Nothing is being replaced: a first install, or a roll.
        return steady(sets);
    }
    // The unsharded one first, then the shards by index: a stable order whatever was observed.
    sets.sort_by_key(|s| s.shard.map(|s| s.index));
    let waiting: Vec<&str> = targets
        .iter()
        .filter(|t| !settled(t))
        .map(|t| t.name.as_str())
        .collect();
    let warning = warning(stack, &names, &targets, &sets, &waiting);
    Ok(Plan {
        sets,
        warning: Some(warning),
    })
}

/// An observed store gateway StatefulSet: its shard index (`None`: the unsharded one), name and state.
type Found = (Option<i32>, String, Seen);

/// The observed store gateway StatefulSets of the parent, or `None` when only the one of a stack without
/// shards is: every sync of such a stack, with nothing to replace and no count to compare, so nothing to read.
fn observe(stack: &Stack, names: &Names, children: &Observed) -> Result<Option<Vec<Found>>> {
    // Every name a store gateway StatefulSet of this parent can have, the unsharded one first.
    let candidates = std::iter::once(None).chain((0..MAX_STORE_SHARDS).map(Some));
    let found: Vec<(Option<i32>, String, &hook::Object)> = candidates
        .filter_map(|index| {
            let name = names.store(index);
            hook::find(children, "StatefulSet", &stack.namespace, &name)
                .map(|object| (index, name, object))
        })
        .collect();
    if stack.store_shards == 1 && found.iter().all(|(index, ..)| index.is_none()) {
        return Ok(None);
    }
    let mut observed = Vec::new();
    for (index, name, object) in found {
        let set: Set = object
            .read()
            .map_err(|e| Error::BadRequest(format!("children: StatefulSet {name}: {e}")))?;
        observed.push((
            index,
            name,
            Seen::read(&set, index.is_none(), stack.store_replicas),
        ));
    }
    Ok(Some(observed))
}

/// The observed StatefulSet named `name`.
fn seen<'a>(observed: &'a [Found], name: &str) -> Option<&'a Seen> {
    observed
        .iter()
        .find(|(_, n, _)| n == name)
        .map(|(_, _, seen)| seen)
}

/// How many shards a StatefulSet of the answer is one of.
fn count(set: &StoreSet) -> i32 {
    set.shard.map_or(1, |s| s.of)
}

/// The StatefulSets while the targets are not all ready: the targets, those that would change their blocks in
/// place kept as they run (with an unsharded bridge first when the count changes between shard counts), and
/// every other observed one as it is.
fn transition(
    stack: &Stack,
    names: &Names,
    targets: &[StoreSet],
    observed: &[Found],
) -> Vec<StoreSet> {
    let mut sets = targets.to_vec();
    // Targets that run another shard count and would change their blocks in place.
    let changing: Vec<String> = targets
        .iter()
        .filter(|t| seen(observed, &t.name).is_some_and(|s| s.shards != Some(count(t))))
        .map(|t| t.name.clone())
        .collect();
    let bridge = names.store(None);
    if !changing.is_empty() && !seen(observed, &bridge).is_some_and(|s| s.ready) {
        for set in sets.iter_mut().filter(|s| changing.contains(&s.name)) {
            let running = seen(observed, &set.name).and_then(|s| s.shards);
            set.kept = true;
            set.frozen = running.is_none();
            set.shard = set.shard.map(|shard| Shard {
                of: running.unwrap_or(shard.of),
                ..shard
            });
        }
        if seen(observed, &bridge).is_none() {
            sets.insert(
                0,
                StoreSet {
                    shard: None,
                    name: bridge.clone(),
                    kept: false,
                    frozen: false,
                },
            );
        }
    }
    // Every other observed store gateway StatefulSet runs on, as it is, until the targets are ready.
    for (index, name, seen) in observed {
        if sets.iter().any(|s| &s.name == name) {
            continue;
        }
        sets.push(StoreSet {
            shard: index.map(|index| Shard {
                index,
                of: seen.shards.unwrap_or(stack.store_shards),
            }),
            name: name.clone(),
            kept: true,
            frozen: seen.shards.is_none(),
        });
    }
    sets
}

/// What the status says while the shard count changes.
fn warning(
    stack: &Stack,
    names: &Names,
    targets: &[StoreSet],
    sets: &[StoreSet],
    waiting: &[&str],
) -> String {
    let bridge = names.store(None);
    let held: Vec<String> = sets
        .iter()
        .filter(|s| s.kept)
        .map(|s| s.name.clone())
        .collect();
    let mut warning = format!(
        "spec.store.shards is {}: waiting for StatefulSet {} to be ready",
        stack.store_shards,
        waiting.join(", ")
    );
    if !held.is_empty() {
        warning.push_str(&format!(
            "; StatefulSet {} {} kept as {} until then",
            held.join(", "),
            if held.len() == 1 { "is" } else { "are" },
            if held.len() == 1 {
                "it runs"
            } else {
                "they run"
            }
        ));
    }
    if sets.iter().any(|s| s.name == bridge && !s.kept) && !targets.iter().any(|t| t.name == bridge)
    {
        warning.push_str(&format!(
            "; {bridge} serves every block meanwhile, so that no block goes unserved while the shards change"
        ));
    }
    warning
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::hook::SyncRequest;
    use crate::render::testing::stack;

    /// A store gateway StatefulSet as observed: rendered for `shards`, with `ready` of 2 replicas ready.
    fn set(name: &str, shards: Option<i32>, ready: i64) -> (String, Value) {
        let annotations = shards.map(|n| json!({names::SHARDS_ANNOTATION: n.to_string()}));
        (
            name.to_string(),
            json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
                   "metadata": {"name": name, "generation": 2},
                   "spec": {"replicas": 2, "template": {"metadata": {"annotations": annotations}}},
                   "status": {"observedGeneration": 2, "readyReplicas": ready, "updatedReplicas": ready}}),
        )
    }

    fn plan_with(shards: i32, observed: &[(String, Value)]) -> Plan {
        let stack = stack(json!({"highlyAvailable": true, "store": {"shards": shards}}));
        let children: serde_json::Map<String, Value> = observed.iter().cloned().collect();
        let request: SyncRequest = serde_json::from_value(json!({
            "parent": {}, "children": {"StatefulSet.apps/v1": children}}))
        .unwrap();
        plan(&stack, &request.children).unwrap()
    }

    /// `name` for a target, `name (kept)` for one kept while its replacement is not ready.
    fn sets(plan: &Plan) -> Vec<String> {
        plan.sets
            .iter()
            .map(|s| {
                let name = s.name.trim_start_matches("example-thanos-");
                if s.kept {
                    format!("{name} (kept)")
                } else {
                    name.to_string()
                }
            })
            .collect()
    }

    #[test]
    fn without_a_change_of_the_count_the_targets_are_the_answer() {
        assert_eq!(sets(&plan_with(1, &[])), ["store"]);
        assert_eq!(plan_with(1, &[]).warning, None);
        assert_eq!(sets(&plan_with(3, &[])), ["store-0", "store-1", "store-2"]);
        // A roll in progress replaces nothing: no warning.
        let rolling = [set("example-thanos-store", None, 1)];
        assert_eq!(plan_with(1, &rolling).warning, None);
    }

    #[test]
    fn from_one_to_n_shards_the_unsharded_set_runs_on_until_every_shard_is_ready() {
        let old = set("example-thanos-store", None, 2);
        let plan = plan_with(2, std::slice::from_ref(&old));
        assert_eq!(sets(&plan), ["store (kept)", "store-0", "store-1"]);
        let warning = plan.warning.unwrap();
        assert!(warning.starts_with("spec.store.shards is 2: waiting for StatefulSet example-thanos-store-0, example-thanos-store-1 to be ready; StatefulSet example-thanos-store is kept"), "{warning}");

        // One shard ready, the other not yet: the unsharded one stays.
        let half = [
            old.clone(),
            set("example-thanos-store-0", Some(2), 2),
            set("example-thanos-store-1", Some(2), 1),
        ];
        assert_eq!(
            sets(&plan_with(2, &half)),
            ["store (kept)", "store-0", "store-1"]
        );
        // Every shard ready: the unsharded one is left out, and Metacontroller deletes it.
        let ready = [
            old,
            set("example-thanos-store-0", Some(2), 2),
            set("example-thanos-store-1", Some(2), 2),
        ];
        let plan = plan_with(2, &ready);
        assert_eq!(sets(&plan), ["store-0", "store-1"]);
        assert_eq!(plan.warning, None);
    }

    #[test]
    fn from_n_shards_to_one_the_shards_run_on_until_the_unsharded_set_is_ready() {
        let shards = [
            set("example-thanos-store-0", Some(2), 2),
            set("example-thanos-store-1", Some(2), 2),
        ];
        assert_eq!(
            sets(&plan_with(1, &shards)),
            ["store", "store-0 (kept)", "store-1 (kept)"]
        );
        let mut all = shards.to_vec();
        all.push(set("example-thanos-store", None, 1));
        assert_eq!(
            sets(&plan_with(1, &all)),
            ["store", "store-0 (kept)", "store-1 (kept)"]
        );
        all.pop();
        all.push(set("example-thanos-store", None, 2));
        assert_eq!(sets(&plan_with(1, &all)), ["store"]);
    }

    #[test]
    fn from_n_to_m_shards_an_unsharded_bridge_serves_every_block_while_the_shards_change() {
        let two = [
            set("example-thanos-store-0", Some(2), 2),
            set("example-thanos-store-1", Some(2), 2),
        ];
        // The shards that would change their blocks in place wait; the bridge starts, and so does the new shard.
        let plan = plan_with(3, &two);
        assert_eq!(
            sets(&plan),
            ["store", "store-0 (kept)", "store-1 (kept)", "store-2"]
        );
        assert!(
            plan.warning
                .unwrap()
                .contains("example-thanos-store serves every block meanwhile"),
        );
        // The shards kept go on serving two shards' blocks; the new one serves three shards' third.
        let shards: Vec<_> = plan.sets.iter().map(|s| s.shard).collect();
        assert_eq!(
            shards,
            [
                None,
                Some(Shard { index: 0, of: 2 }),
                Some(Shard { index: 1, of: 2 }),
                Some(Shard { index: 2, of: 3 })
            ]
        );
        assert!(plan.sets.iter().all(|s| !s.frozen));
        // The bridge is ready: the shards change, the bridge runs on as it is.
        let mut bridged = two.to_vec();
        bridged.push(set("example-thanos-store", None, 2));
        assert_eq!(
            sets(&plan_with(3, &bridged)),
            ["store (kept)", "store-0", "store-1", "store-2"]
        );
        // Ready again, but still running two shards' blocks (the update is not applied yet): not settled.
        bridged.push(set("example-thanos-store-2", Some(3), 2));
        assert_eq!(
            sets(&plan_with(3, &bridged)),
            ["store (kept)", "store-0", "store-1", "store-2"]
        );
        // Every shard ready with three shards' blocks: the bridge goes.
        let three = [
            set("example-thanos-store", None, 2),
            set("example-thanos-store-0", Some(3), 2),
            set("example-thanos-store-1", Some(3), 2),
            set("example-thanos-store-2", Some(3), 2),
        ];
        assert_eq!(
            sets(&plan_with(3, &three)),
            ["store-0", "store-1", "store-2"]
        );
        // Down from three to two: the third shard runs on as it is until the others run two shards' blocks.
        assert_eq!(
            sets(&plan_with(2, &three[1..])),
            [
                "store",
                "store-0 (kept)",
                "store-1 (kept)",
                "store-2 (kept)"
            ]
        );
    }

    #[test]
    fn a_kept_set_of_unknown_shard_count_is_sent_back_as_observed() {
        let observed = [
            set("example-thanos-store-0", None, 2),
            set("example-thanos-store-1", None, 2),
        ];
        let plan = plan_with(1, &observed);
        assert_eq!(sets(&plan), ["store", "store-0 (kept)", "store-1 (kept)"]);
        assert_eq!(
            plan.sets.iter().map(|s| s.frozen).collect::<Vec<_>>(),
            [false, true, true]
        );
    }

    #[test]
    fn a_set_whose_controller_has_not_seen_its_generation_is_not_ready() {
        let (name, mut stale) = set("example-thanos-store-0", Some(2), 2);
        stale["status"]["observedGeneration"] = json!(1);
        let observed = [
            set("example-thanos-store", None, 2),
            (name, stale),
            set("example-thanos-store-1", Some(2), 2),
        ];
        assert_eq!(
            sets(&plan_with(2, &observed)),
            ["store (kept)", "store-0", "store-1"]
        );
    }
}
