//! The Grafana container: admin credentials from `grafana.adminSecret`, anonymous access and sign-up off, the
//! stack's datasource provisioned and its dashboard as the home dashboard, a read-only root filesystem with
//! empty directories for what Grafana writes.

use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, Container, EmptyDirVolumeSource, EnvVar, EnvVarSource,
    SecretKeySelector, Volume,
};

use super::{DATA_VOLUME, SERVICE_DRAIN_SECONDS, drain, mount, port, probe, secure_container};
use crate::names::{GRAFANA_PORT, Names};
use crate::render::grafana::DASHBOARD_KEY;
use crate::spec::{Grafana, Stack};

const DATA_DIR: &str = "/var/lib/grafana";
const DATASOURCES_DIR: &str = "/etc/grafana/provisioning/datasources";
const DASHBOARDS_DIR: &str = "/etc/grafana/dashboards";
const TMP_VOLUME: &str = "tmp";
const DATASOURCES_VOLUME: &str = "datasources";
const DASHBOARDS_VOLUME: &str = "dashboards";

/// The Grafana container.
pub fn grafana(stack: &Stack, grafana: &Grafana) -> Container {
    let secret = |name: &str, key: &str| EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: grafana.admin_secret.clone(),
                key: key.into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let value = |name: &str, value: &str| EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..Default::default()
    };
    Container {
        name: "grafana".into(),
        image: Some(grafana.image.clone()),
        env: Some(vec![
            secret("GF_SECURITY_ADMIN_USER", "admin-user"),
            secret("GF_SECURITY_ADMIN_PASSWORD", "admin-password"),
            value("GF_AUTH_ANONYMOUS_ENABLED", "false"),
            value("GF_USERS_ALLOW_SIGN_UP", "false"),
            value("GF_ANALYTICS_REPORTING_ENABLED", "false"),
            value("GF_ANALYTICS_CHECK_FOR_UPDATES", "false"),
            value("GF_PATHS_DATA", DATA_DIR),
            value(
                "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH",
                &format!("{DASHBOARDS_DIR}/{DASHBOARD_KEY}"),
            ),
        ]),
        ports: Some(vec![port("http", GRAFANA_PORT)]),
        readiness_probe: Some(probe("/api/health", "http", 3)),
        liveness_probe: Some(probe("/api/health", "http", 6)),
        // Reached through its Service and Ingress: it serves until they have let go of it.
        lifecycle: Some(drain(SERVICE_DRAIN_SECONDS)),
        resources: Some(stack.resources.grafana.clone()),
        volume_mounts: Some(vec![
            mount(DATA_VOLUME, DATA_DIR, false),
            mount(TMP_VOLUME, "/tmp", false),
            mount(DATASOURCES_VOLUME, DATASOURCES_DIR, true),
            mount(DASHBOARDS_VOLUME, DASHBOARDS_DIR, true),
        ]),
        ..secure_container()
    }
}

/// Grafana's volumes: empty directories for its database and temporary files, the stack's ConfigMaps.
pub fn grafana_volumes(stack: &Stack) -> Vec<Volume> {
    let names = Names::new(stack);
    let empty = |name: &str| Volume {
        name: name.into(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Default::default()
    };
    let config_map = |name: &str, config_map: String| Volume {
        name: name.into(),
        config_map: Some(ConfigMapVolumeSource {
            name: config_map,
            ..Default::default()
        }),
        ..Default::default()
    };
    vec![
        empty(DATA_VOLUME),
        empty(TMP_VOLUME),
        config_map(DATASOURCES_VOLUME, names.grafana_datasources()),
        config_map(DASHBOARDS_VOLUME, names.grafana_dashboards()),
    ]
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::render::testing::stack;

    #[test]
    fn grafana_takes_its_admin_from_the_secret_and_allows_no_anonymous_access() {
        let stack = stack(json!({"grafana": {"enabled": true, "adminSecret": "grafana-admin"}}));
        let container = grafana(&stack, stack.grafana.as_ref().unwrap());
        let env = container.env.unwrap();
        let from_secret: Vec<(&str, &str)> = env
            .iter()
            .filter_map(|e| {
                let key = e.value_from.as_ref()?.secret_key_ref.as_ref()?;
                Some((key.name.as_str(), key.key.as_str()))
            })
            .collect();
        assert_eq!(
            from_secret,
            [
                ("grafana-admin", "admin-user"),
                ("grafana-admin", "admin-password")
            ]
        );
        let anonymous = env
            .iter()
            .find(|e| e.name == "GF_AUTH_ANONYMOUS_ENABLED")
            .unwrap();
        assert_eq!(anonymous.value.as_deref(), Some("false"));
        let security = container.security_context.unwrap();
        assert_eq!(security.read_only_root_filesystem, Some(true));
        let volumes = grafana_volumes(&stack);
        assert!(
            volumes
                .iter()
                .any(|v| v.config_map.as_ref().map(|c| c.name.as_str())
                    == Some("example-grafana-dashboards"))
        );
    }
}
