//! App manifests the end-to-end tests deploy, written in one place.

/// A hello-world app: one component behind the builtin HTTP server, which
/// listens on `127.0.0.1:{port}` through the named inline config.
#[derive(Debug, Clone)]
pub struct HelloApp<'a> {
    /// `metadata.name`.
    pub name: &'a str,
    /// The component's image, e.g. `file:///path/hello_http.wasm`.
    pub image: String,
    /// Instances of the component.
    pub instances: u32,
    /// Hosts labelled `zone=Z` run the component (anywhere when `None`).
    pub component_zone: Option<&'a str>,
    /// Hosts labelled `zone=Z` run the HTTP server (every host when `None`).
    pub http_zone: Option<&'a str>,
    /// Name of the link's source config (holds the address).
    pub config: &'a str,
    /// The listener's port.
    pub port: u16,
}

impl HelloApp<'_> {
    /// App "shop": one instance of `image` on any host, the HTTP server on
    /// every host, config "shop-addr".
    pub fn shop(image: String, port: u16) -> Self {
        HelloApp {
            name: "shop",
            image,
            instances: 1,
            component_zone: None,
            http_zone: None,
            config: "shop-addr",
            port,
        }
    }

    /// Writes the manifest to `dir/{name}.yaml` and returns that path.
    pub fn write_in(&self, dir: &std::path::Path) -> std::io::Result<std::path::PathBuf> {
        let file = dir.join(format!("{}.yaml", self.name));
        std::fs::write(&file, self.yaml())?;
        Ok(file)
    }

    /// The manifest as YAML.
    pub fn yaml(&self) -> String {
        let HelloApp {
            name,
            image,
            instances,
            config,
            port,
            ..
        } = self;
        let component = scaler(*instances, self.component_zone);
        let http = scaler(1, self.http_zone);
        format!(
            r#"
apiVersion: core.oam.dev/v1beta1
kind: Application
metadata: {{ name: {name}, annotations: {{ version: v1 }} }}
spec:
  components:
    - name: hello
      type: component
      properties: {{ image: "{image}" }}
      traits:
        - type: spreadscaler
          properties: {component}
    - name: http
      type: capability
      properties: {{ image: "builtin://http-server" }}
      traits:
        - type: daemonscaler
          properties: {http}
        - type: link
          properties:
            target: {{ name: hello }}
            namespace: wasi
            package: http
            interfaces: [incoming-handler]
            source: {{ config: [ {{ name: {config}, properties: {{ address: "127.0.0.1:{port}" }} }} ] }}
"#
        )
    }
}

/// A scaler's properties, with a spread named after its zone when given.
fn scaler(instances: u32, zone: Option<&str>) -> String {
    match zone {
        Some(z) => format!(
            "{{ instances: {instances}, spread: [ {{ name: {z}, requirements: {{ zone: {z} }} }} ] }}"
        ),
        None => format!("{{ instances: {instances} }}"),
    }
}
