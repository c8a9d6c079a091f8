//! Rendering: the desired children of one parent, as a pure function of the checked spec, the related
//! objects and the observed children. The pipeline that calls it is [`crate::pipeline`].

pub mod claims;
pub mod config;
pub mod deployment;
pub mod grafana;
pub mod ingress;
pub mod meta;
pub mod monitoring;
pub mod pdb;
pub mod pod;
pub mod rbac;
pub mod service;
pub mod shards;
pub mod statefulset;
mod yaml;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::ConfigMap;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

pub use crate::related::{Bucket, Sources};

use crate::error::Problem;
use crate::hook::{self, Child, Object, SyncRequest};
use crate::names::{self, Component, Names};
use crate::related::Related;
use crate::spec::Stack;
use crate::{Error, Result};

/// What rendering answers: the children, and whether a change to an immutable field waits (the observed value
/// is kept until the workload is recreated, as `status.warnings` says).
#[derive(Debug)]
pub struct Rendered {
    pub children: Vec<Child>,
    pub pending_immutable: bool,
    /// What the spec asks that the children cannot do (a claim that cannot grow or shrink): `Degraded`.
    pub problems: Vec<Problem>,
}

/// The desired children, in a fixed order. `warnings` gets what the status must say of them (a pending
/// immutable change, a workload waiting for its Secret).
pub fn children(
    stack: &Stack,
    related: &Related,
    config: Option<ConfigMap>,
    request: &SyncRequest,
    warnings: &mut Vec<String>,
) -> Result<Rendered> {
    // A child is a whole object by value: room for all of them up front, not copies of every one at each growth.
    let mut children = Vec::with_capacity(32);
    if let Some(config) = config {
        children.push(Child::ConfigMap(config));
    }
    if stack.pod.service_account_name.is_none() {
        children.push(Child::ServiceAccount(rbac::service_account(stack)));
        children.push(Child::Role(rbac::role(stack)));
        children.push(Child::RoleBinding(rbac::role_binding(stack)));
    }
    children.extend(grafana::config_maps(stack).map(Child::ConfigMap));
    services(stack, &mut children);
    // The volume the spec asks for, by StatefulSet: the claims they made grow with it (see `claims`).
    let mut volumes = claims::Volumes::new();
    let mut pending_immutable = statefulsets(
        stack,
        related,
        request,
        &mut volumes,
        &mut children,
        warnings,
    )?;
    pending_immutable |= deployments(stack, &related.sources, request, &mut children, warnings)?;
    budgets(stack, &mut children);
    ingresses(stack, &mut children);
    // Last, and whatever came before: every observed claim (see `claims`).
    let claims = claims::claims(stack, request, &volumes, warnings)?;
    children.extend(
        claims
            .children
            .into_iter()
            .map(Child::PersistentVolumeClaim),
    );
    Ok(Rendered {
        children,
        pending_immutable,
        problems: claims.problems,
    })
}

/// The Services: one per component, and the headless ones of the sidecars and of self-monitoring.
fn services(stack: &Stack, children: &mut Vec<Child>) {
    tracing::debug!("Creating Prometheus service for {}", stack.name);
    children.push(Child::Service(service::prometheus(stack)));
    tracing::debug!("Creating Thanos peers service for {}", stack.name);
    children.push(Child::Service(service::peers(stack)));
    tracing::debug!("Creating Thanos store service for {}", stack.name);
    children.push(Child::Service(service::store(stack)));
    tracing::debug!("Creating Thanos query service for {}", stack.name);
    children.push(Child::Service(service::query(stack)));
    if stack.compact.is_some() {
        children.push(Child::Service(service::compact(stack)));
    }
    if stack.query_frontend.is_some() {
        children.push(Child::Service(service::query_frontend(stack)));
    }
    if stack.grafana.is_some() {
        children.push(Child::Service(service::grafana(stack)));
    }
    if stack.memcached.is_some() {
        children.push(Child::Service(service::memcached(stack)));
    }
    if stack.monitoring {
        children.push(Child::Service(service::discovery(stack, Component::Query)));
        if stack.query_frontend.is_some() {
            children.push(Child::Service(service::discovery(
                stack,
                Component::QueryFrontend,
            )));
        }
        if stack.grafana.is_some() {
            children.push(Child::Service(service::discovery(
                stack,
                Component::Grafana,
            )));
        }
    }
}

/// A desired StatefulSet, its observed spec (`None`: not observed) and whether it is frozen (being replaced).
type StatefulSetPlan = (StatefulSet, Option<Option<Value>>, bool);

