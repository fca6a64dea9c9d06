//! Headless Chromium (Debian's `chromium` package) driven over the
//! DevTools protocol, so a test can load a page in a real browser and read
//! what it rendered: evaluate JavaScript in the page, resize the viewport,
//! take a screenshot.
//!
//! Blocking on purpose: one request and its answer at a time over a local
//! WebSocket needs no runtime, and every read has a timeout, so every
//! call ends within [`CALL_TIMEOUT`]. The browser runs in its own process
//! group with a throwaway profile; dropping the handle kills the group.

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

use crate::paths::{read_log, system_bin, tail};

/// How long Chromium may take to open its DevTools port and first page.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on one DevTools call (and on the HTTP and WebSocket set-up).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How often [`Chromium::wait_until`] evaluates its expression again.
const POLL: Duration = Duration::from_millis(200);
/// A read that blocks this long returns to check the call's deadline.
const READ_SLICE: Duration = Duration::from_millis(500);

/// The chromium executable: `CHROMIUM_BIN`, then PATH, then /usr/bin.
/// Missing, it is an error that says how to install it: the dashboard
/// test fails rather than skip.
pub fn chromium_bin() -> anyhow::Result<PathBuf> {
    system_bin("CHROMIUM_BIN", "chromium")
        .filter(|bin| bin.is_file())
        .with_context(|| {
            "chromium is not installed: run scripts/install-deps.sh (it installs Debian's \
             chromium with --no-install-recommends), or set CHROMIUM_BIN"
        })
}

/// A headless Chromium showing one page; killed when dropped.
pub struct Chromium {
    // Declared first so the socket closes before the browser is killed.
    socket: WebSocket<TcpStream>,
    next_id: u64,
    browser: Browser,
}

/// The process and its profile directory (which holds its log).
struct Browser {
    child: Child,
    profile: tempfile::TempDir,
}

impl Browser {
    fn log_path(&self) -> PathBuf {
        self.profile.path().join("chromium.log")
    }

    fn log_tail(&self) -> String {
        tail(&read_log(&self.log_path()), 30)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // The whole group: the browser, its renderers and its zygote.
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Chromium {
    /// Starts Chromium showing `url` in a `width` x `height` window and
    /// connects to that page's DevTools socket.
    pub fn launch(url: &str, width: u32, height: u32) -> anyhow::Result<Chromium> {
        let bin = chromium_bin()?;
        let profile = tempfile::Builder::new()
            .prefix("trellis-chromium-")
            .tempdir()?;
        let data_dir = profile.path().join("data");
        let log = File::create(profile.path().join("chromium.log"))?;
        let child = Command::new(&bin)
            .args([
                "--headless",
                // Root in a container has no user namespace to sandbox in.
                "--no-sandbox",
                "--disable-gpu",
                // /dev/shm is small in containers; renderers crash there.
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-sync",
                "--hide-scrollbars",
                "--mute-audio",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", data_dir.display()))
            .arg(format!("--window-size={width},{height}"))
            .arg(url)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .with_context(|| {
                format!(
                    "cannot run {}: run scripts/install-deps.sh to install chromium",
                    bin.display()
                )
            })?;
        let mut browser = Browser { child, profile };
        let port = devtools_port(&mut browser, &data_dir)?;
        let page = page_socket_url(&mut browser, port)?;
        let socket = connect(&page).with_context(|| {
            format!(
                "cannot open the DevTools socket {page}; log tail:\n{}",
                browser.log_tail()
            )
        })?;
        let mut chromium = Chromium {
            socket,
            next_id: 1,
            browser,
        };
        chromium.set_viewport(width, height, false)?;
        Ok(chromium)
    }

    /// Calls a DevTools method and returns its `result`.
    pub fn call(&mut self, method: &str, params: Value) -> anyhow::Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        let request = json!({ "id": id, "method": method, "params": params });
        self.socket
            .send(Message::text(request.to_string()))
            .with_context(|| format!("sending {method}"))?;
        let deadline = Instant::now() + CALL_TIMEOUT;
        loop {
            if Instant::now() >= deadline {
                bail!(
                    "no answer to {method} within {CALL_TIMEOUT:?}; log tail:\n{}",
                    self.browser.log_tail()
                );
            }
            let text = match self.socket.read() {
                Ok(Message::Text(text)) => text,
                // Pings are answered by tungstenite; nothing else is JSON.
                Ok(_) => continue,
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    continue;
                }
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!(
                            "reading the answer to {method}; log tail:\n{}",
                            self.browser.log_tail()
                        )
                    });
                }
            };
            let reply: Value = serde_json::from_str(text.as_str())
                .with_context(|| format!("DevTools sent no JSON: {}", text.as_str()))?;
            // Events and answers to earlier, timed-out calls.
            if reply["id"] != id {
                continue;
            }
            if let Some(error) = reply.get("error") {
                bail!("{method} failed: {error}");
            }
            return Ok(reply["result"].clone());
        }
    }

    /// Evaluates `expression` in the page (awaiting a promise) and returns
    /// its value as JSON (`null` for `undefined`); a thrown exception is an
    /// error.
    pub fn evaluate(&mut self, expression: &str) -> anyhow::Result<Value> {
        let result = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
        )?;
        if let Some(thrown) = result.get("exceptionDetails") {
            let why = thrown["exception"]["description"]
                .as_str()
                .or(thrown["text"].as_str())
                .unwrap_or("an exception");
            bail!("`{expression}` threw {why}");
        }
        Ok(result["result"]["value"].clone())
    }

    /// Evaluates `expression` until `done` accepts its value (at most
    /// `timeout`), and returns that value. On timeout the error names
    /// `what`, the last value and the page's text.
    pub fn wait_until(
        &mut self,
        what: &str,
        expression: &str,
        timeout: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.evaluate(expression)?;
            if done(&value) {
                return Ok(value);
            }
            if Instant::now() >= deadline {
                let text = self
                    .evaluate("document.body ? document.body.innerText : ''")
                    .unwrap_or_default();
                bail!(
                    "the page did not show {what} within {timeout:?}: `{expression}` is {value}\n\
                     --- page text ---\n{}",
                    text.as_str().unwrap_or_default()
                );
            }
            std::thread::sleep(POLL);
        }
    }

    /// The page's visible text (`document.body.innerText`).
    pub fn text(&mut self) -> anyhow::Result<String> {
        Ok(self
            .evaluate("document.body.innerText")?
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// Lays the page out as on a `width` x `height` screen; `mobile` as a
    /// phone does (viewport meta tag honoured, touch-sized scrollbars).
    pub fn set_viewport(&mut self, width: u32, height: u32, mobile: bool) -> anyhow::Result<()> {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile }),
        )?;
        Ok(())
    }

    /// Saves what the viewport shows as a PNG at `path` (its directory is
    /// made if missing).
    pub fn screenshot(&mut self, path: &Path) -> anyhow::Result<()> {
        let result = self.call("Page.captureScreenshot", json!({ "format": "png" }))?;
        let data = result["data"]
            .as_str()
            .context("Page.captureScreenshot sent no data")?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data)
            .context("screenshot is not base64")?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, png).with_context(|| format!("writing {}", path.display()))
    }
}

