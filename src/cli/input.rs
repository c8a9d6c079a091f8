//! The `render` command's input: a whole sync request, or a PrometheusReplica manifest with the ConfigMaps and
//! Secrets it names, each file YAML (several documents allowed) or JSON. With a ConfigMap or Secret beside the
//! manifest, the request is the one Metacontroller sends after the customize hook of
//! `deploy/compositecontroller.yaml`: the derived configuration, the bucket Secret's format and its hash, and a
//! missing object reported, as on a cluster. Without one, it is a request with no customize hook, as before.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::hook::SyncRequest;
use crate::{Error, Result};

/// The kinds that go to `related`: what the customize hook asks for.
const RELATED: [(&str, &str); 2] = [("ConfigMap", "ConfigMap.v1"), ("Secret", "Secret.v1")];

/// One sync request from the named inputs (`(name, text)`, the name only for messages).
pub fn request_from_files(inputs: &[(String, String)]) -> Result<SyncRequest> {
    serde_json::from_value(request_json(inputs)?)
        .map_err(|e| Error::BadRequest(format!("the input does not make a sync request: {e}")))
}

/// [`request_from_files`] as JSON.
fn request_json(inputs: &[(String, String)]) -> Result<Value> {
    let mut parent: Option<(String, Value)> = None;
    let mut related: Vec<(String, &str, Value)> = Vec::new();
    for (file, text) in inputs {
        for document in documents(file, text)? {
            if document.get("parent").is_some() {
                if inputs.len() > 1 || parent.is_some() || !related.is_empty() {
                    return Err(Error::BadRequest(format!(
                        "{file}: a whole sync request is rendered alone, with no other document or file"
                    )));
                }
                return Ok(document);
            }
            let kind = document.get("kind").and_then(Value::as_str).unwrap_or("");
            if let Some((_, group)) = RELATED.iter().find(|(k, _)| *k == kind) {
                related.push((file.clone(), group, document));
                continue;
            }
            if !document.is_object() {
                return Err(Error::BadRequest(format!(
                    "{file}: the input is not a PrometheusReplica manifest"
                )));
            }
            if !matches!(kind, "" | "PrometheusReplica") {
                return Err(Error::BadRequest(format!(
                    "{file}: a {kind}: render takes one PrometheusReplica and the ConfigMaps and Secrets it names"
                )));
            }
            if let Some((first, _)) = &parent {
                return Err(Error::BadRequest(format!(
                    "{file}: a second PrometheusReplica (the first is in {first}): render takes one"
                )));
            }
            parent = Some((file.clone(), document));
        }
    }
    let Some((_, mut parent)) = parent else {
        return Err(Error::BadRequest(
            "no PrometheusReplica manifest in the input".into(),
        ));
    };
    let metadata = parent
        .as_object_mut()
        .expect("checked to be an object")
        .entry("metadata")
        .or_insert_with(|| json!({}));
    if let Some(metadata) = metadata.as_object_mut() {
        metadata
            .entry("namespace")
            .or_insert_with(|| json!("default"));
    }
    let namespace = parent["metadata"]["namespace"].clone();
    let mut controller = json!({});
    let mut groups = serde_json::Map::new();
    if !related.is_empty() {
        controller = json!({"spec": {"hooks": {"customize": {}}}});
        for (_, group) in RELATED {
            groups.insert(group.into(), json!({}));
        }
    }
    for (file, group, mut object) in related {
        let Some(name) = object["metadata"]["name"].as_str().map(str::to_owned) else {
            return Err(Error::BadRequest(format!(
                "{file}: a {} without metadata.name",
                object["kind"].as_str().unwrap_or_default()
            )));
        };
        let kind = object["kind"].as_str().unwrap_or_default().to_owned();
        let metadata = object["metadata"]
            .as_object_mut()
            .expect("has a name, so metadata is an object");
        let own = metadata.entry("namespace").or_insert(namespace.clone());
        if *own != namespace {
            return Err(Error::BadRequest(format!(
                "{file}: {kind} {name} is in namespace {own}, the PrometheusReplica in {namespace}: the hook \
                 reads related objects of its own namespace only"
            )));
        }
        if group == "Secret.v1" {
            as_stored_secret(&file, &mut object)?;
        }
        groups[group][name] = object;
    }
    Ok(json!({
        "controller": controller,
        "parent": parent,
        "related": groups,
    }))
}

/// Every document of one file (YAML, or JSON, which is YAML), empty documents skipped.
fn documents(file: &str, text: &str) -> Result<Vec<Value>> {
    let mut documents = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(text) {
        let value = Value::deserialize(document).map_err(|e| {
            Error::BadRequest(format!("{file}: the input is neither YAML nor JSON: {e}"))
        })?;
        if !value.is_null() {
            documents.push(value);
        }
    }
    Ok(documents)
}

