//! The graph between a crate's module files and its circles (strongly
//! connected sets of more than one file).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use crate::modules::{Crate, Error, crate_roots, read_crate};
use crate::paths::Reference;

/// How many `pub use` hops are followed to an item's home.
const MAX_REEXPORT_HOPS: usize = 8;

/// Files of one crate that import each other in a circle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Circle {
    /// The crate's root file.
    pub crate_root: PathBuf,
    /// The files in the circle.
    pub files: Vec<PathBuf>,
    /// One line per import inside the circle: (file, line, imported file).
    pub ties: Vec<(PathBuf, u32, PathBuf)>,
}

impl fmt::Display for Circle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "import circle in {} between {} files:",
            self.crate_root.display(),
            self.files.len()
        )?;
        for (file, line, to) in &self.ties {
            writeln!(f, "  {}:{line} uses {}", file.display(), to.display())?;
        }
        write!(
            f,
            "  break it by moving what both sides need into a module that uses neither"
        )
    }
}

/// Every import circle in every crate under `dir`, paths relative to it.
pub fn check_workspace(dir: &Path) -> Result<Vec<Circle>, Error> {
    let mut circles = Vec::new();
    for root in crate_roots(dir)? {
        for mut circle in crate_circles(&read_crate(&root)?) {
            let rel = |p: &Path| p.strip_prefix(dir).unwrap_or(p).to_path_buf();
            circle.crate_root = rel(&circle.crate_root);
            circle.files = circle.files.iter().map(|p| rel(p)).collect();
            circle.ties = circle
                .ties
                .iter()
                .map(|(a, l, b)| (rel(a), *l, rel(b)))
                .collect();
            circles.push(circle);
        }
    }
    Ok(circles)
}

struct Resolver<'a> {
    krate: &'a Crate,
    index: HashMap<&'a [String], usize>,
}

impl<'a> Resolver<'a> {
    fn new(krate: &'a Crate) -> Self {
        let index = krate
            .modules
            .iter()
            .enumerate()
            .map(|(i, m)| (m.path.as_slice(), i))
            .collect();
        Resolver { krate, index }
    }

    /// The path from the crate root that `segments`, written in module
    /// `m` inside `inline`, stand for; `None` for other crates and locals.
    fn absolute(&self, m: usize, inline: &[String], segments: &[String]) -> Option<Vec<String>> {
        let module = &self.krate.modules[m];
        let here = || {
            module
                .path
                .iter()
                .chain(inline)
                .cloned()
                .collect::<Vec<_>>()
        };
        let (first, rest) = segments.split_first()?;
        match first.as_str() {
            "crate" => Some(rest.to_vec()),
            "self" => Some([here(), rest.to_vec()].concat()),
            "super" => {
                let mut base = here();
                base.pop()?;
                let mut rest = rest;
                while let Some(("super", tail)) = rest.split_first().map(|(s, t)| (s.as_str(), t)) {
                    base.pop()?;
                    rest = tail;
                }
                Some([base, rest.to_vec()].concat())
            }
            name if inline.is_empty() && module.scan.child_mods.iter().any(|c| c == name) => {
                Some([module.path.clone(), segments.to_vec()].concat())
            }
            _ => None,
        }
    }

    /// The module file an absolute path lands in, following re-exports.
    fn file_of(&self, mut abs: Vec<String>) -> usize {
        for _ in 0..MAX_REEXPORT_HOPS {
            let (m, k) = (0..=abs.len())
                .rev()
                .find_map(|k| self.index.get(&abs[..k]).map(|&m| (m, k)))
                .unwrap_or((0, 0));
            let Some(next) = abs.get(k) else { return m };
            let reexport = self.krate.modules[m]
                .scan
                .refs
                .iter()
                .find(|r| r.export.as_ref() == Some(next));
            let Some(target) = reexport.and_then(|r| self.absolute(m, &[], &r.segments)) else {
                return m;
            };
            abs = [target, abs[k + 1..].to_vec()].concat();
        }
        0
    }

