//! How a Thanos container reaches the bucket: the Secret's `objstore.yml` mounted as a file, or the 2018
//! `s3_*` keys passed as environment variables (the credentials as the S3 provider's own `AWS_*`, the bucket
//! and endpoint as references that Thanos expands itself), so that no value appears in the pod spec or the
//! process arguments.

use k8s_openapi::api::core::v1::{
    EnvVar, EnvVarSource, KeyToPath, SecretKeySelector, SecretVolumeSource, Volume, VolumeMount,
};

use super::mount;
use crate::related::{Bucket, S3_KEYS, Sources};

/// Where the bucket Secret is mounted when it holds `objstore.yml`.
pub const OBJSTORE_DIR: &str = "/etc/thanos/objstore";
pub(super) const OBJSTORE_VOLUME: &str = "objstore";

/// The volume that holds the bucket Secret, when it is mounted as a file.
pub fn objstore_volume(sources: &Sources) -> Option<Volume> {
    match &sources.bucket {
        Bucket::File { secret, key } => Some(Volume {
            name: OBJSTORE_VOLUME.into(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(secret.clone()),
                items: Some(vec![KeyToPath {
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

pub(super) fn objstore_mount(sources: &Sources) -> Option<VolumeMount> {
    matches!(sources.bucket, Bucket::File { .. })
        .then(|| mount(OBJSTORE_VOLUME, OBJSTORE_DIR, true))
}

pub(super) fn objstore_args(sources: &Sources) -> Vec<String> {
    match &sources.bucket {
        Bucket::File { .. } => vec![format!(
            "--objstore.config-file={OBJSTORE_DIR}/objstore.yml"
        )],
        Bucket::S3Keys { insecure, .. } => {
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
            // Absent means false, Thanos's default: a Secret without the key renders as before.
            if *insecure {
                config.push_str("  insecure: true\n");
            }
            vec![format!("--objstore.config={config}")]
        }
    }
}

pub(super) fn objstore_env(sources: &Sources) -> Option<Vec<EnvVar>> {
    match &sources.bucket {
        Bucket::File { .. } => None,
        Bucket::S3Keys { secret, .. } => Some(
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
