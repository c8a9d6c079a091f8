//! The phase and the conditions `Available`, `Progressing` and `Degraded`, from the observed workloads and the
//! problems of the inputs. A condition's `lastTransitionTime` is carried over while it does not change.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use serde_json::Value;

use super::workload::Workload;
use crate::api::Phase;
use crate::error::Problem;
use crate::hook::{self, Object, SyncRequest};
use crate::names::Component;
use crate::spec::Stack;

/// The phase: `Error` while a problem keeps the stack from completing, else how far it is.
pub(super) fn phase(workloads: &[Workload], problems: &[Problem]) -> Phase {
    let nothing_observed = workloads.iter().all(|w| !w.observed);
    let all_complete = workloads.iter().all(|w| w.complete);
    if !problems.is_empty() && !all_complete {
        Phase::Error
    } else if nothing_observed {
        Phase::Install
    } else if all_complete {
        Phase::Running
    } else {
        Phase::Creating
    }
}

/// The three conditions, each with its status, reason and message.
pub(super) fn conditions(
    stack: &Stack,
    request: &SyncRequest,
    workloads: &[Workload],
    problems: &[Problem],
    pending_immutable: bool,
) -> Vec<Condition> {
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
    [
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
    .collect()
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
