//! The PersistentVolumeClaims that the StatefulSets made, as children, so that a larger
//! `spec.storage.<component>.size` grows them (issue 20: no peer grows its volumes; prometheus-operator
//! issue 2357).
//!
//! How a claim becomes a child: a StatefulSet's claims carry its claim template's labels, and the claim
//! templates of every StatefulSet rendered since this release carry the parent's `controller-uid`, the
//! selector Metacontroller generates. With `persistentvolumeclaims` among the CompositeController's
//! `childResources`, Metacontroller adopts them (an ownerReference to the parent) and sends them with every
//! sync. Claims of a StatefulSet made before stay unmanaged until labelled (the pending-size warning says
//! how). While the parent is deleted, the finalize hook releases them ([`released`]), so that deleting it keeps
//! the data volumes, as the StatefulSets' `Retain` policy promises.
//!
//! Once a claim is a child, an answer without it deletes it. So every observed claim is answered, always,
//! whatever else the sync finds wrong: a missing Secret, a broken ConfigMap, a disabled compactor, a size
//! that cannot be honoured. Each answer is the smallest object that says its size and owner (`metadata.name`,
//! `namespace` and `ownerReferences`, `spec.resources.requests.storage`): Metacontroller's three-way merge
//! leaves every other field as stored. The size is the observed one unless the spec names a larger size, the claim is bound and its
//! StorageClass has `allowVolumeExpansion: true`; otherwise the status says why (`Degraded`), and nothing
//! changes. A claim never shrinks.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimSpec, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use serde::Deserialize;

use super::pod::DATA_VOLUME;
use crate::error::Problem;
use crate::hook::{self, RelatedResourceRule, SyncRequest};
use crate::spec::{self, Stack, quantity_value};
use crate::{Error, Result};

/// The kind of the claims, as Metacontroller keys them.
pub const KIND: &str = "PersistentVolumeClaim";
/// The label of Metacontroller's generated selector.
pub const CONTROLLER_UID: &str = "controller-uid";

/// What the claims answer: one child per observed claim, and what the status must say.
#[derive(Debug, Default)]
pub struct Claims {
    pub children: Vec<PersistentVolumeClaim>,
    /// Sizes that cannot be honoured: `Degraded` until the spec or the StorageClass changes.
    pub problems: Vec<Problem>,
}

/// The customize rule for every StorageClass: whether a claim may grow is its class's `allowVolumeExpansion`,
/// and a claim's class (often the cluster's default, named nowhere in the spec) is known only from the claim.
/// A cluster has a handful of classes; a change to one starts a sync.
pub fn rule() -> RelatedResourceRule {
    RelatedResourceRule {
        api_version: "storage.k8s.io/v1".into(),
        resource: "storageclasses".into(),
        namespace: None,
        names: Vec::new(),
    }
}

/// The volume the spec asks for, by StatefulSet name, with its key under `spec.storage` (`prometheus`).
pub type Volumes<'a> = BTreeMap<String, (&'static str, &'a spec::Volume)>;

/// Every observed claim, sized. `volumes` has each rendered StatefulSet's; a claim of no rendered
/// StatefulSet (a disabled compactor's) keeps its size.
pub fn claims(
    stack: &Stack,
    request: &SyncRequest,
    volumes: &Volumes,
    warnings: &mut Vec<String>,
) -> Result<Claims> {
    let owners = owner(stack).map(|owner| vec![owner]);
    let mut claims = Claims::default();
    for claim in read_observed(request)? {
        let name = &claim.metadata.name;
        let size = match volume_of(name, volumes) {
            Some((key, volume)) if !volume.size_defaulted => {
                let field = format!("spec.storage.{key}.size");
                size(
                    stack,
                    request,
                    &claim,
                    &field,
                    volume,
                    &mut claims.problems,
                    warnings,
                )
            }
            _ => claim.spec.resources.requests.storage.clone(),
        };
        claims
            .children
            .push(answer(&stack.namespace, name, size, owners.clone()));
    }
    Ok(claims)
}

/// Every observed claim released: answered with no owner, so that the garbage collector keeps it when the parent
/// is gone. The sync answered the owner reference (see `owner`), so Metacontroller's merge removes it now (its
/// update never adds its owner back; only a create does), and while the parent is being deleted it adopts
/// nothing, so a released claim stays released.
///
/// The size stays in the answer: Metacontroller's three-way merge removes whatever the last answer had and this
/// one lacks, and without `spec` it would send a claim with no spec at all (the API server refuses it).
pub fn released(request: &SyncRequest) -> Result<Vec<PersistentVolumeClaim>> {
    Ok(read_observed(request)?
        .into_iter()
        .map(|claim| {
            let size = claim.spec.resources.requests.storage;
            answer(
                &claim.metadata.namespace,
                &claim.metadata.name,
                size,
                Some(Vec::new()),
            )
        })
        .collect())
}

/// The observed claims, by name.
fn read_observed(request: &SyncRequest) -> Result<Vec<Observed>> {
    let mut observed: Vec<Observed> = hook::of_kind(&request.children, KIND)
        .map(|object| {
            object.read::<Observed>().map_err(|e| {
                Error::BadRequest(format!(
                    "children: {KIND} {}: {e}",
                    object.name().unwrap_or_default()
                ))
            })
        })
        .collect::<Result<_>>()?;
    observed.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    Ok(observed)
}

