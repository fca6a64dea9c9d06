//! Command-line grammar. Global flags are accepted before or after the
//! subcommand.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Trellis: WebAssembly components on a NATS lattice, from edge to cloud.
#[derive(Debug, Parser)]
#[command(name = "trellis", version, about)]
pub(crate) struct Cli {
    /// Flags every command takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes.
#[derive(Debug, Args, Clone)]
pub(crate) struct GlobalArgs {
    /// NATS server of the lattice [default: nats://127.0.0.1:4222].
    #[arg(long, global = true, env = "TRELLIS_NATS_URL")]
    pub nats_url: Option<String>,
    /// Lattice name.
    #[arg(
        long,
        global = true,
        env = "TRELLIS_LATTICE",
        default_value = "default"
    )]
    pub lattice: String,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
    /// Seconds to wait for a control reply.
    #[arg(long, global = true, default_value_t = 60)]
    pub timeout: u64,
    /// NATS credentials file (.creds).
    #[arg(long, global = true, env = "TRELLIS_NATS_CREDS")]
    pub nats_creds: Option<PathBuf>,
    /// NATS user (with --nats-password).
    #[arg(long, global = true, env = "TRELLIS_NATS_USER")]
    pub nats_user: Option<String>,
    /// NATS password (with --nats-user).
    #[arg(
        long,
        global = true,
        env = "TRELLIS_NATS_PASSWORD",
        hide_env_values = true
    )]
    pub nats_password: Option<String>,
    /// File holding a NATS user nkey seed (SU...).
    #[arg(long, global = true, env = "TRELLIS_NATS_NKEY")]
    pub nats_nkey: Option<PathBuf>,
    /// CA certificate (PEM) for TLS to NATS; turns TLS on.
    #[arg(long, global = true, env = "TRELLIS_NATS_TLS_CA")]
    pub nats_tls_ca: Option<PathBuf>,
    /// JetStream domain of the lattice's storage (on edge sites behind a
    /// leaf node: the hub's domain, `hub` with `trellis up`).
    #[arg(long, global = true, env = "TRELLIS_JS_DOMAIN")]
    pub js_domain: Option<String>,
    /// Replicas of the lattice's JetStream buckets (links, config, wadm,
    /// artifacts, keyvalue-nats) when created; existing ones with fewer are
    /// scaled up. 3 on a three-node NATS cluster [default: 1].
    #[arg(long, global = true, env = "TRELLIS_JS_REPLICAS",
          value_parser = clap::value_parser!(u8).range(1..=5))]
    pub js_replicas: Option<u8>,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum OutputFormat {
    /// Human-readable.
    Table,
    /// Machine-readable JSON on stdout.
    Json,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run a single-node lattice for development: nats-server and a host.
    Up(UpArgs),
    /// Stop what `trellis up --detach` started.
    Down(DownArgs),
    /// Run a host that joins the lattice.
    Host(HostArgs),
    /// Show hosts, inventories or links.
    #[command(subcommand)]
    Get(GetCommand),
    /// Start a component or provider.
    #[command(subcommand)]
    Start(StartCommand),
    /// Change the instance bound of a running component.
    #[command(subcommand)]
    Scale(ScaleCommand),
    /// Stop a component or provider.
    #[command(subcommand)]
    Stop(StopCommand),
    /// Replace the image of a running component in place.
    #[command(subcommand)]
    Update(UpdateCommand),
    /// Store a file in the lattice and print its nats:// reference, or
    /// (`push REFERENCE FILE`) push a component to an OCI registry.
    Push(crate::oci_args::PushArgs),
    /// Pull a component from an OCI registry into a file.
    Pull(crate::oci_args::PullArgs),
    /// OCI registry credentials.
    #[command(subcommand)]
    Registry(crate::oci_args::RegistryCommand),
    /// Call an exported function of a component, wherever it runs.
    Call(CallArgs),
    /// Print lattice events as they happen.
    Events(EventsArgs),
    /// Serve a web dashboard of the lattice: hosts, apps, links, request
    /// rates and live events.
    Ui(UiArgs),
    /// Manage named config.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Manage links.
    #[command(subcommand)]
    Link(LinkCommand),
    /// The lattice's secret store: keygen, put, get, del, list.
    #[command(subcommand)]
    Secrets(crate::secrets_args::SecretsCommand),
    /// Generate and inspect nkeys (Ed25519) seed files.
    #[command(subcommand)]
    Keys(crate::security_args::KeysCommand),
    /// Sign components and inspect their embedded claims.
    #[command(subcommand)]
    Claims(crate::security_args::ClaimsCommand),
    /// Application manifests: store, deploy, watch and roll back apps.
    #[command(subcommand)]
    App(crate::app_args::AppCommand),
    /// Run wadm, which keeps deployed apps in shape (several may run; one leads).
    Wadm(crate::app_args::WadmArgs),
    /// Print a nats-server configuration for a hub or an edge site.
    #[command(subcommand)]
    NatsConfig(NatsConfigCommand),
}

