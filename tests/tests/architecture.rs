//! The shape of the code, checked (issue 13): each crate's module graph,
//! read from the `crate::`/`super::` paths in its sources, has no import
//! cycle, and the launcher's imports flow one way through its layers:
//! `cmd` → `subhost` → `kernel` → `model`. Pure text reading, no root.
//!
//! A unit of the graph is a top-level module, or, inside a layer folder, a
//! module of that layer (`subhost::monitor`, `model::config` with all its
//! submodules). A newcomer who adds an upward import or a cycle learns it
//! here, with the file and line of every edge involved.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The launcher's layers, lowest first: a module may import its own layer
/// and the layers below it.
const LAUNCHER_LAYERS: [&str; 4] = ["model", "kernel", "subhost", "cmd"];

/// Upward imports the launcher accepts, each with its reason. Each one is
/// debt: keep the list short, and remove an entry with its cause.
const LAUNCHER_EXCEPTIONS: [(&str, &str, &str); 0] = [];

/// The subinit's layer folders (pure core, runtime around it); only "no
/// cycles" is checked there, as in `proto`.
const SUBINIT_LAYERS: [&str; 2] = ["core", "runtime"];

/// The launcher's top-level modules and what each may import. `main`
/// wires the commands and may import anything; `cli` is pure (the model
/// only); `error` gathers the leaf error types of the model and the
/// kernel (and cli's usage error); `logging` is a primitive.
fn launcher_top_allowed(top: &str, to: &Unit) -> Option<bool> {
    let layer = to.layer.as_deref();
    Some(match top {
        "main" => true,
        "cli" => layer == Some("model"),
        "error" => matches!(layer, Some("model" | "kernel")) || to.name == "cli",
        "logging" => matches!(layer, Some("model" | "kernel")),
        _ => return None,
    })
}

#[test]
fn launcher_layers_flow_one_way_without_cycles() {
    let graph = Graph::read(&crate_src("launcher"), &LAUNCHER_LAYERS);
    assert!(
        graph.edge_count() > 50,
        "launcher: only {} imports found",
        graph.edge_count()
    );
    let mut faults = graph.cycles();
    faults.extend(
        graph
            .upward_edges(&LAUNCHER_LAYERS, launcher_top_allowed)
            .into_iter()
            .filter(|f| {
                !LAUNCHER_EXCEPTIONS
                    .iter()
                    .any(|(from, to, _)| f.contains(&format!(": {from} imports {to} (")))
            }),
    );
    assert!(faults.is_empty(), "launcher:\n{}", faults.join("\n"));
}

#[test]
fn subinit_has_no_import_cycle() {
    let graph = Graph::read(&crate_src("subinit"), &SUBINIT_LAYERS);
    assert!(
        graph.edge_count() > 10,
        "subinit: only {} imports found",
        graph.edge_count()
    );
    let faults = graph.cycles();
    assert!(faults.is_empty(), "subinit:\n{}", faults.join("\n"));
}

#[test]
fn proto_has_no_import_cycle() {
    let graph = Graph::read(&crate_src("proto"), &[]);
    assert!(
        graph.edge_count() > 3,
        "proto: only {} imports found",
        graph.edge_count()
    );
    let faults = graph.cycles();
    assert!(faults.is_empty(), "proto:\n{}", faults.join("\n"));
}

