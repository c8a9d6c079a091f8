//! A test double of Metacontroller v4.17: the part of a CompositeController that a sync hook sees.
//!
//! One [`Metacontroller::sync`] is one reconcile of one parent, as `pkg/controller/composite` does it:
//! read the parent and its children (the `controller-uid` label of `generateSelector`, owned by the
//! parent or by nobody), call `/customize` and fetch the related objects it names, call `/sync` with
//! the version-2 request (children and related keyed `namespace/name`, an entry for every rule),
//! decode the answer strictly (orphans that carry the label are adopted first: an ownerReference patch),
//! then create or update each desired child (with the `controller-uid`
//! label and the controller ownerReference), delete each observed child the answer left out
//! (background propagation), and write the status through `/status` with `observedGeneration`
//! when it differs from the stored one. Any answer but 200, a timeout or an undecodable body
//! changes nothing.
//!
//! Children are applied as the default `--apply-strategy=dynamic-apply` does: a missing child is
//! created with a plain create carrying the last-applied annotation (an object of the name that is
//! not a child stays as it is: AlreadyExists is ignored); an observed one is merged three ways
//! ([`apply_update`](crate::common::apply::apply_update), a port of `ApplyUpdate`) and `PUT` exactly
//! when the merge differs from the stored object, so [`Round::updated`] lists the requests the real
//! one would send, whether or not the API server then stores anything new.
//!
//! Where it differs from the real Metacontroller, and why that is safe for what the tests show:
//! - A `PUT` refused for a stale `resourceVersion` (a controller wrote the child's status meanwhile)
//!   is merged again over the child as now stored and sent again, where the real one waits for its
//!   next sync, which does the same.
//! - It runs when a test calls it, not on watch events, resync periods or backoff; a test polls.
//! - Every child rule is `InPlace` (the only strategy deploy/compositecontroller.yaml uses); no
//!   rolling strategies, no ControllerRevisions, no Events. The finalize hook is called as the real one
//!   calls it (its finalizer added on the first sync, the hook with `finalizing: true` while the parent
//!   is being deleted, the finalizer removed on `finalized: true`).
//! - Related objects are read from the API server, not an informer cache, and the customize
//!   answer is not cached. As in the real one, a rule without a namespace lists every namespace.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use kube::api::{DeleteParams, DynamicObject, PostParams, PropagationPolicy};
use kube::discovery::ApiResource;
use rustls::ClientConfig;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::cluster::{Cluster, RESOURCES, kind};
use crate::common::apply::{apply_update, with_last_applied};
use crate::server_support::{self, Server, Trust};

/// Metacontroller's default `webhook.timeout`.
const HOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// The real hook binary, serving HTTPS with a certificate of its own CA, which the driver trusts.
pub struct Hook {
    server: Server,
    tls: Arc<ClientConfig>,
    _certs: tempfile::TempDir,
}

impl Hook {
    pub fn start() -> Self {
        let certs = server_support::temp_dir();
        server_support::certs(certs.path(), &["localhost"]);
        let file = |name| server_support::path_in(&certs, name);
        let (cert, key) = (file("tls.crt"), file("tls.key"));
        let server = Server::start(&[
            "--tls-cert",
            cert.to_str().expect("UTF-8 path"),
            "--tls-key",
            key.to_str().expect("UTF-8 path"),
        ]);
        let tls = server_support::client(Trust::Ca(&file("ca.crt")), &["h2", "http/1.1"], None);
        Self {
            server,
            tls,
            _certs: certs,
        }
    }

    /// SIGTERM, and wait for the process to exit: from now on no call is answered.
    pub fn stop(&mut self) {
        self.server.terminate();
        self.server.wait();
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.hook
    }