    fn target(&self, m: usize, r: &Reference) -> Option<usize> {
        let abs = self.absolute(m, &r.inline, &r.segments)?;
        Some(self.file_of(abs))
    }
}

/// Where an import between two module files counts: between the two
/// children of their nearest common ancestor that contain them, or
/// nowhere when one contains the other (a parent is its children's
/// facade: it may dispatch to them and they may use what it defines).
fn lifted<'p>(from: &'p [String], to: &'p [String]) -> Option<(&'p [String], &'p [String])> {
    let common = from.iter().zip(to).take_while(|(a, b)| a == b).count();
    (from.len() > common && to.len() > common).then(|| (&from[..=common], &to[..=common]))
}

/// The circles of one crate: sibling modules (each with everything
/// inside it) that use each other, directly or around a loop.
pub fn crate_circles(krate: &Crate) -> Vec<Circle> {
    let resolver = Resolver::new(krate);
    // (from file, to file) -> first line that ties them.
    let mut ties: BTreeMap<(usize, usize), u32> = BTreeMap::new();
    for (m, module) in krate.modules.iter().enumerate() {
        for r in &module.scan.refs {
            if let Some(to) = resolver.target(m, r).filter(|&to| to != m) {
                ties.entry((m, to)).or_insert(r.line);
            }
        }
    }
    // Sibling subtrees are named by the module file at their top.
    let mut lifted_ties: BTreeMap<(usize, usize), Vec<(usize, usize)>> = BTreeMap::new();
    for &(a, b) in ties.keys() {
        let (pa, pb) = (&krate.modules[a].path, &krate.modules[b].path);
        if let Some((sa, sb)) = lifted(pa, pb) {
            let (Some(&na), Some(&nb)) = (resolver.index.get(sa), resolver.index.get(sb)) else {
                continue;
            };
            lifted_ties.entry((na, nb)).or_default().push((a, b));
        }
    }
    let mut out_edges = vec![Vec::new(); krate.modules.len()];
    for &(from, to) in lifted_ties.keys() {
        out_edges[from].push(to);
    }
    let file = |m: usize| krate.modules[m].file.clone();
    strongly_connected(&out_edges)
        .into_iter()
        .filter(|set| set.len() > 1)
        .map(|set| Circle {
            crate_root: krate.root.clone(),
            files: set.iter().map(|&m| file(m)).collect(),
            ties: lifted_ties
                .iter()
                .filter(|((a, b), _)| set.contains(a) && set.contains(b))
                .flat_map(|(_, files)| files.iter())
                .map(|&(a, b)| (file(a), ties[&(a, b)], file(b)))
                .collect(),
        })
        .collect()
}