/// Host settings shared by `trellis host` and `trellis up`.
#[derive(Debug, Args, Clone)]
pub(crate) struct HostFlags {
    /// Host name [default: the machine's hostname].
    #[arg(long)]
    pub name: Option<String>,
    /// Label KEY=VALUE (repeatable); `os` and `arch` are added automatically.
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Heartbeat period in milliseconds.
    #[arg(long, default_value_t = 5000)]
    pub heartbeat_ms: u64,
    /// Seed file keeping the host identity across restarts (created if missing).
    #[arg(long)]
    pub seed_file: Option<PathBuf>,
    /// Execution time limit of one invocation, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    pub max_execution_ms: u64,
    /// Memory cap of one instance, in MiB.
    #[arg(long, default_value_t = 256)]
    pub max_memory_mb: u64,
    /// Instances that may exist at once on this host.
    #[arg(long, default_value_t = 1000)]
    pub max_instances: u32,
    /// Make no spare instances: by default, once a call of a component
    /// with no HTTP handler has ended and the host is otherwise idle, the
    /// instance for its next call is made ahead (still fresh, no call ran
    /// in it). Off saves the memory of one idle instance per such
    /// component.
    #[arg(long, conflicts_with = "http_spare_instances")]
    pub no_spare_instances: bool,
    /// Make spare instances for components with a WASI 0.2 HTTP handler
    /// too, for their next request or call: lower latency at low load
    /// for HTTP components (about a third off hello-http's median at
    /// concurrency 1). Off by default: a request that called other
    /// components on this host leaves several spares to make, and under
    /// back-to-back requests making them all costs those calls more than
    /// it saves (docs/benchmarks.md, "Spares for HTTP requests").
    #[arg(long)]
    pub http_spare_instances: bool,
    /// Largest response body a component may send, in MiB (it is buffered
    /// in the host before the head is sent). The same default as
    /// --max-body-mb, so what a component answers locally also crosses hosts.
    #[arg(long, default_value_t = 128)]
    pub max_response_mb: u64,
    /// Largest list a component may pass to another component (or get
    /// back) in one call, in Mi elements, for functions outside the typed
    /// fast path (docs/actors.md, "Large values"; those are bounded by
    /// --max-response-mb). The host may hold 32 bytes per element while
    /// the call crosses it.
    #[arg(long, default_value_t = 16)]
    pub max_call_mib: u64,
    /// Largest artifact the host fetches, in MiB.
    #[arg(long, default_value_t = 64)]
    pub max_artifact_mb: u64,
    /// Largest streamed request or response body the host takes in from
    /// another host, in MiB; larger claims are refused before allocating.
    #[arg(long, default_value_t = 128)]
    pub max_body_mb: u64,
    /// Compile cache directory [default: ~/.trellis/cache].
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Serve Prometheus metrics on ADDR (e.g. 127.0.0.1:9464) at /metrics
    /// [default: off; `trellis up`: 127.0.0.1:9464].
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Export a span per hop (HTTP request, invocation, each call out) to
    /// an OpenTelemetry collector over OTLP/HTTP (protobuf), e.g.
    /// http://127.0.0.1:4318 [default: off].
    #[arg(long, value_name = "URL", env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
    /// Share of the traces this host starts that are exported, 0 to 1; a
    /// trace that arrives from a caller follows the caller's choice.
    #[arg(long, value_name = "RATIO", default_value_t = 1.0)]
    pub trace_sampling: f64,
    /// Run components that carry no claims.
    #[arg(long)]
    pub allow_unsigned: bool,
    /// Development only: components with no http-client link may send
    /// outgoing HTTP to any address this machine reaches (by default they
    /// get an error until linked to builtin://http-client).
    #[arg(long)]
    pub allow_outbound: bool,
    /// Account public key (A...) whose signed components this host runs
    /// (repeatable).
    #[arg(long = "trust-issuer", value_name = "PUBKEY")]
    pub trust_issuers: Vec<String>,
    /// The edge site this host runs at (behind a leaf node); wadm waits
    /// out a grace period before it moves the share of a quiet host at a
    /// site [`up --leaf-remote` sets it from --name].
    #[arg(long)]
    pub site: Option<String>,
    /// File where the host records what it runs, their links and config,
    /// so that it resumes them if it starts while the hub is unreachable
    /// [default with --site and --seed-file: SEED_FILE.state.json; `up
    /// --leaf-remote`: DATA_DIR/host-state.json].
    #[arg(long)]
    pub state_file: Option<PathBuf>,
    /// The lattice's secrets key file (`trellis secrets keygen`); without
    /// one, components and links that name secrets get an error saying so
    /// [`up`: DATA_DIR/secrets.key, made on the first `up`].
    #[arg(long, env = "TRELLIS_SECRETS_KEY", value_name = "FILE")]
    pub secrets_key: Option<PathBuf>,
}

