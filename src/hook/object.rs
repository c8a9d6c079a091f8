//! One observed object, read in one pass.

use std::fmt;

use k8s_openapi::jiff::Timestamp;
use serde::de::{DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use serde_json::value::RawValue;

/// One observed object, kept as JSON text without what no reader needs.
///
/// Big clusters send every child with its managedFields and last-applied annotation (Metacontroller's own,
/// and kubectl's where someone applied by hand), and the hook reads a few fields of a few objects. Building
/// every object into a [`Value`] tree was most of the cost of a large request, and parsing the whole text
/// again for every reader was most of the rest: the annotation is the object again, escaped. So the object is
/// read once, as it arrives: its name, namespace and [`newest_time`] are taken, `metadata.managedFields` and
/// the `*/last-applied-configuration` annotations are left out, and everything else is kept as the text it
/// arrived in, for each reader to parse only the fields it names ([`Object::read`]).
#[derive(Debug, Clone)]
pub struct Object {
    /// `metadata.name`, read once: every lookup needs it.
    name: Option<String>,
    /// `metadata.namespace`, read with the name: related objects may come from every namespace.
    namespace: Option<String>,
    /// [`newest_time`] of the object, read in the same pass as the name: the status needs it of every child.
    newest: Option<Timestamp>,
    /// The object as it arrived, without managedFields and last-applied annotations.
    json: Box<str>,
}

impl Object {
    /// `metadata.name`, when it is a string.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// `metadata.namespace`, when it is a string (cluster-scoped objects have none).
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// The newest of the object's times (see [`newest_time`]).
    pub fn newest_time(&self) -> Option<Timestamp> {
        self.newest
    }

    /// The object read as `T`, a type that names only the fields the caller reads. `metadata.managedFields`
    /// and the last-applied annotations are not there.
    pub fn read<T: DeserializeOwned>(&self) -> serde_json::Result<T> {
        serde_json::from_str(&self.json)
    }

    /// A value that is not a JSON object: no name, which `check_shape` refuses.
    fn shapeless() -> Self {
        Self {
            name: None,
            namespace: None,
            newest: None,
            json: "null".into(),
        }
    }
}

/// The newest of an object's `metadata.creationTimestamp`, `metadata.managedFields[].time` and
/// `status.conditions[].lastTransitionTime`/`lastUpdateTime`; values that are not timestamps are skipped.
pub fn newest_time(object: &Value) -> Option<Timestamp> {
    let entries = |pointer| {
        object
            .pointer(pointer)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
    };
    std::iter::once(object.pointer("/metadata/creationTimestamp"))
        .chain(entries("/metadata/managedFields").map(|entry| entry.get("time")))
        .chain(entries("/status/conditions").flat_map(|condition| {
            [
                condition.get("lastTransitionTime"),
                condition.get("lastUpdateTime"),
            ]
        }))
        .filter_map(|time| time.and_then(Value::as_str)?.parse().ok())
        .max()
}

/// Annotations that hold a whole earlier version of the object: Metacontroller's
/// `metacontroller.k8s.io/last-applied-configuration` and kubectl's
/// `kubectl.kubernetes.io/last-applied-configuration`.
fn last_applied(key: &str) -> bool {
    key.ends_with("/last-applied-configuration")
}

/// Accept every JSON value that is not an object as `$value`, reading past it: a field of another shape than
/// Kubernetes writes is not this module's to refuse (readers and `check_shape` do, with the field's name).
macro_rules! other_shapes_as {
    ($value:expr) => {
        fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_some<D: Deserializer<'de>>(self, inner: D) -> Result<Self::Value, D::Error> {
            IgnoredAny::deserialize(inner)?;
            Ok($value)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok($value)
        }
    };
}

impl<'de> Deserialize<'de> for Object {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ObjectVisitor)
    }
}

