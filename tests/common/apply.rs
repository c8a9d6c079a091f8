//! Metacontroller's default apply (`--apply-strategy=dynamic-apply`, `pkg/dynamic/apply` and
//! `ApplyUpdate` of `pkg/controller/common/manage_children.go`): [`merge_diffs`], whether a child is
//! written in the steady state, shared by the property tests (over a stand-in of what the API server
//! stores) and the end-to-end tests (over what it really stores); [`apply_update`], the whole object
//! it would `PUT`, which the end-to-end tests' Metacontroller double sends.

use serde_json::{Map, Value};

/// Where Metacontroller keeps the answer it last applied to a child.
pub const LAST_APPLIED: &str = "metacontroller.k8s.io/last-applied-configuration";

/// Read-only metadata that the update takes from the observed object, whatever the merge made of it.
const SYSTEM_FIELDS: [&str; 7] = [
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// `desired` with the last-applied annotation holding `desired` itself, as Metacontroller creates a child.
pub fn with_last_applied(desired: &Value) -> Value {
    let mut object = desired.clone();
    set_last_applied(&mut object, desired);
    object
}

/// The object Metacontroller's default apply makes of an observed child and the hook's answer for it:
/// `Merge(observed, lastApplied, desired)` with `lastApplied` read from the observed annotation, the
/// observed read-only metadata and `status` put back, and the annotation set to `desired`.
/// Metacontroller sends it as a `PUT` exactly when it differs from `observed`.
pub fn apply_update(observed: &Value, desired: &Value) -> Value {
    let last_applied = observed["metadata"]["annotations"][LAST_APPLIED]
        .as_str()
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or(Value::Null);
    let mut desired = desired.clone();
    let annotations = desired
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
        .and_then(Value::as_object_mut);
    if let Some(annotations) = annotations {
        annotations.remove(LAST_APPLIED);
    }
    let mut merged = merge(observed.clone(), &last_applied, &desired);
    for field in SYSTEM_FIELDS {
        revert(&mut merged, observed, &["metadata", field]);
    }
    revert(&mut merged, observed, &["status"]);
    set_last_applied(&mut merged, &desired);
    merged
}

fn set_last_applied(object: &mut Value, desired: &Value) {
    let json = serde_json::to_string(desired).expect("JSON values encode");
    let metadata = object["metadata"]
        .as_object_mut()
        .expect("children have metadata");
    let annotations = metadata
        .entry("annotations")
        .or_insert_with(|| Value::Object(Map::new()));
    if !annotations.is_object() {
        *annotations = Value::Object(Map::new());
    }
    annotations[LAST_APPLIED] = Value::String(json);
}

/// Set `path` in `object` as `original` has it, or remove it when `original` has none.
fn revert(object: &mut Value, original: &Value, path: &[&str]) {
    let (last, parents) = path.split_last().expect("a path has a field");
    let found = path.iter().try_fold(original, |v, key| v.get(*key));
    let mut at = object;
    for key in parents {
        if found.is_none() && at.get(*key).is_none() {
            return;
        }
        at = &mut at[*key];
    }
    match (found, at.as_object_mut()) {
        (Some(value), Some(parent)) => {
            parent.insert((*last).to_owned(), value.clone());
        }
        (None, Some(parent)) => {
            parent.remove(*last);
        }
        _ => {}
    }
}

/// `merge` of `pkg/dynamic/apply`: the change from `last_applied` to `desired` applied to `destination`.
/// Objects merge key by key (a key of `last_applied` missing from `desired` is removed); lists merge as
/// [`merge_diffs`] says; anything else is `desired`.
fn merge(destination: Value, last_applied: &Value, desired: &Value) -> Value {
    match (destination, desired) {
        (Value::Object(mut destination), Value::Object(desired)) => {
            merge_object(&mut destination, last_applied.as_object(), desired);
            Value::Object(destination)
        }
        (Value::Array(destination), Value::Array(desired_items)) => {
            let empty = Vec::new();
            let last_items = last_applied.as_array().unwrap_or(&empty);
            match list_map_key(&destination, last_items, desired_items) {
                Some(key) => merge_list_map(key, destination, last_items, desired_items),
                None => desired.clone(),
            }
        }
        _ => desired.clone(),
    }
}

fn merge_object(
    destination: &mut Map<String, Value>,
    last_applied: Option<&Map<String, Value>>,
    desired: &Map<String, Value>,
) {
    for key in last_applied.into_iter().flat_map(Map::keys) {
        if !desired.contains_key(key) {
            destination.remove(key);
        }
    }
    for (key, desired) in desired {
        let current = destination.remove(key).unwrap_or(Value::Null);
        let last = last_applied
            .and_then(|l| l.get(key))
            .unwrap_or(&Value::Null);
        destination.insert(key.clone(), merge(current, last, desired));
    }
}

/// A list of objects merged as a map keyed by `key`, keeping the observed order, then the new items.
fn merge_list_map(key: &str, destination: Vec<Value>, last: &[Value], desired: &[Value]) -> Value {
    let as_map = |items: &[Value]| -> Map<String, Value> {
        items
            .iter()
            .map(|item| (merge_key_string(&item[key]), item.clone()))
            .collect()
    };
    let mut merged = as_map(&destination);
    merge_object(&mut merged, Some(&as_map(last)), &as_map(desired));
    let mut list = Vec::with_capacity(merged.len());
    let mut added = std::collections::BTreeSet::new();
    for item in &destination {
        let id = merge_key_string(&item[key]);
        if let Some(item) = merged.get(&id) {
            list.push(item.clone());
            added.insert(id);
        }
    }
    for item in desired {
        let id = merge_key_string(&item[key]);
        if added.insert(id.clone()) {
            list.push(merged[&id].clone());
        }
    }
    Value::Array(list)
}

/// Where Metacontroller's default `dynamic-apply` would write `desired` over `observed`: a port of
/// `pkg/dynamic/apply` `Merge(observed, lastApplied, desired)` with `lastApplied` equal to `desired`
/// (the steady state, where the last-applied annotation holds the same answer), returning the
/// paths where the merge differs from `observed`. Empty: it sends no request at all.
///
/// Objects merge key by key. A list merges item by item when every item of the observed and desired
/// lists is an object and they all share one of the keys `containerPort`, `port`, `mountPath`,
/// `name`, `uid`, `ip`, `path` (first match wins); any other list is replaced by the desired one,
/// so it must equal the observed list element for element.
pub fn merge_diffs(observed: &Value, desired: &Value) -> Vec<String> {
    let mut diffs = Vec::new();
    merge_at("", observed, desired, &mut diffs);
    diffs
}

const MERGE_KEYS: [&str; 7] = [
    "containerPort",
    "port",
    "mountPath",
    "name",
    "uid",
    "ip",
    "path",
];

fn merge_at(path: &str, observed: &Value, desired: &Value, diffs: &mut Vec<String>) {
    match (observed, desired) {
        (Value::Object(observed), Value::Object(desired)) => {
            for (key, desired) in desired {
                let observed = observed.get(key).unwrap_or(&Value::Null);
                merge_at(&format!("{path}.{key}"), observed, desired, diffs);
            }
        }
        (Value::Array(observed_items), Value::Array(desired_items)) => {
            match list_map_key(observed_items, desired_items, desired_items) {
                Some(key) => {
                    for desired in desired_items {
                        let id = merge_key_string(&desired[key]);
                        let observed = observed_items
                            .iter()
                            .find(|o| merge_key_string(&o[key]) == id)
                            .unwrap_or(&Value::Null);
                        merge_at(&format!("{path}[{key}={id}]"), observed, desired, diffs);
                    }
                }
                None if observed_items != desired_items => {
                    diffs.push(format!(
                        "{path}: the list {desired} replaces {}",
                        Value::Array(observed_items.clone())
                    ));
                }
                None => {}
            }
        }
        (observed, desired) if observed != desired => {
            diffs.push(format!("{path}: {desired} replaces {observed}"))
        }
        _ => {}
    }
}

fn list_map_key(observed: &[Value], last: &[Value], desired: &[Value]) -> Option<&'static str> {
    let mut items = observed.iter().chain(last).chain(desired);
    let first = items.next()?.as_object()?;
    let mut common: Vec<&str> = first.keys().map(String::as_str).collect();
    for item in items {
        let item = item.as_object()?;
        common.retain(|k| item.contains_key(*k));
    }
    MERGE_KEYS.into_iter().find(|k| common.contains(k))
}

fn merge_key_string(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