/// `trellis host`.
#[derive(Debug, Args)]
pub(crate) struct HostArgs {
    /// Host settings.
    #[command(flatten)]
    pub host: HostFlags,
}

/// `trellis up`.
#[derive(Debug, Args)]
pub(crate) struct UpArgs {
    /// Host settings.
    #[command(flatten)]
    pub host: HostFlags,
    /// nats-server executable [default: from PATH].
    #[arg(long)]
    pub nats_server_bin: Option<PathBuf>,
    /// Port of the nats-server `up` starts.
    #[arg(long, default_value_t = 4222)]
    pub nats_port: u16,
    /// State directory (JetStream data, logs, pid file) [default: ~/.trellis/data].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Return once the lattice is ready; stop it later with `trellis down`.
    #[arg(long)]
    pub detach: bool,
    /// Be a hub: accept edge sites' leaf connections on this port;
    /// JetStream runs in domain `hub`. Leaf nodes must sign with the nkey
    /// whose seed `up` keeps in DATA_DIR/leaf.nk (copy it to the sites).
    #[arg(long, conflicts_with = "leaf_remote")]
    pub leafnode_port: Option<u16>,
    /// Interface the leafnode port listens on; 0.0.0.0 lets other
    /// machines' sites in.
    #[arg(long, default_value = "127.0.0.1", requires = "leafnode_port")]
    pub leafnode_host: String,
    /// Be an edge site: the local nats-server is a leaf node of the hub at
    /// nats-leaf://HOST:PORT; the host uses the hub's JetStream domain and
    /// no wadm runs here.
    #[arg(long)]
    pub leaf_remote: Option<String>,
    /// Credentials for the leaf connection: the hub's leaf nkey seed file
    /// (`leaf.nk`) or a `.creds` file.
    #[arg(long, requires = "leaf_remote")]
    pub leaf_creds: Option<PathBuf>,
    /// Require http-client links for outgoing HTTP even on a single-node
    /// lattice (where `up` otherwise allows unlinked outbound HTTP, as
    /// `host --allow-outbound` does).
    #[arg(long, conflicts_with = "allow_outbound")]
    pub deny_outbound: bool,
    /// Also serve the web dashboard (`trellis ui`), on ADDR or 127.0.0.1:9470.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = UI_DEFAULT_ADDR)]
    pub ui: Option<std::net::SocketAddr>,
}

/// Where `trellis ui` and `trellis up --ui` serve the dashboard unless told.
pub(crate) const UI_DEFAULT_ADDR: &str = "127.0.0.1:9470";

