//! Rendering: the complete desired state of one parent, as a pure function of the request.

pub mod deployment;
pub mod grafana;
pub mod ingress;
pub mod meta;
pub mod monitoring;
pub mod pdb;
pub mod pod;
pub mod related;
pub mod service;
pub mod statefulset;

use kube::CustomResourceExt;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

pub use related::{Bucket, Problem, Sources};

use crate::api::PrometheusReplica;
use crate::hook::{
    self, Child, CustomizeRequest, CustomizeResponse, Object, RelatedResourceRule, SyncRequest,
    SyncResponse,
};
use crate::spec::Stack;
use crate::{Error, Result, status};
use meta::Component;

/// The sync hook: every desired child and the full status, or an error. Never a partial answer.
pub fn sync(request: &SyncRequest) -> Result<SyncResponse> {
    let stack = Stack::from_parent(&request.parent)?;
    request.check_shape()?;
    tracing::debug!(
        "Parsing PrometheusReplica {} in {}",
        stack.name,
        stack.namespace
    );
    let related = related::resolve(&stack, request)?;
    let mut warnings = stack.warnings.clone();
    warnings.extend(related.warnings.iter().cloned());
    let before = warnings.len();
    let children = children(&stack, &related, request, &mut warnings)?;
    let pending_immutable = warnings.len() > before;
    let status = status::status(
        &stack,
        request,
        &related.problems,
        pending_immutable,
        warnings,
    )?;
    tracing::debug!(
        "Status of PrometheusReplica {} is now {:?}",
        stack.name,
        status.phase.unwrap_or(crate::api::Phase::Install)
    );
    Ok(SyncResponse {
        status,
        children,
        resync_after_seconds: 0,
    })
}

