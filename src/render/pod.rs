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

/// The 2018 `s3_*` keys of the bucket Secret: the environment variable that carries each into the Thanos
/// containers, and the S3 config key it fills, if any.
///
/// The credentials stay out of the YAML: with no `access_key` in its config, Thanos's S3 provider reads
/// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` itself, so any byte of a credential works. The bucket and the
/// endpoint must be in the config; [`objstore_args`] quotes them.
pub const S3_KEYS: [(&str, &str, Option<&str>); 4] = [
    ("s3_bucket", "OBJSTORE_S3_BUCKET", Some("bucket")),
    ("s3_endpoint", "OBJSTORE_S3_ENDPOINT", Some("endpoint")),
    ("s3_access_key", "AWS_ACCESS_KEY_ID", None),
    ("s3_secret_key", "AWS_SECRET_ACCESS_KEY", None),
];

/// The pod template of a component.
pub fn template(
    stack: &Stack,
    sources: &Sources,
    component: Component,
    containers: Vec<Container>,
    volumes: Vec<Volume>,
) -> PodTemplateSpec {
    let reads_bucket = component != Component::Query;
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
            // The sidecar signals Prometheus to reload (`--reloader.method=signal`).
            share_process_namespace: (component == Component::Prometheus).then_some(true),
            affinity: (meta::replicas(stack, component) > 1)
                .then(|| anti_affinity(stack, component)),
            node_selector: (!stack.pod.node_selector.is_empty())
                .then(|| stack.pod.node_selector.clone()),
            tolerations: (!stack.pod.tolerations.is_empty()).then(|| stack.pod.tolerations.clone()),
            priority_class_name: stack.pod.priority_class_name.clone(),
            service_account_name: service_account(stack, component),
            // Prometheus keeps its account's token: kubernetes_sd_configs needs it. The Thanos pods talk to no
            // API server.
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

/// The ServiceAccount of a component's pods: the user's for every pod, else the rendered one for Prometheus
/// and the namespace's default for the rest.
fn service_account(stack: &Stack, component: Component) -> Option<String> {
    match &stack.pod.service_account_name {
        Some(account) => Some(account.clone()),
        None => (component == Component::Prometheus)
            .then(|| Names::new(stack).workload(Component::Prometheus)),
    }
}

/// Whether the pods of a component must run on distinct nodes: `pod.antiAffinity: hard` with several replicas.
pub fn distinct_nodes_required(stack: &Stack, component: Component) -> bool {
    meta::replicas(stack, component) > 1
        && stack.pod.anti_affinity == crate::api::AntiAffinity::Hard
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
        // No --web.enable-lifecycle: it serves an unauthenticated POST /-/quit and /-/reload on this port,
        // which the <name>-prometheus Ingress exposes. The sidecar reloads the configuration by SIGHUP instead.
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
        // SIGHUP to the process named `prometheus`, in the pod's shared process namespace: works with every
        // Prometheus release (v3.5 LTS included, which lacks --config.auto-reload) and needs no HTTP endpoint
        // that could change state.
        "--reloader.method=signal".into(),
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
            // `$$(VAR)` reaches Thanos as `$(VAR)`, which Thanos replaces with the variable's value, byte for
            // byte, before it parses the YAML: the values never appear in the pod spec or the process arguments.
            // Each value is a literal block scalar with an explicit indentation (`|2-`: 2 more than the key), in
            // which no character but a line break means anything, leading spaces included; the hook refuses a
            // bucket or endpoint with a line break (`related::bucket_format`).
            let mut config = String::from("type: S3\nconfig:\n");
            for (_, env, key) in S3_KEYS {
                if let Some(key) = key {
                    config.push_str(&format!("  {key}: |2-\n    $$({env})\n"));
                }
            }
            vec![format!("--objstore.config={config}")]
        }
    }
}

