//! The Thanos containers: store gateway, querier, query frontend and compactor, and what every Thanos container
//! shares (ports, probes, the bucket's flags, the `restricted` security context).

use k8s_openapi::api::core::v1::{Container, ResourceRequirements, VolumeMount};

use super::bucket::{objstore_args, objstore_env, objstore_mount};
use super::memcached::client_config;
use super::{
    DATA_VOLUME, DRAIN_SECONDS, SERVICE_DRAIN_SECONDS, drain, mount, port, probe, secure_container,
};
use crate::names::{Component, Names, Shard};
use crate::names::{GRPC_PORT, HTTP_PORT};
use crate::render::Sources;
use crate::spec::Stack;

/// The store gateway: serves the blocks in the bucket, or with a `shard` its share of them.
pub fn store(stack: &Stack, sources: &Sources, shard: Option<Shard>) -> Container {
    let data = "/var/thanos/store";
    let mut args = vec![
        "store".into(),
        format!("--data-dir={data}"),
        format!("--grpc-address=0.0.0.0:{GRPC_PORT}"),
        format!("--http-address=0.0.0.0:{HTTP_PORT}"),
        // Index headers are read when a query needs them, not all at start: the store gateway's memory
        // then grows with the blocks queried, not with the bucket.
        "--store.enable-index-header-lazy-reader".into(),
    ];
    let mut selector = own_blocks(stack, sources);
    selector.extend(shard.into_iter().flat_map(shard_blocks));
    args.extend(relabel_flag(selector));
    if stack.memcached.is_some() {
        // Index entries (postings, series) and bucket objects (chunks, meta files) in the shared memcached:
        // every store gateway replica reads what another fetched, and a restarted one starts warm. The caching
        // bucket's TTLs keep the Thanos defaults.
        let config = client_config(stack, None);
        args.push(format!("--index-cache.config={config}"));
        args.push(format!("--store.caching-bucket.config={config}"));
    }
    let mounts = vec![mount(DATA_VOLUME, data, false)];
    let resources = stack.resources.store.clone();
    Container {
        // Found by the querier through DNS SRV: it serves until the querier has dropped it.
        lifecycle: Some(drain(DRAIN_SECONDS)),
        ..thanos(
            stack,
            "thanos-store",
            args,
            true,
            resources,
            mounts,
            Some(sources),
        )
    }
}

/// The querier's container name.
pub const QUERY_CONTAINER: &str = "thanos-query";
/// The querier's flag of a label to deduplicate on, up to its value.
pub const REPLICA_LABEL_FLAG: &str = "--query.replica-label=";

/// How often the querier resolves the sidecars' and store gateways' DNS SRV records (`--store.sd-dns-interval`,
/// 30 s by default): a pod that goes away leaves the querier's endpoints that much later, a new one joins that
/// much sooner. [`super::DRAIN_SECONDS`] keeps a stopping pod serving for longer than this and the endpoint update
/// after it. Each querier replica resolves two names this often: the Prometheus pods' and the store gateways'.
pub const STORE_DNS_INTERVAL: &str = "10s";

/// The querier: merges the sidecars and the store gateway, found by DNS SRV through headless Services, and
/// deduplicates the replicas on `replica_labels`.
pub fn query(stack: &Stack, replica_labels: &[String]) -> Container {
    let names = Names::new(stack);
    let ns = &stack.namespace;
    let mut args = vec![
        "query".into(),
        format!("--http-address=0.0.0.0:{HTTP_PORT}"),
        format!("--grpc-address=0.0.0.0:{GRPC_PORT}"),
    ];
    args.extend(
        replica_labels
            .iter()
            .map(|label| format!("{REPLICA_LABEL_FLAG}{label}")),
    );
    args.extend([
        // Long ranges read the compactor's 5m and 1h downsampled blocks instead of every raw sample.
        "--query.auto-downsampling".into(),
        format!("--store.sd-dns-interval={STORE_DNS_INTERVAL}"),
        format!("--endpoint=dnssrv+_grpc._tcp.{}.{ns}.svc", names.peers()),
        format!(
            "--endpoint=dnssrv+_grpc._tcp.{}.{ns}.svc",
            names.workload(Component::Store)
        ),
    ]);
    let resources = stack.resources.query.clone();
    Container {
        // Reached through its Service: it serves until the Service's clients have let go of it.
        lifecycle: Some(drain(SERVICE_DRAIN_SECONDS)),
        ..thanos(
            stack,
            QUERY_CONTAINER,
            args,
            true,
            resources,
            Vec::new(),
            None,
        )
    }
}