/// The desired children, in a fixed order.
fn children(
    stack: &Stack,
    related: &related::Related,
    request: &SyncRequest,
    warnings: &mut Vec<String>,
) -> Result<Vec<Child>> {
    let sources = &related.sources;
    let mut children = Vec::new();
    if let Some(config) = &related.config {
        children.push(Child::ConfigMap(config.clone()));
    }
    children.push(Child::ConfigMap(grafana::datasources(stack)));
    children.push(Child::ConfigMap(grafana::dashboards(stack)));

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

    tracing::debug!("Creating Prometheus StatefulSet for {}", stack.name);
    let mut statefulsets = vec![statefulset::prometheus(stack, sources)];
    tracing::debug!("Creating Thanos store StatefulSet for {}", stack.name);
    statefulsets.push(statefulset::store(stack, sources));
    if let Some(compact) = &stack.compact {
        tracing::debug!("Creating Thanos compact StatefulSet for {}", stack.name);
        statefulsets.push(statefulset::compact(stack, sources, compact));
    }
    for mut desired in statefulsets {
        let name = desired.metadata.name.clone().unwrap_or_default();
        if let Some(observed) = hook::find(&request.children, "StatefulSet", &name) {
            tracing::debug!("  Checking StatefulSet {name}");
            let spec = observed_spec("StatefulSet", observed)?;
            statefulset::keep_immutable(&mut desired, spec.as_ref(), warnings)?;
        }
        children.push(Child::StatefulSet(desired));
    }

    tracing::debug!("Creating Thanos query Deployment for {}", stack.name);
    let mut deployments = vec![deployment::query(stack, sources)];
    if let Some(frontend) = &stack.query_frontend {
        tracing::debug!(
            "Creating Thanos query frontend Deployment for {}",
            stack.name
        );
        deployments.push(deployment::query_frontend(stack, sources, frontend));
    }
    if let Some(grafana) = &stack.grafana {
        tracing::debug!("Creating Grafana Deployment for {}", stack.name);
        deployments.push(deployment::grafana(stack, sources, grafana));
    }
    for mut desired in deployments {
        let name = desired.metadata.name.clone().unwrap_or_default();
        if let Some(observed) = hook::find(&request.children, "Deployment", &name) {
            let spec = observed_spec("Deployment", observed)?;
            deployment::keep_selector(&mut desired, spec.as_ref(), warnings)?;
        }
        children.push(Child::Deployment(desired));
    }

    for component in [
        Component::Prometheus,
        Component::Query,
        Component::QueryFrontend,
    ] {
        if meta::replicas(stack, component) > 1 {
            children.push(Child::PodDisruptionBudget(pdb::budget(stack, component)));
        }
    }

    if let Some(domain) = &stack.base_domain {
        let mut exposed = vec![Component::Query, Component::Prometheus];
        if stack.grafana.is_some() {
            exposed.push(Component::Grafana);
        }
        for component in exposed {
            tracing::debug!(
                "Creating Ingress for {} at {}",
                component.label(),
                ingress::host(stack, component, domain)
            );
            children.push(Child::Ingress(ingress::ingress(stack, component, domain)));
        }
    }
    Ok(children)
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

/// The customize hook: the ConfigMap and the Secret named in the spec, from the parent's namespace.
pub fn customize(request: &CustomizeRequest) -> Result<CustomizeResponse> {
    let stack = Stack::from_parent(&request.parent)?;
    Ok(CustomizeResponse {
        related_resources: vec![
            RelatedResourceRule {
                api_version: "v1".into(),
                resource: "configmaps".into(),
                names: vec![stack.config_map],
            },
            RelatedResourceRule {
                api_version: "v1".into(),
                resource: "secrets".into(),
                names: vec![stack.bucket_secret],
            },
        ],
    })
}

/// The PrometheusReplica CustomResourceDefinition as YAML; `deploy/crd.yaml` is this output.
pub fn crd_yaml() -> String {
    let crd = PrometheusReplica::crd();
    let yaml = serde_yaml_ng::to_string(&crd).expect("a CRD always encodes as YAML");
    format!("# Generated by `prometheus-replica-operator crd`; do not edit.\n{yaml}")
}

/// A sync request from the `render` command's input: a whole sync request (JSON with a `parent`), or a
/// PrometheusReplica manifest in YAML or JSON (namespace `default` when it has none).
pub fn request_from_file(input: &str) -> Result<SyncRequest> {
    let value: Value = serde_yaml_ng::from_str(input)
        .map_err(|e| Error::BadRequest(format!("the input is neither YAML nor JSON: {e}")))?;
    if value.get("parent").is_some() {
        return serde_json::from_value(value)
            .map_err(|e| Error::BadRequest(format!("the input is not a sync request: {e}")));
    }
    let mut parent = value;
    let Some(object) = parent.as_object_mut() else {
        return Err(Error::BadRequest(
            "the input is not a PrometheusReplica manifest".into(),
        ));
    };
    let metadata = object
        .entry("metadata")
        .or_insert_with(|| Value::Object(Default::default()));
    if let Some(metadata) = metadata.as_object_mut() {
        metadata
            .entry("namespace")
            .or_insert_with(|| Value::String("default".into()));
    }
    Ok(SyncRequest {
        parent,
        ..Default::default()
    })
}

/// The whole sync response as indented JSON.
pub fn to_json_pretty(response: &SyncResponse) -> Result<String> {
    serde_json::to_string_pretty(response)
        .map(|s| s + "\n")
        .map_err(|e| Error::Internal(format!("encoding the answer: {e}")))
}

/// The children as a multi-document YAML stream.
pub fn to_yaml_stream(children: &[Child]) -> Result<String> {
    let mut out = String::new();
    for child in children {
        out.push_str("---\n");
        out.push_str(
            &serde_yaml_ng::to_string(child)
                .map_err(|e| Error::Internal(format!("encoding a child: {e}")))?,
        );
    }
    Ok(out)
}

/// Fixtures for the unit tests beside each render module.
#[cfg(test)]
pub(crate) mod testing {
    use serde_json::{Value, json};

    use super::{Bucket, Sources};
    use crate::spec::Stack;

    /// A checked stack of `spec` (merged over the smallest valid one), named `example` in `default`.
    pub fn stack(spec: Value) -> Stack {
        let mut full = json!({"configMap": "cfg", "bucketSecret": "bucket"});
        for (key, value) in spec.as_object().expect("a spec is an object") {
            full[key] = value.clone();
        }
        Stack::from_parent(&json!({
            "apiVersion": crate::spec::API_VERSION, "kind": crate::spec::KIND,
            "metadata": {"name": "example", "namespace": "default"},
            "spec": full,
        }))
        .expect("the test spec is valid")
    }

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
        }
    }
}