/// A Secret as the API server stores it: `stringData` folded into `data` as base64 (it wins over `data`), so
/// that its hash, and so the rendered pod templates, are those a cluster gets.
fn as_stored_secret(file: &str, secret: &mut Value) -> Result<()> {
    let Some(object) = secret.as_object_mut() else {
        return Ok(());
    };
    let Some(string_data) = object.remove("stringData") else {
        return Ok(());
    };
    let Value::Object(string_data) = string_data else {
        return Err(Error::BadRequest(format!(
            "{file}: a Secret's stringData must map keys to strings"
        )));
    };
    let data = object.entry("data").or_insert_with(|| json!({}));
    for (key, value) in string_data {
        let Some(text) = value.as_str() else {
            return Err(Error::BadRequest(format!(
                "{file}: stringData.{key} of a Secret must be a string"
            )));
        };
        data[key] = serde_json::to_value(k8s_openapi::ByteString(text.as_bytes().to_vec()))
            .expect("bytes encode as base64");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(files: &[(&str, &str)]) -> Result<Value> {
        let files: Vec<(String, String)> = files
            .iter()
            .map(|(name, text)| ((*name).to_owned(), (*text).to_owned()))
            .collect();
        let request = request_json(&files)?;
        request_from_files(&files).expect("the JSON decodes as a sync request");
        Ok(request)
    }

    fn has_customize_hook(request: &Value) -> bool {
        request
            .pointer("/controller/spec/hooks/customize")
            .is_some()
    }

    const MANIFEST: &str = "apiVersion: prometheus.robszumski.com/v1alpha1\nkind: PrometheusReplica\n\
                            metadata: {name: example}\nspec: {configMap: cfg, bucketSecret: bucket}\n";

    #[test]
    fn a_bare_manifest_is_a_request_without_a_customize_hook() {
        let request = input(&[("cr.yaml", MANIFEST)]).unwrap();
        assert!(!has_customize_hook(&request));
        assert_eq!(request["parent"]["metadata"]["namespace"], "default");
    }

    #[test]
    fn config_maps_and_secrets_beside_the_manifest_are_related_as_after_the_customize_hook() {
        let related = "kind: ConfigMap\napiVersion: v1\nmetadata: {name: cfg}\ndata: {prometheus.yml: '{}'}\n\
                       ---\nkind: Secret\napiVersion: v1\nmetadata: {name: bucket}\ndata: {a: eA==}\n\
                       stringData: {objstore.yml: 'type: S3'}\n";
        let request = input(&[("cr.yaml", MANIFEST), ("objects.yaml", related)]).unwrap();
        assert!(has_customize_hook(&request));
        let json = &request["related"];
        let secret = &json["Secret.v1"]["bucket"];
        assert_eq!(secret["metadata"]["namespace"], "default");
        assert_eq!(
            secret["data"]["objstore.yml"], "dHlwZTogUzM=",
            "stringData as base64"
        );
        assert_eq!(secret["data"]["a"], "eA==");
        assert!(secret.get("stringData").is_none());
        assert_eq!(json["ConfigMap.v1"]["cfg"]["data"]["prometheus.yml"], "{}");
    }

    #[test]
    fn bad_inputs_are_refused_naming_the_file() {
        for (files, expected) in [
            (
                vec![("a.yaml", MANIFEST), ("b.yaml", MANIFEST)],
                "b.yaml: a second PrometheusReplica",
            ),
            (
                vec![("a.yaml", MANIFEST), ("r.json", "{\"parent\": {}}")],
                "r.json: a whole sync request is rendered alone",
            ),
            (
                vec![(
                    "a.yaml",
                    "kind: Secret\nmetadata: {name: s, namespace: other}\n---\nkind: PrometheusReplica\nmetadata: {name: x}\n",
                )],
                "a.yaml: Secret s is in namespace \"other\"",
            ),
            (
                vec![("a.yaml", "kind: ConfigMap\nmetadata: {name: c}\n")],
                "no PrometheusReplica",
            ),
            (
                vec![("a.yaml", "- 1\n")],
                "a.yaml: the input is not a PrometheusReplica",
            ),
            (
                vec![
                    ("kustomization.yaml", "kind: Kustomization\n"),
                    ("a.yaml", MANIFEST),
                ],
                "kustomization.yaml: a Kustomization: render takes one PrometheusReplica",
            ),
        ] {
            let error = input(&files).unwrap_err().to_string();
            assert!(error.contains(expected), "{error}");
        }
    }
}