/// The DevTools port Chromium picked, from `DevToolsActivePort` in its
/// profile (first line), once it wrote it.
fn devtools_port(browser: &mut Browser, data_dir: &Path) -> anyhow::Result<u16> {
    let file = data_dir.join("DevToolsActivePort");
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let port = std::fs::read_to_string(&file)
            .ok()
            .and_then(|text| text.lines().next()?.trim().parse::<u16>().ok());
        if let Some(port) = port {
            return Ok(port);
        }
        if let Some(status) = browser.child.try_wait()? {
            bail!(
                "chromium exited ({status}) before it opened its DevTools port; log tail:\n{}",
                browser.log_tail()
            );
        }
        if Instant::now() >= deadline {
            bail!(
                "chromium did not open its DevTools port within {START_TIMEOUT:?}; log tail:\n{}",
                browser.log_tail()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The WebSocket URL of the first page target (`/json/list`).
fn page_socket_url(browser: &mut Browser, port: u16) -> anyhow::Result<String> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let body = get(port, "/json/list")?;
        let targets: Value = serde_json::from_str(&body)
            .with_context(|| format!("/json/list is not JSON: {body}"))?;
        let page = targets.as_array().and_then(|all| {
            all.iter()
                .find(|t| t["type"] == "page")
                .and_then(|t| t["webSocketDebuggerUrl"].as_str())
        });
        if let Some(url) = page {
            return Ok(url.to_owned());
        }
        if let Some(status) = browser.child.try_wait()? {
            bail!(
                "chromium exited ({status}) before it opened a page; log tail:\n{}",
                browser.log_tail()
            );
        }
        if Instant::now() >= deadline {
            bail!("chromium opened no page within {START_TIMEOUT:?}: {body}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `GET path` on the DevTools HTTP port; the body of a 200.
fn get(port: u16, path: &str) -> anyhow::Result<String> {
    let mut stream =
        TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)), CALL_TIMEOUT)?;
    stream.set_read_timeout(Some(CALL_TIMEOUT))?;
    stream.set_write_timeout(Some(CALL_TIMEOUT))?;
    // DevTools answers requests that name it by address only.
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    // Read until the body is whole (by its length) or the peer closes.
    let mut chunk = [0u8; 8192];
    loop {
        let read = stream.read(&mut chunk).context("reading from DevTools")?;
        response.extend_from_slice(&chunk[..read]);
        let text = String::from_utf8_lossy(&response);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head.lines().find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse::<usize>().ok())?
            });
            if read == 0 || length.is_some_and(|n| body.len() >= n) {
                anyhow::ensure!(head.starts_with("HTTP/1.1 200"), "GET {path}: {head}");
                return Ok(body.to_owned());
            }
        }
        if read == 0 {
            bail!("DevTools closed the connection mid-reply to GET {path}");
        }
    }
}

/// A WebSocket to `url` (`ws://127.0.0.1:PORT/devtools/page/ID`) whose
/// reads give up after [`READ_SLICE`], so calls can keep their deadline.
fn connect(url: &str) -> anyhow::Result<WebSocket<TcpStream>> {
    let authority = url
        .strip_prefix("ws://")
        .and_then(|rest| rest.split('/').next())
        .with_context(|| format!("not a ws:// URL: {url}"))?;
    let addr: SocketAddr = authority
        .parse()
        .with_context(|| format!("DevTools is not on an IP address: {url}"))?;
    let stream = TcpStream::connect_timeout(&addr, CALL_TIMEOUT)?;
    stream.set_read_timeout(Some(CALL_TIMEOUT))?;
    stream.set_write_timeout(Some(CALL_TIMEOUT))?;
    let (socket, _) = tungstenite::client(url, stream)
        .map_err(|e| anyhow::anyhow!("WebSocket handshake with {url} failed: {e}"))?;
    socket.get_ref().set_read_timeout(Some(READ_SLICE))?;
    Ok(socket)
}
