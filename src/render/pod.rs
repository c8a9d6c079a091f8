//! Pod templates, the Prometheus pod (Prometheus and the Thanos sidecar), and what every container shares; the
//! other Thanos containers are in `pod/thanos.rs`, the bucket access in `pod/bucket.rs`.
//!
//! Every pod passes the Pod Security Standard `restricted` profile. Flags are the ones of the pinned releases
//! (Prometheus v3, Thanos v0.42); none of the removed ones (`--cluster.*`, `--store`,
//! `--storage.tsdb.retention`, the store's `--tsdb.path`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, Capabilities, ConfigMapVolumeSource, Container, ContainerPort, EnvVar, EnvVarSource,
    HTTPGetAction, Lifecycle, LifecycleHandler, ObjectFieldSelector, PodAffinityTerm,
    PodAntiAffinity, PodSecurityContext, PodSpec, PodTemplateSpec, Probe, SeccompProfile,
    SecurityContext, SleepAction, TopologySpreadConstraint, Volume, VolumeMount,
    WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::Sources;
use crate::names::{self, CONFIG_DIR, Component, GRPC_PORT, HTTP_PORT, Names, PROMETHEUS_PORT};
use crate::spec::Stack;

mod bucket;
mod grafana;
mod memcached;
mod thanos;

pub use bucket::{OBJSTORE_DIR, objstore_volume};
pub use grafana::{grafana, grafana_volumes};
pub use memcached::{MEMCACHED_PORT_NAME, memcached};
use thanos::thanos;
pub use thanos::{
    CLUSTER_LABEL, QUERY_CONTAINER, REPLICA_LABEL_FLAG, compact, query, query_frontend, store,
};

/// The TSDB, shared by Prometheus and the sidecar.
pub const TSDB_DIR: &str = "/prometheus";
/// The annotation that rolls the pods when the bucket credentials change.
pub const BUCKET_HASH_ANNOTATION: &str = "prometheus.robszumski.com/bucket-secret-hash";

/// The user that every container runs as: `nobody`, which the Prometheus image uses too.
const NOBODY: i64 = 65534;

/// How long a pod that the querier finds by DNS SRV (a Prometheus pod, with its sidecar, and a store gateway)
/// goes on serving once its deletion began, before its containers are told to stop (a `preStop` sleep). Kubernetes
/// takes a terminating pod out of the headless Service's records at once, but the querier resolves them every
/// [`thanos::STORE_DNS_INTERVAL`] and drops an address at its next endpoint update, up to 10 s later (Thanos
/// runs one every `--endpoint.info-timeout`, 5 s, each waiting up to 5 s). A pod whose address vanished before
/// that leaves every query that fans out to it waiting on a connection that no one answers (no reset comes
/// from an address that is gone): up to gRPC's 20 s connect timeout, while the replica beside it holds the same
/// data. 25 s covers 10 + 10 with time for the Service's records to change.
pub const DRAIN_SECONDS: i64 = 25;

/// How long the querier, the query frontend and Grafana go on serving once their deletion began. Their clients
/// reach them through a ClusterIP Service (the frontend, Grafana, in-cluster clients) or an Ingress, which learn of
/// a terminating pod from its EndpointSlice: kube-proxy rewrites its rules, an ingress controller its upstreams,
/// each a second or a few later on a busy cluster. A pod that stopped listening at once would refuse the
/// connections sent to it in between, failing the queries they carry unless their client retries them.
pub const SERVICE_DRAIN_SECONDS: i64 = 10;

