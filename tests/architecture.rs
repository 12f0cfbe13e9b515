//! The house's rules, checked on every `cargo test`:
//!
//! 1. no import cycle among the top-level modules of any crate of the workspace, nor among the
//!    files of one folder module (its `mod.rs` aside: a parent and its children may name each
//!    other);
//! 2. in the `faultline` crate and the CLI, every module imports only modules of its own layer
//!    or lower ones ([`FAULTLINE_LAYERS`], [`CLI_LAYERS`]), and every module has a layer;
//! 3. docs/architecture.md shows exactly these layer tables.
//!
//! An import is a `crate::NAME` path anywhere in a file's code (a `use`, a `use crate::{..}`
//! group, or a path in an expression), comments and string literals left out; a name the crate
//! root re-exports (`crate::NodeCtx`) counts as its module. `super::` is not followed: in a
//! top-level module it names the crate root only from the file's own `mod tests`. No dependency
//! beyond std: the test parses the sources itself.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A layer table: (layer name, its modules), lowest layer first.
type Layers = &'static [(&'static str, &'static [&'static str])];

/// The layers of the `faultline` crate, lowest first: a module may import modules of its own
/// layer and of lower layers only. Mirrored in docs/architecture.md (checked below).
const FAULTLINE_LAYERS: Layers = &[
    (
        "foundation",
        &[
            "buggify",
            "channel",
            "command",
            "corruption",
            "data",
            "disk_error",
            "disk_state",
            "fingerprint",
            "panics",
            "records",
            "schedule",
            "task",
            "wire",
        ],
    ),
    ("recording", &["recording"]),
    ("world", &["clock", "disk", "netsim", "world"]),
    ("node", &["ctx"]),
    (
        "api",
        &["checker", "leader", "linearizable", "protocol", "workload"],
    ),
    ("engine", &["nemesis", "sim"]),
    ("model", &["model"]),
    ("run", &["run"]),
    ("report", &["artifacts", "repro", "story", "timeline"]),
    ("runner", &["campaign", "check", "shrink"]),
];

/// The layers of the CLI crate (`faultline_cli`), lowest first.
const CLI_LAYERS: Layers = &[
    ("pieces", &["junit", "progress"]),
    ("tools", &["bench", "merge", "shrink", "suite"]),
    ("command line", &["cli"]),
];

/// The crates of the workspace: (name, src folder relative to the workspace root, layers).
const CRATES: &[(&str, &str, Option<Layers>)] = &[
    ("faultline-checkers", "checkers/src", None),
    ("faultline", "harness/src", Some(FAULTLINE_LAYERS)),
    ("faultline-models", "models/src", None),
    ("faultline-cli", "src", Some(CLI_LAYERS)),
];

// ---------------------------------------------------------------- the parser

