//! wasmCloud's provider images, and the builtin provider that implements
//! the same interfaces. wadm starts a provider from an OCI image; Trellis
//! compiles its providers into the host, so a manifest written for wasmCloud
//! names an image Trellis never pulls.

/// One known provider: the last path segment of its image (without tag or
/// digest), the builtin that replaces it, and what differs.
struct Known {
    repo: &'static str,
    builtin: &'static str,
    differs: &'static str,
}

/// wasmCloud's provider images, current names and the older ones
/// (`wasmcloud.azurecr.io/httpserver` and friends).
const KNOWN: &[Known] = &[
    Known {
        repo: "http-server",
        builtin: "http-server",
        differs: "",
    },
    Known {
        repo: "httpserver",
        builtin: "http-server",
        differs: "",
    },
    Known {
        repo: "http-client",
        builtin: "http-client",
        differs: "; outbound hosts must be listed in the link's `allowed_hosts`",
    },
    Known {
        repo: "httpclient",
        builtin: "http-client",
        differs: "; outbound hosts must be listed in the link's `allowed_hosts`",
    },
    Known {
        repo: "keyvalue-nats",
        builtin: "keyvalue-nats",
        differs: "",
    },
    Known {
        repo: "keyvalue-redis",
        builtin: "keyvalue-nats",
        differs: "; data lives in the lattice's JetStream, not in Redis (`url` is ignored)",
    },
    Known {
        repo: "kvredis",
        builtin: "keyvalue-nats",
        differs: "; data lives in the lattice's JetStream, not in Redis (`url` is ignored)",
    },
    Known {
        repo: "messaging-nats",
        builtin: "messaging-nats",
        differs: "",
    },
    Known {
        repo: "nats_messaging",
        builtin: "messaging-nats",
        differs: "",
    },
    Known {
        repo: "blobstore-fs",
        builtin: "blobstore-fs",
        differs: "",
    },
    Known {
        repo: "blobstore_fs",
        builtin: "blobstore-fs",
        differs: "",
    },
    Known {
        repo: "blobstore-nats",
        builtin: "blobstore-nats",
        differs: "",
    },
];

/// Registries wasmCloud publishes its providers to. An image elsewhere
/// with the same repository name is someone else's provider.
const PUBLISHERS: &[&str] = &["ghcr.io/wasmcloud/", "wasmcloud.azurecr.io/"];

/// The builtin provider that stands in for the wasmCloud provider `image`
/// (any tag or digest), with a note of what differs; `None` when `image`
/// is not one of wasmCloud's providers.
pub fn builtin_for_image(image: &str) -> Option<(&'static str, String)> {
    let image = image.strip_prefix("oci://").unwrap_or(image);
    let path = PUBLISHERS.iter().find_map(|p| image.strip_prefix(p))?;
    // `http-server:0.23.0`, `http-server@sha256:...`, or both.
    let repo = path.split(['@', ':']).next().unwrap_or(path);
    let known = KNOWN.iter().find(|k| k.repo == repo)?;
    let note = format!(
        "wasmCloud provider image `{image}` runs as Trellis' builtin://{}{}",
        known.builtin, known.differs
    );
    Some((known.builtin, note))
}

/// The wasmCloud provider images Trellis maps, for error hints.
pub(super) fn known_provider_repos() -> impl Iterator<Item = &'static str> {
    KNOWN.iter().map(|k| k.repo)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wasmcloud_provider_images_map_to_builtins_at_any_tag() {
        for (image, builtin) in [
            ("ghcr.io/wasmcloud/http-server:0.23.0", "http-server"),
            ("ghcr.io/wasmcloud/http-client:0.12.0", "http-client"),
            (
                "oci://ghcr.io/wasmcloud/keyvalue-redis:0.28.1",
                "keyvalue-nats",
            ),
            (
                "ghcr.io/wasmcloud/messaging-nats@sha256:0000",
                "messaging-nats",
            ),
            ("wasmcloud.azurecr.io/httpserver:0.19.1", "http-server"),
            ("ghcr.io/wasmcloud/blobstore-fs:0.10.1", "blobstore-fs"),
        ] {
            let (b, note) = builtin_for_image(image).expect(image);
            assert_eq!(b, builtin, "{image}");
            let written = image.trim_start_matches("oci://");
            assert!(note.contains(written) && note.contains(builtin), "{note}");
        }
        assert!(builtin_for_image("ghcr.io/wasmcloud/blobstore-s3:0.1").is_none());
        assert!(builtin_for_image("ghcr.io/someone/http-server:1").is_none());
        assert!(
            builtin_for_image("ghcr.io/wasmcloud/components/http-hello-world-rust:0.1.0").is_none()
        );
    }
}
