//! The documentation: `docs/api.md` is generated from the CRD schema (so it can never disagree with
//! `kubectl explain`), docs/install.md's example of what the 2018 example becomes is the hook's own answer,
//! and every relative link and anchor in README.md and docs/ resolves.
//!
//! `UPDATE_DOCS=1 cargo test --test docs` rewrites `docs/api.md` and that example after a change.

mod common;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use common::{Request, Rollout, as_stored};
use serde_json::{Value, json};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Each field under these prefixes is a Kubernetes type embedded whole: named, not expanded.
const EMBEDDED_UNDER: &[(&str, &str)] = &[(
    "spec.resources.",
    "[ResourceRequirements](https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/#resources) (core/v1)",
)];

/// These fields are a Kubernetes type: named, with their subfields listed under them with their own types.
const EMBEDDED_LISTED: &[(&str, &str)] = &[(
    "spec.pod.tolerations",
    "list of [Toleration](https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/pod-v1/#scheduling) (core/v1)",
)];

fn api_reference() -> String {
    let crd: Value = serde_yaml_ng::from_str(&prometheus_replica_operator::api::crd_yaml())
        .expect("the CRD is YAML");
    let version = &crd["spec"]["versions"][0];
    let schema = &version["schema"]["openAPIV3Schema"];
    let mut out = String::new();
    let names = &crd["spec"]["names"];
    writeln!(
        out,
        "# API reference: `{}`\n\n<!-- Generated from the CRD schema by `UPDATE_DOCS=1 cargo test --test docs`; do not edit. -->\n",
        names["kind"].as_str().unwrap_or_default()
    )
    .unwrap();
    writeln!(
        out,
        "`{}/{}`, namespaced, short name `{}`, with a `status` subresource. {}\n",
        crd["spec"]["group"].as_str().unwrap_or_default(),
        version["name"].as_str().unwrap_or_default(),
        names["shortNames"][0].as_str().unwrap_or_default(),
        schema["description"].as_str().unwrap_or_default(),
    )
    .unwrap();
    let rules = schema["x-kubernetes-validations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !rules.is_empty() {
        writeln!(out, "Rules the API server checks on the whole object:\n").unwrap();
        for rule in rules {
            writeln!(out, "- {}", rule["message"].as_str().unwrap_or_default()).unwrap();
        }
        writeln!(out).unwrap();
    }
    for (part, title) in [("spec", "Spec"), ("status", "Status")] {
        writeln!(
            out,
            "## {title}\n\n| field | type | description |\n|---|---|---|"
        )
        .unwrap();
        let node = &schema["properties"][part];
        let required = required(schema);
        fields(&mut out, part, node, required.contains(part));
        writeln!(out).unwrap();
    }
    out
}

fn required(node: &Value) -> BTreeSet<String> {
    node["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r.as_str().map(str::to_owned))
        .collect()
}

/// One row for `path` and, unless it is an embedded Kubernetes type, one for each field below it.
fn fields(out: &mut String, path: &str, node: &Value, required: bool) {
    let embedded = EMBEDDED_UNDER
        .iter()
        .find(|(prefix, _)| path.starts_with(prefix));
    let kind = match embedded.or_else(|| EMBEDDED_LISTED.iter().find(|(field, _)| path == *field)) {
        Some((_, kind)) => kind.to_string(),
        None => type_of(node),
    };
    let mut description = node["description"]
        .as_str()
        .unwrap_or_default()
        .replace('\n', " ");
    let number = |key: &str| {
        node.get(key)
            .map(|v| v.to_string().trim_end_matches(".0").to_owned())
    };
    let mut rules = Vec::new();
    if let Some(pattern) = node["pattern"].as_str() {
        rules.push(format!("pattern `{}`", pattern.replace('|', "\\|")));
    }
    if let Some(values) = node["enum"].as_array() {
        let values: Vec<String> = values
            .iter()
            .map(|v| format!("`{}`", v.as_str().unwrap_or_default()))
            .collect();
        rules.push(format!("one of {}", values.join(", ")));
    }
    match (number("minimum"), number("maximum")) {
        (Some(min), Some(max)) => rules.push(format!("{min} to {max}")),
        (Some(min), None) => rules.push(format!("at least {min}")),
        (None, Some(max)) => rules.push(format!("at most {max}")),
        (None, None) => {}
    }
    if let Some(max) = number("maxLength") {
        rules.push(format!("at most {max} characters"));
    }
    if let Some(max) = number("maxItems") {
        rules.push(format!("at most {max} items"));
    }
    if !rules.is_empty() {
        write!(description, " ({})", rules.join("; ")).unwrap();
    }
    if required {
        description.insert_str(0, "**Required.** ");
    }
    writeln!(out, "| `{path}` | {kind} | {} |", description.trim()).unwrap();
    if embedded.is_some() {
        return;
    }
    let required = required_of(node);
    let children = node["properties"]
        .as_object()
        .or_else(|| node["items"]["properties"].as_object());
    for (name, child) in children.into_iter().flatten() {
        let separator = if node["items"].is_object() {
            "[]."
        } else {
            "."
        };
        fields(
            out,
            &format!("{path}{separator}{name}"),
            child,
            required.contains(name),
        );
    }
}

fn required_of(node: &Value) -> BTreeSet<String> {
    let mut names = required(node);
    names.extend(required(&node["items"]));
    names
}

fn type_of(node: &Value) -> String {
    if node["x-kubernetes-int-or-string"] == true {
        return "integer or string".into();
    }
    match node["type"].as_str() {
        Some("array") => format!("list of {}", type_of(&node["items"])),
        Some("object") if node["additionalProperties"].is_object() => {
            format!("map of {}", type_of(&node["additionalProperties"]))
        }
        Some(kind) => kind.into(),
        None => "any".into(),
    }
}

#[test]
fn embedded_kubernetes_types_name_their_own_field_and_not_its_subfields() {
    let reference = api_reference();
    let row = |field: &str| {
        reference
            .lines()
            .find(|line| line.starts_with(&format!("| `{field}` |")))
            .unwrap_or_else(|| panic!("a row for {field}"))
            .split(" | ")
            .nth(1)
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        row("spec.pod.tolerations").starts_with("list of [Toleration]"),
        "{}",
        row("spec.pod.tolerations")
    );
    for (subfield, kind) in [
        ("effect", "string"),
        ("key", "string"),
        ("operator", "string"),
        ("tolerationSeconds", "integer"),
        ("value", "string"),
    ] {
        assert_eq!(row(&format!("spec.pod.tolerations[].{subfield}")), kind);
    }
    assert!(row("spec.resources.prometheus").starts_with("[ResourceRequirements]"));
    assert_eq!(row("spec.resources"), "object");
    assert!(
        !reference.contains("`spec.resources.prometheus.limits`"),
        "ResourceRequirements is not expanded"
    );
}

#[test]
fn docs_api_md_is_generated_from_the_crd() {
    let generated = api_reference();
    let path = repo("docs/api.md");
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &generated).expect("docs/api.md is writable");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/api.md is stale: run `UPDATE_DOCS=1 cargo test --test docs`"
    );
}

