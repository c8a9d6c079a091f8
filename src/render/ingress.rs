//! Ingresses, only with `baseDomain`: `<name>-query.<baseDomain>`, and `<name>-prometheus.<baseDomain>` with
//! `ingress.exposePrometheus` (its API has no authentication, so not by default), `<name>-grafana.<baseDomain>`
//! with Grafana. Each Ingress names its own host only, with `ingress.tlsSecretName` (one Secret for all) or,
//! with `ingress.tlsPerHost`, a Secret of its own, as cert-manager's ingress-shim needs.

use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, IngressTLS, ServiceBackendPort,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::meta;
use crate::names::{self, Component, Names};
use crate::spec::Stack;

/// The Ingress of the querier or of Prometheus, routing `/` of its host to the component's Service; the
/// querier's host goes to the query frontend when it runs.
pub fn ingress(stack: &Stack, component: Component, base_domain: &str) -> Ingress {
    let names = Names::new(stack);
    let host = names::host(stack, component, base_domain);
    let port = match component {
        Component::Prometheus => "web",
        _ => "http",
    };
    let backend = match component {
        Component::Query if stack.query_frontend.is_some() => Component::QueryFrontend,
        other => other,
    };
    let metadata = ObjectMeta {
        annotations: (!stack.ingress.annotations.is_empty())
            .then(|| stack.ingress.annotations.clone()),
        ..meta::metadata(stack, component, names.ingress(component))
    };
    Ingress {
        metadata,
        spec: Some(IngressSpec {
            ingress_class_name: stack.ingress.class_name.clone(),
            tls: stack
                .ingress
                .tls_secret(&names.ingress(component))
                .map(|secret| {
                    vec![IngressTLS {
                        hosts: Some(vec![host.clone()]),
                        secret_name: Some(secret),
                    }]
                }),
            rules: Some(vec![IngressRule {
                host: Some(host),
                http: Some(HTTPIngressRuleValue {
                    paths: vec![HTTPIngressPath {
                        path: Some("/".into()),
                        path_type: "Prefix".into(),
                        backend: IngressBackend {
                            service: Some(IngressServiceBackend {
                                name: names.workload(backend),
                                port: Some(ServiceBackendPort {
                                    name: Some(port.into()),
                                    ..Default::default()
                                }),
                            }),
                            ..Default::default()
                        },
                    }],
                }),
            }]),
            ..Default::default()
        }),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::{exposed, external_url};
    use crate::render::testing::stack;

    #[test]
    fn the_query_ingress_routes_its_host_to_the_query_service() {
        let stack = stack(
            serde_json::json!({"baseDomain": "example.org", "queryFrontend": {"enabled": false},
            "ingress": {"className": "nginx", "tlsSecretName": "tls", "annotations": {"a": "b"}}}),
        );
        let ingress = ingress(&stack, Component::Query, "example.org");
        assert_eq!(ingress.metadata.name.as_deref(), Some("example-query"));
        assert_eq!(ingress.metadata.annotations.unwrap()["a"], "b");
        let spec = ingress.spec.unwrap();
        assert_eq!(spec.ingress_class_name.as_deref(), Some("nginx"));
        let rule = &spec.rules.unwrap()[0];
        assert_eq!(rule.host.as_deref(), Some("example-query.example.org"));
        let backend = rule.http.as_ref().unwrap().paths[0]
            .backend
            .service
            .clone()
            .unwrap();
        assert_eq!(backend.name, "example-thanos-query");
        assert_eq!(backend.port.unwrap().name.as_deref(), Some("http"));
        let tls = &spec.tls.unwrap()[0];
        assert_eq!(
            tls.hosts.as_deref(),
            Some(&["example-query.example.org".to_string()][..])
        );
        assert_eq!(tls.secret_name.as_deref(), Some("tls"));
    }

    #[test]
    fn the_query_host_goes_to_the_frontend_when_it_runs() {
        let stack = stack(serde_json::json!({"baseDomain": "example.org"}));
        let ingress = ingress(&stack, Component::Query, "example.org");
        let rule = &ingress.spec.unwrap().rules.unwrap()[0];
        assert_eq!(rule.host.as_deref(), Some("example-query.example.org"));
        let backend = rule.http.as_ref().unwrap().paths[0]
            .backend
            .service
            .clone()
            .unwrap();
        assert_eq!(backend.name, "example-thanos-query-frontend");
        assert_eq!(backend.port.unwrap().name.as_deref(), Some("http"));
    }

    #[test]
    fn with_tls_per_host_each_ingress_has_a_secret_of_its_own() {
        let stack = stack(serde_json::json!({"baseDomain": "example.org",
            "grafana": {"enabled": true, "adminSecret": "admin"},
            "ingress": {"tlsPerHost": true, "exposePrometheus": true}}));
        let secrets: Vec<(String, String)> = exposed(&stack)
            .into_iter()
            .map(|component| {
                let tls = ingress(&stack, component, "example.org")
                    .spec
                    .unwrap()
                    .tls
                    .unwrap();
                assert_eq!(tls.len(), 1);
                (
                    tls[0].hosts.clone().unwrap().join(","),
                    tls[0].secret_name.clone().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            secrets,
            [
                (
                    "example-query.example.org".into(),
                    "example-query-tls".into()
                ),
                (
                    "example-prometheus.example.org".into(),
                    "example-prometheus-tls".into()
                ),
                (
                    "example-grafana.example.org".into(),
                    "example-grafana-tls".into()
                ),
            ]
        );
        assert_eq!(
            external_url(&stack, Component::Prometheus).as_deref(),
            Some("https://example-prometheus.example.org")
        );
    }

    #[test]
    fn prometheus_is_exposed_only_on_request() {
        let plain = stack(serde_json::json!({"baseDomain": "example.org"}));
        assert_eq!(exposed(&plain), [Component::Query]);
        assert_eq!(external_url(&plain, Component::Prometheus), None);
        assert_eq!(
            external_url(&plain, Component::Query).as_deref(),
            Some("http://example-query.example.org")
        );
        let opted = stack(serde_json::json!({"baseDomain": "example.org",
            "ingress": {"exposePrometheus": true}}));
        assert_eq!(exposed(&opted), [Component::Query, Component::Prometheus]);
        let no_domain = stack(serde_json::json!({"ingress": {"exposePrometheus": true}}));
        assert!(exposed(&no_domain).is_empty());
        assert_eq!(external_url(&no_domain, Component::Prometheus), None);
    }

    #[test]
    fn without_ingress_settings_there_is_no_class_tls_or_annotations() {
        let stack = stack(serde_json::json!({"baseDomain": "example.org"}));
        let ingress = ingress(&stack, Component::Prometheus, "example.org");
        assert!(ingress.metadata.annotations.is_none());
        let spec = ingress.spec.unwrap();
        assert!(spec.ingress_class_name.is_none() && spec.tls.is_none());
        let rule = &spec.rules.unwrap()[0];
        assert_eq!(
            rule.http.as_ref().unwrap().paths[0]
                .backend
                .service
                .as_ref()
                .unwrap()
                .name,
            "example-prometheus"
        );
    }
}