/// The StatefulSets: Prometheus, the store gateways and the compactor, each checked against the observed one.
/// `volumes` gets the volume each asks for. Whether an immutable change waits.
fn statefulsets<'a>(
    stack: &'a Stack,
    related: &Related,
    request: &SyncRequest,
    volumes: &mut claims::Volumes<'a>,
    children: &mut Vec<Child>,
    warnings: &mut Vec<String>,
) -> Result<bool> {
    let mut pending_immutable = false;
    // Every StatefulSet reads the bucket. While the Secret is missing or unusable its wiring is a guess: an
    // observed one keeps its pod template (the last good wiring), so that nothing rolls into pods that cannot
    // start, and one that never existed is not created yet. None is left out once observed: Metacontroller
    // would delete it. One being replaced (frozen) is sent back as observed.
    let secret = format!("Secret {}/{}", stack.namespace, stack.bucket_secret);
    for (mut desired, observed, frozen) in
        desired_statefulsets(stack, related, request, volumes, warnings)?
    {
        let name = desired.metadata.name.clone().unwrap_or_default();
        if frozen {
            children.push(Child::StatefulSet(desired));
            continue;
        }
        if let Some(spec) = observed {
            tracing::debug!("  Checking StatefulSet {name}");
            pending_immutable |=
                statefulset::keep_immutable(&mut desired, spec.as_ref(), warnings)?;
            if !related.bucket_known && statefulset::keep_template(&mut desired, spec.as_ref())? {
                warnings.push(format!(
                    "StatefulSet {name}: the pod template is kept as observed until {secret} (spec.bucketSecret) \
                     is usable"
                ));
            }
        } else if !related.bucket_known {
            warnings.push(format!(
                "StatefulSet {name} is created once {secret} (spec.bucketSecret) is usable"
            ));
            continue;
        }
        children.push(Child::StatefulSet(desired));
    }
    Ok(pending_immutable)
}

/// The StatefulSets as the spec asks for them, each with its observed spec, read once: rendering keeps its
/// claims' size where the spec leaves it to a default, and its immutable fields.
fn desired_statefulsets<'a>(
    stack: &'a Stack,
    related: &Related,
    request: &SyncRequest,
    volumes: &mut claims::Volumes<'a>,
    warnings: &mut Vec<String>,
) -> Result<Vec<StatefulSetPlan>> {
    let sources = &related.sources;
    let names = Names::new(stack);
    let observed_set = |name: &str| -> Result<Option<Option<Value>>> {
        hook::find(&request.children, "StatefulSet", &stack.namespace, name)
            .map(|observed| observed_spec("StatefulSet", observed))
            .transpose()
    };
    volumes.insert(
        names.workload(Component::Prometheus),
        ("prometheus", &stack.storage.prometheus),
    );
    if stack.compact.is_some() {
        volumes.insert(
            names.workload(Component::Compact),
            ("compact", &stack.storage.compact),
        );
    }
    tracing::debug!("Creating Prometheus StatefulSet for {}", stack.name);
    let observed = observed_set(&names.workload(Component::Prometheus))?;
    let desired =
        statefulset::prometheus(stack, sources, observed.as_ref().and_then(Option::as_ref));
    let mut statefulsets = vec![(desired, observed, false)];
    tracing::debug!("Creating Thanos store StatefulSets for {}", stack.name);
    // One per shard; across a change of the shard count, the ones being replaced too (see `shards`).
    let plan = shards::plan(stack, &request.children)?;
    warnings.extend(plan.warning);
    for set in plan.sets {
        volumes.insert(set.name.clone(), ("store", &stack.storage.store));
        let observed = observed_set(&set.name)?;
        let observed_spec = observed.as_ref().and_then(Option::as_ref);
        let mut desired = statefulset::store(stack, sources, set.shard, observed_spec);
        if set.frozen {
            statefulset::freeze(&mut desired, observed_spec)?;
        }
        statefulsets.push((desired, observed, set.frozen));
    }
    if let Some(compact) = &stack.compact {
        tracing::debug!("Creating Thanos compact StatefulSet for {}", stack.name);
        let observed = observed_set(&names.workload(Component::Compact))?;
        let desired = statefulset::compact(
            stack,
            sources,
            compact,
            observed.as_ref().and_then(Option::as_ref),
        );
        statefulsets.push((desired, observed, false));
    }
    Ok(statefulsets)
}

