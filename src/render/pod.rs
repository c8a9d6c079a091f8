//! Pod templates and their containers: Prometheus, the Thanos sidecar, store gateway, querier and compactor.
//!
//! Every pod passes the Pod Security Standard `restricted` profile. Flags are the ones of the pinned releases
//! (Prometheus v3, Thanos v0.42); none of the removed ones (`--cluster.*`, `--store`,
//! `--storage.tsdb.retention`, the store's `--tsdb.path`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, Capabilities, ConfigMapVolumeSource, Container, ContainerPort, EnvVar, EnvVarSource,
    HTTPGetAction, ObjectFieldSelector, PodAffinityTerm, PodAntiAffinity, PodSecurityContext,
    PodSpec, PodTemplateSpec, Probe, ResourceRequirements, SeccompProfile, SecretKeySelector,
    SecretVolumeSource, SecurityContext, Volume, VolumeMount, WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::meta::{self, Component, Names};
use super::{Bucket, Sources};
use crate::spec::Stack;

/// Prometheus's web port.
pub const PROMETHEUS_PORT: i32 = 9090;
/// gRPC StoreAPI port of every Thanos component.
pub const GRPC_PORT: i32 = 10901;
/// HTTP port of every Thanos component (metrics, health).
pub const HTTP_PORT: i32 = 10902;

/// Where Prometheus and the sidecar see the configuration ConfigMap: the whole directory, no `subPath`, so
/// that updates arrive.
pub const CONFIG_DIR: &str = "/etc/prometheus/config";
/// The TSDB, shared by Prometheus and the sidecar.
pub const TSDB_DIR: &str = "/prometheus";
/// Where the bucket Secret is mounted when it holds `objstore.yml`.
pub const OBJSTORE_DIR: &str = "/etc/thanos/objstore";
/// The annotation that rolls the pods when the bucket credentials change.
pub const BUCKET_HASH_ANNOTATION: &str = "prometheus.robszumski.com/bucket-secret-hash";

/// The user that every container runs as: `nobody`, which the Prometheus image uses too.
const NOBODY: i64 = 65534;

/// The name of the TSDB / data volume and claim template.
pub const DATA_VOLUME: &str = "data";
const CONFIG_VOLUME: &str = "config";
const OBJSTORE_VOLUME: &str = "objstore";

/// The environment variables that carry the 2018 `s3_*` keys, in the order of the Secret's keys.
pub const S3_ENV: [(&str, &str, &str); 4] = [
    ("OBJSTORE_S3_BUCKET", "s3_bucket", "bucket"),
    ("OBJSTORE_S3_ENDPOINT", "s3_endpoint", "endpoint"),
    ("OBJSTORE_S3_ACCESS_KEY", "s3_access_key", "access_key"),
    ("OBJSTORE_S3_SECRET_KEY", "s3_secret_key", "secret_key"),
];

