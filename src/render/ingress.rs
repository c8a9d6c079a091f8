//! Ingresses, only with `baseDomain`: `<name>-query.<baseDomain>` and `<name>-prometheus.<baseDomain>`.

use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, IngressTLS, ServiceBackendPort,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::meta::{self, Component, Names};
use crate::spec::Stack;

/// The host of a component's Ingress.
pub fn host(stack: &Stack, component: Component, base_domain: &str) -> String {
    format!("{}.{base_domain}", Names::new(stack).ingress(component))
}

/// The Ingress of the querier or of Prometheus, routing `/` of its host to the component's Service.
pub fn ingress(stack: &Stack, component: Component, base_domain: &str) -> Ingress {
    let names = Names::new(stack);
    let host = host(stack, component, base_domain);
    let port = match component {
        Component::Prometheus => "web",
        _ => "http",
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
            tls: stack.ingress.tls_secret_name.as_ref().map(|secret| {
                vec![IngressTLS {
                    hosts: Some(vec![host.clone()]),
                    secret_name: Some(secret.clone()),
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
                                name: names.workload(component),
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