    /// POST `body` to `path`; the status and body, or why no answer came.
    async fn call(&self, path: &str, body: &Value) -> Result<(u16, Vec<u8>), Failure> {
        let request = server_support::post(path, serde_json::to_vec(body).expect("JSON"));
        let answer = tokio::time::timeout(
            HOOK_TIMEOUT,
            server_support::send(self.addr(), self.tls.clone(), request),
        )
        .await
        .map_err(|_| Failure::Unreachable(format!("{path}: no answer within {HOOK_TIMEOUT:?}")))?
        .map_err(|e| Failure::Unreachable(format!("{path}: {e}")))?;
        Ok((answer.status.as_u16(), answer.body.to_vec()))
    }
}

/// Why a sync round changed nothing.
#[derive(Debug)]
pub enum Failure {
    /// The hook answered something other than 200: Metacontroller posts an Event and backs off.
    Refused {
        path: String,
        status: u16,
        body: String,
    },
    /// No connection, or no answer in time.
    Unreachable(String),
    /// A 200 whose body breaks the wire contract (strict decoding, a child of an unknown kind, ...).
    Contract(String),
}

/// What one sync round did.
#[derive(Debug, Default)]
pub struct Round {
    /// `Kind/name` of each child created, updated (a `PUT` sent and accepted) and deleted.
    pub created: Vec<String>,
    pub updated: Vec<String>,
    pub deleted: Vec<String>,
    /// Children the API server refused, with its message.
    pub rejected: Vec<String>,
    /// Orphans with the parent's `controller-uid` that the round adopted (a patch of their owners).
    pub adopted: Vec<String>,
    /// Whether the round added or removed Metacontroller's finalizer on the parent.
    pub finalizer_changed: bool,
    /// Whether the finalize hook said `finalized: true` (the finalizer is gone, and the parent with it).
    pub finalized: bool,
    /// Children not created because an object of their name exists that is not a child.
    pub already_exists: Vec<String>,
    /// The status the hook answered, with `observedGeneration` as Metacontroller adds it.
    pub status: Value,
    pub status_written: bool,
    /// The children the hook answered.
    pub children: Vec<Value>,
}

