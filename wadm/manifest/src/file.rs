//! Reading a manifest file: the one place the manifest code touches disk.

use std::path::{Path, PathBuf};

use crate::manifest::{self, ImageRef, Manifest, ManifestError, Problem, component_path};

/// Reads, parses and validates the manifest at `path`, and checks that every
/// `file://` image exists (relative paths are taken from the manifest's
/// folder). `Err` only when the file cannot be read or is not a manifest.
pub fn validate_file(path: &Path) -> Result<(Manifest, Vec<Problem>), ManifestError> {
    let yaml = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let (manifest, mut problems) = manifest::check(&yaml)?;
    let base = manifest_dir(path);
    for (i, c) in manifest.spec.components.iter().enumerate() {
        if let Ok(ImageRef::File(file)) = ImageRef::parse(&c.properties.image) {
            let resolved = resolve_file_image(&base, &file);
            if !resolved.is_file() {
                problems.push(Problem::new(
                    format!("{}.properties.image", component_path(i, c)),
                    format!(
                        "file `{}` does not exist; build it or fix the path \
                         (relative paths start at the manifest's folder)",
                        resolved.display()
                    ),
                ));
            }
        }
    }
    Ok((manifest, problems))
}

/// The folder relative `file://` images of the manifest at `path` start from.
pub fn manifest_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The path a `file://` image (`file` is what follows the scheme) points to,
/// for a manifest in folder `base`.
pub fn resolve_file_image(base: &Path, file: &str) -> PathBuf {
    let file = Path::new(file);
    if file.is_absolute() || base == Path::new(".") {
        file.to_path_buf()
    } else {
        base.join(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_images_are_problems_relative_to_the_manifest() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("build")).unwrap();
        std::fs::write(dir.path().join("build/a.wasm"), b"\0asm").unwrap();
        let manifest = dir.path().join("app.yaml");
        let yaml = r#"
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: { name: app }
spec:
  components:
    - { name: a, type: component, properties: { image: file://./build/a.wasm } }
    - { name: b, type: component, properties: { image: file://build/b.wasm } }
"#;
        std::fs::write(&manifest, yaml).unwrap();
        let (m, problems) = validate_file(&manifest).unwrap();
        assert_eq!(m.version(), None);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].path, "spec.components[1] (b).properties.image");
        assert!(problems[0].message.contains("b.wasm"), "{}", problems[0]);
        assert_eq!(
            resolve_file_image(Path::new("."), "x.wasm"),
            Path::new("x.wasm")
        );
        assert_eq!(manifest_dir(Path::new("m.yaml")), Path::new("."));
    }

    #[test]
    fn an_unreadable_file_is_an_error() {
        let err = validate_file(Path::new("/nonexistent/app.yaml")).unwrap_err();
        assert!(matches!(err, ManifestError::Read { .. }), "{err}");
    }
}