/// Tarjan's algorithm; each set sorted, sets in discovery order.
fn strongly_connected(out_edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    struct State<'g> {
        edges: &'g [Vec<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        sets: Vec<Vec<usize>>,
    }
    fn visit(s: &mut State<'_>, v: usize) {
        s.index[v] = Some(s.next);
        s.low[v] = s.next;
        s.next += 1;
        s.stack.push(v);
        s.on_stack[v] = true;
        for &w in &s.edges[v] {
            match s.index[w] {
                None => {
                    visit(s, w);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(iw) if s.on_stack[w] => s.low[v] = s.low[v].min(iw),
                Some(_) => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            let mut set = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack[w] = false;
                set.push(w);
                if w == v {
                    break;
                }
            }
            set.sort_unstable();
            s.sets.push(set);
        }
    }
    let n = out_edges.len();
    let mut s = State {
        edges: out_edges,
        index: vec![None; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        next: 0,
        sets: Vec::new(),
    };
    for v in 0..n {
        if s.index[v].is_none() {
            visit(&mut s, v);
        }
    }
    s.sets
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, files: &[(&str, &str)]) {
        for (name, src) in files {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, src).unwrap();
        }
    }

    fn package(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &[("p/Cargo.toml", "[package]\nname = \"p\"\n")]);
        let files: Vec<_> = files
            .iter()
            .map(|(n, s)| (format!("p/src/{n}"), *s))
            .collect();
        let files: Vec<_> = files.iter().map(|(n, s)| (n.as_str(), *s)).collect();
        write(dir.path(), &files);
        dir
    }

    #[test]
    fn a_planted_circle_is_found_with_its_lines() {
        let dir = package(&[
            ("lib.rs", "mod a;\nmod b;\nmod c;\n"),
            ("a.rs", "use crate::b::B;\npub struct A;\n"),
            ("b.rs", "pub struct B;\nfn f() { crate::c::g() }\n"),
            ("c.rs", "pub fn g() {}\n\nuse super::a::A;\n"),
        ]);
        let circles = check_workspace(dir.path()).unwrap();
        assert_eq!(circles.len(), 1, "{circles:?}");
        let shown = circles[0].to_string();
        assert!(shown.contains("p/src/a.rs:1 uses p/src/b.rs"), "{shown}");
        assert!(shown.contains("p/src/b.rs:2 uses p/src/c.rs"), "{shown}");
        assert!(shown.contains("p/src/c.rs:3 uses p/src/a.rs"), "{shown}");
    }

    #[test]
    fn layers_tests_and_reexports_are_not_circles() {
        let dir = package(&[
            // The root re-exports; everyone may use the re-export.
            (
                "lib.rs",
                "mod ctx;\nmod top;\nmod verbs;\npub use top::run;\npub use ctx::Ctx;\n",
            ),
            (
                "ctx.rs",
                "pub struct Ctx;\n#[cfg(test)]\nmod tests { use super::*; use crate::Ctx as C; }\n",
            ),
            // A parent re-exports a child's item; a sibling uses it through
            // the parent: that is a use of the child, not of the parent.
            (
                "verbs/mod.rs",
                "mod scale;\npub use scale::Scale;\npub fn all() { scale::f() }\n",
            ),
            (
                "verbs/scale.rs",
                "use crate::Ctx;\npub struct Scale;\npub fn f() {}\n",
            ),
            (
                "top.rs",
                "use crate::verbs::{self, Scale};\nuse crate::Ctx;\npub fn run() {}\n",
            ),
        ]);
        assert_eq!(check_workspace(dir.path()).unwrap(), []);
    }

    #[test]
    fn a_parent_is_its_childrens_facade() {
        let dir = package(&[
            ("lib.rs", "mod verbs;\n"),
            (
                "verbs/mod.rs",
                "mod scale;\npub struct Reply;\npub fn all() { scale::f() }\n",
            ),
            ("verbs/scale.rs", "use super::Reply;\npub fn f() {}\n"),
        ]);
        assert_eq!(check_workspace(dir.path()).unwrap(), []);
    }

    #[test]
    fn files_deep_in_two_siblings_tie_the_siblings() {
        let dir = package(&[
            ("lib.rs", "mod a;\nmod b;\n"),
            ("a/mod.rs", "mod x;\n"),
            ("a/x.rs", "pub fn f() { crate::b::y::g() }\n"),
            ("b/mod.rs", "pub mod y;\n"),
            ("b/y.rs", "pub fn g() {}\nfn h() { crate::a::x::f() }\n"),
        ]);
        let circles = check_workspace(dir.path()).unwrap();
        assert_eq!(circles.len(), 1, "{circles:?}");
        assert_eq!(
            circles[0].files,
            ["p/src/a/mod.rs", "p/src/b/mod.rs"].map(PathBuf::from)
        );
        assert_eq!(circles[0].ties.len(), 2);
    }

    /// The check itself, over this workspace: every crate's modules are
    /// layered. `scripts/check-boundaries.sh` runs the same through the
    /// binary; this keeps the test command enforcing it too.
    #[test]
    fn this_workspace_has_no_import_circle() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let circles = check_workspace(&root).unwrap();
        let shown: Vec<String> = circles.iter().map(ToString::to_string).collect();
        assert!(circles.is_empty(), "{}", shown.join("\n"));
        // And it looked: the host alone has dozens of module files.
        let host = crate::modules::read_crate(&root.join("host/src/lib.rs")).unwrap();
        assert!(
            host.modules.len() > 30,
            "{} host modules",
            host.modules.len()
        );
    }
}
