//! memcached, with `memcached.enabled`: its container, and the client configuration by which the query frontend
//! and the store gateway reach it (Thanos `docs/components/store.md`, memcached index cache and caching bucket;
//! `docs/components/query-frontend.md`, memcached). Every key rendered here is one that Thanos v0.37.2 and
//! v0.42.4 both read (their configurations are parsed strictly).

use k8s_openapi::api::core::v1::{Container, Probe, TCPSocketAction};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{port, secure_container};
use crate::names::{Component, Names};
use crate::spec::{MEMCACHED_PORT, Memcached, Stack};

/// The name of memcached's port, and of the SRV records the clients resolve.
pub const MEMCACHED_PORT_NAME: &str = "client";
/// The largest item memcached stores (`-I`); the clients' `max_item_size` matches it, so that they do not send
/// what memcached refuses.
const MAX_ITEM_SIZE: &str = "1m";

/// The memcached container: `-m` megabytes for items, 1 MiB items, room for every client's idle connections.
pub fn memcached(stack: &Stack, memcached: &Memcached) -> Container {
    let args = vec![
        format!("--memory-limit={}", memcached.memory_mb),
        format!("--max-item-size={MAX_ITEM_SIZE}"),
        // Each frontend and store gateway replica keeps up to 100 idle connections (`max_idle_connections`);
        // the default limit, 1024, would refuse the clients of a scaled-out stack.
        "--conn-limit=4096".into(),
    ];
    let tcp = |failure_threshold| Probe {
        tcp_socket: Some(TCPSocketAction {
            port: IntOrString::String(MEMCACHED_PORT_NAME.into()),
            ..Default::default()
        }),
        period_seconds: Some(10),
        timeout_seconds: Some(5),
        failure_threshold: Some(failure_threshold),
        ..Default::default()
    };
    Container {
        name: "memcached".into(),
        image: Some(memcached.image.clone()),
        args: Some(args),
        ports: Some(vec![port(MEMCACHED_PORT_NAME, MEMCACHED_PORT)]),
        readiness_probe: Some(tcp(3)),
        liveness_probe: Some(tcp(6)),
        resources: Some(stack.resources.memcached.clone()),
        ..secure_container()
    }
}

/// The client configuration of a Thanos cache in `<name>-memcached`, as one line of YAML (JSON): the addresses
/// by DNS SRV through its headless Service, re-resolved every 10 s, and the Thanos docs' defaults otherwise.
/// `expiration` is the query frontend's (its responses expire; index entries and chunks do not change).
pub fn client_config(stack: &Stack, expiration: Option<&str>) -> String {
    let service = Names::new(stack).workload(Component::Memcached);
    let mut config = serde_json::json!({
        "addresses": [format!("dnssrv+_{MEMCACHED_PORT_NAME}._tcp.{service}.{}.svc", stack.namespace)],
        "timeout": "500ms",
        "max_idle_connections": 100,
        "max_async_concurrency": 10,
        "max_async_buffer_size": 10000,
        "max_get_multi_concurrency": 100,
        "max_get_multi_batch_size": 0,
        "max_item_size": "1MiB",
        "dns_provider_update_interval": "10s",
    });
    if let Some(expiration) = expiration {
        config["expiration"] = expiration.into();
    }
    serde_json::json!({"type": "MEMCACHED", "config": config}).to_string()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::render::testing::stack;

    #[test]
    fn memcached_holds_its_memory_and_answers_on_its_client_port() {
        let stack = stack(json!({"memcached": {"enabled": true, "memory": "2Gi"}}));
        let container = memcached(&stack, stack.memcached.as_ref().unwrap());
        let args = container.args.unwrap();
        assert!(args.contains(&"--memory-limit=2048".into()), "{args:?}");
        assert!(args.contains(&"--max-item-size=1m".into()), "{args:?}");
        assert_eq!(container.ports.unwrap()[0].container_port, 11211);
        assert_eq!(
            container.readiness_probe.unwrap().tcp_socket.unwrap().port,
            IntOrString::String("client".into())
        );
        assert_eq!(
            container.resources.unwrap().requests.unwrap()["memory"].0,
            "2560Mi"
        );
    }

    #[test]
    fn clients_find_every_memcached_pod_by_dns_srv() {
        let stack = stack(json!({"memcached": {"enabled": true}}));
        let config: serde_json::Value =
            serde_yaml_ng::from_str(&client_config(&stack, Some("6h"))).unwrap();
        assert_eq!(config["type"], "MEMCACHED");
        assert_eq!(
            config["config"]["addresses"],
            json!(["dnssrv+_client._tcp.example-memcached.default.svc"])
        );
        assert_eq!(config["config"]["expiration"], "6h");
        let index: serde_json::Value =
            serde_yaml_ng::from_str(&client_config(&stack, None)).unwrap();
        assert!(index["config"].get("expiration").is_none());
    }
}