/// How many idle connections the frontend keeps to the querier's Service. Its one downstream is a single host
/// to the HTTP client (a Service's virtual IP), and Go keeps two per host by default: the Thanos docs
/// (query-frontend, "Recommended Downstream Tripper Configuration") ask for at least 100, or every split part
/// opens a new connection and latency is 10-20% higher.
pub const DOWNSTREAM_IDLE_CONNS: u32 = 100;

/// The query frontend: splits range and label queries by `splitInterval`, runs the parts in parallel on the
/// querier's Service over kept-alive connections, caches the results (in memory, or in memcached with
/// `memcached.enabled`) for `cache.validity`, and compresses what it answers.
pub fn query_frontend(stack: &Stack, frontend: &crate::spec::QueryFrontend) -> Container {
    let querier = Names::new(stack).workload(Component::Query);
    let mut args = vec![
        "query-frontend".into(),
        format!("--http-address=0.0.0.0:{HTTP_PORT}"),
        format!(
            "--query-frontend.downstream-url=http://{querier}.{}.svc:{HTTP_PORT}",
            stack.namespace
        ),
        format!(
            "--query-frontend.downstream-tripper-config=max_idle_conns_per_host: {DOWNSTREAM_IDLE_CONNS}\n"
        ),
        // gzip when the client accepts it: a range query's JSON shrinks several times.
        "--query-frontend.compress-responses".into(),
        format!("--query-range.split-interval={}", frontend.split_interval),
        // Label names and values over a long range are split too (Grafana's variables ask for them).
        format!("--labels.split-interval={}", frontend.split_interval),
    ];
    if stack.memcached.is_some() {
        // memcached is shared by every frontend replica and survives their rolls; label queries are cached
        // there too, at no cost to the frontend's memory.
        let config = client_config(stack, Some(&frontend.cache_validity));
        args.push(format!("--query-range.response-cache-config={config}"));
        args.push(format!("--labels.response-cache-config={config}"));
    } else {
        // Each in-memory cache is a cache of its own of `max_size`: only range queries get one, so that the
        // frontend's memory is the one cache the docs size it for.
        args.push(format!(
            "--query-range.response-cache-config=type: IN-MEMORY\nconfig:\n  max_size: {}\n  validity: {}\n",
            frontend.cache_max_size, frontend.cache_validity
        ));
    }
    let resources = stack.resources.query_frontend.clone();
    Container {
        // Reached through its Service and Ingress: it serves until they have let go of it.
        lifecycle: Some(drain(SERVICE_DRAIN_SECONDS)),
        // The frontend serves HTTP only: no gRPC port.
        ..thanos(
            stack,
            "thanos-query-frontend",
            args,
            false,
            resources,
            Vec::new(),
            None,
        )
    }
}

