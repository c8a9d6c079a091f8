//! Request fixtures built with a chainable builder, and a stand-in for what the API server does to the
//! children it stores.
#![allow(dead_code)] // each test crate uses a different part of this module

pub mod apply;

use prometheus_replica_operator::hook::{Objects, SyncRequest, SyncResponse};
use serde_json::{Value, json};

/// A sync request under construction.
#[derive(Clone)]
pub struct Request {
    controller: Value,
    parent: Value,
    children: Objects,
    related: Objects,
    v2: bool,
}

impl Request {
    /// The 2018 README example as Metacontroller sends it: namespace, uid, generation, creation time.
    pub fn example() -> Self {
        Self::manifest(include_str!("../fixtures/example-2018.yaml"))
    }

    /// A PrometheusReplica manifest (YAML or JSON) as the parent, with the metadata the API server adds.
    pub fn manifest(yaml: &str) -> Self {
        let mut parent: Value = serde_yaml_ng::from_str(yaml).expect("fixture manifests are YAML");
        let meta = parent["metadata"]
            .as_object_mut()
            .expect("fixture manifests have metadata");
        meta.entry("namespace").or_insert(json!("default"));
        meta.insert("uid".into(), json!("6f1c3a52-1d0e-4c55-9a3b-2f6d5e8a9b10"));
        meta.insert("generation".into(), json!(1));
        meta.insert("creationTimestamp".into(), json!("2026-11-01T10:00:00Z"));
        Self {
            controller: json!({"spec": {"hooks": {"sync": {"webhook": {"url": "https://hook/sync"}}}}}),
            parent,
            children: Objects::new(),
            related: Objects::new(),
            v2: false,
        }
    }

    /// Set a field of the parent by JSON pointer, creating objects on the way.
    pub fn set(mut self, pointer: &str, value: Value) -> Self {
        let mut target = &mut self.parent;
        for part in pointer.trim_start_matches('/').split('/') {
            if !target.is_object() {
                *target = json!({});
            }
            target = target
                .as_object_mut()
                .expect("made an object above")
                .entry(part.to_string())
                .or_insert(Value::Null);
        }
        *target = value;
        self
    }

    /// Remove a field of the parent by JSON pointer.
    pub fn remove(mut self, pointer: &str) -> Self {
        let (parent, key) = pointer.rsplit_once('/').expect("a pointer has a slash");
        if let Some(object) = self
            .parent
            .pointer_mut(parent)
            .and_then(Value::as_object_mut)
        {
            object.remove(key);
        }
        self
    }

    /// Set a field of the spec.
    pub fn spec(self, field: &str, value: Value) -> Self {
        self.set(&format!("/spec/{field}"), value)
    }

    /// The CompositeController has a customize hook, so `related` is meaningful.
    pub fn customize(mut self) -> Self {
        self.controller["spec"]["hooks"]["customize"] =
            json!({"webhook": {"url": "https://hook/customize"}});
        // Metacontroller sends an entry per related rule, empty when nothing matched.
        self.related.entry("ConfigMap.v1".into()).or_default();
        self.related.entry("Secret.v1".into()).or_default();
        self
    }

    /// Key children and related objects by `namespace/name` (hook version v2).
    pub fn v2(mut self) -> Self {
        self.v2 = true;
        self
    }

    /// A related ConfigMap.
    pub fn config_map(self, name: &str, data: &[(&str, &str)]) -> Self {
        let data: serde_json::Map<String, Value> =
            data.iter().map(|(k, v)| ((*k).into(), json!(v))).collect();
        let object = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": self.namespace(), "resourceVersion": "100"},
            "data": data,
        });
        self.related_object("ConfigMap.v1", object)
    }

    /// A related Secret with these keys and (base64) values.
    pub fn secret(self, name: &str, data: &[(&str, &str)]) -> Self {
        let data: serde_json::Map<String, Value> =
            data.iter().map(|(k, v)| ((*k).into(), json!(v))).collect();
        let object = json!({
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": self.namespace(), "resourceVersion": "101"},
            "data": data,
        });
        self.related_object("Secret.v1", object)
    }

    /// The parent's namespace: Metacontroller sends related objects from it (the customize rules name it).
    fn namespace(&self) -> Value {
        self.parent["metadata"]["namespace"].clone()
    }

    /// Any related object, grouped by its kind as Metacontroller groups them.
    pub fn related(self, object: Value) -> Self {
        let key = group_key(&object);
        self.related_object(&key, object)
    }

    fn related_object(mut self, key: &str, object: Value) -> Self {
        let name = self.key(&object);
        self.related
            .entry(key.into())
            .or_default()
            .insert(name, object);
        self
    }

    /// Add observed children.
    pub fn observe(mut self, children: impl IntoIterator<Item = Value>) -> Self {
        for child in children {
            let key = group_key(&child);
            let name = self.key(&child);
            self.children.entry(key).or_default().insert(name, child);
        }
        self
    }

    fn key(&self, object: &Value) -> String {
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        if self.v2 {
            format!(
                "{}/{name}",
                object["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or("default")
            )
        } else {
            name.to_string()
        }
    }

    /// The request as Metacontroller would send it.
    pub fn json(&self) -> Value {
        let mut children = self.children.clone();
        for key in [
            "StatefulSet.apps/v1",
            "Service.v1",
            "Deployment.apps/v1",
            "ConfigMap.v1",
            "PodDisruptionBudget.policy/v1",
            "Ingress.networking.k8s.io/v1",
            "ServiceAccount.v1",
            "Role.rbac.authorization.k8s.io/v1",
            "RoleBinding.rbac.authorization.k8s.io/v1",
            "PersistentVolumeClaim.v1",
        ] {
            children.entry(key.into()).or_default();
        }
        json!({
            "controller": self.controller,
            "parent": self.parent,
            "children": children,
            "related": self.related,
            "finalizing": false,
        })
    }

    /// The request as the hook reads it.
    pub fn build(&self) -> SyncRequest {
        serde_json::from_value(self.json()).expect("the builder makes valid requests")
    }

    /// The hook's answer.
    pub fn sync(&self) -> SyncResponse {
        prometheus_replica_operator::sync(&self.build()).expect("the fixture is a valid parent")
    }

    /// The hook's answer as JSON.
    pub fn sync_json(&self) -> Value {
        serde_json::to_value(self.sync()).expect("answers encode")
    }
}