/// A `preStop` sleep of `seconds`, a kubelet action (Kubernetes 1.30 and later) that needs no `sleep` binary in
/// the image.
fn drain(seconds: i64) -> Lifecycle {
    Lifecycle {
        pre_stop: Some(LifecycleHandler {
            sleep: Some(SleepAction { seconds }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The longest a query runs in the querier: Thanos's `--query.timeout`, which the querier keeps at its default.
/// A store gateway, querier or query frontend that stops waits for the queries it serves to end (Thanos's HTTP and
/// gRPC grace periods, 2 minutes by default, are as long).
const QUERY_TIMEOUT_SECONDS: i64 = 120;

/// The time Kubernetes gives a pod to stop when its spec names none.
const DEFAULT_GRACE_SECONDS: i64 = 30;

/// The name of the TSDB / data volume and claim template.
pub const DATA_VOLUME: &str = "data";
const CONFIG_VOLUME: &str = "config";

/// The pod template of a component.
pub fn template(
    stack: &Stack,
    sources: &Sources,
    component: Component,
    containers: Vec<Container>,
    volumes: Vec<Volume>,
) -> PodTemplateSpec {
    let reads_bucket = !matches!(
        component,
        Component::Query | Component::QueryFrontend | Component::Grafana | Component::Memcached
    );
    let annotations = sources
        .bucket_hash
        .as_ref()
        .filter(|_| reads_bucket)
        .map(|hash| BTreeMap::from([(BUCKET_HASH_ANNOTATION.to_string(), hash.clone())]));
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(names::labels(stack, component)),
            annotations,
            ..Default::default()
        }),
        spec: Some(PodSpec {
            containers,
            volumes: (!volumes.is_empty()).then_some(volumes),
            // The sidecar signals Prometheus to reload (`--reloader.method=signal`).
            share_process_namespace: (component == Component::Prometheus).then_some(true),
            affinity: (names::replicas(stack, component) > 1)
                .then(|| anti_affinity(stack, component)),
            topology_spread_constraints: zone_spread(stack, component),
            node_selector: (!stack.pod.node_selector.is_empty())
                .then(|| stack.pod.node_selector.clone()),
            tolerations: (!stack.pod.tolerations.is_empty()).then(|| stack.pod.tolerations.clone()),
            priority_class_name: stack.pod.priority_class_name.clone(),
            service_account_name: service_account(stack, component),
            // Prometheus keeps its account's token: kubernetes_sd_configs needs it. The Thanos pods talk to no
            // API server.
            automount_service_account_token: (component != Component::Prometheus).then_some(false),
            enable_service_links: Some(false),
            termination_grace_period_seconds: termination_grace_period(component),
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

/// How long a component's pods may take to stop, the [`DRAIN_SECONDS`] or [`SERVICE_DRAIN_SECONDS`] of their
/// `preStop` included; the Kubernetes default of 30 s for the rest.
fn termination_grace_period(component: Component) -> Option<i64> {
    match component {
        // Prometheus flushes its head block on shutdown; give it the time prometheus-operator gives.
        Component::Prometheus => Some(600),
        // Drained, then the queries it still serves run to their end.
        Component::Store => Some(DRAIN_SECONDS + QUERY_TIMEOUT_SECONDS),
        // Drained, then the queries they still answer run to their end.
        Component::Query | Component::QueryFrontend => {
            Some(SERVICE_DRAIN_SECONDS + QUERY_TIMEOUT_SECONDS)
        }
        // Drained, then the 30 s that Kubernetes gives by default.
        Component::Grafana => Some(SERVICE_DRAIN_SECONDS + DEFAULT_GRACE_SECONDS),
        _ => None,
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
    names::replicas(stack, component) > 1
        && stack.pod.anti_affinity == crate::api::AntiAffinity::Hard
}

fn anti_affinity(stack: &Stack, component: Component) -> Affinity {
    let term = PodAffinityTerm {
        label_selector: Some(LabelSelector {
            match_labels: Some(names::selector_labels(stack, component)),
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

/// The label of a node's zone, set by the cloud provider (kubernetes.io well-known labels).
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";

/// The spread of a component's replicas over zones, beside the anti-affinity over nodes: a zone outage then
/// leaves a replica of each highly available component. `soft` prefers it and never keeps a pod pending
/// (nodes without the zone label, as on a cluster of one zone, change nothing); `hard` requires it, and a node
/// without the label takes none of the pods. None for a single replica.
fn zone_spread(stack: &Stack, component: Component) -> Option<Vec<TopologySpreadConstraint>> {
    let when_unsatisfiable = match stack.pod.topology_spread {
        crate::api::TopologySpread::None => return None,
        crate::api::TopologySpread::Soft => "ScheduleAnyway",
        crate::api::TopologySpread::Hard => "DoNotSchedule",
    };
    (names::replicas(stack, component) > 1).then(|| {
        vec![TopologySpreadConstraint {
            max_skew: 1,
            topology_key: ZONE_LABEL.into(),
            when_unsatisfiable: when_unsatisfiable.into(),
            label_selector: Some(LabelSelector {
                match_labels: Some(names::selector_labels(stack, component)),
                ..Default::default()
            }),
            ..Default::default()
        }]
    })
}

/// The Prometheus container: reads its config straight from the mounted ConfigMap (no envsubst copy, so no
/// start-up race) and expands `${POD_NAME}` in its external labels itself. `retention_size` is
/// `--storage.tsdb.retention.size` (see [`retention_size`]).
pub fn prometheus(stack: &Stack, sources: &Sources, retention_size: Option<&str>) -> Container {
    let mut args = vec![
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
    if let Some(size) = retention_size {
        args.push(format!("--storage.tsdb.retention.size={size}"));
    }
    if stack.prometheus_version.major == 2 {
        // v2 expands `${POD_NAME}` in external labels only with this feature (v3 always does): without it
        // both replicas upload blocks with the same labels, and deduplication and compaction break.
        args.push("--enable-feature=expand-external-labels".into());
    }
    // Alerts link back to Prometheus through its external URL, the pod's name otherwise. The route prefix
    // would follow a path in that URL; it stays `/`, where the probes, the sidecar and the scrapes look.
    if let Some(url) = names::external_url(stack, Component::Prometheus) {
        args.push(format!("--web.external-url={url}"));
        args.push("--web.route-prefix=/".into());
    }
    Container {
        name: "prometheus".into(),
        image: Some(stack.prometheus_image.clone()),
        args: Some(args),
        env: Some(vec![pod_name_env()]),
        ports: Some(vec![port("web", PROMETHEUS_PORT)]),
        readiness_probe: Some(probe("/-/ready", "web", 3)),
        // WAL replay can take minutes on a large TSDB; /-/healthy answers during it.
        liveness_probe: Some(probe("/-/healthy", "web", 6)),
        // Prometheus answers its sidecar until the querier has dropped the pod: the sidecar would answer errors.
        lifecycle: Some(drain(DRAIN_SECONDS)),
        resources: Some(stack.resources.prometheus.clone()),
        volume_mounts: Some(vec![
            mount(CONFIG_VOLUME, CONFIG_DIR, true),
            mount(DATA_VOLUME, TSDB_DIR, false),
        ]),
        ..secure_container()
    }
}

/// The local TSDB's size limit: `spec.metrics.retentionSize` when set (none when it is zero), else
/// [`crate::spec::RETENTION_SIZE_PERCENT`] of `volume`, the size of the Prometheus claims: a full volume stops
/// Prometheus, and it crash-loops until the volume grows (prometheus issues 8159, 7627).
pub fn retention_size(
    stack: &Stack,
    volume: &k8s_openapi::apimachinery::pkg::api::resource::Quantity,
) -> Option<String> {
    match &stack.retention_size {
        Some(size) => (crate::spec::byte_size(size) != Some(0)).then(|| size.clone()),
        None => crate::spec::default_retention_size(volume),
    }
}

/// The sidecar reloader's `--reloader.watch-interval` (see [`sidecar`]).
const RELOADER_WATCH_INTERVAL: &str = "30s";

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
        // At its start the reloader signals Prometheus and waits, up to this interval, for Prometheus to say
        // that it reloaded; it reads that from a timestamp in whole seconds, so when Prometheus's own first
        // load fell in the same second the wait runs to its end, and only then does the reloader watch the
        // files. The default, 3m, left a configuration change made meanwhile unloaded for up to 6 minutes;
        // 30s bounds that to a minute. It is also how often the files are hashed again without a change.
        format!("--reloader.watch-interval={RELOADER_WATCH_INTERVAL}"),
    ];
    let mounts = vec![
        mount(DATA_VOLUME, TSDB_DIR, false),
        mount(CONFIG_VOLUME, CONFIG_DIR, true),
    ];
    let resources = stack.resources.sidecar.clone();
    Container {
        // The querier's StoreAPI in this pod, found by DNS SRV: it serves until the querier has dropped it.
        lifecycle: Some(drain(DRAIN_SECONDS)),
        ..thanos(
            stack,
            "thanos-sidecar",
            args,
            true,
            resources,
            mounts,
            Some(sources),
        )
    }
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
        let container = prometheus(&stack(json!({})), &sources(), None);
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
            !args(&prometheus(&stack, &sources(), None))
                .iter()
                .any(|a| a.contains("lifecycle"))
        );
        assert!(args(&sidecar(&stack, &sources())).contains(&"--reloader.method=signal".into()));
        // Bounds the wait of the reloader's first check, which cannot see a reload in the same second.
        assert!(
            args(&sidecar(&stack, &sources())).contains(&"--reloader.watch-interval=30s".into())
        );
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
    fn prometheus_v2_expands_external_labels_by_its_feature_flag_and_v3_needs_none() {
        let flag = "--enable-feature=expand-external-labels".to_string();
        let v2 = stack(json!({"images": {"prometheus": "prom/prometheus:v2.53.3"}}));
        assert!(args(&prometheus(&v2, &sources(), None)).contains(&flag));
        for spec in [
            json!({}),
            json!({"images": {"prometheus": "prom/prometheus:v3.0.0"}}),
        ] {
            assert!(!args(&prometheus(&stack(spec), &sources(), None)).contains(&flag));
        }
    }

    #[test]
    fn prometheus_knows_its_external_url_only_when_an_ingress_exposes_it() {
        let flags = |spec| {
            args(&prometheus(&stack(spec), &sources(), None))
                .into_iter()
                .filter(|a| {
                    a.starts_with("--web.external-url") || a.starts_with("--web.route-prefix")
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            flags(
                json!({"baseDomain": "example.org", "ingress": {"exposePrometheus": true,
                "tlsSecretName": "tls"}})
            ),
            [
                "--web.external-url=https://example-prometheus.example.org",
                "--web.route-prefix=/"
            ]
        );
        assert!(flags(json!({"baseDomain": "example.org"})).is_empty());
        assert!(flags(json!({})).is_empty());
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

    #[test]
    fn replicas_spread_over_zones_softly_by_default_hard_on_request_and_not_at_all_when_told() {
        let spread = |spec, component| {
            template(&stack(spec), &sources(), component, Vec::new(), Vec::new())
                .spec
                .unwrap()
                .topology_spread_constraints
        };
        let soft = spread(json!({"highlyAvailable": true}), Component::Prometheus).unwrap();
        assert_eq!(soft.len(), 1);
        assert_eq!(soft[0].topology_key, ZONE_LABEL);
        assert_eq!(soft[0].max_skew, 1);
        assert_eq!(soft[0].when_unsatisfiable, "ScheduleAnyway");
        assert_eq!(
            soft[0]
                .label_selector
                .as_ref()
                .unwrap()
                .match_labels
                .as_ref(),
            Some(&names::selector_labels(
                &stack(json!({})),
                Component::Prometheus
            ))
        );
        let hard = spread(
            json!({"highlyAvailable": true, "pod": {"topologySpread": "hard"}}),
            Component::Query,
        )
        .unwrap();
        assert_eq!(hard[0].when_unsatisfiable, "DoNotSchedule");
        assert!(
            spread(
                json!({"highlyAvailable": true, "pod": {"topologySpread": "none"}}),
                Component::Prometheus
            )
            .is_none()
        );
        // One replica has nothing to spread; the compactor always runs one.
        assert!(spread(json!({}), Component::Prometheus).is_none());
        assert!(spread(json!({"highlyAvailable": true}), Component::Compact).is_none());
    }
}
