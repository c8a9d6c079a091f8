//! Metacontroller's hook wire types (CompositeController, hook versions v1 and v2).
//!
//! Requests are read leniently (both ways of keying children, `controller` as opaque JSON, `related` absent
//! or null) and answers are written exactly as Metacontroller decodes them in `responseUnMarshallMode:
//! strict`: only `status`, `children`, `resyncAfterSeconds`, `finalized` while finalizing (and `relatedResources`
//! for customize).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::api::PrometheusReplicaStatus;
use crate::{Error, Result};

mod object;

pub use object::{Object, newest_time};

/// Objects of one request, by `Kind.group/version` (`Kind.version` for the core group), then by name (v1) or
/// `namespace/name` (v2). Only the values are read; the inner keys are not trusted.
pub type Observed = BTreeMap<String, BTreeMap<String, Object>>;

/// [`Observed`] as plain JSON values, as fixtures and tools build a request before encoding it.
pub type Objects = BTreeMap<String, BTreeMap<String, Value>>;

/// A sync request: the parent and what Metacontroller observes of its children and related objects.
#[derive(Deserialize, Debug, Default, Clone)]
pub struct SyncRequest {
    /// The CompositeController, read only to learn whether a customize hook is configured.
    #[serde(default)]
    pub controller: Value,
    /// The parent object as Metacontroller's cache holds it.
    #[serde(default)]
    pub parent: Value,
    /// Observed children.
    #[serde(default, deserialize_with = "null_as_default")]
    pub children: Observed,
    /// Related objects asked for by the customize hook.
    #[serde(default, deserialize_with = "null_as_default")]
    pub related: Observed,
    /// Set while the parent is being deleted and the CompositeController has a finalize hook (see
    /// `pipeline::finalize`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub finalizing: bool,
}

