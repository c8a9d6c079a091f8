//! The validator over Prometheus's own test corpus: every `config/testdata/*.bad.yml` and
//! `model/rulefmt/testdata/*bad*.yaml` of the pinned Prometheus module must be refused, unless docs/development.md
//! lists it with the reason it passes; every good file must be accepted. `.ci/run` sets `PRO_PROMETHEUS_MODULE` to
//! the module's folder (downloaded through Go's module cache); without it this test skips with one line.

use std::collections::BTreeMap;
use std::path::Path;

use prometheus_replica_operator::promconfig::{Names, check_config, check_rules};

/// What the hook does with a `prometheus.yml`: parse it, then check it.
fn check_config_file(text: &str) -> Result<(), String> {
    let yaml: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(text).map_err(|e| format!("not valid YAML: {e}"))?;
    check_config(&yaml).map(|_| ()).map_err(|e| e.to_string())
}

fn check_rule_file(name: &str, text: &str) -> Result<(), String> {
    // Prometheus's own test reads these under the legacy name scheme, the others under UTF-8.
    let names = if name.starts_with("legacy_validation") {
        Names::Legacy
    } else {
        Names::Utf8
    };
    check_rules(text, names).map_err(|e| e.to_string())
}

/// The bad files that docs/development.md says pass, from its table under "Prometheus's corpus".
fn let_through() -> BTreeMap<String, String> {
    let docs =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/development.md"))
            .expect("docs/development.md is readable");
    let section = docs
        .split("\n### Bad files that pass\n")
        .nth(1)
        .expect("docs/development.md has a section `### Bad files that pass`");
    section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            (cells[1].trim_matches('`').to_string(), cells[2].to_string())
        })
        .collect()
}

fn files(dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| keep(name))
        .map(|name| {
            let text = std::fs::read(dir.join(&name)).expect("readable");
            // Go reads bytes; a file that is not UTF-8 is one Rust's YAML parser refuses.
            (name, String::from_utf8_lossy(&text).into_owned())
        })
        .collect();
    files.sort();
    files
}

#[test]
fn prometheus_corpus_bad_files_are_refused_and_good_ones_accepted() {
    let Ok(module) = std::env::var("PRO_PROMETHEUS_MODULE") else {
        println!(
            "skipped: set PRO_PROMETHEUS_MODULE to the Prometheus Go module's folder (.ci/run does)"
        );
        return;
    };
    let module = Path::new(&module);
    let config = module.join("config/testdata");
    let rulefmt = module.join("model/rulefmt/testdata");
    let listed = let_through();
    let mut failures = Vec::new();
    let (mut refused, mut bad, mut accepted, mut good) = (0, 0, 0, 0);
    let mut passed = Vec::new();

    let bad_files = files(&config, |n| n.ends_with(".bad.yml"))
        .into_iter()
        .map(|(name, text)| (format!("config/testdata/{name}"), check_config_file(&text)))
        .chain(
            files(&rulefmt, |n| n.contains("bad") && n.ends_with(".yaml"))
                .into_iter()
                .map(|(name, text)| {
                    (
                        format!("model/rulefmt/testdata/{name}"),
                        check_rule_file(&name, &text),
                    )
                }),
        );
    for (name, result) in bad_files {
        bad += 1;
        match result {
            Err(_) => refused += 1,
            Ok(()) => {
                passed.push(name.clone());
                if !listed.contains_key(&name) {
                    failures.push(format!(
                        "{name}: a bad file passes, and docs/development.md does not list it"
                    ));
                }
            }
        }
    }
    for name in listed.keys() {
        if !passed.contains(name) {
            failures.push(format!(
                "{name}: docs/development.md lists it as passing, but it is refused or absent"
            ));
        }
    }
    let good_files = files(&config, |n| n.ends_with(".good.yml"))
        .into_iter()
        .map(|(name, text)| (format!("config/testdata/{name}"), check_config_file(&text)))
        .chain(
            files(&rulefmt, |n| {
                n.ends_with(".good.yaml") || n == "test.yaml" || n == "test_aliases.yaml"
            })
            .into_iter()
            .map(|(name, text)| {
                (
                    format!("model/rulefmt/testdata/{name}"),
                    check_rule_file(&name, &text),
                )
            }),
        );
    for (name, result) in good_files {
        good += 1;
        match result {
            Ok(()) => accepted += 1,
            Err(e) => failures.push(format!("{name}: a good file is refused: {e}")),
        }
    }
    println!(
        "prometheus corpus: refused {refused}/{bad} bad files, accepted {accepted}/{good} good files"
    );
    assert!(
        bad > 100 && good > 40,
        "the corpus is incomplete: {bad} bad, {good} good files"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