/// `text` with comments, string literals and char literals blanked out (newlines kept), so
/// that only code is searched for paths.
fn code_only(text: &str) -> String {
    let b: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            // Block comments nest in Rust.
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(b[i]));
                    i += 1;
                }
            }
        } else if c == 'r'
            && (next == Some('"') || next == Some('#'))
            && (i == 0 || !(b[i - 1].is_alphanumeric() || b[i - 1] == '_'))
        {
            // A raw string r"..." or r#"..."#: ends at a quote followed by as many hashes.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                match b.get(j) {
                    None => break,
                    Some('"') if (1..=hashes).all(|k| b.get(j + k) == Some(&'#')) => {
                        j += 1 + hashes;
                        break;
                    }
                    Some(_) => j += 1,
                }
            }
            b[i..j.min(b.len())]
                .iter()
                .for_each(|&c| out.push(blank(c)));
            i = j;
        } else if c == '"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != '"' {
                j += if b[j] == '\\' { 2 } else { 1 };
            }
            b[i..(j + 1).min(b.len())]
                .iter()
                .for_each(|&c| out.push(blank(c)));
            i = j + 1;
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{1F600}', '"'), or else a lifetime ('a).
            let end = if next == Some('\\') {
                (i + 2..b.len()).find(|&j| b[j] == '\'')
            } else if b.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match end {
                Some(e) => {
                    b[i..=e].iter().for_each(|&c| out.push(blank(c)));
                    i = e + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The first path segments after every `PREFIX::` in `code` (`PREFIX` a whole word), groups
/// included: `crate::{a::X, b}` gives `a` and `b`.
fn segments_after(code: &str, prefix: &str) -> BTreeSet<String> {
    let needle = format!("{prefix}::");
    let mut found = BTreeSet::new();
    let mut from = 0;
    while let Some(at) = code[from..].find(&needle) {
        let start = from + at;
        from = start + needle.len();
        if code[..start].chars().next_back().is_some_and(is_ident) {
            continue; // `mycrate::` or `super::crate::`-like: not ours
        }
        let rest = code[from..].trim_start();
        if let Some(group) = rest.strip_prefix('{') {
            // Up to the matching brace; the first segment of each top-level item.
            let (mut depth, mut item_start, mut items) = (0usize, 0usize, vec![]);
            for (k, ch) in group.char_indices() {
                match ch {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        items.push(&group[item_start..k]);
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        items.push(&group[item_start..k]);
                        item_start = k + 1;
                    }
                    _ => {}
                }
            }
            for item in items {
                let name: String = item.trim().chars().take_while(|&c| is_ident(c)).collect();
                if !name.is_empty() {
                    found.insert(name);
                }
            }
        } else {
            let name: String = rest.chars().take_while(|&c| is_ident(c)).collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

/// The names a crate root re-exports, by the module they come from: `pub use ctx::{NodeCtx,
/// SimRng};` maps `NodeCtx` and `SimRng` to `ctx`.
fn reexports(root: &str) -> BTreeMap<String, String> {
    let code = code_only(root);
    let mut map = BTreeMap::new();
    for stmt in code.split(';') {
        let Some(path) = stmt.trim().strip_prefix("pub use ") else {
            continue;
        };
        let path = path.trim().trim_start_matches("crate::");
        let Some((module, rest)) = path.split_once("::") else {
            continue;
        };
        let rest = rest.trim().trim_start_matches('{').trim_end_matches('}');
        for name in rest.split(',') {
            let name = name.split(" as ").last().unwrap_or("").trim();
            let leaf = name.rsplit("::").next().unwrap_or("").trim();
            if !leaf.is_empty() {
                map.insert(leaf.to_string(), module.to_string());
            }
        }
    }
    map
}

/// One crate's sources: its top-level modules (a file or a folder) and each one's files, plus
/// the crate root's text (lib.rs or main.rs).
struct Sources {
    root: String,
    modules: BTreeMap<String, Vec<(PathBuf, String)>>,
}

fn read_sources(src: &Path) -> Sources {
    let mut root = String::new();
    let mut modules = BTreeMap::new();
    let mut entries: Vec<_> = std::fs::read_dir(src)
        .unwrap_or_else(|e| panic!("{}: {e}", src.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if p.is_dir() {
            let mut files = vec![];
            collect_rs(&p, &mut files);
            modules.insert(name, files);
        } else if let Some(stem) = name.strip_suffix(".rs") {
            let text = std::fs::read_to_string(&p).unwrap();
            if stem == "lib" || stem == "main" {
                root.push_str(&text);
            } else {
                modules.insert(stem.to_string(), vec![(p, text)]);
            }
        }
    }
    Sources { root, modules }
}

fn collect_rs(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect_rs(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&p).unwrap();
            out.push((p, text));
        }
    }
}

/// Module -> the other modules of the crate it imports.
type Graph = BTreeMap<String, BTreeSet<String>>;

/// The import graph of a crate's top-level modules.
fn module_graph(s: &Sources) -> Graph {
    let via_root = reexports(&s.root);
    let mut g = Graph::new();
    for (m, files) in &s.modules {
        let mut to = BTreeSet::new();
        for (_, text) in files {
            for name in segments_after(&code_only(text), "crate") {
                let target = if s.modules.contains_key(&name) {
                    Some(name)
                } else {
                    via_root.get(&name).cloned()
                };
                if let Some(t) = target.filter(|t| t != m) {
                    to.insert(t);
                }
            }
        }
        g.insert(m.clone(), to);
    }
    g
}

/// The import graph among the files of a folder module `m` (`mod.rs` left out): file `a`
/// imports sibling `b` when it names `super::b` or `crate::m::b`.
fn sibling_graph(m: &str, files: &[(PathBuf, String)]) -> Graph {
    let stem = |p: &Path| p.file_stem().unwrap().to_string_lossy().into_owned();
    // Only the folder's direct children (a nested folder's files are its own business).
    let dir = files.iter().map(|(p, _)| p.parent().unwrap()).min();
    let children: Vec<&(PathBuf, String)> = files
        .iter()
        .filter(|(p, _)| Some(p.parent().unwrap()) == dir && stem(p) != "mod")
        .collect();
    let names: BTreeSet<String> = children.iter().map(|(p, _)| stem(p)).collect();
    let mut g = Graph::new();
    for (p, text) in children {
        let code = code_only(text);
        let mut named = segments_after(&code, "super");
        for (k, _) in code.match_indices(&format!("crate::{m}::")) {
            let rest = &code[k + "crate::".len() + m.len() + 2..];
            named.insert(rest.chars().take_while(|&c| is_ident(c)).collect());
        }
        let me = stem(p);
        let to = named
            .into_iter()
            .filter(|n| names.contains(n) && *n != me)
            .collect();
        g.insert(me, to);
    }
    g
}

// ---------------------------------------------------------------- the graph rules

/// The cycles of `g`: its strongly connected components of more than one module (Tarjan).
fn cycles(g: &Graph) -> Vec<Vec<String>> {
    struct Tarjan<'a> {
        g: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    impl<'a> Tarjan<'a> {
        fn visit(&mut self, v: &'a str) {
            let i = self.index.len();
            self.index.insert(v, i);
            self.low.insert(v, i);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.g.get(v).into_iter().flatten() {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let lw = self.low[w];
                    let lv = self.low.get_mut(v).unwrap();
                    *lv = (*lv).min(lw);
                } else if self.on_stack.contains(w) {
                    let iw = self.index[w];
                    let lv = self.low.get_mut(v).unwrap();
                    *lv = (*lv).min(iw);
                }
            }
            if self.low[v] == self.index[v] {
                let mut comp = vec![];
                loop {
                    let w = self.stack.pop().unwrap();
                    self.on_stack.remove(w);
                    comp.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if comp.len() > 1 {
                    comp.sort();
                    self.out.push(comp);
                }
            }
        }
    }
    let mut t = Tarjan {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: vec![],
        on_stack: BTreeSet::new(),
        out: vec![],
    };
    for v in g.keys() {
        if !t.index.contains_key(v.as_str()) {
            t.visit(v);
        }
    }
    t.out
}

/// Every import of `g` that goes up the `layers`, and every module without a layer (or a
/// layer's module that does not exist), as messages.
fn layer_problems(g: &Graph, layers: &[(&str, &[&str])]) -> Vec<String> {
    let layer_of: BTreeMap<&str, usize> = layers
        .iter()
        .enumerate()
        .flat_map(|(i, (_, ms))| ms.iter().map(move |m| (*m, i)))
        .collect();
    let mut problems = vec![];
    for m in layer_of.keys() {
        if !g.contains_key(*m) {
            problems.push(format!(
                "the layer table names `{m}`, which is not a module"
            ));
        }
    }
    for (m, to) in g {
        let Some(&lm) = layer_of.get(m.as_str()) else {
            problems.push(format!("module `{m}` has no layer: add it to the table"));
            continue;
        };
        for t in to {
            if let Some(&lt) = layer_of.get(t.as_str()) {
                if lt > lm {
                    problems.push(format!(
                        "`{m}` (layer {lm} {}) imports `{t}` (layer {lt} {}), a higher layer",
                        layers[lm].0, layers[lt].0
                    ));
                }
            }
        }
    }
    problems
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

// ---------------------------------------------------------------- the rules, on the workspace

#[test]
fn no_crate_has_an_import_cycle() {
    let mut found = vec![];
    let mut modules = 0;
    for (name, src, _) in CRATES {
        let s = read_sources(&workspace().join(src));
        assert!(!s.modules.is_empty(), "{name}: no modules under {src}");
        let g = module_graph(&s);
        modules += g.len();
        for c in cycles(&g) {
            found.push(format!("{name}: modules {}", c.join(", ")));
        }
        for (m, files) in &s.modules {
            if files.len() > 1 {
                for c in cycles(&sibling_graph(m, files)) {
                    found.push(format!("{name}: files of {m}/: {}", c.join(", ")));
                }
            }
        }
    }
    assert!(
        modules > 40,
        "only {modules} modules found: is the parser reading the crates?"
    );
    assert!(
        found.is_empty(),
        "import cycles (each line a set of modules that import each other in a circle):\n{}",
        found.join("\n")
    );
}

#[test]
fn modules_import_only_their_layer_and_lower_ones() {
    for (name, src, layers) in CRATES {
        let Some(layers) = layers else { continue };
        let g = module_graph(&read_sources(&workspace().join(src)));
        let problems = layer_problems(&g, layers);
        assert!(
            problems.is_empty(),
            "{name} ({src}): the layers are broken:\n{}\n(the table is in tests/architecture.rs \
             and docs/architecture.md)",
            problems.join("\n")
        );
    }
}

#[test]
fn the_faultline_crate_does_import_down_the_layers() {
    // The graph the rules judge is the real one: a few imports every version of the engine has.
    let g = module_graph(&read_sources(&workspace().join("harness/src")));
    for (from, to) in [
        ("sim", "world"),
        ("run", "model"),
        ("check", "campaign"),
        ("protocol", "ctx"),
    ] {
        assert!(
            g[from].contains(to),
            "{from} should import {to}: {:?}",
            g[from]
        );
    }
}

/// The layer tables of docs/architecture.md: rows `| N | name | `a`, `b` |` under a heading
/// naming the crate.
fn documented_layers(doc: &str) -> BTreeMap<String, Vec<(String, Vec<String>)>> {
    let mut tables: BTreeMap<String, Vec<(String, Vec<String>)>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in doc.lines() {
        if let Some(h) = line.strip_prefix("### Layers of `") {
            current = h.split('`').next().map(str::to_string);
            continue;
        }
        if line.starts_with('#') {
            current = None;
        }
        let Some(crate_name) = &current else { continue };
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 5 || cells[1].parse::<usize>().is_err() {
            continue;
        }
        let modules = cells[3]
            .split(',')
            .map(|m| m.trim().trim_matches('`').trim_end_matches('/').to_string())
            .filter(|m| !m.is_empty())
            .collect();
        tables
            .entry(crate_name.clone())
            .or_default()
            .push((cells[2].to_string(), modules));
    }
    tables
}

#[test]
fn docs_show_the_layers_the_test_enforces() {
    let path = workspace().join("docs/architecture.md");
    let doc = std::fs::read_to_string(&path).expect("docs/architecture.md");
    let tables = documented_layers(&doc);
    for (name, _, layers) in CRATES {
        let Some(layers) = layers else { continue };
        let want: Vec<(String, Vec<String>)> = layers
            .iter()
            .map(|(l, ms)| (l.to_string(), ms.iter().map(|m| m.to_string()).collect()))
            .collect();
        assert_eq!(
            tables.get(*name),
            Some(&want),
            "docs/architecture.md's layer table of `{name}` differs from tests/architecture.rs"
        );
    }
}

// ---------------------------------------------------------------- the parser and rules, tested

fn graph(edges: &[(&str, &str)]) -> Graph {
    let mut g = Graph::new();
    for (a, b) in edges {
        g.entry(a.to_string()).or_default().insert(b.to_string());
        g.entry(b.to_string()).or_default();
    }
    g
}

#[test]
fn a_cycle_is_found_and_a_chain_is_not() {
    let chain = graph(&[("run", "model"), ("model", "sim"), ("sim", "world")]);
    assert!(cycles(&chain).is_empty());
    // One import back up closes a circle of three.
    let mut circle = chain.clone();
    circle.get_mut("world").unwrap().insert("model".into());
    assert_eq!(cycles(&circle), vec![vec!["model", "sim", "world"]]);
    // Two separate circles are two findings.
    let two = graph(&[("a", "b"), ("b", "a"), ("c", "d"), ("d", "c"), ("a", "c")]);
    assert_eq!(cycles(&two).len(), 2);
}

#[test]
fn an_import_up_the_layers_is_found() {
    const LAYERS: &[(&str, &[&str])] = &[("low", &["world"]), ("high", &["sim"])];
    assert!(layer_problems(&graph(&[("sim", "world")]), LAYERS).is_empty());
    let up = layer_problems(&graph(&[("world", "sim")]), LAYERS);
    assert_eq!(up.len(), 1, "{up:?}");
    assert!(
        up[0].contains("`world` (layer 0 low) imports `sim`"),
        "{up:?}"
    );
    // A module missing from the table, and a table entry with no module, are problems too.
    let missing = layer_problems(&graph(&[("sim", "world"), ("new", "world")]), LAYERS);
    assert!(
        missing.iter().any(|p| p.contains("`new` has no layer")),
        "{missing:?}"
    );
    let stale = layer_problems(&graph(&[("world", "world")]), LAYERS);
    assert!(stale.iter().any(|p| p.contains("names `sim`")), "{stale:?}");
}

#[test]
fn the_parser_reads_paths_and_groups_and_skips_comments_and_strings() {
    let text = r##"
        use crate::world::{self, Core};
        use crate::{ctx::NodeCtx, schedule::{Step, Fault}, fingerprint};
        // use crate::commented_out;
        /* crate::in_a_block /* nested crate::deeper */ still crate::block */
        /// Docs name [`crate::doc_link`].
        fn f() -> crate::run::Verdict {
            let s = "crate::in_a_string \" crate::after_escape";
            let r = r#"crate::in_a_raw "string""#;
            let q = '"'; let lifetime: &'static str = "x";
            mycrate::not_ours(); crate::recording::Observation::default()
        }
    "##;
    let code = code_only(text);
    assert_eq!(code.lines().count(), text.lines().count(), "lines kept");
    let found: Vec<String> = segments_after(&code, "crate").into_iter().collect();
    assert_eq!(
        found,
        [
            "ctx",
            "fingerprint",
            "recording",
            "run",
            "schedule",
            "world"
        ]
    );
}

#[test]
fn a_synthetic_crate_with_a_cycle_fails_the_rules() {
    // Files on disk, read the way the real crates are: lib.rs re-exports, a folder module whose
    // files import each other, and top-level modules that import each other.
    let dir = std::env::temp_dir().join(format!("faultline-architecture-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("engine")).unwrap();
    let write = |p: &str, t: &str| std::fs::write(dir.join(p), t).unwrap();
    write(
        "lib.rs",
        "mod api; mod engine;\npub use api::{Api, Other as Renamed};\n",
    );
    write(
        "api.rs",
        "pub struct Api; pub fn f() { crate::engine::go() }\n",
    );
    write("engine/mod.rs", "mod a; mod b;\n");
    write("engine/a.rs", "use super::b::B; use crate::Api;\n");
    write("engine/b.rs", "pub struct B; fn g() { super::a::f() }\n");
    let s = read_sources(&dir);
    let g = module_graph(&s);
    // `crate::Api` is the re-export of `api`: engine -> api, and api -> engine: a cycle.
    assert_eq!(g["engine"], BTreeSet::from(["api".to_string()]));
    assert_eq!(cycles(&g), vec![vec!["api", "engine"]]);
    // a -> b -> a among the folder's files (mod.rs aside).
    assert_eq!(
        cycles(&sibling_graph("engine", &s.modules["engine"])),
        vec![vec!["a", "b"]]
    );
    // Break both: no cycle left.
    write("api.rs", "pub struct Api;\n");
    write("engine/b.rs", "pub struct B;\n");
    let s = read_sources(&dir);
    assert!(cycles(&module_graph(&s)).is_empty());
    assert!(cycles(&sibling_graph("engine", &s.modules["engine"])).is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_documented_tables_are_parsed() {
    let doc = "## Crates\n\n### Layers of `demo`\n\n| layer | name | modules | what |\n|---|---|---|---|\n\
               | 0 | low | `a`, `b/` | x |\n| 1 | high | `c` | y |\n\n## Next\n| 2 | no | `d` | z |\n";
    let t = documented_layers(doc);
    assert_eq!(
        t["demo"],
        vec![
            ("low".to_string(), vec!["a".to_string(), "b".to_string()]),
            ("high".to_string(), vec!["c".to_string()]),
        ]
    );
    assert_eq!(t.len(), 1);
}
