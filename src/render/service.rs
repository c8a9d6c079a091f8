//! Services: ClusterIP ones for people and dashboards, headless ones for DNS SRV discovery.

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::meta;
use super::pod::MEMCACHED_PORT_NAME;
use crate::names::{self, Component, Names};
use crate::names::{GRAFANA_PORT, GRPC_PORT, HTTP_PORT, PROMETHEUS_PORT};
use crate::spec::{MEMCACHED_PORT, Stack};

/// `<name>-prometheus`: Prometheus's web port and the sidecar's HTTP port.
///
/// Each client stays on one replica (`sessionAffinity: ClientIP`): the replicas scrape at different moments
/// and hold different samples, so a UI spread over them shows other data on every refresh. The querier is the
/// deduplicated view of all of them.
pub fn prometheus(stack: &Stack) -> Service {
    let name = Names::new(stack).workload(Component::Prometheus);
    let mut service = service(
        stack,
        Component::Prometheus,
        name,
        false,
        vec![
            port("web", PROMETHEUS_PORT, "web"),
            port("sidecar-http", HTTP_PORT, "http"),
        ],
    );
    if let Some(spec) = service.spec.as_mut() {
        spec.session_affinity = Some("ClientIP".into());
    }
    service
}

/// `<name>-thanos-peers`: headless, the sidecars' gRPC ports; the querier finds every replica through its
/// SRV records (a ClusterIP Service would yield one pod only). Self-monitoring finds Prometheus (`web`) and
/// the sidecars (`http`) the same way.
pub fn peers(stack: &Stack) -> Service {
    let name = Names::new(stack).peers();
    service(
        stack,
        Component::Prometheus,
        name,
        true,
        vec![
            port("grpc", GRPC_PORT, "grpc"),
            port("web", PROMETHEUS_PORT, "web"),
            port("http", HTTP_PORT, "http"),
        ],
    )
}

/// `<name>-thanos-query-sd`, `<name>-thanos-query-frontend-sd`, `<name>-grafana-sd`: headless, the HTTP port
/// of a component whose own Service has a virtual IP, so that self-monitoring scrapes each pod (only with
/// `monitoring.enabled`).
pub fn discovery(stack: &Stack, component: Component) -> Service {
    let name = Names::new(stack).discovery(component);
    let number = if component == Component::Grafana {
        GRAFANA_PORT
    } else {
        HTTP_PORT
    };
    service(
        stack,
        component,
        name,
        true,
        vec![port("http", number, "http")],
    )
}

/// `<name>-grafana`: Grafana's UI and API.
pub fn grafana(stack: &Stack) -> Service {
    let name = Names::new(stack).workload(Component::Grafana);
    service(
        stack,
        Component::Grafana,
        name,
        false,
        vec![port("http", GRAFANA_PORT, "http")],
    )
}

/// `<name>-thanos-store`: headless, the store gateway's gRPC and HTTP ports.
pub fn store(stack: &Stack) -> Service {
    let name = Names::new(stack).workload(Component::Store);
    service(
        stack,
        Component::Store,
        name,
        true,
        vec![
            port("grpc", GRPC_PORT, "grpc"),
            port("http", HTTP_PORT, "http"),
        ],
    )
}

/// `<name>-thanos-query`: the querier's HTTP API (and gRPC for other queriers).
pub fn query(stack: &Stack) -> Service {
    let name = Names::new(stack).workload(Component::Query);
    service(
        stack,
        Component::Query,
        name,
        false,
        vec![
            port("http", HTTP_PORT, "http"),
            port("grpc", GRPC_PORT, "grpc"),
        ],
    )
}

/// `<name>-thanos-query-frontend`: the frontend's HTTP API, the stack's query entry point.
pub fn query_frontend(stack: &Stack) -> Service {
    let name = Names::new(stack).workload(Component::QueryFrontend);
    service(
        stack,
        Component::QueryFrontend,
        name,
        false,
        vec![port("http", HTTP_PORT, "http")],
    )
}

/// `<name>-memcached`: headless, memcached's client port; the Thanos clients resolve its SRV records
/// (`dnssrv+_client._tcp`) and spread the keys over every ready pod.
pub fn memcached(stack: &Stack) -> Service {
    let name = Names::new(stack).workload(Component::Memcached);
    service(
        stack,
        Component::Memcached,
        name,
        true,
        vec![port(
            MEMCACHED_PORT_NAME,
            MEMCACHED_PORT,
            MEMCACHED_PORT_NAME,
        )],
    )
}

/// `<name>-thanos-compact`: headless, the compactor's HTTP port; it governs the compactor StatefulSet.
pub fn compact(stack: &Stack) -> Service {
    let name = Names::new(stack).workload(Component::Compact);
    service(
        stack,
        Component::Compact,
        name,
        true,
        vec![port("http", HTTP_PORT, "http")],
    )
}

fn service(
    stack: &Stack,
    component: Component,
    name: String,
    headless: bool,
    ports: Vec<ServicePort>,
) -> Service {
    Service {
        metadata: meta::metadata(stack, component, name),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            cluster_ip: headless.then(|| "None".into()),
            selector: Some(names::selector_labels(stack, component)),
            ports: Some(ports),
            ..Default::default()
        }),
        status: None,
    }
}

fn port(name: &str, number: i32, target: &str) -> ServicePort {
    ServicePort {
        name: Some(name.into()),
        port: number,
        target_port: Some(IntOrString::String(target.into())),
        protocol: Some("TCP".into()),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::testing::stack;

    #[test]
    fn discovery_services_are_headless_with_a_grpc_port() {
        let stack = stack(serde_json::json!({}));
        for service in [
            discovery(&stack, Component::Query),
            discovery(&stack, Component::QueryFrontend),
        ] {
            let spec = service.spec.unwrap();
            assert_eq!(spec.cluster_ip.as_deref(), Some("None"));
            assert_eq!(spec.ports.unwrap()[0].name.as_deref(), Some("http"));
        }
        for service in [peers(&stack), store(&stack)] {
            let spec = service.spec.unwrap();
            assert_eq!(spec.cluster_ip.as_deref(), Some("None"));
            assert!(
                spec.ports
                    .unwrap()
                    .iter()
                    .any(|p| p.name.as_deref() == Some("grpc"))
            );
        }
        for service in [query(&stack), query_frontend(&stack)] {
            assert!(
                service.spec.unwrap().cluster_ip.is_none(),
                "the querier and the frontend get a virtual IP"
            );
        }
    }

    #[test]
    fn the_prometheus_service_exposes_the_web_and_sidecar_ports() {
        let ports = prometheus(&stack(serde_json::json!({})))
            .spec
            .unwrap()
            .ports
            .unwrap();
        let ports: Vec<(i32, String)> = ports
            .into_iter()
            .map(|p| (p.port, p.name.unwrap()))
            .collect();
        assert_eq!(
            ports,
            [(9090, "web".into()), (10902, "sidecar-http".into())]
        );
    }

    #[test]
    fn the_prometheus_service_keeps_a_browser_on_one_replica() {
        let stack = stack(serde_json::json!({"highlyAvailable": true}));
        let affinity = |service: Service| service.spec.unwrap().session_affinity;
        assert_eq!(affinity(prometheus(&stack)).as_deref(), Some("ClientIP"));
        // The querier deduplicates: any of its replicas gives the same answer.
        assert_eq!(affinity(query(&stack)), None);
    }
}
