//! The crate's layout: no two top-level modules of `src/` depend on each other, directly or through
//! others, so the pipeline (`pipeline` above `render` and `status`) reads top-down. The core is in layers, each
//! using only the layers below it: the inputs (the parent's spec, the related objects) and the stack's names
//! below both rendering and status, which never import each other. docs/development.md draws it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("src/ is readable").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// The top-level module a file belongs to: `src/render/pod.rs` is `render`, `src/spec.rs` is `spec`.
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).expect("under src/");
    let first = relative.components().next().expect("a path");
    first
        .as_os_str()
        .to_string_lossy()
        .trim_end_matches(".rs")
        .to_owned()
}

/// The top-level modules a file names as `crate::<module>`, outside its `#[cfg(test)]` tail and comments.
fn dependencies(text: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    let mut found = BTreeSet::new();
    for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if modules.contains(&name) {
                found.insert(name);
            }
        }
        // `use crate::{a, b::c}` names several.
        if let Some(group) = line.split("crate::{").nth(1) {
            for part in group.split([',', '}']) {
                let name = part.trim().split("::").next().unwrap_or_default();
                if modules.contains(name) {
                    found.insert(name.to_owned());
                }
            }
        }
    }
    found
}

/// Every top-level module of `src/` and the top-level modules it uses.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = sources(&src);
    let modules: BTreeSet<String> = files
        .iter()
        .map(|f| module_of(&src, f))
        .filter(|m| m != "lib" && m != "main")
        .collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let module = module_of(&src, file);
        if !modules.contains(&module) {
            continue;
        }
        let text = std::fs::read_to_string(file).expect("readable");
        let deps = dependencies(&text, &modules);
        graph
            .entry(module.clone())
            .or_default()
            .extend(deps.into_iter().filter(|d| *d != module));
    }
    graph
}

/// The pure core: the sync from request to answer, with no I/O, in layers from the bottom up. A module uses
/// only modules of the layers below its own.
const LAYERS: [&[&str]; 7] = [
    &["error", "api"],
    &["hook"],
    &["spec"],
    &["promconfig", "names"],
    &["related"],
    &["render", "status"],
    &["pipeline"],
];

/// Every module of the core, bottom up.
fn core() -> Vec<&'static str> {
    LAYERS
        .iter()
        .flat_map(|layer| layer.iter().copied())
        .collect()
}

/// The layer of a module of the core.
fn layer(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// The shell around it: serving, certificates, metrics, logs, the command line.
const SHELL: [&str; 6] = ["server", "tls", "admin", "metrics", "logging", "cli"];

#[test]
fn the_core_never_imports_the_shell() {
    let graph = graph();
    for module in graph.keys() {
        assert!(
            layer(module).is_some() || SHELL.contains(&module.as_str()),
            "src/{module} is neither core nor shell: place it in tests/layout.rs"
        );
    }
    for module in core() {
        let shell: Vec<&String> = graph
            .get(module)
            .into_iter()
            .flatten()
            .filter(|d| SHELL.contains(&d.as_str()))
            .collect();
        assert!(
            shell.is_empty(),
            "the core's {module} uses the shell's {shell:?}"
        );
    }
}

#[test]
fn each_module_of_the_core_uses_only_the_layers_below_it() {
    let graph = graph();
    for module in core() {
        let at = layer(module).expect("a module of the core");
        for used in graph.get(module).into_iter().flatten() {
            if let Some(used_at) = layer(used) {
                assert!(
                    used_at < at,
                    "src/{module} (layer {at} of tests/layout.rs) uses src/{used} (layer {used_at}): a module uses \
                     only the layers below its own"
                );
            }
        }
    }
}

#[test]
fn render_and_status_never_import_each_other() {
    let graph = graph();
    for (module, other) in [("render", "status"), ("status", "render")] {
        assert!(
            !graph[module].contains(other),
            "src/{module} uses src/{other}: what both need belongs below them (src/names.rs, src/related.rs)"
        );
    }
    // Both read the stack's names, and the inputs, from below.
    for module in ["render", "status"] {
        assert!(graph[module].contains("names") && graph[module].contains("spec"));
    }
}

#[test]
fn no_two_modules_of_the_crate_depend_on_each_other() {
    let graph = graph();
    assert!(graph["pipeline"].contains("render") && graph["pipeline"].contains("status"));
    // Depth-first search for a cycle, reporting the first one found.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for module in graph.keys() {
        if let Some(cycle) = visit(module, &graph, &mut Vec::new(), &mut done) {
            panic!(
                "modules depend on each other in a circle: {}",
                cycle.join(" -> ")
            );
        }
    }
}