/// Where docs/install.md's generated example starts and ends.
const EXAMPLE_START: &str = "<!-- Generated from deploy/examples by `UPDATE_DOCS=1 cargo test --test docs`; do not edit. -->\n";
const EXAMPLE_END: &str = "<!-- End of the generated example. -->\n";

/// What `kubectl apply -k deploy/examples` becomes, as the hook answers it through the customize hook of
/// deploy/compositecontroller.yaml: the children it creates, then the status once every Pod is ready (every
/// child observed as the API server stores it, with its workloads rolled out).
fn install_example() -> String {
    let read = |file: &str| {
        std::fs::read_to_string(repo(&format!("deploy/examples/{file}")))
            .unwrap_or_else(|e| panic!("deploy/examples/{file}: {e}"))
    };
    let object = |file: &str| -> Value { serde_yaml_ng::from_str(&read(file)).expect("YAML") };
    let config = object("prometheus-config.yaml");
    let secret = object("s3-bucket.yaml");
    let config_data: Vec<(&str, &str)> = config["data"]
        .as_object()
        .expect("the ConfigMap has data")
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str().expect("text")))
        .collect();
    // The API server stores `stringData` as base64 `data`.
    let secret_data: Vec<(String, String)> = secret["stringData"]
        .as_object()
        .expect("the Secret has stringData")
        .iter()
        .map(|(k, v)| {
            let bytes = k8s_openapi::ByteString(v.as_str().expect("text").as_bytes().to_vec());
            let base64 = serde_json::to_value(bytes).expect("bytes encode");
            (k.clone(), base64.as_str().expect("base64").to_owned())
        })
        .collect();
    let secret_data: Vec<(&str, &str)> = secret_data
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let request = Request::manifest(&read("prometheusreplica.yaml"))
        .customize()
        .config_map("prometheus-config", &config_data)
        .secret("s3-bucket", &secret_data);
    let created = request.sync_json();
    let mut kinds: Vec<(String, Vec<String>)> = Vec::new();
    for child in created["children"].as_array().expect("children") {
        let kind = child["kind"].as_str().expect("kind").to_owned();
        let name = format!("`{}`", child["metadata"]["name"].as_str().expect("name"));
        match kinds.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, names)) => names.push(name),
            None => kinds.push((kind, vec![name])),
        }
    }
    let running = request
        .observe(as_stored(&created, Rollout::Done))
        .sync_json();
    let table = format!(
        "```console\n$ kubectl get promrep\nNAME      PHASE     PROMETHEUS   QUERY   AGE\nexample   {:<9} {:<12} {:<7} 3m\n```",
        running["status"]["phase"].as_str().expect("a phase"),
        running["status"]["prometheus"]["ready"]
            .as_str()
            .expect("ready"),
        running["status"]["query"]["ready"].as_str().expect("ready"),
    );
    let mut status = running["status"].clone();
    status["observedGeneration"] = json!(1); // added by Metacontroller
    // serde_json's maps are sorted, as kubectl prints them.
    let status = serde_yaml_ng::to_string(&json!({"status": status})).expect("YAML");
    let mut out = String::from(EXAMPLE_START);
    writeln!(
        out,
        "Metacontroller creates {} children:\n",
        created["children"].as_array().map_or(0, Vec::len)
    )
    .unwrap();
    for (kind, names) in kinds {
        writeln!(out, "- {kind}: {}", names.join(", ")).unwrap();
    }
    writeln!(
        out,
        "\nThe phase goes from `Install` to `Creating` to `Running`:\n\n{table}\n\nOnce every Pod is ready, the \
         status says what runs, where to reach it, and what deserves attention (the times are those of the test \
         fixture):\n\n```console\n$ kubectl -n default get \
         prometheusreplica/example -o yaml\napiVersion: prometheus.robszumski.com/v1alpha1\nkind: \
         PrometheusReplica\nmetadata:\n  name: example\n  namespace: default\n  ...\nspec:\n  ...\n{status}```"
    )
    .unwrap();
    out.push_str(EXAMPLE_END);
    out
}