impl Round {
    /// Whether the round stored nothing at all.
    pub fn wrote_nothing(&self) -> bool {
        self.created.is_empty()
            && self.adopted.is_empty()
            && !self.finalizer_changed
            && self.updated.is_empty()
            && self.deleted.is_empty()
            && self.rejected.is_empty()
            && !self.status_written
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SyncAnswer {
    status: Option<Map<String, Value>>,
    children: Option<Vec<Value>>,
    #[allow(dead_code)] // read by Metacontroller for a delayed resync; a test polls instead
    resync_after_seconds: Option<f64>,
    /// Only from the finalize hook: the finalizer may go.
    finalized: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CustomizeAnswer {
    related_resources: Option<Vec<RelatedRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RelatedRule {
    api_version: String,
    resource: String,
    #[serde(default)]
    names: Vec<String>,
    label_selector: Option<LabelSelector>,
    namespace: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct LabelSelector {
    #[serde(default)]
    match_labels: BTreeMap<String, String>,
}

pub struct Metacontroller {
    cluster: Cluster,
    /// The CompositeController as the API server stores it: what Metacontroller sends as `controller`.
    controller: Value,
    children: Vec<ApiResource>,
    parent: ApiResource,
    pub hook: Hook,
}

impl Metacontroller {
    /// deploy/compositecontroller.yaml, applied and read back, driving `hook`.
    pub async fn new(cluster: Cluster, hook: Hook) -> Self {
        let resource = kind("CompositeController");
        let manifest =
            std::fs::read_to_string(crate::cluster::repo("deploy/compositecontroller.yaml"))
                .expect("deploy/compositecontroller.yaml is readable");
        let controller = crate::cluster::documents(&manifest).remove(0);
        let controller = cluster.apply(&resource, None, controller).await;
        let rule = |r: &Value| {
            let (api_version, plural) = (r["apiVersion"].as_str(), r["resource"].as_str());
            resource_named(
                api_version.expect("rules name apiVersion"),
                plural.expect("rules name resource"),
            )
        };
        let children = controller["spec"]["childResources"]
            .as_array()
            .expect("the CompositeController lists childResources")
            .iter()
            .map(rule)
            .collect();
        let parent = rule(&controller["spec"]["parentResource"]);
        Self {
            cluster,
            controller,
            children,
            parent,
            hook,
        }
    }

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// One reconcile of the parent `namespace/name`.
    pub async fn sync(&self, namespace: &str, name: &str) -> Result<Round, Failure> {
        let parent = self
            .cluster
            .get(&self.parent, namespace, name)
            .await
            .unwrap_or_else(|| panic!("the parent {namespace}/{name} exists"));
        let uid = parent["metadata"]["uid"]
            .as_str()
            .expect("stored objects have a uid")
            .to_owned();
        let finalize = &self.controller["spec"]["hooks"]["finalize"];
        let deleting = !parent["metadata"]["deletionTimestamp"].is_null();
        let mut finalizer_changed = false;
        let parent = if !finalize.is_null() && !deleting && !self.has_finalizer(&parent) {
            finalizer_changed = true;
            self.set_finalizer(&parent, true).await
        } else {
            parent
        };
        let (observed, adopted) = self.observed_children(&parent, namespace, &uid).await;
        let related = self.related(&parent).await?;
        let finalizing = deleting && !finalize.is_null();
        let request = json!({
            "controller": self.controller,
            "parent": parent,
            "children": groups(&self.children, &observed),
            "related": related,
            "finalizing": finalizing,
        });
        let path = if finalizing {
            finalize["webhook"]["path"]
                .as_str()
                .expect("the finalize hook has a path")
        } else {
            "/sync"
        };
        let answer: SyncAnswer = decode(path, self.hook.call(path, &request).await?)?;
        let mut round = Round {
            children: answer.children.unwrap_or_default(),
            adopted,
            finalizer_changed,
            ..Round::default()
        };
        if deleting && !finalizing {
            // Without a finalize hook, a parent being deleted gets no child changes.
            return Ok(round);
        }
        self.manage_children(&parent, &observed, &mut round).await?;
        if finalizing && answer.finalized == Some(true) {
            // The finalizer goes, the parent with it; no status is written to a parent that is gone.
            self.set_finalizer(&parent, false).await;
            round.finalizer_changed = true;
            round.finalized = true;
            return Ok(round);
        }
        let mut status = answer.status.unwrap_or_default();
        status.insert(
            "observedGeneration".into(),
            parent["metadata"]["generation"].clone(),
        );
        round.status = Value::Object(status);
        round.status_written = self.write_status(parent, &round.status).await;
        Ok(round)
    }

    /// Children of every rule that carry the parent's `controller-uid` and no other controller. One with no
    /// controller is adopted first, as `claimChildren` does: the parent becomes its controller owner (and the
    /// garbage collector deletes it with the parent).
    async fn observed_children(
        &self,
        parent: &Value,
        namespace: &str,
        uid: &str,
    ) -> (Vec<(ApiResource, Value)>, Vec<String>) {
        let mut observed = Vec::new();
        let mut adopted = Vec::new();
        for resource in &self.children {
            let selector = format!("controller-uid={uid}");
            let params = kube::api::ListParams::default().labels(&selector);
            for object in self.cluster.list_with(resource, namespace, &params).await {
                let controller = object["metadata"]["ownerReferences"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|r| r["controller"] == true);
                match controller {
                    Some(r) if r["uid"] == uid => observed.push((resource.clone(), object)),
                    Some(_) => {}
                    // As `ClaimObject`: a parent being deleted adopts nothing.
                    None if !parent["metadata"]["deletionTimestamp"].is_null() => {}
                    None => {
                        // Stale (the volume controller bound the claim meanwhile): the real one fails this
                        // sync and retries; the next round adopts it.
                        let Some(object) = self.adopt(resource, parent, object).await else {
                            continue;
                        };
                        adopted.push(format!(
                            "{}/{}",
                            resource.kind,
                            object["metadata"]["name"].as_str().unwrap_or_default()
                        ));
                        observed.push((resource.clone(), object));
                    }
                }
            }
        }
        (observed, adopted)
    }

    /// Metacontroller's finalizer of this CompositeController, on every parent while a finalize hook is set.
    fn finalizer(&self) -> String {
        format!(
            "metacontroller.io/compositecontroller-{}",
            self.controller["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
        )
    }

    fn has_finalizer(&self, parent: &Value) -> bool {
        let finalizer = self.finalizer();
        parent["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f == finalizer.as_str()))
    }

    /// Add or remove the finalizer; the parent as stored afterwards.
    async fn set_finalizer(&self, parent: &Value, present: bool) -> Value {
        let finalizer = self.finalizer();
        let mut finalizers: Vec<Value> = parent["metadata"]["finalizers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        finalizers.retain(|f| f != finalizer.as_str());
        if present {
            finalizers.push(json!(finalizer));
        }
        let patch = json!({"metadata": {
            "finalizers": finalizers,
            "resourceVersion": parent["metadata"]["resourceVersion"],
        }});
        let name = parent["metadata"]["name"].as_str().unwrap_or_default();
        let api = self
            .cluster
            .api(&self.parent, parent["metadata"]["namespace"].as_str());
        match api
            .patch(
                name,
                &as_metacontroller_patch(),
                &kube::api::Patch::Merge(&patch),
            )
            .await
        {
            Ok(stored) => serde_json::to_value(stored).expect("objects are JSON"),
            // Gone once the last finalizer went.
            Err(kube::Error::Api(e)) if e.code == 404 && !present => parent.clone(),
            Err(e) => panic!("setting the finalizer of {name}: {e}"),
        }
    }

    /// Make the parent the controller owner of `object`, keeping its other owners.
    async fn adopt(&self, resource: &ApiResource, parent: &Value, object: Value) -> Option<Value> {
        let mut owners = object["metadata"]["ownerReferences"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        owners.push(json!({
            "apiVersion": parent["apiVersion"], "kind": parent["kind"],
            "name": parent["metadata"]["name"], "uid": parent["metadata"]["uid"],
            "controller": true, "blockOwnerDeletion": true,
        }));
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        let namespace = object["metadata"]["namespace"].as_str();
        let patch = json!({"metadata": {
            "ownerReferences": owners,
            "resourceVersion": object["metadata"]["resourceVersion"],
        }});
        let adopted = match self
            .cluster
            .api(resource, namespace)
            .patch(
                name,
                &as_metacontroller_patch(),
                &kube::api::Patch::Merge(&patch),
            )
            .await
        {
            Ok(adopted) => adopted,
            Err(kube::Error::Api(e)) if e.code == 409 => return None,
            Err(e) => panic!("adopting {} {name}: {e}", resource.kind),
        };
        let mut adopted = serde_json::to_value(adopted).expect("objects are JSON");
        adopted["apiVersion"] = json!(resource.api_version);
        adopted["kind"] = json!(resource.kind);
        Some(adopted)
    }

    /// `/customize`, then the objects it names, grouped as `children` are.
    async fn related(&self, parent: &Value) -> Result<Value, Failure> {
        if self.controller["spec"]["hooks"]["customize"].is_null() {
            return Ok(json!({}));
        }
        let request = json!({"controller": self.controller, "parent": parent});
        let answer: CustomizeAnswer =
            decode("/customize", self.hook.call("/customize", &request).await?)?;
        let mut rules = Vec::new();
        let mut found = Vec::new();
        for rule in answer.related_resources.unwrap_or_default() {
            let resource = resource_named(&rule.api_version, &rule.resource);
            // As the version-2 customize hook does (v4.17.2 `customize/manager.go`): a rule without a
            // namespace lists every namespace, also for a namespaced parent.
            let namespace = rule.namespace.as_deref();
            let selector = rule
                .label_selector
                .map(|s| s.match_labels)
                .unwrap_or_default();
            for object in self.cluster.list_in(&resource, namespace).await {
                let name = object["metadata"]["name"].as_str().unwrap_or_default();
                let labels = &object["metadata"]["labels"];
                let named = rule.names.is_empty() || rule.names.iter().any(|n| n == name);
                if named && selector.iter().all(|(k, v)| labels[k] == v.as_str()) {
                    found.push((resource.clone(), object));
                }
            }
            rules.push(resource);
        }
        Ok(groups(&rules, &found))
    }

    async fn manage_children(
        &self,
        parent: &Value,
        observed: &[(ApiResource, Value)],
        round: &mut Round,
    ) -> Result<(), Failure> {
        let namespace = parent["metadata"]["namespace"]
            .as_str()
            .expect("namespaced parent");
        let mut desired = Vec::new();
        for child in &round.children {
            let (api_version, kind) = (child["apiVersion"].as_str(), child["kind"].as_str());
            let resource = self
                .children
                .iter()
                .find(|r| {
                    Some(r.api_version.as_str()) == api_version && Some(r.kind.as_str()) == kind
                })
                .ok_or_else(|| {
                    Failure::Contract(format!(
                        "a child of no childResources rule: {api_version:?} {kind:?}"
                    ))
                })?;
            let name = child["metadata"]["name"]
                .as_str()
                .ok_or_else(|| Failure::Contract("a child without a name".into()))?;
            match child["metadata"]["namespace"].as_str() {
                None | Some("") => {}
                Some(ns) if ns == namespace => {}
                Some(ns) => {
                    return Err(Failure::Contract(format!(
                        "{kind:?} {name} in namespace {ns}, not the parent's"
                    )));
                }
            }
            desired.push((resource.clone(), name.to_owned(), child.clone()));
        }
        for (resource, name, child) in desired.iter() {
            let mut child = child.clone();
            child["metadata"]["namespace"] = json!(namespace);
            let labels = child["metadata"]["labels"].as_object_mut();
            let labels = match labels {
                Some(labels) => labels,
                None => {
                    child["metadata"]["labels"] = json!({});
                    child["metadata"]["labels"]
                        .as_object_mut()
                        .expect("just made")
                }
            };
            labels
                .entry("controller-uid")
                .or_insert(parent["metadata"]["uid"].clone());
            let before = observed
                .iter()
                .find(|(r, o)| r.kind == resource.kind && o["metadata"]["name"] == name.as_str())
                .map(|(_, o)| o);
            let api = self.cluster.api(resource, Some(namespace));
            let label = format!("{}/{name}", resource.kind);
            let Some(before) = before else {
                // The annotation holds the answer as sent, before the ownerReference is added.
                let mut child = with_last_applied(&child);
                child["metadata"]["ownerReferences"] = json!([{
                    "apiVersion": parent["apiVersion"], "kind": parent["kind"],
                    "name": parent["metadata"]["name"], "uid": parent["metadata"]["uid"],
                    "controller": true, "blockOwnerDeletion": true,
                }]);
                let object: DynamicObject =
                    serde_json::from_value(child).expect("a child is an object");
                match api.create(&as_metacontroller(), &object).await {
                    Ok(_) => round.created.push(label),
                    Err(kube::Error::Api(e)) if e.code == 409 => round.already_exists.push(label),
                    Err(e) => round.rejected.push(format!("{label}: {e}")),
                }
                continue;
            };
            match update(&api, name, before.clone(), &child).await {
                Ok(true) => round.updated.push(label),
                Ok(false) => {}
                Err(e) => round.rejected.push(format!("{label}: {e}")),
            }
        }
        for (resource, object) in observed {
            let name = object["metadata"]["name"]
                .as_str()
                .expect("stored objects have names");
            if desired
                .iter()
                .any(|(r, n, _)| r.kind == resource.kind && n == name)
            {
                continue;
            }
            let params = DeleteParams {
                propagation_policy: Some(PropagationPolicy::Background),
                ..Default::default()
            };
            let label = format!("{}/{name}", resource.kind);
            match self
                .cluster
                .api(resource, Some(namespace))
                .delete(name, &params)
                .await
            {
                Ok(_) => round.deleted.push(label),
                Err(e) => round.rejected.push(format!("deleting {label}: {e}")),
            }
        }
        Ok(())
    }

    /// Replace the stored status through `/status` unless it already equals `status`.
    async fn write_status(&self, mut parent: Value, status: &Value) -> bool {
        if &parent["status"] == status {
            return false;
        }
        let namespace = parent["metadata"]["namespace"]
            .as_str()
            .expect("namespaced")
            .to_owned();
        let name = parent["metadata"]["name"]
            .as_str()
            .expect("named")
            .to_owned();
        parent["status"] = status.clone();
        let api = self.cluster.api(&self.parent, Some(&namespace));
        let parent: kube::api::DynamicObject =
            serde_json::from_value(parent).expect("a stored object");
        match api
            .replace_status(&name, &PostParams::default(), &parent)
            .await
        {
            Ok(_) => true,
            // A newer parent: the next round syncs it, as Metacontroller ignores the conflict.
            Err(kube::Error::Api(e)) if e.code == 409 => false,
            Err(e) => panic!("writing the status of {namespace}/{name}: {e}"),
        }
    }
}

/// Writes under the field manager the real binary gets from its name.
fn as_metacontroller() -> PostParams {
    PostParams {
        field_manager: Some("metacontroller".into()),
        ..Default::default()
    }
}

fn as_metacontroller_patch() -> kube::api::PatchParams {
    kube::api::PatchParams {
        field_manager: Some("metacontroller".into()),
        ..Default::default()
    }
}

/// The default apply's update of one observed child: `PUT` the three-way merge when it differs from
/// the stored object; whether a `PUT` was sent and accepted. A child pending deletion is left alone.
async fn update(
    api: &kube::Api<DynamicObject>,
    name: &str,
    mut stored: Value,
    desired: &Value,
) -> Result<bool, kube::Error> {
    loop {
        if !stored["metadata"]["deletionTimestamp"].is_null() {
            return Ok(false);
        }
        let merged = apply_update(&stored, desired);
        if merged == stored {
            return Ok(false);
        }
        let object: DynamicObject = serde_json::from_value(merged).expect("a merged child");
        match api.replace(name, &as_metacontroller(), &object).await {
            Ok(_) => return Ok(true),
            Err(kube::Error::Api(e)) if e.code == 409 => {
                stored = serde_json::to_value(api.get(name).await?).expect("objects encode");
            }
            Err(e) => return Err(e),
        }
    }
}

/// `Kind.group/version` (`Kind.version` in the core group): Metacontroller's outer keys.
pub fn group_key(resource: &ApiResource) -> String {
    format!("{}.{}", resource.kind, resource.api_version)
}

/// Objects grouped by rule, then keyed `namespace/name` (hook version 2); every rule has an entry.
fn groups(rules: &[ApiResource], objects: &[(ApiResource, Value)]) -> Value {
    let mut groups = Map::new();
    for rule in rules {
        groups.entry(group_key(rule)).or_insert(json!({}));
    }
    for (resource, object) in objects {
        let key = format!(
            "{}/{}",
            object["metadata"]["namespace"].as_str().unwrap_or_default(),
            object["metadata"]["name"].as_str().unwrap_or_default()
        );
        groups[&group_key(resource)][key] = object.clone();
    }
    Value::Object(groups)
}

fn resource_named(api_version: &str, plural: &str) -> ApiResource {
    RESOURCES
        .iter()
        .map(|k| k.resource())
        .find(|r| r.api_version == api_version && r.plural == plural)
        .unwrap_or_else(|| panic!("the e2e tests know no resource {plural} in {api_version}"))
}

/// A 200 decoded strictly, as `responseUnMarshallMode: strict` does; anything else is a failure.
fn decode<T: serde::de::DeserializeOwned>(
    path: &str,
    (status, body): (u16, Vec<u8>),
) -> Result<T, Failure> {
    if status != 200 {
        let body = String::from_utf8_lossy(&body).into_owned();
        return Err(Failure::Refused {
            path: path.into(),
            status,
            body,
        });
    }
    serde_json::from_slice(&body).map_err(|e| Failure::Contract(format!("{path}: {e}")))
}
