//! A throwaway three-node `nats-server` cluster with JetStream: routes on
//! 127.0.0.1, each node with its own config, store dir and monitoring
//! port, so a test can kill -9 one node (the JetStream meta leader) and
//! restart it with the same config and store.

use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tempfile::TempDir;

use crate::nats::nats_server_bin;
use crate::paths::{free_port, read_log, tail};

/// Nodes in the cluster (the smallest that survives losing one).
pub const CLUSTER_SIZE: usize = 3;
/// Bound on a node (or the whole cluster) becoming ready, a meta leader
/// included.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on one monitoring request.
const MONITOR_TIMEOUT: Duration = Duration::from_secs(2);
/// How many times to retry when a chosen port was taken in the meantime.
const PORT_ATTEMPTS: usize = 3;

/// One node: its ports, config file and (while it runs) its process.
#[derive(Debug)]
struct Node {
    name: String,
    client_port: u16,
    monitor_port: u16,
    conf: PathBuf,
    dir: PathBuf,
    child: Option<Child>,
    /// Log of the current (or last) run; each run gets its own file, so
    /// readiness is judged by what this run logged.
    log_path: PathBuf,
    runs: usize,
}

/// Three `nats-server` processes forming one JetStream cluster; every
/// process is killed and reaped on drop.
#[derive(Debug)]
pub struct NatsCluster {
    nodes: Vec<Node>,
    _dir: TempDir,
}

impl NatsCluster {
    /// Starts three nodes on free ports and waits (≤30 s) until every one
    /// is ready and agrees on a JetStream meta leader.
    pub async fn start() -> anyhow::Result<NatsCluster> {
        let mut last_err = None;
        for _ in 0..PORT_ATTEMPTS {
            let mut cluster = Self::configure()?;
            let mut started = Ok(());
            for i in 0..CLUSTER_SIZE {
                started = cluster.spawn(i);
                if started.is_err() {
                    break;
                }
            }
            if started.is_ok() {
                started = cluster.wait_formed().await;
            }
            match started {
                Ok(()) => return Ok(cluster),
                Err(e) => {
                    let port_taken = (0..CLUSTER_SIZE)
                        .any(|i| cluster.log(i).contains("address already in use"));
                    if !port_taken {
                        return Err(e);
                    }
                    last_err = Some(e);
                }
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow::anyhow!("nats cluster failed to start")))
    }