/// The owner reference Metacontroller writes when it adopts a claim (`MakeControllerRef`), answered as it is
/// stored: no write, and it is in the last-applied annotation, so that leaving it out of a later answer
/// ([`released`]) removes it. Metacontroller's merge removes a list item only if the last answer had it.
fn owner(stack: &Stack) -> Option<OwnerReference> {
    Some(OwnerReference {
        api_version: spec::API_VERSION.into(),
        kind: spec::KIND.into(),
        name: stack.name.clone(),
        uid: stack.uid.clone()?,
        controller: Some(true),
        block_owner_deletion: Some(true),
    })
}

/// The claim as answered: its name, owners and size, nothing else.
fn answer(
    namespace: &str,
    name: &str,
    size: Option<String>,
    owners: Option<Vec<OwnerReference>>,
) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(namespace.into()),
            owner_references: owners,
            ..Default::default()
        },
        spec: size.map(|size| PersistentVolumeClaimSpec {
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([("storage".into(), Quantity(size))])),
                ..Default::default()
            }),
            ..Default::default()
        }),
        status: None,
    }
}

/// The volume of the StatefulSet that made `claim` (`data-<statefulset>-<ordinal>`).
fn volume_of<'a>(claim: &str, volumes: &Volumes<'a>) -> Option<(&'static str, &'a spec::Volume)> {
    let (set, ordinal) = claim
        .strip_prefix(DATA_VOLUME)?
        .strip_prefix('-')?
        .rsplit_once('-')?;
    if ordinal.is_empty() || !ordinal.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    volumes.get(set).copied()
}

/// The size to answer for a claim whose StatefulSet's volume names a size: the larger one where the claim can
/// grow, else the observed one, with the reason in `problems` or `warnings`.
fn size(
    stack: &Stack,
    request: &SyncRequest,
    claim: &Observed,
    field: &str,
    volume: &spec::Volume,
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<String>,
) -> Option<String> {
    let name = &claim.metadata.name;
    let observed = claim.spec.resources.requests.storage.clone();
    let wanted = &volume.size.0;
    let (Some(have), Some(want)) = (
        observed.as_deref().and_then(quantity_value),
        quantity_value(wanted),
    ) else {
        return observed;
    };
    // a/b against c/d without dividing.
    let (have, want) = (have.0 * want.1, want.0 * have.1);
    let current = observed.as_deref().unwrap_or_default();
    if want < have {
        problems.push(Problem {
            reason: "VolumeShrinkRefused",
            message: format!(
                "{field} is {wanted}, smaller than PersistentVolumeClaim {}/{name} ({current}): a claim cannot \
                 shrink; it keeps {current}. Set {field} to {current} or more",
                stack.namespace
            ),
        });
        return observed;
    }
    if want == have {
        return observed;
    }
    if claim.status.phase.as_deref() != Some("Bound") {
        warnings.push(format!(
            "PersistentVolumeClaim {}/{name} grows from {current} to {wanted} ({field}) once it is bound",
            stack.namespace
        ));
        return observed;
    }
    match expansion(request, claim.spec.storage_class_name.as_deref()) {
        Expansion::Allowed => Some(wanted.clone()),
        Expansion::Unknown => {
            warnings.push(format!(
                "PersistentVolumeClaim {}/{name} keeps {current}: growing it to {wanted} ({field}) needs its \
                 StorageClass, which only the customize hook brings (deploy/compositecontroller.yaml)",
                stack.namespace
            ));
            observed
        }
        Expansion::Refused(why) => {
            problems.push(Problem {
                reason: "VolumeExpansionNotAllowed",
                message: format!(
                    "{field} is {wanted}, but PersistentVolumeClaim {}/{name} ({current}) cannot grow: {why}. \
                     It keeps {current}; set {field} back to {current}, or use a StorageClass that allows \
                     expansion",
                    stack.namespace
                ),
            });
            observed
        }
    }
}

enum Expansion {
    Allowed,
    /// No customize hook: the StorageClasses are not in the request.
    Unknown,
    Refused(String),
}

/// Whether the API server lets a claim of `class` grow: its StorageClass has `allowVolumeExpansion: true`
/// (the `PersistentVolumeClaimResize` admission plugin's rule).
fn expansion(request: &SyncRequest, class: Option<&str>) -> Expansion {
    let Some(class) = class.filter(|c| !c.is_empty()) else {
        return Expansion::Refused(
            "it has no StorageClass (a statically bound volume cannot be expanded)".into(),
        );
    };
    if !request.has_customize_hook() {
        return Expansion::Unknown;
    }
    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "camelCase")]
    struct StorageClass {
        allow_volume_expansion: Option<bool>,
    }
    match hook::find(&request.related, "StorageClass", "", class) {
        None => Expansion::Refused(format!("its StorageClass {class} does not exist")),
        Some(object) => match object.read::<StorageClass>() {
            Ok(StorageClass {
                allow_volume_expansion: Some(true),
            }) => Expansion::Allowed,
            _ => Expansion::Refused(format!(
                "its StorageClass {class} does not have allowVolumeExpansion: true"
            )),
        },
    }
}

/// What is read of an observed claim.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Observed {
    metadata: Metadata,
    spec: ClaimSpec,
    status: ClaimStatus,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Metadata {
    name: String,
    namespace: String,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ClaimSpec {
    resources: Resources,
    storage_class_name: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Resources {
    requests: Requests,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Requests {
    storage: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ClaimStatus {
    phase: Option<String>,
}