#[test]
fn docs_install_md_shows_the_status_the_hook_answers_for_the_example() {
    let path = repo("docs/install.md");
    let committed = std::fs::read_to_string(&path).expect("docs/install.md is readable");
    let start = committed
        .find(EXAMPLE_START)
        .expect("docs/install.md marks its generated example");
    let end = committed[start..]
        .find(EXAMPLE_END)
        .map(|at| start + at + EXAMPLE_END.len())
        .expect("docs/install.md marks the end of its generated example");
    let generated = install_example();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        let updated = format!("{}{generated}{}", &committed[..start], &committed[end..]);
        std::fs::write(&path, updated).expect("docs/install.md is writable");
        return;
    }
    assert!(
        committed[start..end] == generated,
        "docs/install.md's example is stale: run `UPDATE_DOCS=1 cargo test --test docs`"
    );
}

/// The Markdown files of the front page and the docs.
fn documents() -> Vec<PathBuf> {
    let mut files = vec![repo("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(repo("docs"))
        .expect("docs/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// GitHub's anchor for a heading: lower case, punctuation but `-` and `_` dropped, spaces as `-`.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// Every anchor of a Markdown file, numbered as GitHub numbers repeated headings, and the `<a id="...">`
/// anchors that start a line (paragraphs that are linked to without a heading).
fn anchors(text: &str) -> BTreeSet<String> {
    let mut anchors = BTreeSet::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if let Some(id) = line
            .strip_prefix("<a id=\"")
            .and_then(|rest| rest.split_once('"'))
            .filter(|_| !fenced)
        {
            anchors.insert(id.0.to_owned());
            continue;
        }
        let Some(heading) = line.strip_prefix('#').filter(|_| !fenced) else {
            continue;
        };
        let base = anchor(heading.trim_start_matches('#'));
        let mut candidate = base.clone();
        let mut n = 0;
        while !anchors.insert(candidate.clone()) {
            n += 1;
            candidate = format!("{base}-{n}");
        }
    }
    anchors
}

/// The targets of the inline links `[text](target)` of a Markdown file, outside code.
fn links(text: &str) -> Vec<String> {
    let mut links = Vec::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        // Inline code may hold `](` that is no link.
        let prose: String = line.split('`').step_by(2).collect::<Vec<_>>().join("");
        let mut rest = prose.as_str();
        while let Some(start) = rest.find("](") {
            rest = &rest[start + 2..];
            let Some(end) = rest.find(')') else { break };
            links.push(
                rest[..end]
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
            );
            rest = &rest[end..];
        }
    }
    links
}

#[test]
fn every_relative_link_and_anchor_in_the_docs_resolves() {
    let mut broken = Vec::new();
    for file in documents() {
        let text = std::fs::read_to_string(&file).expect("readable");
        for link in links(&text) {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            let (path, fragment) = link.split_once('#').unwrap_or((&link, ""));
            let target = if path.is_empty() {
                file.clone()
            } else {
                file.parent().expect("in a folder").join(path)
            };
            if !target.exists() {
                broken.push(format!("{}: {link}: no such file", file.display()));
                continue;
            }
            if !fragment.is_empty() {
                let target_text = std::fs::read_to_string(&target).unwrap_or_default();
                if !anchors(&target_text).contains(fragment) {
                    broken.push(format!("{}: {link}: no such heading", file.display()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_link_checker_finds_links_and_github_anchors() {
    assert_eq!(anchor("Install on a cluster"), "install-on-a-cluster");
    assert_eq!(
        anchor("The `PrometheusReplica` API"),
        "the-prometheusreplica-api"
    );
    assert_eq!(
        anchor("Endpoints and status codes"),
        "endpoints-and-status-codes"
    );
    let text = "# A\n## A\n```\n# not a heading [x](nowhere)\n```\nsee [b](docs/b.md#a-1) and `[c](code)`\n";
    assert_eq!(
        anchors(text),
        BTreeSet::from(["a".to_owned(), "a-1".to_owned()])
    );
    assert_eq!(links(text), ["docs/b.md#a-1"]);
}
