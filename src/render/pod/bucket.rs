//! How a Thanos container reaches the bucket: the Secret's `objstore.yml` mounted as a file, or the 2018
//! `s3_*` keys passed as environment references that Thanos expands itself, so that no credential appears in
//! the pod spec or the process arguments.

use k8s_openapi::api::core::v1::{
    EnvVar, EnvVarSource, KeyToPath, SecretKeySelector, SecretVolumeSource, Volume, VolumeMount,
};

use super::mount;
use crate::render::{Bucket, Sources};

/// Where the bucket Secret is mounted when it holds `objstore.yml`.
pub const OBJSTORE_DIR: &str = "/etc/thanos/objstore";
pub(super) const OBJSTORE_VOLUME: &str = "objstore";
/// The environment variables that carry the 2018 `s3_*` keys, in the order of the Secret's keys.
pub const S3_ENV: [(&str, &str, &str); 4] = [
    ("OBJSTORE_S3_BUCKET", "s3_bucket", "bucket"),
    ("OBJSTORE_S3_ENDPOINT", "s3_endpoint", "endpoint"),
    ("OBJSTORE_S3_ACCESS_KEY", "s3_access_key", "access_key"),
    ("OBJSTORE_S3_SECRET_KEY", "s3_secret_key", "secret_key"),
];

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

pub(super) fn objstore_env(sources: &Sources) -> Option<Vec<EnvVar>> {
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
