//! What cannot change in place: a StatefulSet's `selector`, `serviceName` and `volumeClaimTemplates`. When the
//! StatefulSet is observed they are kept as observed, and the pending change is a warning.

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
use serde_json::Value;

use super::super::claims::CONTROLLER_UID;
use super::super::pod;
use super::FILESYSTEM;
use crate::{Error, Result};

/// The observed StatefulSet's claim templates: none when it has none.
fn observed_claim_templates(observed_spec: &Value, name: &str) -> Result<Vec<Value>> {
    match observed_spec
        .get("volumeClaimTemplates")
        .filter(|v| !v.is_null())
        .cloned()
    {
        Some(Value::Array(templates)) => Ok(templates),
        Some(other) => Err(Error::BadRequest(format!(
            "children: StatefulSet {name}: spec.volumeClaimTemplates: expected a list, got {}",
            json_type(&other)
        ))),
        None => Ok(Vec::new()),
    }
}

/// Keep the immutable fields of `desired` as the observed StatefulSet's `spec` has them, and say what would
/// have changed; true when a change is pending (kept as observed until the StatefulSet is recreated).
///
/// What the API server adds to claim templates (`apiVersion`/`kind`, `volumeMode: Filesystem`, `status`,
/// empty metadata) is no difference; the observed templates are sent back as stored, so that an unchanged
/// StatefulSet needs no write.
pub fn keep_immutable(
    desired: &mut StatefulSet,
    observed_spec: Option<&Value>,
    warnings: &mut Vec<String>,
) -> Result<bool> {
    let name = desired.metadata.name.clone().unwrap_or_default();
    let Some(observed_spec) = observed_spec else {
        return Ok(false);
    };
    let before = warnings.len();
    let spec = desired
        .spec
        .as_mut()
        .ok_or_else(|| Error::Internal("a rendered StatefulSet has a spec".into()))?;
    if keep_observed(
        observed_spec,
        "selector",
        "StatefulSet",
        &name,
        &mut spec.selector,
    )? {
        warnings.push(pending(&name, "selector"));
    }
    if keep_observed(
        observed_spec,
        "serviceName",
        "StatefulSet",
        &name,
        &mut spec.service_name,
    )? {
        warnings.push(pending(&name, "serviceName"));
    }
    let observed_templates = observed_claim_templates(observed_spec, &name)?;
    let desired_templates: Vec<Value> = spec
        .volume_claim_templates
        .iter()
        .flatten()
        .map(|t| serde_json::to_value(t).map(normalize_claim_template))
        .collect::<Result<_, _>>()
        .map_err(|e| Error::Internal(format!("encoding a claim template: {e}")))?;
    let uid = spec
        .volume_claim_templates
        .iter()
        .flatten()
        .find_map(|t| t.metadata.labels.as_ref()?.get(CONTROLLER_UID).cloned());
    // Claims made from a template with the `controller-uid` are children, and grow with the spec (see
    // `claims`): their template's size is then no pending change.
    let managed = observed_templates.iter().any(|t| {
        t.pointer(&format!("/metadata/labels/{CONTROLLER_UID}"))
            .and_then(Value::as_str)
            .is_some_and(|uid| !uid.is_empty())
    });
    let normalized: Vec<Value> = observed_templates
        .iter()
        .cloned()
        .map(normalize_claim_template)
        .collect();
    if comparable(&normalized, managed) != comparable(&desired_templates, managed) {
        warnings.push(format!(
            "{}. The claims it made keep their size: grow each with `kubectl patch pvc {}-{name}-<ordinal> -p \
             '{{\"spec\":{{\"resources\":{{\"requests\":{{\"storage\":\"<new size>\"}}}}}}}}'` where its StorageClass \
             has allowVolumeExpansion: true (a claim cannot shrink){}",
            pending(&name, "volumeClaimTemplates"),
            pod::DATA_VOLUME,
            adopt_advice(
                &name,
                desired.metadata.namespace.as_deref().unwrap_or_default(),
                spec,
                uid.as_deref()
            ),
        ));
    }
    // Whether they differ or not, the observed templates go back as stored, with what the API server added
    // (`volumeMode`, each claim's `status`): Metacontroller's default apply replaces a list without merge keys
    // whole, so a list short of the stored one is a PUT on every sync (metacontroller issue 566).
    let mut kept = Value::Array(observed_templates);
    drop_nulls(&mut kept);
    spec.volume_claim_templates = match kept {
        Value::Array(templates) if templates.is_empty() => None,
        kept => Some(serde_json::from_value(kept).map_err(|e| {
            Error::BadRequest(format!(
                "children: StatefulSet {name}: spec.volumeClaimTemplates: {e}"
            ))
        })?),
    };
    Ok(warnings.len() > before)
}