fn objstore_env(sources: &Sources) -> Option<Vec<EnvVar>> {
    match &sources.bucket {
        Bucket::File { .. } => None,
        Bucket::S3Keys { secret } => Some(
            S3_KEYS
                .iter()
                .map(|(key, env, _)| EnvVar {
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
    fn prometheus_serves_no_lifecycle_api_and_the_sidecar_reloads_it_by_signal() {
        let stack = stack(json!({"baseDomain": "example.org"}));
        assert!(
            !args(&prometheus(&stack, &sources()))
                .iter()
                .any(|a| a.contains("lifecycle"))
        );
        assert!(args(&sidecar(&stack, &sources())).contains(&"--reloader.method=signal".into()));
        let shares = |component| {
            template(&stack, &sources(), component, vec![], vec![])
                .spec
                .unwrap()
                .share_process_namespace
        };
        assert_eq!(
            shares(Component::Prometheus),
            Some(true),
            "the sidecar must see the process"
        );
        assert_eq!(
            shares(Component::Store),
            None,
            "no other pod shares its processes"
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
            "type: S3\nconfig:\n  bucket: |2-\n    $$(OBJSTORE_S3_BUCKET)\n  endpoint: |2-\n    \
             $$(OBJSTORE_S3_ENDPOINT)\n"
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

    /// What Thanos does to `--objstore.config` (`pkg/extkingpin` `expandEnv`): every `$(NAME)` replaced once by
    /// the variable's value, byte for byte, and an unset one is an error.
    fn thanos_expand(text: &str, env: &BTreeMap<&str, &str>) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(at) = rest.find("$(") {
            out.push_str(&rest[..at]);
            let after = &rest[at + 2..];
            let end = after.find(')').expect("a reference is closed");
            out.push_str(
                env.get(&after[..end])
                    .expect("every referenced variable is set"),
            );
            rest = &after[end + 1..];
        }
        out + rest
    }

    #[test]
    fn the_2018_s3_values_survive_any_characters() {
        let s3 = Sources {
            bucket: Bucket::S3Keys {
                secret: "bucket".into(),
            },
            ..sources()
        };
        let store = store(&stack(json!({})), &s3);
        let env: BTreeMap<String, String> = store
            .env
            .iter()
            .flatten()
            .map(|e| {
                let key = &e
                    .value_from
                    .as_ref()
                    .unwrap()
                    .secret_key_ref
                    .as_ref()
                    .unwrap()
                    .key;
                (e.name.clone(), key.clone())
            })
            .collect();
        // The S3 provider reads the credentials itself when the config names none: no YAML around them.
        assert_eq!(env["AWS_ACCESS_KEY_ID"], "s3_access_key");
        assert_eq!(env["AWS_SECRET_ACCESS_KEY"], "s3_secret_key");
        let arg = args(&store)
            .into_iter()
            .find_map(|a| a.strip_prefix("--objstore.config=").map(String::from))
            .unwrap();
        // Kubernetes turns `$$` into `$` and leaves the rest of an argument alone.
        let arg = arg.replace("$$", "$");
        for hostile in [
            "a: b",
            "a #b",
            "*a",
            "&a",
            "!a",
            "%a",
            "@a",
            "'a",
            "\"a",
            "{a",
            "[a",
            "|a",
            ">a",
            "-",
            "~",
            "null",
            "true",
            "0x10",
            " a",
            "a ",
            "",
            "#",
            "a\tb",
            "$(OBJSTORE_S3_BUCKET)",
            "ü",
        ] {
            let values = BTreeMap::from([
                ("OBJSTORE_S3_BUCKET", hostile),
                ("OBJSTORE_S3_ENDPOINT", hostile),
            ]);
            let expanded = thanos_expand(&arg, &values);
            let parsed: serde_yaml_ng::Value = serde_yaml_ng::from_str(&expanded)
                .unwrap_or_else(|e| panic!("{hostile:?}: {e}\n{expanded}"));
            assert_eq!(parsed["type"], "S3");
            let config = parsed["config"].as_mapping().unwrap();
            assert_eq!(config.len(), 2, "{hostile:?}: {expanded}");
            for key in ["bucket", "endpoint"] {
                assert_eq!(
                    parsed["config"][key].as_str(),
                    Some(hostile),
                    "{key} {hostile:?}: {expanded}"
                );
            }
        }
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