impl SyncRequest {
    /// Check the shape Metacontroller always sends: outer keys `Kind.version` or `Kind.group/version`, every
    /// object a JSON object with a string `metadata.name`. Anything else is not from Metacontroller, and
    /// answering it could delete children, so it is [`Error::BadRequest`].
    pub fn check_shape(&self) -> Result<()> {
        for (field, objects) in [("children", &self.children), ("related", &self.related)] {
            for (group_key, by_name) in objects {
                let valid_key = group_key
                    .split_once('.')
                    .is_some_and(|(kind, version)| !kind.is_empty() && !version.is_empty());
                if !valid_key {
                    return Err(Error::BadRequest(format!(
                        "{field}: {:?} is not a Kind.group/version key",
                        short(group_key)
                    )));
                }
                for (key, object) in by_name {
                    if object.name().is_none() {
                        return Err(Error::BadRequest(format!(
                            "{field}.{group_key}.{}: expected an object with metadata.name",
                            short(key)
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether the CompositeController that sent this request has a customize hook, so that an empty
    /// `related` means the referenced objects do not exist.
    pub fn has_customize_hook(&self) -> bool {
        self.controller
            .pointer("/spec/hooks/customize")
            .is_some_and(|hook| hook.is_object())
    }
}

/// The sync answer: the complete desired state.
#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SyncResponse {
    /// The parent's whole new status.
    pub status: PrometheusReplicaStatus,
    /// Every desired child; an observed child left out is deleted.
    pub children: Vec<Child>,
    /// Ask for another sync after this many seconds; 0 waits for the next change or resync.
    pub resync_after_seconds: u32,
    /// Only while `finalizing`: whether Metacontroller may remove its finalizer and let the parent go.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finalized: Option<bool>,
}

/// One desired child, serialized with its `apiVersion` and `kind`.
#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(untagged)]
pub enum Child {
    ConfigMap(ConfigMap),
    Service(Service),
    StatefulSet(StatefulSet),
    Deployment(Deployment),
    PodDisruptionBudget(PodDisruptionBudget),
    Ingress(Ingress),
    ServiceAccount(ServiceAccount),
    Role(Role),
    RoleBinding(RoleBinding),
    PersistentVolumeClaim(PersistentVolumeClaim),
}

impl Child {
    /// `Kind`, as in Metacontroller's keys.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ConfigMap(_) => "ConfigMap",
            Self::Service(_) => "Service",
            Self::StatefulSet(_) => "StatefulSet",
            Self::Deployment(_) => "Deployment",
            Self::PodDisruptionBudget(_) => "PodDisruptionBudget",
            Self::Ingress(_) => "Ingress",
            Self::ServiceAccount(_) => "ServiceAccount",
            Self::Role(_) => "Role",
            Self::RoleBinding(_) => "RoleBinding",
            Self::PersistentVolumeClaim(_) => "PersistentVolumeClaim",
        }
    }

    /// `apiVersion` and resource (plural), as a customize rule names them.
    pub fn resource(&self) -> (&'static str, &'static str) {
        match self {
            Self::ConfigMap(_) => ("v1", "configmaps"),
            Self::Service(_) => ("v1", "services"),
            Self::StatefulSet(_) => ("apps/v1", "statefulsets"),
            Self::Deployment(_) => ("apps/v1", "deployments"),
            Self::PodDisruptionBudget(_) => ("policy/v1", "poddisruptionbudgets"),
            Self::Ingress(_) => ("networking.k8s.io/v1", "ingresses"),
            Self::ServiceAccount(_) => ("v1", "serviceaccounts"),
            Self::Role(_) => ("rbac.authorization.k8s.io/v1", "roles"),
            Self::RoleBinding(_) => ("rbac.authorization.k8s.io/v1", "rolebindings"),
            Self::PersistentVolumeClaim(_) => ("v1", "persistentvolumeclaims"),
        }
    }

    /// The child's `metadata.name`.
    pub fn name(&self) -> &str {
        let meta = match self {
            Self::ConfigMap(o) => &o.metadata,
            Self::Service(o) => &o.metadata,
            Self::StatefulSet(o) => &o.metadata,
            Self::Deployment(o) => &o.metadata,
            Self::PodDisruptionBudget(o) => &o.metadata,
            Self::Ingress(o) => &o.metadata,
            Self::ServiceAccount(o) => &o.metadata,
            Self::Role(o) => &o.metadata,
            Self::RoleBinding(o) => &o.metadata,
            Self::PersistentVolumeClaim(o) => &o.metadata,
        };
        meta.name.as_deref().unwrap_or_default()
    }
}

/// A customize request.
#[derive(Deserialize, Debug, Default, Clone)]
pub struct CustomizeRequest {
    /// The CompositeController (unused).
    #[serde(default)]
    pub controller: Value,
    /// The parent object.
    #[serde(default)]
    pub parent: Value,
}

/// The customize answer: which related objects to send with every sync.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CustomizeResponse {
    pub related_resources: Vec<RelatedResourceRule>,
}

/// One rule of related objects, by name. `namespace` is always the parent's for namespaced resources:
/// Metacontroller's version-2 customize hook lists a rule without one in every namespace (v4.17.2,
/// `customize/manager.go`), so a ConfigMap or Secret of the same name elsewhere would arrive too.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RelatedResourceRule {
    pub api_version: String,
    pub resource: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
}

/// The objects of one kind in [`Observed`], whatever the hook version.
pub fn of_kind<'a>(objects: &'a Observed, kind: &'a str) -> impl Iterator<Item = &'a Object> + 'a {
    objects
        .iter()
        .filter(move |(key, _)| key.split_once('.').map_or(key.as_str(), |(k, _)| k) == kind)
        .flat_map(|(_, by_name)| by_name.values())
}

/// The object of `kind` named `name` in `namespace` in [`Observed`], read from its `metadata`, not from its
/// key. An object without a namespace matches any (cluster-scoped kinds, and requests that leave it out);
/// one in another namespace never does, whatever a customize rule let through.
pub fn find<'a>(
    objects: &'a Observed,
    kind: &'a str,
    namespace: &str,
    name: &str,
) -> Option<&'a Object> {
    of_kind(objects, kind)
        .find(|o| o.name() == Some(name) && o.namespace().is_none_or(|ns| ns == namespace))
}

fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A key quoted in an error, cut short.
fn short(key: &str) -> String {
    key.chars().take(80).collect()
}