struct ObjectVisitor;

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = Object;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Kubernetes object")
    }

    other_shapes_as!(Object::shapeless());

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Object, A::Error> {
        let mut out = Members::default();
        let mut head = Head::default();
        let mut conditions = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "metadata" => {
                    // As when the object is read whole: a later `metadata` replaces an earlier one.
                    head = Head::default();
                    let metadata = map.next_value_seed(MetadataSeed(&mut head))?;
                    out.member(&key, metadata.as_deref().unwrap_or("null"));
                }
                _ => {
                    let value = map.next_value::<Box<RawValue>>()?;
                    if key == "status" {
                        conditions = Some(condition_times(value.get()));
                    }
                    out.member(&key, value.get());
                }
            }
        }
        Ok(Object {
            newest: [head.created, head.managed, conditions.flatten()]
                .into_iter()
                .max()
                .flatten(),
            name: head.name,
            namespace: head.namespace,
            json: out.end().into(),
        })
    }
}

/// What is taken of `metadata` while it is read. Each field is the last of its key, as when the object is
/// read whole.
#[derive(Default)]
struct Head {
    name: Option<String>,
    namespace: Option<String>,
    created: Option<Timestamp>,
    /// The newest of the managedFields' times.
    managed: Option<Timestamp>,
}

/// The members of a JSON object, written one by one.
#[derive(Default)]
struct Members(String);

impl Members {
    fn member(&mut self, key: &str, value: &str) {
        self.0.push(if self.0.is_empty() { '{' } else { ',' });
        // Keys are plain words in Kubernetes objects; any other is written by serde_json, which escapes it.
        if key.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
            self.0.push('"');
            self.0.push_str(key);
            self.0.push('"');
        } else {
            self.0.push_str(&Value::from(key).to_string());
        }
        self.0.push(':');
        self.0.push_str(value);
    }

    fn end(mut self) -> String {
        if self.0.is_empty() {
            self.0.push('{');
        }
        self.0.push('}');
        self.0
    }
}

/// `metadata`, as the JSON text to keep (None when it is not an object), taking the [`Head`] on the way.
struct MetadataSeed<'h>(&'h mut Head);

impl<'de> DeserializeSeed<'de> for MetadataSeed<'_> {
    type Value = Option<String>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MetadataSeed<'_> {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("object metadata")
    }

    other_shapes_as!(None);

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let head = self.0;
        let mut out = Members::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "managedFields" => {
                    let value = map.next_value::<Box<RawValue>>()?;
                    head.managed = managed_fields_times(value.get());
                }
                "annotations" => {
                    if let Some(kept) = map.next_value_seed(AnnotationsSeed)? {
                        out.member(&key, &kept);
                    }
                }
                _ => {
                    let value = map.next_value::<Box<RawValue>>()?;
                    let text = || serde_json::from_str::<String>(value.get()).ok();
                    match key.as_str() {
                        "name" => head.name = text(),
                        "namespace" => head.namespace = text(),
                        "creationTimestamp" => {
                            head.created = text().and_then(|time| time.parse().ok());
                        }
                        _ => {}
                    }
                    out.member(&key, value.get());
                }
            }
        }
        Ok(Some(out.end()))
    }
}

/// `metadata.annotations` without the last-applied ones, as JSON text (None when it is not an object).
struct AnnotationsSeed;

impl<'de> DeserializeSeed<'de> for AnnotationsSeed {
    type Value = Option<String>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for AnnotationsSeed {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("annotations")
    }

    other_shapes_as!(None);

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Members::default();
        while let Some(key) = map.next_key::<String>()? {
            if last_applied(&key) {
                map.next_value::<IgnoredAny>()?;
            } else {
                out.member(&key, map.next_value::<Box<RawValue>>()?.get());
            }
        }
        Ok(Some(out.end()))
    }
}

/// The newest `time` of the managedFields' entries, read in one pass where Kubernetes wrote them (times are
/// borrowed: it writes them without escapes) and as a [`Value`] otherwise, skipping what is not a time.
fn managed_fields_times(json: &str) -> Option<Timestamp> {
    typed(json, Entries(&["time"])).unwrap_or_else(|| {
        newest_time(&serde_json::json!({
            "metadata": {"managedFields": serde_json::from_str::<Value>(json).ok()}
        }))
    })
}

/// The newest time of `status.conditions`, read as [`managed_fields_times`] reads the managedFields.
fn condition_times(json: &str) -> Option<Timestamp> {
    typed(json, Status).unwrap_or_else(|| {
        newest_time(&serde_json::json!({"status": serde_json::from_str::<Value>(json).ok()}))
    })
}