/// The checker itself, on a small tree written for it: it must see a
/// cycle through a `use crate::{…}` group and a `super::` path, and an
/// upward import, and name the files and lines.
#[test]
fn the_checker_names_a_cycle_and_an_upward_edge() {
    let dir = std::env::temp_dir().join(format!("obt-arch-{}", std::process::id()));
    let _guard = RemoveDir(dir.clone());
    let files = [
        ("main.rs", "mod kernel;\nmod model;\nmod cmd;\n"),
        ("model/mod.rs", "pub mod a;\npub mod b;\n"),
        (
            "model/a.rs",
            "use super::b::X; // crate::cmd in a comment\n",
        ),
        ("model/b.rs", "use crate::{model::a, kernel::k};\n"),
        ("kernel/mod.rs", "pub mod k;\n"),
        ("kernel/k.rs", "fn f() { crate::cmd::c::run() }\n"),
        ("cmd/mod.rs", "pub mod c;\n"),
        ("cmd/c.rs", "use crate::kernel::k;\n"),
    ];
    for (rel, text) in files {
        let path = dir.join(rel);
        fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        fs::write(path, text).expect("write");
    }
    let graph = Graph::read(&dir, &LAUNCHER_LAYERS);
    let cycles = graph.cycles();
    let up = graph.upward_edges(&LAUNCHER_LAYERS, launcher_top_allowed);
    let all = [cycles.clone(), up.clone()].concat().join("\n");
    assert!(
        cycles
            .iter()
            .any(|c| c.contains("model::a -> model::b -> model::a")),
        "{all}"
    );
    assert!(
        cycles
            .iter()
            .any(|c| c.contains("cmd::c -> kernel::k -> cmd::c")),
        "{all}"
    );
    assert_eq!(up.len(), 2, "{all}");
    assert!(
        up.iter()
            .any(|u| u.contains("kernel::k imports cmd::c (kernel/k.rs:1)")),
        "{all}"
    );
    assert!(
        up.iter()
            .any(|u| u.contains("model::b imports kernel::k (model/b.rs:1)")),
        "{all}"
    );
}

struct RemoveDir(PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn crate_src(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(name)
        .join("src")
}

/// A node of the graph: `layer::name`, or a top-level `name`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Unit {
    layer: Option<String>,
    name: String,
}

impl std::fmt::Display for Unit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.layer {
            Some(l) => write!(f, "{l}::{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// Where an edge was seen: the file (relative to src) and line.
type Seen = (String, usize);

struct Graph {
    edges: BTreeMap<Unit, BTreeMap<Unit, Seen>>,
}

impl Graph {
    fn read(src: &Path, layers: &[&str]) -> Graph {
        let mut files = Vec::new();
        walk(src, &mut files);
        assert!(!files.is_empty(), "no sources under {}", src.display());
        let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(src, f)).collect();
        let mut edges: BTreeMap<Unit, BTreeMap<Unit, Seen>> = BTreeMap::new();
        for file in &files {
            let module = module_of(src, file);
            let from = unit_of(&module, layers);
            let text = fs::read_to_string(file).expect("architecture test");
            let rel = file
                .strip_prefix(src)
                .expect("architecture test")
                .display()
                .to_string();
            for (line, path) in references(&text, &module) {
                let target = resolve(&path, &modules);
                let to = unit_of(&target, layers);
                if to != from {
                    edges
                        .entry(from.clone())
                        .or_default()
                        .entry(to)
                        .or_insert((rel.clone(), line));
                }
            }
            edges.entry(from).or_default();
        }
        Graph { edges }
    }

    /// How many imports between units were found: a check over a graph
    /// without any would pass for nothing (a moved folder, a parser bug).
    fn edge_count(&self) -> usize {
        self.edges.values().map(BTreeMap::len).sum()
    }

    fn seen(&self, from: &Unit, to: &Unit) -> String {
        let (file, line) = &self.edges[from][to];
        format!("{file}:{line}")
    }

    /// One message per strongly connected component of more than one
    /// unit, showing one cycle in it with the place of each edge.
    fn cycles(&self) -> Vec<String> {
        let mut out = Vec::new();
        for component in self.components() {
            let cycle = self.cycle_in(&component);
            let names: Vec<String> = cycle.iter().map(Unit::to_string).collect();
            let places: Vec<String> = cycle
                .windows(2)
                .map(|w| format!("  {} -> {} at {}", w[0], w[1], self.seen(&w[0], &w[1])))
                .collect();
            out.push(format!(
                "import cycle among {} modules: {}\n{}",
                component.len(),
                names.join(" -> "),
                places.join("\n")
            ));
        }
        out
    }

    /// Tarjan's strongly connected components, those of two or more units.
    fn components(&self) -> Vec<BTreeSet<Unit>> {
        struct Walk<'a> {
            g: &'a Graph,
            index: BTreeMap<&'a Unit, usize>,
            low: BTreeMap<&'a Unit, usize>,
            stack: Vec<&'a Unit>,
            on_stack: BTreeSet<&'a Unit>,
            found: Vec<BTreeSet<Unit>>,
        }
        impl<'a> Walk<'a> {
            fn visit(&mut self, v: &'a Unit) {
                let i = self.index.len();
                self.index.insert(v, i);
                self.low.insert(v, i);
                self.stack.push(v);
                self.on_stack.insert(v);
                for w in self.g.edges.get(v).into_iter().flat_map(BTreeMap::keys) {
                    if !self.index.contains_key(w) {
                        self.visit(w);
                        let lw = self.low[w];
                        let lv = self.low.get_mut(v).expect("visited");
                        *lv = (*lv).min(lw);
                    } else if self.on_stack.contains(w) {
                        let iw = self.index[w];
                        let lv = self.low.get_mut(v).expect("visited");
                        *lv = (*lv).min(iw);
                    }
                }
                if self.low[v] == self.index[v] {
                    let mut comp = BTreeSet::new();
                    while let Some(w) = self.stack.pop() {
                        self.on_stack.remove(w);
                        comp.insert(w.clone());
                        if w == v {
                            break;
                        }
                    }
                    if comp.len() > 1 {
                        self.found.push(comp);
                    }
                }
            }
        }
        let mut walk = Walk {
            g: self,
            index: BTreeMap::new(),
            low: BTreeMap::new(),
            stack: Vec::new(),
            on_stack: BTreeSet::new(),
            found: Vec::new(),
        };
        for v in self.edges.keys() {
            if !walk.index.contains_key(v) {
                walk.visit(v);
            }
        }
        walk.found
    }