/// `trellis ui`.
#[derive(Debug, Args)]
pub(crate) struct UiArgs {
    /// Address to serve the dashboard on (port 0 picks a free one). It
    /// has no login: 0.0.0.0 shows the lattice to anyone who reaches it.
    #[arg(long, value_name = "ADDR", default_value = UI_DEFAULT_ADDR)]
    pub addr: std::net::SocketAddr,
}

/// `trellis nats-config ...`: print a nats-server configuration.
#[derive(Debug, Subcommand)]
pub(crate) enum NatsConfigCommand {
    /// The cloud hub: JetStream domain `hub`, accepting leaf connections.
    Hub {
        /// Client port.
        #[arg(long, default_value_t = 4222)]
        nats_port: u16,
        /// Port edge sites connect to.
        #[arg(long, default_value_t = 7422)]
        leafnode_port: u16,
        /// Interface the leafnode port listens on.
        #[arg(long, default_value = "127.0.0.1")]
        leafnode_host: String,
        /// Seed file of the nkey leaf nodes must sign with; made when
        /// missing. Give it to the edge sites (`leaf --creds`).
        #[arg(long, default_value = "leaf.nk")]
        leaf_key: PathBuf,
        /// JetStream data directory.
        #[arg(long, default_value = "/var/lib/nats")]
        store_dir: PathBuf,
    },
    /// An edge site: a leaf node of the hub with its own JetStream domain.
    Leaf {
        /// The hub's leafnode URL, nats-leaf://HOST:7422.
        #[arg(long)]
        remote: String,
        /// Client port.
        #[arg(long, default_value_t = 4222)]
        nats_port: u16,
        /// JetStream data directory.
        #[arg(long, default_value = "/var/lib/nats")]
        store_dir: PathBuf,
        /// Site name (its JetStream domain is edge-NAME).
        #[arg(long, default_value = "site")]
        name: String,
        /// Credentials for the leaf connection: the hub's leaf nkey seed
        /// file or a `.creds` file.
        #[arg(long)]
        creds: Option<PathBuf>,
    },
    /// An `authorization` block with a host, a wadm and an operator role
    /// for the lattice (`--lattice`), and an nkey seed per role.
    Roles {
        /// Where the seeds are (host.nk, wadm.nk, operator.nk); made when
        /// missing.
        #[arg(long)]
        keys_dir: PathBuf,
    },
}

/// `trellis down`.
#[derive(Debug, Args)]
pub(crate) struct DownArgs {
    /// State directory given to `trellis up` [default: ~/.trellis/data].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// `trellis call COMPONENT NS:PKG/IFACE.FUNC ARGS...`.
#[derive(Debug, Args)]
pub(crate) struct CallArgs {
    /// The component's id.
    pub component: String,
    /// The function: `namespace:package/interface.function` (a version
    /// after the interface, `@0.1.0`, is accepted and ignored).
    pub function: String,
    /// One argument per parameter, in WAVE text: `7`, `"text"`,
    /// `{x: 1, y: 2}`, `circle(3)`, `[1, 2]`, `some(1)`, `ok(1)`, `{read, write}`.
    #[arg(allow_negative_numbers = true)]
    pub args: Vec<String>,
    /// Seconds to wait for the result.
    #[arg(long, default_value_t = 30)]
    pub wait: u64,
    /// Call the instance on this host (id) instead of whichever host the
    /// lattice picks.
    #[arg(long)]
    pub host: Option<String>,
}

/// `trellis events`.
#[derive(Debug, Args)]
pub(crate) struct EventsArgs {
    /// Only events of this type (repeatable): host_started, host_stopped,
    /// host_heartbeat, component_scaled, component_scale_failed,
    /// provider_started, provider_stopped, provider_health, link_put,
    /// link_deleted, config_set, config_deleted, app_status. Heartbeats
    /// (an inventory every few seconds per host) only when named here.
    #[arg(long = "type", value_name = "TYPE", value_parser = event_type)]
    pub types: Vec<trellis_protocol::EventType>,
    /// Keep printing until interrupted (Ctrl-C).
    #[arg(long, short)]
    pub follow: bool,
    /// Without --follow: how many seconds to listen.
    #[arg(
        long = "for",
        value_name = "SECONDS",
        default_value_t = 5,
        conflicts_with = "follow"
    )]
    pub listen: u64,
    /// Stop after this many events.
    #[arg(long)]
    pub count: Option<u64>,
}

