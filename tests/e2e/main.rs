//! End-to-end tests: the real hook binary, driven by a test double of Metacontroller
//! ([`metacontroller`]), against a real control plane (etcd, kube-apiserver, kube-controller-manager,
//! kube-scheduler and kwok from `hack/control-plane.sh`).
//!
//! They run when `PRO_E2E_KUBECONFIG` names a running control plane (`hack/e2e-local.sh` starts one,
//! runs them and stops it) and otherwise skip, saying so once, so `cargo test` stays hermetic. Each
//! test works in a namespace of its own that enforces Pod Security `restricted`.

mod cluster;
#[path = "../common/mod.rs"]
mod common;
mod metacontroller;
#[path = "../server_support/mod.rs"]
mod server_support;

mod changes;
mod claims;
mod converge;
mod faults;
mod install;

use std::time::Instant;

use serde_json::{Value, json};

use cluster::{Cluster, PATIENCE, kind};
use metacontroller::{Failure, Hook, Metacontroller, Round};

/// One PrometheusReplica in a namespace of its own, with the hook and the driver that syncs it.
pub struct Stack {
    pub mc: Metacontroller,
    pub namespace: String,
    pub name: String,
    /// Each distinct `status.phase` the API server stored, in order.
    pub phases: Vec<String>,
}

impl Stack {
    /// A namespace `namespace` and a hook; `None` when there is no control plane (the test skips).
    pub async fn new(namespace: &str) -> Option<Self> {
        let cluster = Cluster::connect().await?;
        let namespace = cluster.namespace(namespace).await;
        let mc = Metacontroller::new(cluster, Hook::start()).await;
        Some(Self {
            mc,
            namespace,
            name: String::new(),
            phases: Vec::new(),
        })
    }

    pub fn cluster(&self) -> &Cluster {
        self.mc.cluster()
    }

    /// [`Self::new`] with deploy/examples applied and synced until `Running`.
    pub async fn running_example(namespace: &str) -> Option<Self> {
        let mut stack = Self::new(namespace).await?;
        stack.apply_examples().await;
        stack.converge_running().await;
        Some(stack)
    }

    /// tests/fixtures/shards.yaml (three store gateway shards of two replicas) with the ConfigMap and bucket
    /// Secret of deploy/examples it names, as a user applies them; not synced yet.
    pub async fn apply_shards(&mut self) {
        for file in ["prometheus-config.yaml", "thanos-objstore.yaml"] {
            self.apply_file(&format!("deploy/examples/{file}")).await;
        }
        self.apply_file("tests/fixtures/shards.yaml").await;
    }

    /// deploy/examples as a user applies them: the ConfigMap, both bucket Secrets, the 2018 example.
    pub async fn apply_examples(&mut self) {
        for file in [
            "prometheus-config.yaml",
            "s3-bucket.yaml",
            "thanos-objstore.yaml",
        ] {
            self.apply_file(&format!("deploy/examples/{file}")).await;
        }
        self.apply_file("deploy/examples/prometheusreplica.yaml")
            .await;
    }