/// The pod template of a component.
pub fn template(
    stack: &Stack,
    sources: &Sources,
    component: Component,
    containers: Vec<Container>,
    volumes: Vec<Volume>,
) -> PodTemplateSpec {
    let replicas = meta::replicas(stack, component);
    let reads_bucket = !matches!(component, Component::Query | Component::QueryFrontend);
    let annotations = sources
        .bucket_hash
        .as_ref()
        .filter(|_| reads_bucket)
        .map(|hash| BTreeMap::from([(BUCKET_HASH_ANNOTATION.to_string(), hash.clone())]));
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(meta::labels(stack, component)),
            annotations,
            ..Default::default()
        }),
        spec: Some(PodSpec {
            containers,
            volumes: (!volumes.is_empty()).then_some(volumes),
            affinity: (replicas > 1).then(|| anti_affinity(stack, component)),
            node_selector: (!stack.pod.node_selector.is_empty())
                .then(|| stack.pod.node_selector.clone()),
            tolerations: (!stack.pod.tolerations.is_empty()).then(|| stack.pod.tolerations.clone()),
            priority_class_name: stack.pod.priority_class_name.clone(),
            // Prometheus keeps the namespace's service account token: kubernetes_sd_configs needs it.
            automount_service_account_token: (component != Component::Prometheus).then_some(false),
            enable_service_links: Some(false),
            // Prometheus flushes its head block on shutdown; give it the time prometheus-operator gives.
            termination_grace_period_seconds: (component == Component::Prometheus).then_some(600),
            security_context: Some(PodSecurityContext {
                run_as_non_root: Some(true),
                run_as_user: Some(NOBODY),
                run_as_group: Some(NOBODY),
                fs_group: Some(NOBODY),
                fs_group_change_policy: Some("OnRootMismatch".into()),
                seccomp_profile: Some(SeccompProfile {
                    type_: "RuntimeDefault".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
    }
}

fn anti_affinity(stack: &Stack, component: Component) -> Affinity {
    let term = PodAffinityTerm {
        label_selector: Some(LabelSelector {
            match_labels: Some(meta::selector_labels(stack, component)),
            ..Default::default()
        }),
        topology_key: "kubernetes.io/hostname".into(),
        ..Default::default()
    };
    let anti = match stack.pod.anti_affinity {
        crate::api::AntiAffinity::Soft => PodAntiAffinity {
            preferred_during_scheduling_ignored_during_execution: Some(vec![
                WeightedPodAffinityTerm {
                    weight: 100,
                    pod_affinity_term: term,
                },
            ]),
            ..Default::default()
        },
        crate::api::AntiAffinity::Hard => PodAntiAffinity {
            required_during_scheduling_ignored_during_execution: Some(vec![term]),
            ..Default::default()
        },
    };
    Affinity {
        pod_anti_affinity: Some(anti),
        ..Default::default()
    }
}

/// The Prometheus container: reads its config straight from the mounted ConfigMap (no envsubst copy, so no
/// start-up race) and expands `${POD_NAME}` in its external labels itself.
pub fn prometheus(stack: &Stack, sources: &Sources) -> Container {
    let args = vec![
        format!("--config.file={CONFIG_DIR}/{}", sources.config_file),
        format!("--storage.tsdb.path={TSDB_DIR}"),
        format!("--storage.tsdb.retention.time={}", stack.retention),
        // Thanos needs min == max (no local compaction) or the sidecar refuses to start.
        format!("--storage.tsdb.min-block-duration={}", stack.block_duration),
        format!("--storage.tsdb.max-block-duration={}", stack.block_duration),
        // The sidecar's reloader POSTs /-/reload when the ConfigMap changes.
        "--web.enable-lifecycle".into(),
        format!("--web.listen-address=:{PROMETHEUS_PORT}"),
    ];
    Container {
        name: "prometheus".into(),
        image: Some(stack.prometheus_image.clone()),
        args: Some(args),
        env: Some(vec![pod_name_env()]),
        ports: Some(vec![port("web", PROMETHEUS_PORT)]),
        readiness_probe: Some(probe("/-/ready", "web", 3)),
        // WAL replay can take minutes on a large TSDB; /-/healthy answers during it.
        liveness_probe: Some(probe("/-/healthy", "web", 6)),
        resources: Some(stack.resources.prometheus.clone()),
        volume_mounts: Some(vec![
            mount(CONFIG_VOLUME, CONFIG_DIR, true),
            mount(DATA_VOLUME, TSDB_DIR, false),
        ]),
        ..secure_container()
    }
}

/// The Thanos sidecar: ships blocks to the bucket, serves the StoreAPI, and reloads Prometheus when the
/// configuration or rule files change.
pub fn sidecar(stack: &Stack, sources: &Sources) -> Container {
    let args = vec![
        "sidecar".into(),
        format!("--tsdb.path={TSDB_DIR}"),
        format!("--prometheus.url=http://localhost:{PROMETHEUS_PORT}"),
        format!("--grpc-address=0.0.0.0:{GRPC_PORT}"),
        format!("--http-address=0.0.0.0:{HTTP_PORT}"),
        format!(
            "--reloader.config-file={CONFIG_DIR}/{}",
            sources.config_file
        ),
        format!("--reloader.rule-dir={CONFIG_DIR}"),
    ];
    let mounts = vec![
        mount(DATA_VOLUME, TSDB_DIR, false),
        mount(CONFIG_VOLUME, CONFIG_DIR, true),
    ];
    let resources = stack.resources.sidecar.clone();
    thanos(
        stack,
        "thanos-sidecar",
        args,
        true,
        resources,
        mounts,
        Some(sources),
    )
}

/// The volumes of the Prometheus pod besides the claim template.
pub fn prometheus_volumes(sources: &Sources) -> Vec<Volume> {
    let mut volumes = vec![Volume {
        name: CONFIG_VOLUME.into(),
        config_map: Some(ConfigMapVolumeSource {
            name: sources.config_map.clone(),
            ..Default::default()
        }),
        ..Default::default()
    }];
    volumes.extend(objstore_volume(sources));
    volumes
}

/// The store gateway: serves the blocks in the bucket.
pub fn store(stack: &Stack, sources: &Sources) -> Container {
    let data = "/var/thanos/store";
    let args = vec![
        "store".into(),
        format!("--data-dir={data}"),
        format!("--grpc-address=0.0.0.0:{GRPC_PORT}"),
        format!("--http-address=0.0.0.0:{HTTP_PORT}"),
        // Index headers are read when a query needs them, not all at start: the store gateway's memory
        // then grows with the blocks queried, not with the bucket.
        "--store.enable-index-header-lazy-reader".into(),
    ];
    let mounts = vec![mount(DATA_VOLUME, data, false)];
    let resources = stack.resources.store.clone();
    thanos(
        stack,
        "thanos-store",
        args,
        true,
        resources,
        mounts,
        Some(sources),
    )
}

/// The querier: merges the sidecars and the store gateway, found by DNS SRV through headless Services, and
/// deduplicates the replicas on the replica label.
pub fn query(stack: &Stack) -> Container {
    let names = Names::new(stack);
    let ns = &stack.namespace;
    let args = vec![
        "query".into(),
        format!("--http-address=0.0.0.0:{HTTP_PORT}"),
        format!("--grpc-address=0.0.0.0:{GRPC_PORT}"),
        format!("--query.replica-label={}", stack.replica_label),
        // Long ranges read the compactor's 5m and 1h downsampled blocks instead of every raw sample.
        "--query.auto-downsampling".into(),
        format!("--endpoint=dnssrv+_grpc._tcp.{}.{ns}.svc", names.peers()),
        format!(
            "--endpoint=dnssrv+_grpc._tcp.{}.{ns}.svc",
            names.workload(Component::Store)
        ),
    ];
    let resources = stack.resources.query.clone();
    thanos(
        stack,
        "thanos-query",
        args,
        true,
        resources,
        Vec::new(),
        None,
    )
}

/// The query frontend: splits range queries by `splitInterval`, runs the parts in parallel on the querier's
/// Service and keeps their results in an in-memory cache.
pub fn query_frontend(stack: &Stack, frontend: &crate::spec::QueryFrontend) -> Container {
    let querier = Names::new(stack).workload(Component::Query);
    let args = vec![
        "query-frontend".into(),
        format!("--http-address=0.0.0.0:{HTTP_PORT}"),
        format!(
            "--query-frontend.downstream-url=http://{querier}.{}.svc:{HTTP_PORT}",
            stack.namespace
        ),
        format!("--query-range.split-interval={}", frontend.split_interval),
        format!(
            "--query-range.response-cache-config=type: IN-MEMORY\nconfig:\n  max_size: {}\n",
            frontend.cache_max_size
        ),
    ];
    let resources = stack.resources.query_frontend.clone();
    // The frontend serves HTTP only: no gRPC port.
    thanos(
        stack,
        "thanos-query-frontend",
        args,
        false,
        resources,
        Vec::new(),
        None,
    )
}

/// The compactor: compacts and downsamples the bucket and applies its retention. Exactly one per bucket.
pub fn compact(stack: &Stack, sources: &Sources, compact: &crate::spec::Compact) -> Container {
    let data = "/var/thanos/compact";
    let args = vec![
        "compact".into(),
        "--wait".into(),
        format!("--data-dir={data}"),
        format!("--http-address=0.0.0.0:{HTTP_PORT}"),
        format!("--retention.resolution-raw={}", compact.retention_raw),
        format!("--retention.resolution-5m={}", compact.retention_5m),
        format!("--retention.resolution-1h={}", compact.retention_1h),
    ];
    let mounts = vec![mount(DATA_VOLUME, data, false)];
    let resources = stack.resources.compact.clone();
    // The compactor serves no StoreAPI: no gRPC port.
    thanos(
        stack,
        "thanos-compact",
        args,
        false,
        resources,
        mounts,
        Some(sources),
    )
}

/// A Thanos container: `args`, then, for a component that reads the bucket (`sources`), the bucket's flags,
/// mount and environment; health probes on the HTTP port; the `restricted` security context.
fn thanos(
    stack: &Stack,
    name: &str,
    mut args: Vec<String>,
    grpc: bool,
    resources: ResourceRequirements,
    mut mounts: Vec<VolumeMount>,
    sources: Option<&Sources>,
) -> Container {
    if let Some(sources) = sources {
        args.extend(objstore_args(sources));
        mounts.extend(objstore_mount(sources));
    }
    let mut ports = vec![port("http", HTTP_PORT)];
    if grpc {
        ports.insert(0, port("grpc", GRPC_PORT));
    }
    Container {
        name: name.into(),
        image: Some(stack.thanos_image.clone()),
        args: Some(args),
        env: sources.and_then(objstore_env),
        ports: Some(ports),
        readiness_probe: Some(probe("/-/ready", "http", 3)),
        liveness_probe: Some(probe("/-/healthy", "http", 6)),
        resources: Some(resources),
        volume_mounts: (!mounts.is_empty()).then_some(mounts),
        ..secure_container()
    }
}

/// The volume that holds the bucket Secret, when it is mounted as a file.
pub fn objstore_volume(sources: &Sources) -> Option<Volume> {
    match &sources.bucket {
        Bucket::File { secret, key } => Some(Volume {
            name: OBJSTORE_VOLUME.into(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(secret.clone()),
                items: Some(vec![k8s_openapi::api::core::v1::KeyToPath {
                    key: key.clone(),
                    path: "objstore.yml".into(),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }),
        Bucket::S3Keys { .. } => None,
    }
}

fn objstore_mount(sources: &Sources) -> Option<VolumeMount> {
    matches!(sources.bucket, Bucket::File { .. })
        .then(|| mount(OBJSTORE_VOLUME, OBJSTORE_DIR, true))
}

fn objstore_args(sources: &Sources) -> Vec<String> {
    match &sources.bucket {
        Bucket::File { .. } => vec![format!(
            "--objstore.config-file={OBJSTORE_DIR}/objstore.yml"
        )],
        Bucket::S3Keys { .. } => {
            // `$$(VAR)` reaches Thanos as `$(VAR)`, which Thanos expands from its environment: the
            // credentials never appear in the pod spec or the process arguments.
            let mut config = String::from("type: S3\nconfig:\n");
            for (env, _, key) in S3_ENV {
                config.push_str(&format!("  {key}: $$({env})\n"));
            }
            vec![format!("--objstore.config={config}")]
        }
    }
}

fn objstore_env(sources: &Sources) -> Option<Vec<EnvVar>> {
    match &sources.bucket {
        Bucket::File { .. } => None,
        Bucket::S3Keys { secret } => Some(
            S3_ENV
                .iter()
                .map(|(env, key, _)| EnvVar {
                    name: (*env).into(),
                    value_from: Some(EnvVarSource {
                        secret_key_ref: Some(SecretKeySelector {
                            name: secret.clone(),
                            key: (*key).into(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .collect(),
        ),
    }
}

fn pod_name_env() -> EnvVar {
    EnvVar {
        name: "POD_NAME".into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: "metadata.name".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A container with the `restricted` security context; the caller fills in the rest.
fn secure_container() -> Container {
    Container {
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                ..Default::default()
            }),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        ..Default::default()
    }
}

fn port(name: &str, number: i32) -> ContainerPort {
    ContainerPort {
        name: Some(name.into()),
        container_port: number,
        protocol: Some("TCP".into()),
        ..Default::default()
    }
}

fn probe(path: &str, port: &str, failure_threshold: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String(port.into()),
            ..Default::default()
        }),
        period_seconds: Some(10),
        timeout_seconds: Some(5),
        failure_threshold: Some(failure_threshold),
        ..Default::default()
    }
}

fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        read_only: read_only.then_some(true),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::render::testing::{sources, stack};

    fn args(container: &Container) -> Vec<String> {
        container.args.clone().unwrap_or_default()
    }

    #[test]
    fn prometheus_reads_its_config_straight_from_the_mounted_config_map() {
        let container = prometheus(&stack(json!({})), &sources());
        assert!(
            args(&container)
                .contains(&"--config.file=/etc/prometheus/config/prometheus.yml".into())
        );
        let mounts = container.volume_mounts.unwrap();
        let config = mounts.iter().find(|m| m.name == CONFIG_VOLUME).unwrap();
        assert_eq!(config.mount_path, CONFIG_DIR);
        assert!(
            config.sub_path.is_none(),
            "a subPath mount never sees updates"
        );
        let env = container.env.unwrap();
        assert_eq!(env[0].name, "POD_NAME");
        assert_eq!(
            env[0]
                .value_from
                .as_ref()
                .unwrap()
                .field_ref
                .as_ref()
                .unwrap()
                .field_path,
            "metadata.name"
        );
    }

    #[test]
    fn the_sidecar_reloads_prometheus_when_config_or_rules_change() {
        let sidecar = args(&sidecar(&stack(json!({})), &sources()));
        assert!(
            sidecar
                .contains(&"--reloader.config-file=/etc/prometheus/config/prometheus.yml".into())
        );
        assert!(sidecar.contains(&"--reloader.rule-dir=/etc/prometheus/config".into()));
        assert!(
            !sidecar
                .iter()
                .any(|a| a.starts_with("--reloader.config-envsubst-file")),
            "no envsubst copy"
        );
    }

    #[test]
    fn the_2018_secret_keys_reach_thanos_only_as_environment_references() {
        let s3 = Sources {
            bucket: Bucket::S3Keys {
                secret: "bucket".into(),
            },
            ..sources()
        };
        let store = store(&stack(json!({})), &s3);
        let config = args(&store)
            .into_iter()
            .find_map(|a| a.strip_prefix("--objstore.config=").map(String::from));
        assert_eq!(
            config.unwrap(),
            "type: S3\nconfig:\n  bucket: $$(OBJSTORE_S3_BUCKET)\n  endpoint: $$(OBJSTORE_S3_ENDPOINT)\n  \
             access_key: $$(OBJSTORE_S3_ACCESS_KEY)\n  secret_key: $$(OBJSTORE_S3_SECRET_KEY)\n"
        );
        assert!(
            store
                .volume_mounts
                .unwrap()
                .iter()
                .all(|m| m.name != OBJSTORE_VOLUME)
        );
        assert!(objstore_volume(&s3).is_none());
    }

    #[test]
    fn only_components_that_read_the_bucket_roll_on_new_credentials() {
        let hashed = Sources {
            bucket_hash: Some("abc".into()),
            ..sources()
        };
        let stack = stack(json!({}));
        let annotations = |component| {
            template(&stack, &hashed, component, Vec::new(), Vec::new())
                .metadata
                .unwrap()
                .annotations
        };
        assert_eq!(
            annotations(Component::Store).unwrap()[BUCKET_HASH_ANNOTATION],
            "abc"
        );
        assert!(annotations(Component::Query).is_none());
        assert!(annotations(Component::QueryFrontend).is_none());
    }

    #[test]
    fn the_store_reads_index_headers_lazily_and_the_querier_downsamples_long_ranges() {
        let stack = stack(json!({}));
        assert!(
            args(&store(&stack, &sources()))
                .contains(&"--store.enable-index-header-lazy-reader".into())
        );
        assert!(args(&query(&stack)).contains(&"--query.auto-downsampling".into()));
    }

    #[test]
    fn the_frontend_splits_caches_and_forwards_to_the_querier_service() {
        let stack =
            stack(json!({"queryFrontend": {"splitInterval": "12h", "cache": {"maxSize": "1GB"}}}));
        let frontend = query_frontend(&stack, stack.query_frontend.as_ref().unwrap());
        let args = args(&frontend);
        assert_eq!(args[0], "query-frontend");
        assert!(args.contains(
            &"--query-frontend.downstream-url=http://example-thanos-query.default.svc:10902".into()
        ));
        assert!(args.contains(&"--query-range.split-interval=12h".into()));
        let cache = args
            .iter()
            .find_map(|a| a.strip_prefix("--query-range.response-cache-config="))
            .unwrap();
        let cache: serde_yaml_ng::Value = serde_yaml_ng::from_str(cache).unwrap();
        assert_eq!(cache["type"], "IN-MEMORY");
        assert_eq!(cache["config"]["max_size"], "1GB");
        let ports = frontend.ports.unwrap();
        assert_eq!(ports.len(), 1, "HTTP only");
        assert_eq!(ports[0].name.as_deref(), Some("http"));
    }

    #[test]
    fn anti_affinity_is_soft_by_default_hard_on_request_and_absent_for_one_replica() {
        let soft = template(
            &stack(json!({"highlyAvailable": true})),
            &sources(),
            Component::Prometheus,
            Vec::new(),
            Vec::new(),
        );
        let anti = soft
            .spec
            .unwrap()
            .affinity
            .unwrap()
            .pod_anti_affinity
            .unwrap();
        assert!(
            anti.preferred_during_scheduling_ignored_during_execution
                .is_some()
        );
        assert!(
            anti.required_during_scheduling_ignored_during_execution
                .is_none()
        );
        let hard_stack = stack(json!({"highlyAvailable": true, "pod": {"antiAffinity": "hard"}}));
        let hard = template(
            &hard_stack,
            &sources(),
            Component::Prometheus,
            Vec::new(),
            Vec::new(),
        );
        let anti = hard
            .spec
            .unwrap()
            .affinity
            .unwrap()
            .pod_anti_affinity
            .unwrap();
        assert!(
            anti.required_during_scheduling_ignored_during_execution
                .is_some()
        );
        let single = template(
            &stack(json!({})),
            &sources(),
            Component::Prometheus,
            Vec::new(),
            Vec::new(),
        );
        assert!(single.spec.unwrap().affinity.is_none());
    }
}
