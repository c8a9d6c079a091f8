//! Metacontroller's default apply (`--apply-strategy=dynamic-apply`, `pkg/dynamic/apply`), as far as it
//! decides whether a child is written: shared by the property tests (over a stand-in of what the API
//! server stores) and the end-to-end tests (over what it really stores).

use serde_json::Value;

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
            match list_map_key(observed_items, desired_items) {
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

fn list_map_key(observed: &[Value], desired: &[Value]) -> Option<&'static str> {
    let mut items = observed.iter().chain(desired).chain(desired);
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