fn event_type(text: &str) -> Result<trellis_protocol::EventType, String> {
    trellis_protocol::EventType::from_token(text).ok_or_else(|| {
        let known: Vec<&str> = trellis_protocol::EventType::ALL
            .iter()
            .map(|e| e.as_str())
            .collect();
        format!("unknown event type; use one of {}", known.join(", "))
    })
}

/// `trellis get ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum GetCommand {
    /// Hosts of the lattice.
    Hosts,
    /// What hosts run (all hosts, or one).
    Inventory {
        /// Only this host.
        host_id: Option<String>,
        /// Bytes per inventory page (hosts page big inventories; smaller
        /// pages are for testing).
        #[arg(long, hide = true)]
        page_bytes: Option<usize>,
    },
    /// Links of the lattice.
    Links,
    /// Apps wadm keeps (same as `trellis app list`).
    Apps,
}

/// Where a workload goes.
#[derive(Debug, Args)]
pub(crate) struct Placement {
    /// Host id; without it the host with the fewest components is used.
    #[arg(long)]
    pub host: Option<String>,
}

/// `trellis start ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum StartCommand {
    /// Start a component from a file://, nats:// or OCI image.
    Component {
        /// file://PATH of a wasm32-wasip2 component, the
        /// nats://BUCKET/sha256-HEX reference `trellis push` printed, or an
        /// OCI reference (REGISTRY/REPO:TAG), pulled into the lattice first.
        image: String,
        /// Component id, unique in the lattice.
        id: String,
        /// Host placement.
        #[command(flatten)]
        placement: Placement,
        /// Concurrent instance bound.
        #[arg(long, default_value_t = 1)]
        max: u32,
        /// Calls of its exported functions one instance may serve, one
        /// after another, before it is replaced [default: 1, a fresh
        /// instance per call]. More is faster but shares an instance's
        /// memory between calls; see docs/actors.md.
        #[arg(long, value_name = "CALLS", value_parser = clap::value_parser!(u32).range(1..))]
        reuse: Option<u32>,
        /// Named config (repeatable).
        #[arg(long = "config", value_name = "NAME")]
        config: Vec<String>,
        /// Registry settings, for an OCI image.
        #[command(flatten)]
        registry: crate::oci_args::RegistryArgs,
    },
    /// Start a provider: builtin://NAME, or file://PATH of a provider executable.
    Provider {
        /// builtin://NAME (http-server, keyvalue-sled, keyvalue-nats) or
        /// file://PATH of an executable (e.g. trellis-provider-keyvalue-sled).
        image: String,
        /// Provider id, unique in the lattice.
        id: String,
        /// Host placement.
        #[command(flatten)]
        placement: Placement,
        /// Named config (repeatable).
        #[arg(long = "config", value_name = "NAME")]
        config: Vec<String>,
    },
}

/// `trellis scale ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum ScaleCommand {
    /// Change a running component's instance bound.
    Component {
        /// Component id.
        id: String,
        /// New bound (0 stops it).
        #[arg(long)]
        max: u32,
        /// Only on this host [default: every host running it].
        #[arg(long)]
        host: Option<String>,
    },
}

/// `trellis stop ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum StopCommand {
    /// Stop a component.
    Component {
        /// Component id.
        id: String,
        /// Only on this host [default: every host running it].
        #[arg(long)]
        host: Option<String>,
    },
    /// Stop a provider.
    Provider {
        /// Provider id.
        id: String,
        /// Only on this host [default: every host running it].
        #[arg(long)]
        host: Option<String>,
    },
}

/// `trellis update ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum UpdateCommand {
    /// Swap a running component's code; its id, max and links stay.
    Component {
        /// Component id.
        id: String,
        /// file://PATH of the new component.
        image: String,
        /// Only on this host [default: every host running it].
        #[arg(long)]
        host: Option<String>,
    },
}

/// `trellis config ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Store a named config (replaces it whole).
    Put {
        /// Config name.
        name: String,
        /// KEY=VALUE pairs.
        #[arg(value_name = "KEY=VALUE", required = true)]
        values: Vec<String>,
    },
    /// Show a named config.
    Get {
        /// Config name.
        name: String,
    },
    /// Delete a named config.
    Del {
        /// Config name.
        name: String,
    },
}

