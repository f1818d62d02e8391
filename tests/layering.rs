//! The crate's modules form layers, and every `crate::…` path in library code points down (or
//! sideways within a layer) and never round a circle: the layering the crate docs describe.
//!
//! The test reads `src/` as text: each non-test, non-comment `crate::a::b::…` path (in `use`
//! lines, grouped imports and inline paths) is an edge from its file to the deepest file module
//! the path names. A parent module's `mod.rs` declaring or re-exporting its own children is not
//! an edge.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Layers, bottom first: a file may import from its own layer or a lower one.
const LAYERS: &[(&str, &[&str])] = &[
    ("errors", &["error.rs", "hash.rs"]),
    (
        "model contract",
        &[
            "model/info.rs",
            "model/step.rs",
            "model/trajectory.rs",
            "model/dose.rs",
        ],
    ),
    ("variability", &["variability/"]),
    ("models", &["model/", "product.rs"]),
    (
        "regimen, solve, summary",
        &["regimen/", "solve/", "summary/"],
    ),
    ("one patient", &["patient.rs", "simulate.rs"]),
    ("cohort", &["cohort/"]),
    ("files and figures", &["io/", "plot/"]),
    (
        "studies",
        &["calibrate/", "shard.rs", "distributed.rs", "sensitivity/"],
    ),
];

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// `src`-relative file paths with `/` separators, lib.rs excluded.
fn source_files(dir: &Path, out: &mut Vec<String>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("src readable")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            source_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            let rel = p
                .strip_prefix(src_dir())
                .expect("under src")
                .to_string_lossy()
                .replace('\\', "/");
            if rel != "lib.rs" {
                out.push(rel);
            }
        }
    }
}

/// The layer of a file: the first layer with a pattern that names it (exact file, or a folder
/// prefix), so specific entries win when listed lower.
fn layer_of(file: &str) -> usize {
    LAYERS
        .iter()
        .position(|(_, pats)| {
            pats.iter().any(|p| {
                if p.ends_with('/') {
                    file.starts_with(p)
                } else {
                    file == *p
                }
            })
        })
        .unwrap_or_else(|| panic!("{file} is in no layer: add it to LAYERS"))
}

/// The deepest file module that `segments` (after `crate::`) names.
fn resolve(segments: &[&str]) -> Option<String> {
    let src = src_dir();
    let mut found = None;
    let mut prefix = PathBuf::new();
    for seg in segments {
        prefix.push(seg);
        let file = src.join(&prefix).with_extension("rs");
        let module = src.join(&prefix).join("mod.rs");
        if module.exists() {
            found = Some(format!("{}/mod.rs", prefix.to_string_lossy()));
        } else if file.exists() {
            found = Some(format!("{}.rs", prefix.to_string_lossy()));
        } else {
            break;
        }
    }
    found.map(|f| f.replace('\\', "/"))
}

/// Library code of a file: comment lines and the `#[cfg(test)]` module dropped.
fn library_code(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]") {
            break;
        }
        if t.starts_with("//") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Every `crate::` path in `code`, grouped imports expanded, as segment lists.
fn crate_paths(code: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let bytes = code.as_bytes();
    let mut i = 0;
    while let Some(k) = code[i..].find("crate::") {
        let at = i + k;
        i = at + "crate::".len();
        if at > 0
            && (bytes[at - 1] == b'$'
                || bytes[at - 1].is_ascii_alphanumeric()
                || bytes[at - 1] == b'_')
        {
            continue;
        }
        expand(&code[i..], Vec::new(), &mut paths);
    }
    paths
}