    /// Writes the three config files (nothing runs yet).
    fn configure() -> anyhow::Result<NatsCluster> {
        let dir = tempfile::Builder::new()
            .prefix("trellis-nats-cluster-")
            .tempdir()
            .context("creating cluster temp dir")?;
        let route_ports: Vec<u16> = (0..CLUSTER_SIZE).map(|_| free_port()).collect();
        let routes = route_ports
            .iter()
            .map(|p| format!("\"nats-route://127.0.0.1:{p}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let mut nodes = Vec::with_capacity(CLUSTER_SIZE);
        for (i, route_port) in route_ports.iter().enumerate() {
            let name = format!("n{i}");
            let node_dir = dir.path().join(&name);
            std::fs::create_dir_all(&node_dir)?;
            let (client_port, monitor_port) = (free_port(), free_port());
            let conf = node_dir.join("nats.conf");
            std::fs::write(
                &conf,
                format!(
                    "server_name: \"{name}\"\n\
                     listen: \"127.0.0.1:{client_port}\"\n\
                     http: \"127.0.0.1:{monitor_port}\"\n\
                     jetstream {{ store_dir: \"{store}\" }}\n\
                     cluster {{\n  name: \"trellis-test\"\n  listen: \"127.0.0.1:{route_port}\"\n  routes: [ {routes} ]\n}}\n",
                    store = node_dir.join("js").display(),
                ),
            )
            .with_context(|| format!("writing {}", conf.display()))?;
            nodes.push(Node {
                log_path: node_dir.join("nats-server-0.log"),
                name,
                client_port,
                monitor_port,
                conf,
                dir: node_dir,
                child: None,
                runs: 0,
            });
        }
        Ok(NatsCluster { nodes, _dir: dir })
    }

    /// Starts node `i`'s process with its config (a fresh log file).
    fn spawn(&mut self, i: usize) -> anyhow::Result<()> {
        let bin = nats_server_bin()?;
        let node = self.node_mut(i)?;
        if node.child.is_some() {
            bail!("node {} already runs", node.name);
        }
        node.log_path = node.dir.join(format!("nats-server-{}.log", node.runs));
        node.runs += 1;
        let log = File::create(&node.log_path).context("creating node log")?;
        let child = Command::new(&bin)
            .arg("-c")
            .arg(&node.conf)
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("cloning log handle")?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("spawning {}", bin.display()))?;
        node.child = Some(child);
        Ok(())
    }

    /// Waits until every running node is ready and knows the meta leader.
    async fn wait_formed(&mut self) -> anyhow::Result<()> {
        for i in 0..CLUSTER_SIZE {
            if self.nodes[i].child.is_some() {
                self.wait_node_ready(i).await?;
            }
        }
        Ok(())
    }

    /// Waits (≤30 s) until node `i` accepts clients, logged "Server is
    /// ready" in this run, and its JetStream names a meta leader.
    async fn wait_node_ready(&mut self, i: usize) -> anyhow::Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let node = self.node_mut(i)?;
            let child = node.child.as_mut().context("node is not running")?;
            if let Some(status) = child.try_wait().context("polling nats-server")? {
                node.child = None;
                bail!(
                    "nats-server {} exited early ({status}); log tail:\n{}",
                    node.name,
                    tail(&read_log(&node.log_path), 30)
                );
            }
            let addr = SocketAddr::from(([127, 0, 0, 1], node.client_port));
            let ready = read_log(&node.log_path).contains("Server is ready")
                && TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok();
            if ready && self.leader_seen_by(i).await.is_some() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "nats-server {} not ready with a meta leader after {READY_TIMEOUT:?}; log tail:\n{}",
                    self.nodes[i].name,
                    tail(&self.log(i), 30)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The index of the JetStream meta leader as node `i` sees it.
    async fn leader_seen_by(&self, i: usize) -> Option<usize> {
        let jsz = self.jsz(i).await.ok()?;
        let leader = jsz["meta_cluster"]["leader"].as_str()?;
        self.nodes.iter().position(|n| n.name == leader)
    }

    /// Node `i`'s `/jsz` monitoring document.
    pub async fn jsz(&self, i: usize) -> anyhow::Result<serde_json::Value> {
        self.monitor(i, "jsz").await
    }

    /// The names of the client connections node `i` holds (from `/connz`).
    pub async fn client_names(&self, i: usize) -> anyhow::Result<Vec<String>> {
        let connz = self.monitor(i, "connz?limit=1024").await?;
        Ok(connz["connections"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| c["name"].as_str().unwrap_or_default().to_owned())
            .collect())
    }

    /// GET `/{path}` on node `i`'s monitoring port, as JSON.
    async fn monitor(&self, i: usize, path: &str) -> anyhow::Result<serde_json::Value> {
        let node = self.node(i)?;
        let url = format!("http://127.0.0.1:{}/{path}", node.monitor_port);
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(MONITOR_TIMEOUT)
            .build()?;
        let body = client
            .get(&url)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?
            .error_for_status()?
            .bytes()
            .await?;
        serde_json::from_slice(&body).with_context(|| format!("parsing {url}"))
    }

    /// Waits (≤30 s) until a running node names a meta leader that is
    /// itself running; returns its index.
    pub async fn meta_leader(&self) -> anyhow::Result<usize> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            for i in (0..CLUSTER_SIZE).filter(|&i| self.is_running(i)) {
                if let Some(leader) = self.leader_seen_by(i).await
                    && self.is_running(leader)
                {
                    return Ok(leader);
                }
            }
            if Instant::now() >= deadline {
                bail!("no JetStream meta leader among the running nodes after {READY_TIMEOUT:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Kills node `i` with SIGKILL (a crash: no lame duck, no goodbye to
    /// the routes) and reaps it. Its store stays for [`Self::restart`].
    pub fn kill(&mut self, i: usize) -> anyhow::Result<()> {
        let node = self.node_mut(i)?;
        let mut child = node.child.take().context("node is not running")?;
        // std's kill sends SIGKILL.
        child.kill().context("killing nats-server")?;
        child.wait().context("reaping nats-server")?;
        Ok(())
    }

    /// Starts node `i` again with the same config, ports and store, and
    /// waits (≤30 s) until it is ready and knows the meta leader.
    pub async fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        self.spawn(i)?;
        self.wait_node_ready(i).await
    }

    /// Whether node `i`'s process runs.
    pub fn is_running(&self, i: usize) -> bool {
        self.nodes.get(i).is_some_and(|n| n.child.is_some())
    }

    /// Every node's client URL, comma separated (what `--nats-url` takes).
    pub fn urls(&self) -> String {
        (0..CLUSTER_SIZE)
            .map(|i| self.url(i))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Node `i`'s client URL, `nats://127.0.0.1:PORT`.
    pub fn url(&self, i: usize) -> String {
        self.nodes
            .get(i)
            .map(|n| format!("nats://127.0.0.1:{}", n.client_port))
            .unwrap_or_default()
    }

    /// Node `i`'s server name (`n0`, `n1`, `n2`).
    pub fn name(&self, i: usize) -> &str {
        self.nodes.get(i).map_or("", |n| n.name.as_str())
    }

    /// Node `i`'s log of its current (or last) run.
    pub fn log(&self, i: usize) -> String {
        self.nodes
            .get(i)
            .map(|n| read_log(&n.log_path))
            .unwrap_or_default()
    }

    fn node(&self, i: usize) -> anyhow::Result<&Node> {
        self.nodes
            .get(i)
            .with_context(|| format!("no node {i}; the cluster has {CLUSTER_SIZE}"))
    }

    fn node_mut(&mut self, i: usize) -> anyhow::Result<&mut Node> {
        self.nodes
            .get_mut(i)
            .with_context(|| format!("no node {i}; the cluster has {CLUSTER_SIZE}"))
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        let panicking = std::thread::panicking();
        for node in &mut self.nodes {
            if panicking {
                eprintln!(
                    "--- nats-server {} log tail (port {}) ---\n{}",
                    node.name,
                    node.client_port,
                    tail(&read_log(&node.log_path), 20)
                );
            }
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}