/// `Kind.group/version` of an object, as Metacontroller keys it.
pub fn group_key(object: &Value) -> String {
    let kind = object["kind"].as_str().unwrap_or_default();
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    format!("{kind}.{api_version}")
}

/// How far the workloads have come.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Rollout {
    /// Created, no pod ready.
    Started,
    /// Every replica ready and updated.
    Done,
}

/// The children of an answer as the API server stores them: server-set metadata, defaulted fields,
/// `apiVersion`/`kind`/`volumeMode`/`status` on claim templates (what kube-apiserver 1.37 stores, seen by the
/// end-to-end tests), a status, and the last-applied annotation.
pub fn as_stored(response: &Value, rollout: Rollout) -> Vec<Value> {
    response["children"]
        .as_array()
        .expect("answers have children")
        .iter()
        .map(|child| stored(child, rollout))
        .collect()
}

fn stored(child: &Value, rollout: Rollout) -> Value {
    let mut object = child.clone();
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let last_applied = serde_json::to_string(child).expect("children encode");
    let meta = object["metadata"]
        .as_object_mut()
        .expect("children have metadata");
    meta.insert("uid".into(), json!(format!("uid-{name}")));
    meta.insert("resourceVersion".into(), json!("4242"));
    meta.insert("generation".into(), json!(1));
    meta.insert("creationTimestamp".into(), json!("2026-11-01T10:00:05Z"));
    meta.insert(
        "managedFields".into(),
        json!([{"manager": "metacontroller", "operation": "Update", "apiVersion": "apps/v1",
                "time": "2026-11-01T10:00:05Z", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}]),
    );
    meta.entry("annotations")
        .or_insert(json!({}))
        .as_object_mut()
        .expect("annotations are an object")
        .insert(
            "metacontroller.k8s.io/last-applied-configuration".into(),
            json!(last_applied),
        );
    let replicas = object["spec"]["replicas"].as_i64().unwrap_or(1);
    let ready = if rollout == Rollout::Done {
        replicas
    } else {
        0
    };
    match object["kind"].as_str() {
        Some("StatefulSet") => {
            let spec = &mut object["spec"];
            spec["revisionHistoryLimit"] = json!(10);
            spec["updateStrategy"] =
                json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}});
            for template in spec["volumeClaimTemplates"]
                .as_array_mut()
                .into_iter()
                .flatten()
            {
                template["apiVersion"] = json!("v1");
                template["kind"] = json!("PersistentVolumeClaim");
                template["spec"]["volumeMode"] = json!("Filesystem");
                template["status"] = json!({"phase": "Pending"});
            }
            object["status"] = json!({
                "observedGeneration": 1, "replicas": replicas, "readyReplicas": ready,
                "currentReplicas": ready, "updatedReplicas": ready, "availableReplicas": ready,
                "currentRevision": format!("{name}-abc"), "updateRevision": format!("{name}-abc"),
                "collisionCount": 0,
            });
        }
        Some("Deployment") => {
            if object["spec"]["strategy"].is_null() {
                object["spec"]["strategy"] = json!({"type": "RollingUpdate",
                    "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}});
            }
            object["spec"]["progressDeadlineSeconds"] = json!(600);
            object["status"] = json!({
                "observedGeneration": 1, "replicas": replicas, "readyReplicas": ready,
                "updatedReplicas": ready, "availableReplicas": ready,
                "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                    "lastUpdateTime": "2026-11-01T10:01:00Z", "lastTransitionTime": "2026-11-01T10:01:00Z"}],
            });
        }
        Some("Service") => {
            if object["spec"]["clusterIP"].is_null() {
                object["spec"]["clusterIP"] = json!("10.96.0.10");
                object["spec"]["clusterIPs"] = json!(["10.96.0.10"]);
            }
            if object["spec"]["sessionAffinity"].is_null() {
                object["spec"]["sessionAffinity"] = json!("None");
            } else if object["spec"]["sessionAffinity"] == "ClientIP" {
                object["spec"]["sessionAffinityConfig"] =
                    json!({"clientIP": {"timeoutSeconds": 10800}});
            }
            object["spec"]["ipFamilies"] = json!(["IPv4"]);
            object["status"] = json!({"loadBalancer": {}});
        }
        _ => {}
    }
    object
}

/// The `Degraded` condition of an answer: status, reason and message.
pub fn degraded(response: &Value) -> (&str, &str, &str) {
    let condition = response["status"]["conditions"]
        .as_array()
        .expect("an answer has conditions")
        .iter()
        .find(|c| c["type"] == "Degraded")
        .expect("an answer has a Degraded condition");
    (
        condition["status"].as_str().unwrap(),
        condition["reason"].as_str().unwrap(),
        condition["message"].as_str().unwrap(),
    )
}