#[test]
fn the_dependency_reader_sees_paths_and_groups() {
    let modules: BTreeSet<String> = ["render", "status", "spec"].map(String::from).into();
    let text = "use crate::{Error, status};\nuse crate::spec::Stack;\n// crate::render\n#[cfg(test)]\nuse crate::render;";
    assert_eq!(
        dependencies(text, &modules),
        ["spec", "status"].map(String::from).into()
    );
}

/// The code of a source file before its tests; `None` for a file of tests alone (`tests.rs`).
fn code_of(file: &Path) -> Option<String> {
    if file.file_name().is_some_and(|name| name == "tests.rs") {
        return None;
    }
    let text = std::fs::read_to_string(file).expect("readable");
    Some(
        text.split("\n#[cfg(test)]")
            .next()
            .unwrap_or_default()
            .to_owned(),
    )
}

/// The longest a source file may be before its tests, and a function outside tests.
const MAX_FILE_LINES: usize = 450;
const MAX_FUNCTION_LINES: usize = 100;

#[test]
fn no_source_file_is_over_450_lines_before_its_tests() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for file in sources(&src) {
        if let Some(code) = code_of(&file) {
            let lines = code.lines().count();
            assert!(
                lines <= MAX_FILE_LINES,
                "{} has {lines} lines before its tests: split it where the design has a seam (at most \
                 {MAX_FILE_LINES})",
                file.strip_prefix(env!("CARGO_MANIFEST_DIR"))
                    .unwrap_or(&file)
                    .display()
            );
        }
    }
}

/// Each function of formatted code, by name, with its length in lines: from its `fn` line to the line that
/// closes it at the same indentation.
fn functions(code: &str) -> Vec<(String, usize)> {
    let lines: Vec<&str> = code.lines().collect();
    let mut found = Vec::new();
    for (at, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        let signature = [
            "pub fn ",
            "pub(crate) fn ",
            "pub(super) fn ",
            "fn ",
            "async fn ",
            "pub async fn ",
            "const fn ",
            "pub const fn ",
        ]
        .iter()
        .find_map(|prefix| trimmed.strip_prefix(prefix));
        let Some(rest) = signature else { continue };
        if trimmed.ends_with(';') {
            continue;
        }
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let close = format!("{indent}}}");
        if let Some(end) = lines[at + 1..].iter().position(|l| *l == close) {
            found.push((name, end + 2));
        }
    }
    found
}

#[test]
fn no_function_outside_tests_is_over_100_lines() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for file in sources(&src) {
        let Some(code) = code_of(&file) else { continue };
        for (name, lines) in functions(&code) {
            assert!(
                lines <= MAX_FUNCTION_LINES,
                "{}: fn {name} has {lines} lines: split it by what it computes (at most {MAX_FUNCTION_LINES})",
                file.strip_prefix(env!("CARGO_MANIFEST_DIR"))
                    .unwrap_or(&file)
                    .display()
            );
        }
    }
}

#[test]
fn the_function_reader_measures_from_fn_to_its_closing_brace() {
    let code = "fn one() {\n    let x = 1;\n}\n\nimpl A {\n    pub fn two(&self) -> u8 {\n        if x {\n        }\n        2\n    }\n}\n";
    assert_eq!(
        functions(code),
        [("one".to_owned(), 3), ("two".to_owned(), 5)]
    );
}