    /// Apply a manifest of the repository into the namespace; a PrometheusReplica becomes this stack's.
    pub async fn apply_file(&mut self, path: &str) {
        let yaml =
            std::fs::read_to_string(cluster::repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        for object in cluster::documents(&yaml) {
            self.apply(object).await;
        }
    }

    /// Apply one object into the namespace as the user; a PrometheusReplica becomes this stack's.
    pub async fn apply(&mut self, mut object: Value) -> Value {
        object["metadata"]["namespace"] = json!(self.namespace);
        if object["kind"] == "PrometheusReplica" {
            self.name = object["metadata"]["name"]
                .as_str()
                .expect("named")
                .to_owned();
        }
        let resource = cluster::resource_of(&object);
        self.cluster()
            .apply(&resource, Some(&self.namespace), object)
            .await
    }

    /// The parent as stored.
    pub async fn parent(&self) -> Value {
        self.get("PrometheusReplica", &self.name)
            .await
            .expect("the parent exists")
    }

    pub async fn get(&self, kind_name: &str, name: &str) -> Option<Value> {
        self.cluster()
            .get(&kind(kind_name), &self.namespace, name)
            .await
    }

    /// Change the parent's spec as a user would, with a JSON merge patch.
    pub async fn edit_spec(&self, patch: Value) {
        let api = self
            .cluster()
            .api(&kind("PrometheusReplica"), Some(&self.namespace));
        api.patch(
            &self.name,
            &Default::default(),
            &kube::api::Patch::Merge(json!({ "spec": patch })),
        )
        .await
        .unwrap_or_else(|e| panic!("editing the spec of {}: {e}", self.name));
    }

    /// One sync round, which must succeed and be accepted whole by the API server.
    pub async fn round(&mut self) -> Round {
        let round = self
            .try_round()
            .await
            .unwrap_or_else(|f| panic!("sync of {}: {f:?}", self.name));
        assert!(
            round.rejected.is_empty(),
            "the API server refused children: {:#?}",
            round.rejected
        );
        round
    }

    /// One sync round, recording the phase the API server then stores.
    pub async fn try_round(&mut self) -> Result<Round, Failure> {
        let round = self.mc.sync(&self.namespace, &self.name).await;
        let phase = self.parent().await["status"]["phase"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if !phase.is_empty() && self.phases.last() != Some(&phase) {
            self.phases.push(phase);
        }
        round
    }

    /// Sync rounds until the stored parent satisfies `done`, as Metacontroller's watches would; the
    /// parent then.
    pub async fn converge(&mut self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            self.round().await;
            let parent = self.parent().await;
            if done(&parent) {
                return parent;
            }
            assert!(
                Instant::now() < deadline,
                "{}: not {what} after {PATIENCE:?}; status: {:#}",
                self.name,
                parent["status"]
            );
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    }

    /// Sync until `phase` is `Running` with `Available=True`.
    pub async fn converge_running(&mut self) -> Value {
        self.converge("Running and Available", running).await
    }

    /// The `resourceVersion` of every child (`Kind/name`) and of the parent (`parent`): equal before and
    /// after means the API server stored nothing.
    pub async fn versions(&self) -> std::collections::BTreeMap<String, Value> {
        let mut versions: std::collections::BTreeMap<String, Value> = self
            .children()
            .await
            .into_iter()
            .map(|(name, object)| (name, object["metadata"]["resourceVersion"].clone()))
            .collect();
        versions.insert(
            "parent".into(),
            self.parent().await["metadata"]["resourceVersion"].clone(),
        );
        versions
    }

    /// `kubectl delete statefulset NAME --cascade=orphan`, the documented way to recreate a StatefulSet
    /// (or to clear one that is not ours) while its Pods and claims stay.
    pub fn delete_statefulset_keeping_pods(&self, name: &str) {
        self.cluster().kubectl_ok(&[
            "delete",
            "statefulset",
            name,
            "--cascade=orphan",
            "-n",
            &self.namespace,
            "--wait",
        ]);
    }

    /// Every child of this parent as stored, `Kind/name` to the object.
    pub async fn children(&self) -> std::collections::BTreeMap<String, Value> {
        let uid = self.parent().await["metadata"]["uid"]
            .as_str()
            .expect("uid")
            .to_owned();
        let mut children = std::collections::BTreeMap::new();
        for kind_name in CHILD_KINDS {
            for object in self.cluster().list(&kind(kind_name), &self.namespace).await {
                if object["metadata"]["labels"]["controller-uid"] == uid.as_str() {
                    let name = object["metadata"]["name"].as_str().expect("named");
                    children.insert(format!("{kind_name}/{name}"), object);
                }
            }
        }
        children
    }
}

/// The kinds of deploy/compositecontroller.yaml's childResources.
pub const CHILD_KINDS: [&str; 10] = [
    "StatefulSet",
    "Service",
    "Deployment",
    "ConfigMap",
    "PodDisruptionBudget",
    "Ingress",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "PersistentVolumeClaim",
];

/// `Running` with the `Available` condition true.
pub fn running(parent: &Value) -> bool {
    parent["status"]["phase"] == "Running" && condition(parent, "Available") == Some("True")
}

/// The status of condition `type` of the stored parent.
pub fn condition<'a>(parent: &'a Value, type_: &str) -> Option<&'a str> {
    parent["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)?["status"]
        .as_str()
}

/// The reason of condition `type`.
pub fn reason<'a>(parent: &'a Value, type_: &str) -> Option<&'a str> {
    parent["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)?["reason"]
        .as_str()
}