/// Reads one path (possibly a `{…}` group) at the start of `rest`, prefixed by `prefix`.
fn expand(rest: &str, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let rest = rest.trim_start();
    if let Some(group) = rest.strip_prefix('{') {
        let mut depth = 1;
        let mut start = 0;
        for (j, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' | ',' if depth == 1 => {
                    expand(&group[start..j], prefix.clone(), out);
                    start = j + 1;
                    if c == '}' {
                        return;
                    }
                }
                '}' => depth -= 1,
                _ => {}
            }
        }
        return;
    }
    let mut segs = prefix;
    let mut s = rest;
    loop {
        let end = s
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(s.len());
        if end == 0 {
            break;
        }
        segs.push(s[..end].to_string());
        s = &s[end..];
        if let Some(next) = s.strip_prefix("::") {
            if next.trim_start().starts_with('{') {
                expand(next, segs, out);
                return;
            }
            s = next;
        } else {
            break;
        }
    }
    if !segs.is_empty() {
        out.push(segs);
    }
}

/// Whether `to` lies inside the module folder whose `mod.rs` is `from`.
fn is_own_child(from: &str, to: &str) -> bool {
    from.strip_suffix("mod.rs")
        .is_some_and(|dir| to.starts_with(dir) && to != from)
}

fn edges() -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    source_files(&src_dir(), &mut files);
    let mut graph = BTreeMap::new();
    for f in files {
        let text = std::fs::read_to_string(src_dir().join(&f)).expect("readable");
        let mut targets = BTreeSet::new();
        for path in crate_paths(&library_code(&text)) {
            let segs: Vec<&str> = path.iter().map(String::as_str).collect();
            if let Some(to) = resolve(&segs) {
                if to != f && !is_own_child(&f, &to) {
                    targets.insert(to);
                }
            }
        }
        graph.insert(f, targets);
    }
    graph
}

#[test]
fn imports_point_down_the_layers() {
    let graph = edges();
    let mut upward = Vec::new();
    for (from, targets) in &graph {
        for to in targets {
            let (a, b) = (layer_of(from), layer_of(to));
            if b > a {
                upward.push(format!(
                    "{from} ({}) imports {to} ({})",
                    LAYERS[a].0, LAYERS[b].0
                ));
            }
        }
    }
    assert!(
        upward.is_empty(),
        "imports that climb a layer:\n{}",
        upward.join("\n")
    );
}

#[test]
fn no_import_cycles_between_modules() {
    let graph = edges();
    // Depth-first search with colours; report the first cycle found from each root.
    #[derive(Clone, Copy, PartialEq)]
    enum Colour {
        White,
        Grey,
        Black,
    }
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        colour: &mut BTreeMap<String, Colour>,
        stack: &mut Vec<String>,
        cycles: &mut Vec<String>,
    ) {
        colour.insert(node.to_string(), Colour::Grey);
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            match colour.get(next).copied().unwrap_or(Colour::White) {
                Colour::White => visit(next, graph, colour, stack, cycles),
                Colour::Grey => {
                    let from = stack.iter().position(|s| s == next).unwrap_or(0);
                    let mut cycle = stack[from..].to_vec();
                    cycle.push(next.clone());
                    cycles.push(cycle.join(" -> "));
                }
                Colour::Black => {}
            }
        }
        stack.pop();
        colour.insert(node.to_string(), Colour::Black);
    }
    let mut colour = BTreeMap::new();
    let mut cycles = Vec::new();
    for node in graph.keys() {
        if colour.get(node).copied().unwrap_or(Colour::White) == Colour::White {
            visit(node, &graph, &mut colour, &mut Vec::new(), &mut cycles);
        }
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_parser_sees_grouped_and_inline_paths() {
    let code = "use crate::{cohort::Cohort, model::{info::ParamInfo, Model}};\n\
                let x = crate::variability::Iiv::none();\n\
                $crate::model::info::check_values(a);\n";
    let paths: Vec<String> = crate_paths(code).iter().map(|p| p.join("::")).collect();
    assert_eq!(
        paths,
        [
            "cohort::Cohort",
            "model::info::ParamInfo",
            "model::Model",
            "variability::Iiv::none"
        ]
    );
    assert_eq!(
        resolve(&["model", "info", "ParamInfo"]).as_deref(),
        Some("model/info.rs")
    );
    assert_eq!(
        resolve(&["model", "Model"]).as_deref(),
        Some("model/mod.rs")
    );
    assert_eq!(resolve(&["simulate"]).as_deref(), Some("simulate.rs"));
}
