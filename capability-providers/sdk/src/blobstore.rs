//! Blob storage through a linked provider: the contract between a host
//! (which owns the guest's `wasi:blobstore` resources and streams) and the
//! provider that keeps the objects. Values cross as byte streams in both
//! directions, never as whole objects in memory.

use futures::future::BoxFuture;
use trellis_protocol::ComponentId;

/// An object's bytes (or a range of them), read as they are needed.
pub type BlobReader = Box<dyn tokio::io::AsyncRead + Send + Unpin>;

/// What a blobstore call failed with, for the guest (`error` is a string
/// in `wasi:blobstore`).
pub type BlobResult<T> = Result<T, String>;

/// A container's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerInfo {
    /// Its name.
    pub name: String,
    /// Seconds since the Unix epoch.
    pub created_at: u64,
}

/// An object's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Its name.
    pub name: String,
    /// Its container.
    pub container: String,
    /// Seconds since the Unix epoch.
    pub created_at: u64,
    /// Bytes.
    pub size: u64,
}

/// An object anywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    /// The container.
    pub container: String,
    /// The object.
    pub object: String,
}

/// A provider that stores blobs for components. Every call names the
/// component it is for (a provider may keep a root per link).
pub trait Blobstore: Send + Sync {
    /// Makes a container; an error when it exists.
    fn create_container(
        &self,
        source: &ComponentId,
        name: &str,
    ) -> BoxFuture<'static, BlobResult<ContainerInfo>>;
    /// An existing container's metadata; an error when it does not exist.
    fn container_info(
        &self,
        source: &ComponentId,
        name: &str,
    ) -> BoxFuture<'static, BlobResult<ContainerInfo>>;
    /// Removes a container and everything in it.
    fn delete_container(
        &self,
        source: &ComponentId,
        name: &str,
    ) -> BoxFuture<'static, BlobResult<()>>;
    /// Whether a container exists.
    fn container_exists(
        &self,
        source: &ComponentId,
        name: &str,
    ) -> BoxFuture<'static, BlobResult<bool>>;
    /// Bytes `start..=end` of an object (cut at its end), and how many.
    fn get(
        &self,
        source: &ComponentId,
        object: ObjectRef,
        start: u64,
        end: u64,
    ) -> BoxFuture<'static, BlobResult<(u64, BlobReader)>>;
    /// Stores `data` as an object (replacing one of that name); returns
    /// the bytes stored. Readers never see a half-written object.
    fn put(
        &self,
        source: &ComponentId,
        object: ObjectRef,
        data: BlobReader,
    ) -> BoxFuture<'static, BlobResult<u64>>;
    /// The names of a container's objects, sorted.
    fn list(
        &self,
        source: &ComponentId,
        container: &str,
    ) -> BoxFuture<'static, BlobResult<Vec<String>>>;
    /// Removes objects; absent ones are no error.
    fn delete(
        &self,
        source: &ComponentId,
        container: &str,
        objects: Vec<String>,
    ) -> BoxFuture<'static, BlobResult<()>>;
    /// An object's metadata; an error when it does not exist.
    fn info(
        &self,
        source: &ComponentId,
        object: ObjectRef,
    ) -> BoxFuture<'static, BlobResult<ObjectInfo>>;
    /// Copies an object (across containers too).
    fn copy(
        &self,
        source: &ComponentId,
        from: ObjectRef,
        to: ObjectRef,
    ) -> BoxFuture<'static, BlobResult<()>>;
    /// Moves an object.
    fn rename(
        &self,
        source: &ComponentId,
        from: ObjectRef,
        to: ObjectRef,
    ) -> BoxFuture<'static, BlobResult<()>>;
}

/// Checks a container name: 1 to 255 bytes, no `/`, `\`, NUL or control
/// character, not `.` or `..`.
pub fn check_container_name(name: &str) -> BlobResult<()> {
    if name.is_empty() || name.len() > 255 {
        return Err(format!(
            "container name `{}` must be 1 to 255 bytes",
            name.escape_debug()
        ));
    }
    if name == "."
        || name == ".."
        || name
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control())
    {
        return Err(format!(
            "container name `{}` may not be `.` or `..` or contain `/`, `\\` or control characters",
            name.escape_debug()
        ));
    }
    Ok(())
}

/// Checks an object name: 1 to 1024 bytes of `/`-separated segments, none
/// empty, `.` or `..`, no `\`, NUL or control character. A name can then
/// never leave its container, whatever the backend does with `/`.
pub fn check_object_name(name: &str) -> BlobResult<()> {
    if name.is_empty() || name.len() > 1024 {
        return Err(format!(
            "object name `{}` must be 1 to 1024 bytes",
            name.escape_debug()
        ));
    }
    let bad = name.chars().any(|c| c == '\\' || c.is_control())
        || name
            .split('/')
            .any(|segment| segment.is_empty() || segment == "." || segment == "..");
    if bad {
        return Err(format!(
            "object name `{}` may not contain `..`, `.` or empty segments, `\\` or control \
             characters",
            name.escape_debug()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_could_leave_their_container_are_refused() {
        for bad in ["", ".", "..", "a/b", "a\\b", "a\0"] {
            assert!(check_container_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_container_name("photos-2026").is_ok());
        for bad in [
            "", "../x", "a/../b", "a//b", "/a", "a/", "./a", "a\\..\\b", "a\nb",
        ] {
            assert!(check_object_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_object_name("a/b/c.txt").is_ok());
        assert!(check_object_name("..hidden").is_ok());
    }
}