/// `trellis link ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum LinkCommand {
    /// Create or update a link.
    Put {
        /// Caller (e.g. the http-server provider).
        source_id: String,
        /// Callee (e.g. the component).
        target_id: String,
        /// WIT namespace, e.g. wasi.
        namespace: String,
        /// WIT package, e.g. http.
        package: String,
        /// Interface of the package (repeatable), e.g. incoming-handler.
        #[arg(long = "interface", required = true)]
        interfaces: Vec<String>,
        /// Link name.
        #[arg(long, default_value = "default")]
        name: String,
        /// Named config for the source side (repeatable).
        #[arg(long = "source-config", value_name = "NAME")]
        source_config: Vec<String>,
        /// Named config for the target side (repeatable).
        #[arg(long = "target-config", value_name = "NAME")]
        target_config: Vec<String>,
        /// Replace the link even if an app manages it or it targets
        /// something else (wadm then reports the app's link as put by hand).
        #[arg(long)]
        force: bool,
        /// Put the link even if the target's exported functions do not
        /// match the types the source imports (checked when both run).
        #[arg(long)]
        no_type_check: bool,
    },
    /// Delete a link.
    Del {
        /// Caller.
        source_id: String,
        /// WIT namespace.
        namespace: String,
        /// WIT package.
        package: String,
        /// Link name.
        #[arg(long, default_value = "default")]
        name: String,
    },
}

// The OCI flags are parsed as part of the whole command line (and shared
// with `start component`), so their tests parse `Cli`, which lives here.
#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{Cli, Command, StartCommand};

    #[test]
    fn push_takes_a_file_or_a_reference_and_a_file() {
        let cli = Cli::try_parse_from(["trellis", "push", "a.wasm"]).unwrap();
        let Command::Push(args) = cli.command else {
            panic!("not push")
        };
        assert_eq!(args.args, ["a.wasm"]);
        let cli = Cli::try_parse_from([
            "trellis",
            "push",
            "oci://r.io/a:1",
            "a.wasm",
            "--allow-insecure",
            "r.io",
        ])
        .unwrap();
        let Command::Push(args) = cli.command else {
            panic!("not push")
        };
        assert_eq!(args.args, ["oci://r.io/a:1", "a.wasm"]);
        assert_eq!(args.registry.allow_insecure, ["r.io"]);
        assert!(Cli::try_parse_from(["trellis", "push", "a", "b", "c"]).is_err());
        assert!(Cli::try_parse_from(["trellis", "push"]).is_err());
    }

    #[test]
    fn up_ui_takes_an_optional_address() {
        let ui = |args: &[&str]| {
            let cli = Cli::try_parse_from(args).unwrap();
            let Command::Up(up) = cli.command else {
                panic!("not up")
            };
            up.ui.map(|addr| addr.to_string())
        };
        assert_eq!(ui(&["trellis", "up"]), None);
        assert_eq!(
            ui(&["trellis", "up", "--ui", "--detach"]).as_deref(),
            Some(super::UI_DEFAULT_ADDR)
        );
        assert_eq!(
            ui(&["trellis", "up", "--ui", "127.0.0.1:0"]).as_deref(),
            Some("127.0.0.1:0")
        );
        assert!(Cli::try_parse_from(["trellis", "ui", "--addr", "nowhere"]).is_err());
    }

    #[test]
    fn pull_output_file_does_not_clash_with_the_output_format() {
        let cli = Cli::try_parse_from([
            "trellis", "--output", "json", "pull", "r.io/a:1", "-o", "x.wasm",
        ])
        .unwrap();
        let Command::Pull(args) = cli.command else {
            panic!("not pull")
        };
        assert_eq!(args.output_file.unwrap().to_str(), Some("x.wasm"));
        let cli = Cli::try_parse_from([
            "trellis",
            "start",
            "component",
            "r.io/a:1",
            "id",
            "--allow-insecure",
            "r.io",
        ])
        .unwrap();
        let Command::Start(StartCommand::Component { registry, .. }) = cli.command else {
            panic!("not start component")
        };
        assert_eq!(registry.allow_insecure, ["r.io"]);
    }
}
