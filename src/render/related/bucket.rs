//! The bucket Secret: its format, from its key names only (a Thanos `objstore.yml` or the 2018 `s3_*` keys),
//! and a hash of its data for the pod templates. Values are read only to hash them and to check that the 2018
//! bucket and endpoint fit in one line of YAML; no message quotes one.

use std::collections::BTreeMap;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Bucket, OBJSTORE_KEY, Problem};
use crate::render::pod::S3_KEYS;
use crate::spec::Stack;

/// The format of the bucket Secret, from its key names only.
pub(super) fn bucket_format(stack: &Stack, secret: &Value) -> Result<Bucket, Problem> {
    let keys: Vec<&str> = ["data", "stringData"]
        .iter()
        .filter_map(|field| secret.get(*field).and_then(Value::as_object))
        .flat_map(|data| data.keys().map(String::as_str))
        .collect();
    let object = format!("Secret {}/{}", stack.namespace, stack.bucket_secret);
    if keys.contains(&OBJSTORE_KEY) {
        tracing::debug!("Using bucket parameters from {object} key {OBJSTORE_KEY}");
        return Ok(Bucket::File {
            secret: stack.bucket_secret.clone(),
            key: OBJSTORE_KEY.into(),
        });
    }
    let missing: Vec<&str> = S3_KEYS
        .iter()
        .map(|(key, _, _)| *key)
        .filter(|key| !keys.contains(key))
        .collect();
    if missing.is_empty() {
        // The bucket and the endpoint go into Thanos's YAML as block scalars, where only a line break (or a
        // character YAML cannot hold) means anything: refuse those, naming the key and never the value.
        for (key, _, in_config) in S3_KEYS {
            if in_config.is_some() && !one_printable_line(&secret_value(secret, key)) {
                return Err(Problem {
                    reason: "BucketSecretInvalid",
                    message: format!(
                        "{object} key {key} must be one line of UTF-8 text without control characters"
                    ),
                });
            }
        }
        tracing::debug!("Using bucket parameters from {object} (2018 s3_* keys)");
        return Ok(Bucket::S3Keys {
            secret: stack.bucket_secret.clone(),
        });
    }
    let message = if missing.len() < S3_KEYS.len() {
        format!(
            "{object} has 2018 s3_* keys but lacks {}",
            missing.join(", ")
        )
    } else {
        format!(
            "{object} has neither the key {OBJSTORE_KEY} nor the 2018 keys s3_bucket, s3_endpoint, s3_access_key, s3_secret_key"
        )
    };
    Err(Problem {
        reason: "BucketSecretInvalid",
        message,
    })
}

/// The bytes of a Secret's key: `stringData` as written, `data` decoded from base64 (empty when it does not
/// decode, which no API server sends).
pub(super) fn secret_value(secret: &Value, key: &str) -> Vec<u8> {
    if let Some(text) = secret
        .pointer(&format!("/stringData/{key}"))
        .and_then(Value::as_str)
    {
        return text.as_bytes().to_vec();
    }
    secret
        .pointer(&format!("/data/{key}"))
        .and_then(|value| serde_json::from_value::<k8s_openapi::ByteString>(value.clone()).ok())
        .map(|bytes| bytes.0)
        .unwrap_or_default()
}

/// UTF-8 without line breaks and without characters outside YAML's printable set.
pub(super) fn one_printable_line(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes).is_ok_and(|text| {
        text.chars().all(|c| {
            c == '\t'
                || !(c.is_control()
                    || matches!(
                        c,
                        '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
                    ))
        })
    })
}

/// SHA-256 over the Secret's keys and values, never the values themselves: a new credential rolls the pods.
/// Keys are hashed in sorted order, so the hash does not depend on the order of the request.
pub(super) fn hash_secret(secret: &Value) -> String {
    let mut entries: BTreeMap<(&str, &str), &str> = BTreeMap::new();
    for field in ["data", "stringData"] {
        for (key, value) in secret
            .get(field)
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            entries.insert((field, key.as_str()), value.as_str().unwrap_or_default());
        }
    }
    let mut hasher = Sha256::new();
    for ((field, key), value) in entries {
        for part in [field, key, value] {
            hasher.update(part.as_bytes());
            hasher.update([0]);
        }
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