    /// A shortest cycle through the component's first unit (breadth first
    /// inside the component), closed: its first unit is repeated last.
    fn cycle_in(&self, component: &BTreeSet<Unit>) -> Vec<Unit> {
        let start = component.iter().next().expect("a non-empty component");
        let mut parent: BTreeMap<&Unit, &Unit> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        while let Some(v) = queue.pop_front() {
            for w in self.edges[v].keys().filter(|w| component.contains(*w)) {
                if w == start {
                    let mut path = vec![start.clone()];
                    let mut at = v;
                    while at != start {
                        path.push(at.clone());
                        at = parent[at];
                    }
                    path.push(start.clone());
                    path.reverse();
                    return path;
                }
                if !parent.contains_key(w) {
                    parent.insert(w, v);
                    queue.push_back(w);
                }
            }
        }
        unreachable!("a strongly connected component has a cycle")
    }

    /// Edges from a layer to a higher one, and top-level imports outside
    /// what `top` allows.
    fn upward_edges(&self, layers: &[&str], top: fn(&str, &Unit) -> Option<bool>) -> Vec<String> {
        let rank = |u: &Unit| {
            u.layer
                .as_deref()
                .and_then(|l| layers.iter().position(|x| *x == l))
        };
        let mut out = Vec::new();
        for (from, tos) in &self.edges {
            for to in tos.keys() {
                let fine = match (rank(from), rank(to)) {
                    (Some(a), Some(b)) => b <= a,
                    // Any layer may use the shared error type.
                    (Some(_), None) => to.name == "error",
                    (None, _) => top(&from.name, to).unwrap_or(false),
                };
                if !fine {
                    out.push(format!(
                        "layer violation: {from} imports {to} ({}); imports flow {}",
                        self.seen(from, to),
                        layers
                            .iter()
                            .rev()
                            .copied()
                            .collect::<Vec<_>>()
                            .join(" -> ")
                    ));
                }
            }
        }
        out
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .expect("architecture test")
        .map(|e| e.expect("architecture test").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `a/b.rs` is `[a, b]`, `a/mod.rs` is `[a]`, `main.rs` and `lib.rs` `[]`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file
        .strip_prefix(src)
        .expect("architecture test")
        .with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod")) {
        parts.pop();
    }
    if parts.len() == 1 && matches!(parts[0].as_str(), "main" | "lib") {
        parts.clear();
    }
    parts
}

/// The crate root is the unit `main`; a layer's module is `layer::name`.
fn unit_of(module: &[String], layers: &[&str]) -> Unit {
    match module {
        [] => Unit {
            layer: None,
            name: "main".into(),
        },
        [layer, name, ..] if layers.contains(&layer.as_str()) => Unit {
            layer: Some(layer.clone()),
            name: name.clone(),
        },
        [name, ..] => Unit {
            layer: None,
            name: name.clone(),
        },
    }
}

/// The longest prefix of `path` that is a module (an item's path names
/// the module it lives in).
fn resolve(path: &[String], modules: &BTreeSet<Vec<String>>) -> Vec<String> {
    (0..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| modules.contains(p))
        .unwrap_or_default()
}

/// Every absolute module path named in `text` by `crate::…` or `super::…`
/// (groups `{a, b::c}` expanded, over several lines too), with its line;
/// comments are skipped. After an inline `mod x {` (the tests), `super`
/// is the file's own module.
fn references(text: &str, module: &[String]) -> Vec<(usize, Vec<String>)> {
    let mut code = String::new();
    let mut line_at = Vec::new();
    let mut inline_from = usize::MAX;
    for (n, line) in text.lines().enumerate() {
        let line = line.split("//").next().unwrap_or("");
        let t = line.trim_start();
        if inline_from == usize::MAX && t.starts_with("mod ") && t.ends_with('{') {
            inline_from = code.len();
        }
        code.push_str(line);
        code.push('\n');
        line_at.resize(code.len(), n + 1);
    }
    let bytes = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let at_word = i == 0 || !is_ident(bytes[i - 1]);
        let (base, rest) = if at_word && bytes[i..].starts_with(b"crate::") {
            (Vec::new(), i + "crate::".len())
        } else if at_word && bytes[i..].starts_with(b"super::") {
            let mut up = usize::from(i < inline_from);
            let mut j = i + "super::".len();
            while bytes[j..].starts_with(b"super::") {
                up += 1;
                j += "super::".len();
            }
            let mut base = module.to_vec();
            base.truncate(module.len().saturating_sub(up));
            (base, j)
        } else {
            i += 1;
            continue;
        };
        let (paths, end) = parse_tree(&code, rest);
        for p in paths {
            out.push((line_at[i], [base.clone(), p].concat()));
        }
        i = end.max(i + 1);
    }
    out
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Parses `a::b::{c, d::e}` from `pos`; returns the paths and the end.
fn parse_tree(code: &str, mut pos: usize) -> (Vec<Vec<String>>, usize) {
    let bytes = code.as_bytes();
    let mut prefix = Vec::new();
    loop {
        let start = pos;
        while pos < bytes.len() && is_ident(bytes[pos]) {
            pos += 1;
        }
        if pos > start {
            prefix.push(code[start..pos].to_string());
        }
        let group = if bytes[pos..].starts_with(b"::{") {
            Some(pos + 3)
        } else if prefix.is_empty() && bytes[pos..].starts_with(b"{") {
            Some(pos + 1)
        } else {
            None
        };
        if let Some(open) = group {
            pos = open;
            let mut all = Vec::new();
            loop {
                while pos < bytes.len() && (bytes[pos].is_ascii_whitespace() || bytes[pos] == b',')
                {
                    pos += 1;
                }
                if pos >= bytes.len() || bytes[pos] == b'}' {
                    return (all, pos + 1);
                }
                let (inner, end) = parse_tree(code, pos);
                for p in inner {
                    all.push([prefix.clone(), p].concat());
                }
                // Skip `as alias` and anything up to the next item.
                pos = end;
                while pos < bytes.len() && !matches!(bytes[pos], b',' | b'}' | b'{') {
                    pos += 1;
                }
            }
        }
        if bytes[pos..].starts_with(b"::") && pos > start {
            pos += 2;
            continue;
        }
        let path: Vec<String> = prefix
            .into_iter()
            .filter(|s| s != "self" && !s.is_empty())
            .collect();
        return (vec![path], pos);
    }
}
