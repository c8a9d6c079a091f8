//! Editing a parsed Prometheus configuration: the mapping or the list under a key, made when it is absent or
//! null, as Prometheus reads both the same; an error names the key whose value is of another type.

use serde_yaml_ng::{Mapping, Value as Yaml};

/// The mapping under `key`, made when absent or null.
pub fn mapping<'a>(parent: &'a mut Mapping, key: &str) -> Result<&'a mut Mapping, String> {
    let value = parent
        .entry(Yaml::from(key))
        .or_insert_with(|| Yaml::Mapping(Mapping::new()));
    if value.is_null() {
        *value = Yaml::Mapping(Mapping::new());
    }
    value
        .as_mapping_mut()
        .ok_or_else(|| format!("{key} must be a mapping"))
}

/// The list under `key`, made when absent or null.
pub fn list<'a>(parent: &'a mut Mapping, key: &str) -> Result<&'a mut Vec<Yaml>, String> {
    let value = parent
        .entry(Yaml::from(key))
        .or_insert_with(|| Yaml::Sequence(Vec::new()));
    if value.is_null() {
        *value = Yaml::Sequence(Vec::new());
    }
    value
        .as_sequence_mut()
        .ok_or_else(|| format!("{key} must be a list"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Mapping {
        serde_yaml_ng::from_str(text).unwrap()
    }

    #[test]
    fn absent_and_null_parts_are_made_empty_and_others_name_their_key() {
        for text in ["{}", "alerting:\n", "alerting: null\n"] {
            let mut config = parsed(text);
            assert!(
                mapping(&mut config, "alerting").unwrap().is_empty(),
                "{text}"
            );
            assert!(
                list(&mut config, "rule_files").unwrap().is_empty(),
                "{text}"
            );
        }
        let mut config = parsed("alerting: [a]\nrule_files: {a: b}\n");
        assert_eq!(
            mapping(&mut config, "alerting").unwrap_err(),
            "alerting must be a mapping"
        );
        assert_eq!(
            list(&mut config, "rule_files").unwrap_err(),
            "rule_files must be a list"
        );
        let mut config = parsed("global: {external_labels: {a: b}}\n");
        let global = mapping(&mut config, "global").unwrap();
        assert_eq!(mapping(global, "external_labels").unwrap().len(), 1);
    }
}