/// The Deployments: the querier, the query frontend, Grafana and memcached. Whether an immutable change waits.
fn deployments(
    stack: &Stack,
    sources: &Sources,
    request: &SyncRequest,
    children: &mut Vec<Child>,
    warnings: &mut Vec<String>,
) -> Result<bool> {
    tracing::debug!("Creating Thanos query Deployment for {}", stack.name);
    // Each observed Deployment's spec, read once, as the StatefulSets' above: the querier keeps the replica
    // labels it deduplicates on, and every Deployment its selector.
    let names = Names::new(stack);
    let observed_deployment = |component: Component| -> Result<Option<Option<Value>>> {
        hook::find(
            &request.children,
            "Deployment",
            &stack.namespace,
            &names.workload(component),
        )
        .map(|observed| observed_spec("Deployment", observed))
        .transpose()
    };
    let observed = observed_deployment(Component::Query)?;
    let desired = deployment::query(stack, sources, observed.as_ref().and_then(Option::as_ref));
    let mut deployments = vec![(desired, observed)];
    if let Some(frontend) = &stack.query_frontend {
        tracing::debug!(
            "Creating Thanos query frontend Deployment for {}",
            stack.name
        );
        let desired = deployment::query_frontend(stack, sources, frontend);
        deployments.push((desired, observed_deployment(Component::QueryFrontend)?));
    }
    if let Some(grafana) = &stack.grafana {
        tracing::debug!("Creating Grafana Deployment for {}", stack.name);
        let desired = deployment::grafana(stack, sources, grafana);
        deployments.push((desired, observed_deployment(Component::Grafana)?));
    }
    if let Some(memcached) = &stack.memcached {
        tracing::debug!("Creating memcached Deployment for {}", stack.name);
        let desired = deployment::memcached(stack, sources, memcached);
        deployments.push((desired, observed_deployment(Component::Memcached)?));
    }
    let mut pending_immutable = false;
    for (mut desired, observed) in deployments {
        if let Some(spec) = observed {
            pending_immutable |= deployment::keep_selector(&mut desired, spec.as_ref(), warnings)?;
        }
        children.push(Child::Deployment(desired));
    }
    Ok(pending_immutable)
}

/// The PodDisruptionBudgets of the components that run more than one pod.
fn budgets(stack: &Stack, children: &mut Vec<Child>) {
    // One budget per component, selecting all its pods: for the store gateway, the pods of every shard (and
    // of a StatefulSet being replaced), so that a drain takes one store gateway at a time and every shard keeps
    // `replicas.store - 1` ready. Its name and selector do not depend on the shard count: no budget comes or
    // goes when the count changes.
    for component in [
        Component::Prometheus,
        Component::Store,
        Component::Query,
        Component::QueryFrontend,
    ] {
        if names::replicas(stack, component) > 1 {
            children.push(Child::PodDisruptionBudget(pdb::budget(stack, component)));
        }
    }
}

/// The Ingresses, with `baseDomain`.
fn ingresses(stack: &Stack, children: &mut Vec<Child>) {
    if let Some(domain) = &stack.base_domain {
        for component in names::exposed(stack) {
            tracing::debug!(
                "Creating Ingress for {} at {}",
                component.label(),
                names::host(stack, component, domain)
            );
            children.push(Child::Ingress(ingress::ingress(stack, component, domain)));
        }
    }
}

/// The `spec` of an observed workload, the only part of it that rendering reads; `Some(Value::Null)` for
/// `"spec": null`.
fn observed_spec(kind: &str, observed: &Object) -> Result<Option<Value>> {
    #[derive(Deserialize)]
    struct Spec {
        #[serde(default, deserialize_with = "present")]
        spec: Option<Value>,
    }
    fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
        Value::deserialize(deserializer).map(Some)
    }
    let name = observed.name().unwrap_or_default();
    observed
        .read::<Spec>()
        .map(|object| object.spec)
        .map_err(|e| Error::BadRequest(format!("children: {kind} {name}: {e}")))
}

/// Fixtures for the unit tests beside each render module.
#[cfg(test)]
pub(crate) mod testing {
    use super::{Bucket, Sources};

    pub use crate::spec::testing::stack;

    /// Sources as without a customize hook: the user's ConfigMap, `objstore.yml` from the Secret.
    pub fn sources() -> Sources {
        Sources {
            config_map: "cfg".into(),
            config_file: "prometheus.yml".into(),
            bucket: Bucket::File {
                secret: "bucket".into(),
                key: "objstore.yml".into(),
            },
            bucket_hash: None,
            labelled: true,
        }
    }
}
