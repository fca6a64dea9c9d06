//! YAML manifests as `trellis app put` sends them and wadm checks them.

use crate::Target;

/// `manifest`.
pub(super) const MANIFEST: Target = Target {
    name: "manifest",
    about: "YAML manifests: parse, validate, the API's put checks",
    seeds: || {
        vec![
            include_bytes!("../../../examples/hello.yaml").to_vec(),
            include_bytes!("../../../examples/kv-counter.yaml").to_vec(),
            b"apiVersion: core.oam.dev/v1beta1\nkind: Application\nmetadata: { name: x }\nspec: { components: [] }\n".to_vec(),
            b"a: &a [1, 2]\nb: &b [*a, *a, *a, *a]\nc: &c [*b, *b, *b, *b]\nd: [*c, *c, *c, *c]\n".to_vec(),
        ]
    },
    dict: &[
        "instances: ",
        "weight: ",
        "spreadscaler",
        "daemonscaler",
        "link",
        "requirements: ",
        "image: ",
        "nats://ART/sha256-",
        "\n    - ",
        "{ ",
        " }",
        "&x ",
        "*x",
        "<<: ",
    ],
    max_len: 16 * 1024,
    run: |bytes| {
        let Ok(yaml) = std::str::from_utf8(bytes) else {
            return;
        };
        if let Ok(m) = trellis_wadm::manifest::parse(yaml) {
            let _ = trellis_wadm::manifest::validate(&m);
        }
        let _ = trellis_wadm::api::check_manifest(yaml);
    },
};