/// Keep the observed pod template of `desired`; true when it differs from the rendered one.
pub fn keep_template(desired: &mut StatefulSet, observed_spec: Option<&Value>) -> Result<bool> {
    let (Some(observed_spec), Some(spec)) = (observed_spec, desired.spec.as_mut()) else {
        return Ok(false);
    };
    let name = desired.metadata.name.clone().unwrap_or_default();
    keep_observed(
        observed_spec,
        "template",
        "StatefulSet",
        &name,
        &mut spec.template,
    )
}

/// Set `current` to the observed `spec.<field>` when one is observed and differs; true when it differed.
/// `kind` and `name` name the observed workload in the error when its field does not decode.
pub fn keep_observed<T: serde::de::DeserializeOwned + PartialEq>(
    observed_spec: &Value,
    field: &str,
    kind: &str,
    name: &str,
    current: &mut T,
) -> Result<bool> {
    let Some(observed) = observed_spec.get(field).filter(|v| !v.is_null()) else {
        return Ok(false);
    };
    let observed: T = serde_json::from_value(observed.clone())
        .map_err(|e| Error::BadRequest(format!("children: {kind} {name}: spec.{field}: {e}")))?;
    if *current == observed {
        return Ok(false);
    }
    *current = observed;
    Ok(true)
}

fn pending(name: &str, field: &str) -> String {
    format!(
        "StatefulSet {name}: spec.{field} cannot change in place; the change is pending and the observed value is \
         kept. To apply it, delete the StatefulSet with `kubectl delete statefulset {name} --cascade=orphan`: \
         it is recreated at once and its pods and volumes are kept"
    )
}

/// How to let the operator grow the claims of a StatefulSet made before its claim templates carried the
/// `controller-uid`: label the claims (Metacontroller then adopts them) and recreate the StatefulSet (its new
/// claims then carry the label). Empty without a uid (a manifest rendered outside a cluster).
fn adopt_advice(name: &str, namespace: &str, spec: &StatefulSetSpec, uid: Option<&str>) -> String {
    let Some(uid) = uid else {
        return String::new();
    };
    let selector: Vec<String> = spec
        .selector
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    format!(
        ". Or let the operator grow them from now on: `kubectl label pvc -n {namespace} -l {} \
         {CONTROLLER_UID}={uid}`, then delete StatefulSet {name} with --cascade=orphan so that its new claims carry \
         the label too",
        selector.join(",")
    )
}

/// Claim templates with every quantity replaced by its exact value: the API server stores `1024Mi` as `1Gi`.
/// With `without_size`, the storage request is left out: claims that grow on their own make it no change.
fn comparable(templates: &[Value], without_size: bool) -> Vec<Value> {
    let mut templates = templates.to_vec();
    for template in &mut templates {
        if without_size
            && let Some(Value::Object(requests)) = template.pointer_mut("/spec/resources/requests")
        {
            requests.remove("storage");
        }
        let resources = template.pointer_mut("/spec/resources");
        for part in resources.into_iter().filter_map(Value::as_object_mut) {
            for amounts in part.values_mut().filter_map(Value::as_object_mut) {
                for amount in amounts.values_mut() {
                    if let Some((numerator, denominator)) =
                        amount.as_str().and_then(crate::spec::quantity_value)
                    {
                        *amount = Value::String(format!("{numerator}/{denominator}"));
                    }
                }
            }
        }
    }
    templates
}

/// A claim template without what the API server adds or defaults, whichever side carries it.
fn normalize_claim_template(mut template: Value) -> Value {
    if let Value::Object(object) = &mut template {
        object.remove("apiVersion");
        object.remove("kind");
        object.remove("status");
        if let Some(Value::Object(spec)) = object.get_mut("spec")
            && spec.get("volumeMode").and_then(Value::as_str) == Some(FILESYSTEM)
        {
            spec.remove("volumeMode");
        }
    }
    // The `controller-uid` label of templates rendered since claims are children: no change to the
    // templates before it.
    if let Some(Value::Object(labels)) = template.pointer_mut("/metadata/labels") {
        labels.remove(CONTROLLER_UID);
    }
    drop_nulls(&mut template);
    if let Some(Value::Object(metadata)) = template.get_mut("metadata") {
        metadata.retain(|_, v| !is_empty_object(v));
    }
    template
}

fn is_empty_object(value: &Value) -> bool {
    value.as_object().is_some_and(|o| o.is_empty())
}

/// Remove every `null` (and the `{}` left behind by removing them) from a JSON value.
pub(super) fn drop_nulls(value: &mut Value) {
    match value {
        Value::Object(object) => {
            object.retain(|_, v| !v.is_null());
            object.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