/// `seed` over all of `json`; None when it does not fit.
fn typed<'de, S: DeserializeSeed<'de, Value = Option<Timestamp>>>(
    json: &'de str,
    seed: S,
) -> Option<Option<Timestamp>> {
    let mut deserializer = serde_json::Deserializer::from_str(json);
    let newest = seed.deserialize(&mut deserializer).ok()?;
    deserializer.end().ok()?;
    Some(newest)
}

/// `status`, for the newest time of its conditions.
struct Status;

impl<'de> DeserializeSeed<'de> for Status {
    type Value = Option<Timestamp>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Status {
    type Value = Option<Timestamp>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a status")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut newest = None;
        while let Some(key) = map.next_key::<&str>()? {
            newest = if key == "conditions" {
                // A later `conditions` replaces an earlier one.
                map.next_value_seed(Entries(&["lastTransitionTime", "lastUpdateTime"]))?
            } else {
                map.next_value::<IgnoredAny>()?;
                newest
            };
        }
        Ok(newest)
    }
}

/// A list of objects, for the newest of their times named by the keys. Only objects: serde's derived structs
/// would take an array too, by position.
struct Entries(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for Entries {
    type Value = Option<Timestamp>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Entries {
    type Value = Option<Timestamp>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut newest = None;
        while let Some(time) = seq.next_element_seed(Entry(self.0))? {
            newest = newest.max(time);
        }
        Ok(newest)
    }
}

/// One object of [`Entries`].
struct Entry(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for Entry {
    type Value = Option<Timestamp>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Entry {
    type Value = Option<Timestamp>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut times = Vec::new();
        while let Some(key) = map.next_key::<&str>()? {
            if self.0.contains(&key) {
                // A later duplicate replaces an earlier one.
                times.retain(|(k, _)| *k != key);
                times.push((key, map.next_value::<Option<&str>>()?));
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(times
            .into_iter()
            .filter_map(|(_, time)| time?.parse().ok())
            .max())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn decode(value: &Value) -> Object {
        serde_json::from_str(&value.to_string()).unwrap()
    }

    /// What [`Object::read`] must see of `object`: all of it but managedFields and last-applied annotations
    /// (and `metadata` of another shape than an object, which `check_shape` refuses anyway, as null).
    fn kept(object: &Value) -> Value {
        let mut kept = object.clone();
        if let Some(metadata) = kept.get_mut("metadata").filter(|m| !m.is_object()) {
            *metadata = Value::Null;
        }
        if let Some(metadata) = kept.get_mut("metadata").and_then(Value::as_object_mut) {
            metadata.remove("managedFields");
            match metadata.get_mut("annotations") {
                Some(Value::Object(annotations)) => annotations.retain(|key, _| !last_applied(key)),
                Some(_) => {
                    metadata.remove("annotations");
                }
                None => {}
            }
        }
        kept
    }

    #[test]
    fn a_stored_object_keeps_all_but_its_managed_fields_and_last_applied_annotations() {
        let object = json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {
                "name": "example-prometheus", "namespace": "monitoring",
                "creationTimestamp": "2026-01-01T00:00:00Z",
                "annotations": {
                    "metacontroller.k8s.io/last-applied-configuration": "{\"spec\":{\"replicas\":2}}",
                    "kubectl.kubernetes.io/last-applied-configuration": "{}",
                    "team": "observability",
                },
                "managedFields": [{"manager": "metacontroller", "time": "2026-01-03T00:00:00Z",
                                   "fieldsV1": {"f:spec": {"f:replicas": {}}}}],
            },
            "spec": {"replicas": 2},
            "status": {"conditions": [{"lastTransitionTime": "2026-01-02T00:00:00Z"}]},
        });
        let decoded = decode(&object);
        assert_eq!(decoded.name(), Some("example-prometheus"));
        assert_eq!(decoded.namespace(), Some("monitoring"));
        assert_eq!(
            decoded.newest_time().unwrap().to_string(),
            "2026-01-03T00:00:00Z"
        );
        let read: Value = decoded.read().unwrap();
        assert_eq!(
            read["metadata"]["annotations"],
            json!({"team": "observability"})
        );
        assert!(read["metadata"].get("managedFields").is_none());
        assert_eq!(read["spec"], json!({"replicas": 2}));
        assert_eq!(read, kept(&object));
    }

    #[test]
    fn a_later_duplicate_key_wins_as_when_the_object_is_read_whole() {
        let decoded: Object = serde_json::from_str(
            r#"{"metadata": {"name": "a", "namespace": "x"}, "metadata": {"name": "b"}}"#,
        )
        .unwrap();
        assert_eq!(decoded.name(), Some("b"));
        assert_eq!(decoded.namespace(), None);
        let decoded: Object =
            serde_json::from_str(r#"{"metadata": {"name": "a", "name": "c"}}"#).unwrap();
        assert_eq!(decoded.name(), Some("c"));
        let decoded: Object = serde_json::from_str(
            r#"{"metadata": {"name": "a", "managedFields": [{"time": "2026-01-05T00:00:00Z"}],
                "managedFields": []}}"#,
        )
        .unwrap();
        assert_eq!(decoded.newest_time(), None);
    }

    #[test]
    fn values_that_are_not_objects_have_no_name() {
        for text in [
            "null",
            "1",
            "\"x\"",
            "[1, {\"a\": 2}]",
            "true",
            "{}",
            "{\"metadata\": [1]}",
        ] {
            let decoded: Object = serde_json::from_str(text).unwrap();
            assert_eq!(decoded.name(), None, "{text}");
            assert_eq!(decoded.newest_time(), None, "{text}");
        }
        assert!(serde_json::from_str::<Object>("{\"metadata\": ").is_err());
    }

    /// Any JSON value, a few levels deep, with keys that Kubernetes uses and some that need escaping.
    fn any_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[a-z\"\\\\\u{1}é ]{0,8}".prop_map(Value::from),
            time().prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::btree_map(key(), inner, 0..4)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("time".to_string()),
            Just("lastTransitionTime".to_string()),
            Just("a/last-applied-configuration".to_string()),
            "[a-z\"\\\\]{0,4}",
        ]
    }

    fn time() -> impl Strategy<Value = String> {
        (2000u32..2030, 1u32..13)
            .prop_map(|(year, month)| format!("{year}-{month:02}-01T00:00:00Z"))
    }

    /// An object of Kubernetes's shape with fields of any shape in its place, now and then.
    fn any_object() -> impl Strategy<Value = Value> {
        let entries = prop::collection::vec(
            prop_oneof![
                time().prop_map(
                    |time| json!({"manager": "m", "time": time, "fieldsV1": {"f:a": {}}})
                ),
                any_value(),
            ],
            0..4,
        );
        let annotations = prop::collection::btree_map(key(), any_value(), 0..4);
        (
            prop_oneof![Just(json!("example")), any_value()],
            prop_oneof![Just(json!("monitoring")), any_value()],
            prop_oneof![time().prop_map(Value::from), any_value()],
            prop_oneof![entries.prop_map(Value::from), any_value()],
            prop_oneof![
                annotations.prop_map(|map| Value::Object(map.into_iter().collect())),
                any_value()
            ],
            prop::collection::vec(any_value(), 0..3),
            any_value(),
            any_value(),
        )
            .prop_map(
                |(name, namespace, created, managed, annotations, conditions, spec, metadata)| {
                    let mut object = json!({
                        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": created,
                                     "managedFields": managed, "annotations": annotations},
                        "spec": spec,
                        "status": {"conditions": conditions},
                    });
                    if metadata.is_array() {
                        object["metadata"] = metadata;
                    }
                    object
                },
            )
    }

    proptest! {
        #[test]
        fn an_object_read_in_one_pass_is_what_reading_it_whole_finds(object in any_object()) {
            let decoded = decode(&object);
            let text = |pointer| object.pointer(pointer).and_then(Value::as_str);
            prop_assert_eq!(decoded.name(), text("/metadata/name"));
            prop_assert_eq!(decoded.namespace(), text("/metadata/namespace"));
            prop_assert_eq!(decoded.newest_time(), newest_time(&object));
            prop_assert_eq!(decoded.read::<Value>().unwrap(), kept(&object));
        }
    }
}