/// The compactor: compacts and downsamples the bucket and applies its retention. Exactly one per bucket.
pub fn compact(stack: &Stack, sources: &Sources, compact: &crate::spec::Compact) -> Container {
    let data = "/var/thanos/compact";
    let mut args = vec![
        "compact".into(),
        "--wait".into(),
        format!("--data-dir={data}"),
        format!("--http-address=0.0.0.0:{HTTP_PORT}"),
        format!("--retention.resolution-raw={}", compact.retention_raw),
        format!("--retention.resolution-5m={}", compact.retention_5m),
        format!("--retention.resolution-1h={}", compact.retention_1h),
        format!("--compact.concurrency={}", compact.concurrency),
    ];
    if compact.deduplication {
        // Offline deduplication (Thanos docs/components/compact.md, "Vertical Compaction"): blocks that differ
        // only by the replica label are one stream, and `penalty` merges the samples of replicas that scraped
        // the same targets at different moments, as the querier does. It turns on vertical compaction itself.
        args.push(format!(
            "--deduplication.replica-label={}",
            stack.replica_label
        ));
        args.push("--deduplication.func=penalty".into());
    }
    args.extend(relabel_flag(own_blocks(stack, sources)));
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

/// The external label that names a cluster, by convention (kube-prometheus, the Thanos docs): when the spec
/// sets it, the stack's blocks are told apart from those of a namesake stack in another cluster by it.
pub const CLUSTER_LABEL: &str = "cluster";

/// The relabel rules of the store gateway and the compactor that keep only the blocks whose external labels
/// are this stack's own, `prometheus=<namespace>/<name>` and, when `spec.externalLabels` sets it, `cluster`.
/// By default every Thanos component acts on every block of the bucket (Thanos `docs/sharding.md`): stacks
/// that share a bucket would serve each other's history and each compactor would apply its retention to the
/// other's blocks. Other external labels are left out on purpose: changing one (say `region`) must not hide
/// the stack's older blocks. None without a customize hook ([`Sources::labelled`]).
fn own_blocks(stack: &Stack, sources: &Sources) -> Vec<serde_json::Value> {
    if !sources.labelled {
        return Vec::new();
    }
    let own = format!("{}/{}", stack.namespace, stack.name);
    let mut labels = vec![("prometheus", own.as_str())];
    // A value with `$` is expanded by Prometheus from its environment: its value is not known here.
    if let Some(cluster) = stack
        .external_labels
        .get(CLUSTER_LABEL)
        .filter(|v| !v.contains('$'))
    {
        labels.insert(0, (CLUSTER_LABEL, cluster.as_str()));
    }
    let source_labels: Vec<&str> = labels.iter().map(|(name, _)| *name).collect();
    let regex: Vec<String> = labels
        .iter()
        .map(|(_, value)| regex_escape(value))
        .collect();
    vec![serde_json::json!({
        "action": "keep",
        "source_labels": source_labels,
        "separator": ";",
        "regex": regex.join(";"),
    })]
}

/// The label that [`shard_blocks`] writes the hash to: Prometheus keeps the `__tmp` prefix for temporary
/// labels of relabeling, so no external label of a block can clash with it.
const SHARD_HASH_LABEL: &str = "__tmp_shard";

/// The relabel rules of a store gateway shard (Thanos `docs/sharding.md`): a hash of the block id
/// (`__block_id`, which Thanos adds to the external labels it relabels) modulo the shard count, kept when it
/// is the shard's index. Every block falls in exactly one shard, and a block keeps its shard for as long as
/// the count stays.
fn shard_blocks(shard: Shard) -> [serde_json::Value; 2] {
    [
        serde_json::json!({
            "action": "hashmod",
            "source_labels": ["__block_id"],
            "target_label": SHARD_HASH_LABEL,
            "modulus": shard.of,
        }),
        serde_json::json!({
            "action": "keep",
            "source_labels": [SHARD_HASH_LABEL],
            "regex": shard.index.to_string(),
        }),
    ]
}

/// `--selector.relabel-config` with `rules`, none without rules. JSON is YAML: the flag's value is one line
/// that Thanos reads as a list of relabel configs.
fn relabel_flag(rules: Vec<serde_json::Value>) -> Option<String> {
    (!rules.is_empty()).then(|| {
        format!(
            "--selector.relabel-config={}",
            serde_json::Value::Array(rules)
        )
    })
}

/// `value` as an RE2 regular expression that matches it literally (Go's `regexp.QuoteMeta`).
fn regex_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A Thanos container: `args`, then, for a component that reads the bucket (`sources`), the bucket's flags,
/// mount and environment; health probes on the HTTP port; the `restricted` security context.
pub(super) fn thanos(
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::super::bucket::OBJSTORE_VOLUME;
    use super::super::objstore_volume;
    use super::*;
    use crate::render::Bucket;
    use crate::render::testing::{sources, stack};

    fn args(container: &Container) -> Vec<String> {
        container.args.clone().unwrap_or_default()
    }

    #[test]
    fn the_2018_secret_keys_reach_thanos_only_as_environment_references() {
        let s3 = Sources {
            bucket: Bucket::S3Keys {
                secret: "bucket".into(),
                insecure: false,
            },
            ..sources()
        };
        let store = store(&stack(json!({})), &s3, None);
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

    #[test]
    fn s3_insecure_turns_on_thanos_s3_insecure_for_every_bucket_reader() {
        let stack = stack(json!({}));
        let insecure = Sources {
            bucket: Bucket::S3Keys {
                secret: "bucket".into(),
                insecure: true,
            },
            ..sources()
        };
        for container in [
            store(&stack, &insecure, None),
            compact(&stack, &insecure, stack.compact.as_ref().unwrap()),
            super::super::sidecar(&stack, &insecure),
        ] {
            let config = args(&container)
                .into_iter()
                .find_map(|a| a.strip_prefix("--objstore.config=").map(String::from))
                .unwrap();
            let parsed: serde_json::Value =
                serde_yaml_ng::from_str(&config.replace("$$", "$")).unwrap();
            assert_eq!(parsed["type"], "S3", "{config}");
            assert_eq!(parsed["config"]["insecure"], true, "{config}");
            assert_eq!(parsed["config"]["endpoint"], "$(OBJSTORE_S3_ENDPOINT)");
        }
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
                insecure: false,
            },
            ..sources()
        };
        let store = store(&stack(json!({})), &s3, None);
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

    fn selector(container: &Container) -> Option<serde_yaml_ng::Value> {
        args(container)
            .iter()
            .find_map(|a| a.strip_prefix("--selector.relabel-config="))
            .map(|config| serde_yaml_ng::from_str(config).expect("the selector is YAML"))
    }

    #[test]
    fn the_store_gateway_and_the_compactor_keep_only_the_stacks_own_blocks() {
        let stack = stack(json!({"externalLabels": {"region": "x"}}));
        let compactor = compact(&stack, &sources(), stack.compact.as_ref().unwrap());
        for container in [store(&stack, &sources(), None), compactor] {
            let config = selector(&container).expect("a selector");
            assert_eq!(
                config,
                serde_yaml_ng::from_str::<serde_yaml_ng::Value>(
                    r#"[{action: keep, source_labels: [prometheus], separator: ";", regex: 'default/example'}]"#
                )
                .unwrap()
            );
        }
        // The querier and the frontend read no bucket: no selector.
        assert!(selector(&query(&stack, std::slice::from_ref(&stack.replica_label))).is_none());
    }

    #[test]
    fn a_cluster_label_in_the_spec_joins_the_selector_quoted_as_a_literal() {
        let stack = stack(json!({"externalLabels": {"cluster": "eu.west+1"}}));
        let config = selector(&store(&stack, &sources(), None)).unwrap();
        assert_eq!(config[0]["source_labels"][0], "cluster");
        assert_eq!(config[0]["source_labels"][1], "prometheus");
        assert_eq!(config[0]["regex"], r"eu\.west\+1;default/example");
        // A value that Prometheus expands from its environment is not known here: left out.
        let stack = self::stack(json!({"externalLabels": {"cluster": "$(CLUSTER)"}}));
        let config = selector(&store(&stack, &sources(), None)).unwrap();
        assert_eq!(config[0]["source_labels"].as_sequence().unwrap().len(), 1);
    }

    #[test]
    fn without_a_customize_hook_no_block_is_hidden() {
        let plain = Sources {
            labelled: false,
            ..sources()
        };
        let stack = stack(json!({}));
        assert!(selector(&store(&stack, &plain, None)).is_none());
        assert!(selector(&compact(&stack, &plain, stack.compact.as_ref().unwrap())).is_none());
    }

    #[test]
    fn each_shard_keeps_the_stacks_own_blocks_whose_id_hashes_to_its_index() {
        let stack = stack(json!({"externalLabels": {"cluster": "eu"}}));
        let shard = Shard { index: 1, of: 3 };
        let arg = args(&store(&stack, &sources(), Some(shard)))
            .into_iter()
            .find(|a| a.starts_with("--selector.relabel-config="))
            .unwrap();
        assert_eq!(
            arg,
            r#"--selector.relabel-config=[{"action":"keep","regex":"eu;default/example","separator":";","source_labels":["cluster","prometheus"]},{"action":"hashmod","modulus":3,"source_labels":["__block_id"],"target_label":"__tmp_shard"},{"action":"keep","regex":"1","source_labels":["__tmp_shard"]}]"#
        );
        // The compactor compacts every block of the stack: never sharded.
        let compactor = compact(&stack, &sources(), stack.compact.as_ref().unwrap());
        assert_eq!(
            selector(&compactor).unwrap().as_sequence().unwrap().len(),
            1
        );
        // Without a customize hook the shard's rules stand alone.
        let plain = Sources {
            labelled: false,
            ..sources()
        };
        let config = selector(&store(&stack, &plain, Some(Shard { index: 0, of: 2 }))).unwrap();
        assert_eq!(config[0]["action"], "hashmod");
        assert_eq!(config[0]["modulus"], 2);
        assert_eq!(config[1]["regex"], "0");
    }

    #[test]
    fn regex_escape_quotes_every_re2_metacharacter() {
        assert_eq!(
            regex_escape(r"a.b+c*d?e(f)g|h[i]j{k}l^m$n\o"),
            r"a\.b\+c\*d\?e\(f\)g\|h\[i\]j\{k\}l\^m\$n\\o"
        );
        assert_eq!(regex_escape("ns/name-1"), "ns/name-1");
    }

    #[test]
    fn the_store_reads_index_headers_lazily_and_the_querier_downsamples_long_ranges() {
        let stack = stack(json!({}));
        assert!(
            args(&store(&stack, &sources(), None))
                .contains(&"--store.enable-index-header-lazy-reader".into())
        );
        assert!(
            args(&query(&stack, std::slice::from_ref(&stack.replica_label)))
                .contains(&"--query.auto-downsampling".into())
        );
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

    fn flag(container: &Container, name: &str) -> Option<String> {
        args(container)
            .into_iter()
            .find_map(|a| a.strip_prefix(&format!("{name}=")).map(String::from))
    }

    #[test]
    fn the_frontend_keeps_connections_to_the_querier_compresses_and_splits_label_queries() {
        let stack = stack(json!({"queryFrontend": {"splitInterval": "12h"}}));
        let frontend = query_frontend(&stack, stack.query_frontend.as_ref().unwrap());
        let tripper: serde_yaml_ng::Value = serde_yaml_ng::from_str(
            &flag(&frontend, "--query-frontend.downstream-tripper-config").unwrap(),
        )
        .unwrap();
        assert_eq!(tripper["max_idle_conns_per_host"], 100);
        assert!(args(&frontend).contains(&"--query-frontend.compress-responses".into()));
        assert_eq!(
            flag(&frontend, "--labels.split-interval").as_deref(),
            Some("12h")
        );
        let cache: serde_yaml_ng::Value = serde_yaml_ng::from_str(
            &flag(&frontend, "--query-range.response-cache-config").unwrap(),
        )
        .unwrap();
        assert_eq!(cache["config"]["validity"], "6h");
        // In memory, only range queries have a cache: the frontend's memory is sized for one.
        assert_eq!(flag(&frontend, "--labels.response-cache-config"), None);
    }

    #[test]
    fn with_memcached_the_frontend_and_the_store_gateway_cache_there() {
        let stack = stack(json!({"memcached": {"enabled": true},
            "queryFrontend": {"cache": {"validity": "2h"}}}));
        let frontend = query_frontend(&stack, stack.query_frontend.as_ref().unwrap());
        for name in [
            "--query-range.response-cache-config",
            "--labels.response-cache-config",
        ] {
            let config: serde_yaml_ng::Value =
                serde_yaml_ng::from_str(&flag(&frontend, name).unwrap()).unwrap();
            assert_eq!(config["type"], "MEMCACHED", "{name}");
            assert_eq!(config["config"]["expiration"], "2h", "{name}");
        }
        let store = store(&stack, &sources(), None);
        for name in ["--index-cache.config", "--store.caching-bucket.config"] {
            let config: serde_yaml_ng::Value =
                serde_yaml_ng::from_str(&flag(&store, name).unwrap()).unwrap();
            assert_eq!(config["type"], "MEMCACHED", "{name}");
            assert_eq!(
                config["config"]["addresses"][0],
                "dnssrv+_client._tcp.example-memcached.default.svc"
            );
        }
        // Off by default: the store gateway keeps its in-memory index cache.
        let plain = self::stack(json!({}));
        assert_eq!(
            flag(
                &super::store(&plain, &sources(), None),
                "--index-cache.config"
            ),
            None
        );
    }

    #[test]
    fn the_compactor_takes_its_concurrency_and_deduplicates_replicas_only_on_request() {
        let stack = stack(json!({"highlyAvailable": true, "compact": {"concurrency": 3}}));
        let container = compact(&stack, &sources(), stack.compact.as_ref().unwrap());
        assert_eq!(
            flag(&container, "--compact.concurrency").as_deref(),
            Some("3")
        );
        assert_eq!(flag(&container, "--deduplication.replica-label"), None);
        assert_eq!(flag(&container, "--deduplication.func"), None);

        let stack = self::stack(json!({"highlyAvailable": true, "replicaLabel": "replica",
            "compact": {"deduplication": true}}));
        let container = compact(&stack, &sources(), stack.compact.as_ref().unwrap());
        assert_eq!(
            flag(&container, "--deduplication.replica-label").as_deref(),
            Some("replica")
        );
        assert_eq!(
            flag(&container, "--deduplication.func").as_deref(),
            Some("penalty")
        );
        // The block selector keeps the stack's own blocks, which the replica label does not decide.
        assert!(selector(&container).is_some());
    }
}
