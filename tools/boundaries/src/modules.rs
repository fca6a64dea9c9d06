//! Finding crates and their module files: crate roots from each
//! package's conventional targets, children from `mod name;`.

use std::path::{Path, PathBuf};

use crate::paths::{FileScan, scan};

/// Directories never searched for packages.
const SKIP_DIRS: &[&str] = &["target", "node_modules"];
/// How deep packages may sit below the workspace root.
const MAX_DIR_DEPTH: usize = 8;
/// How deep modules may nest inside a crate.
const MAX_MODULE_DEPTH: usize = 16;
/// More module files than this in one crate is not a crate we know.
const MAX_MODULES: usize = 5_000;

/// Why the source could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// What was read.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: std::io::Error,
    },
    /// A crate with more modules than [`MAX_MODULES`].
    #[error("{root}: more than {MAX_MODULES} module files; is `mod` recursing through a symlink?")]
    TooManyModules {
        /// The crate's root file.
        root: PathBuf,
    },
}

/// One module file of a crate.
#[derive(Debug, Clone)]
pub struct Module {
    /// Its path from the crate root (empty for the root).
    pub path: Vec<String>,
    /// Its file.
    pub file: PathBuf,
    /// What it names.
    pub scan: FileScan,
}

/// A crate: its root file and every module file reachable from it.
#[derive(Debug, Clone)]
pub struct Crate {
    /// `src/lib.rs`, `src/main.rs`, a `src/bin/` file, a test or a bench.
    pub root: PathBuf,
    /// Module files, the root first.
    pub modules: Vec<Module>,
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.into(),
        source,
    })
}

fn entries(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let read = std::fs::read_dir(dir).map_err(|source| Error::Read {
        path: dir.into(),
        source,
    })?;
    let mut out: Vec<PathBuf> = read.filter_map(|e| e.ok().map(|e| e.path())).collect();
    out.sort();
    Ok(out)
}

/// Every crate root of every package under `dir`.
pub fn crate_roots(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut roots = Vec::new();
    packages(dir, 0, &mut roots)?;
    Ok(roots)
}

fn packages(dir: &Path, depth: usize, roots: &mut Vec<PathBuf>) -> Result<(), Error> {
    let manifest = dir.join("Cargo.toml");
    if manifest.is_file() && read(&manifest)?.contains("[package]") {
        package_roots(dir, roots)?;
    }
    if depth >= MAX_DIR_DEPTH {
        return Ok(());
    }
    for entry in entries(dir)? {
        let name = entry.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if entry.is_dir() && !name.starts_with('.') && !SKIP_DIRS.contains(&name) {
            packages(&entry, depth + 1, roots)?;
        }
    }
    Ok(())
}

/// Cargo's conventional targets of the package in `dir`.
fn package_roots(dir: &Path, roots: &mut Vec<PathBuf>) -> Result<(), Error> {
    for file in ["src/lib.rs", "src/main.rs"] {
        if dir.join(file).is_file() {
            roots.push(dir.join(file));
        }
    }
    for sub in ["src/bin", "tests", "benches", "examples"] {
        let d = dir.join(sub);
        if !d.is_dir() {
            continue;
        }
        for entry in entries(&d)? {
            if entry.extension().is_some_and(|e| e == "rs") && entry.is_file() {
                roots.push(entry);
            } else if entry.join("main.rs").is_file() {
                roots.push(entry.join("main.rs"));
            }
        }
    }
    Ok(())
}

/// Where the children of the module in `file` live.
fn child_dir(file: &Path, is_root: bool) -> PathBuf {
    let parent = file.parent().unwrap_or(Path::new("."));
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if is_root || name == "mod.rs" {
        parent.to_path_buf()
    } else {
        parent.join(file.file_stem().unwrap_or_default())
    }
}

/// The crate rooted at `root`, every `mod name;` followed to its file.
/// A declared module whose file is missing (generated, or behind a
/// `cfg`) is left out.
pub fn read_crate(root: &Path) -> Result<Crate, Error> {
    let mut modules = Vec::new();
    let mut queue = vec![(Vec::new(), root.to_path_buf())];
    while let Some((path, file)) = queue.pop() {
        if modules.len() >= MAX_MODULES {
            return Err(Error::TooManyModules { root: root.into() });
        }
        let scan = scan(&read(&file)?);
        if path.len() < MAX_MODULE_DEPTH {
            let dir = child_dir(&file, path.is_empty());
            for child in &scan.child_mods {
                let flat = dir.join(format!("{child}.rs"));
                let nested = dir.join(child).join("mod.rs");
                let found = [flat, nested].into_iter().find(|f| f.is_file());
                if let Some(child_file) = found {
                    let mut child_path = path.clone();
                    child_path.push(child.clone());
                    queue.push((child_path, child_file));
                }
            }
        }
        modules.push(Module { path, file, scan });
    }
    modules.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Crate {
        root: root.into(),
        modules,
    })
}
