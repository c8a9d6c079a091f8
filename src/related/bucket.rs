//! The bucket Secret: its format, from its key names only (a Thanos `objstore.yml` or the 2018 `s3_*` keys),
//! and a hash of its data for the pod templates. Values are read only to hash them, to check that the 2018
//! bucket and endpoint fit in one line of YAML, and to read the optional `s3_insecure` flag; no message quotes
//! one.

use std::collections::BTreeMap;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Bucket, OBJSTORE_KEY};
use crate::error::Problem;
use crate::spec::Stack;

/// The optional 2018-form key that turns on Thanos's S3 `insecure` (plain HTTP): `"true"` or `"false"`.
/// Not in the 2018 operator, which could not say it; a flag, not a credential, so its value is rendered.
pub const S3_INSECURE_KEY: &str = "s3_insecure";

/// The 2018 `s3_*` keys of the bucket Secret: the environment variable that carries each into the Thanos
/// containers, and the S3 config key it fills, if any.
///
/// The credentials stay out of the YAML: with no `access_key` in its config, Thanos's S3 provider reads
/// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` itself, so any byte of a credential works. The bucket and the
/// endpoint must be in the config; `objstore_args` quotes them.
pub const S3_KEYS: [(&str, &str, Option<&str>); 4] = [
    ("s3_bucket", "OBJSTORE_S3_BUCKET", Some("bucket")),
    ("s3_endpoint", "OBJSTORE_S3_ENDPOINT", Some("endpoint")),
    ("s3_access_key", "AWS_ACCESS_KEY_ID", None),
    ("s3_secret_key", "AWS_SECRET_ACCESS_KEY", None),
];

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
        let insecure = match keys
            .contains(&S3_INSECURE_KEY)
            .then(|| secret_value(secret, S3_INSECURE_KEY))
            .as_deref()
        {
            None | Some(b"false") => false,
            Some(b"true") => true,
            Some(_) => {
                return Err(Problem {
                    reason: "BucketSecretInvalid",
                    message: format!(
                        "{object} key {S3_INSECURE_KEY} must be \"true\" (plain HTTP to s3_endpoint) or \"false\""
                    ),
                });
            }
        };
        tracing::debug!("Using bucket parameters from {object} (2018 s3_* keys)");
        return Ok(Bucket::S3Keys {
            secret: stack.bucket_secret.clone(),
            insecure,
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::spec::testing::stack;

    /// A 2018 Secret (bucket `thanos`, endpoint `minio:9000`) with `extra` keys, as `stringData`.
    fn s3_secret(extra: &[(&str, &str)]) -> Value {
        let mut secret = json!({"stringData": {"s3_bucket": "thanos", "s3_endpoint": "minio:9000",
                                               "s3_access_key": "a", "s3_secret_key": "b"}});
        for (key, value) in extra {
            secret["stringData"][key] = json!(value);
        }
        secret
    }

    fn insecure(secret: &Value) -> Result<bool, Problem> {
        match bucket_format(&stack(json!({})), secret)? {
            Bucket::S3Keys { insecure, .. } => Ok(insecure),
            other => panic!("a 2018 Secret is read as such: {other:?}"),
        }
    }

    #[test]
    fn s3_insecure_is_optional_and_says_true_or_false() {
        assert_eq!(insecure(&s3_secret(&[])), Ok(false), "HTTPS by default");
        assert_eq!(insecure(&s3_secret(&[("s3_insecure", "true")])), Ok(true));
        assert_eq!(insecure(&s3_secret(&[("s3_insecure", "false")])), Ok(false));
        // As the API server sends it: base64 in `data`.
        let data = json!({"data": {"s3_bucket": "dGhhbm9z", "s3_endpoint": "bWluaW86OTAwMA==",
                                   "s3_access_key": "YQ==", "s3_secret_key": "Yg==", "s3_insecure": "dHJ1ZQ=="}});
        assert_eq!(insecure(&data), Ok(true));
    }

    #[test]
    fn any_other_s3_insecure_is_refused_naming_the_key_and_not_the_value() {
        for value in ["True", "yes", "1", "", " true", "true\n", "on"] {
            let problem = insecure(&s3_secret(&[("s3_insecure", value)])).unwrap_err();
            assert_eq!(problem.reason, "BucketSecretInvalid");
            assert_eq!(
                problem.message,
                "Secret default/bucket key s3_insecure must be \"true\" (plain HTTP to s3_endpoint) or \"false\"",
                "{value:?}"
            );
        }
    }

    #[test]
    fn s3_insecure_beside_objstore_yml_is_left_to_objstore_yml() {
        let mut secret = s3_secret(&[("s3_insecure", "maybe")]);
        secret["stringData"][OBJSTORE_KEY] = json!("type: S3\n");
        assert!(matches!(
            bucket_format(&stack(json!({})), &secret),
            Ok(Bucket::File { .. })
        ));
    }
}
