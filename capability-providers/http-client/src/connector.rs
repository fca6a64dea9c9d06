//! Opening connections under a policy: the name is resolved here (not by
//! the OS on connect), every resolved address is checked against the deny
//! rules before a socket is opened, and TLS verifies the server against the
//! platform's roots.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use http::Uri;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls;
use trellis_provider_sdk::outbound::OutboundError;

use crate::policy::{Destination, Policy};

/// At most this many addresses of one name are tried, so that a resolver
/// answer cannot make one request open an unbounded number of sockets.
const MAX_ADDRS: usize = 8;

/// Largest `ca_file` read: a bundle of a few hundred certificates.
const MAX_CA_FILE_BYTES: u64 = 1 << 20;

/// Connects for a pooled client of one link.
#[derive(Clone)]
pub struct Connector {
    pub(crate) policy: Arc<Policy>,
    /// The link's TLS config when it trusts more than the platform's
    /// roots (`ca_file`); the shared platform config otherwise.
    pub(crate) tls: Option<Arc<rustls::ClientConfig>>,
}

impl tower_service::Service<Uri> for Connector {
    type Response = Stream;
    type Error = OutboundError;
    type Future = Pin<Box<dyn Future<Output = Result<Stream, OutboundError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let (policy, tls) = (self.policy.clone(), self.tls.clone());
        Box::pin(async move {
            let timeout = policy.connect_timeout;
            let destination = crate::policy::destination(&uri)?;
            let label = format!("{}:{}", destination.host, destination.port);
            tokio::time::timeout(timeout, connect(&policy, tls, &destination))
                .await
                .map_err(|_| OutboundError::ConnectionTimeout(label))?
        })
    }
}

async fn connect(
    policy: &Policy,
    tls: Option<Arc<rustls::ClientConfig>>,
    destination: &Destination,
) -> Result<Stream, OutboundError> {
    let label = format!("{}:{}", destination.host, destination.port);
    let addrs: Vec<SocketAddr> = match (destination.ip, policy.resolved(destination)) {
        // Checked with the pattern that allowed it (check_uri).
        (Some(ip), _) => vec![SocketAddr::new(ip, destination.port)],
        // The operator named this address for this name: like an address
        // in allowed_hosts, it passes deny_cidrs (never the NATS check).
        (None, Some(addr)) => {
            policy.check_addr(destination, addr, true)?;
            vec![addr]
        }
        (None, None) => {
            let resolved = tokio::net::lookup_host((destination.host.as_str(), destination.port))
                .await
                .map_err(|e| OutboundError::Dns {
                    host: destination.host.clone(),
                    reason: e.to_string(),
                })?;
            let mut allowed = Vec::new();
            let mut refusal = None;
            for addr in resolved.take(MAX_ADDRS) {
                match policy.check_addr(destination, addr, false) {
                    Ok(()) => allowed.push(addr),
                    Err(e) => refusal = Some(e),
                }
            }
            match (allowed.is_empty(), refusal) {
                (true, Some(refusal)) => return Err(refusal),
                (true, None) => {
                    return Err(OutboundError::Dns {
                        host: destination.host.clone(),
                        reason: "no address".into(),
                    });
                }
                _ => allowed,
            }
        }
    };
    let mut last = None;
    let mut tcp = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                tcp = Some(stream);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let tcp = match (tcp, last) {
        (Some(tcp), _) => tcp,
        (None, Some(e)) if e.kind() == io::ErrorKind::ConnectionRefused => {
            return Err(OutboundError::ConnectionRefused(label));
        }
        (None, e) => {
            return Err(OutboundError::Connect {
                destination: label,
                reason: e.map_or_else(|| "no address".into(), |e| e.to_string()),
            });
        }
    };
    let _ = tcp.set_nodelay(true);
    if !destination.https {
        return Ok(Stream(Conn::Plain(TokioIo::new(tcp))));
    }
    let config = tls
        .map_or_else(tls_config, Ok)
        .map_err(|reason| OutboundError::Tls {
            destination: label.clone(),
            reason,
            certificate: false,
        })?;
    let name = match destination.ip {
        Some(ip) => rustls::pki_types::ServerName::IpAddress(ip.into()),
        None => rustls::pki_types::ServerName::try_from(destination.host.clone()).map_err(|e| {
            OutboundError::InvalidUri(format!(
                "`{}` is not a TLS server name: {e}",
                destination.host
            ))
        })?,
    };
    let tls = TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| {
            let certificate = e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                .is_some_and(|e| matches!(e, rustls::Error::InvalidCertificate(_)));
            OutboundError::Tls {
                destination: label,
                reason: e.to_string(),
                certificate,
            }
        })?;
    Ok(Stream(Conn::Tls(Box::new(TokioIo::new(tls)))))
}

/// The client TLS config: the platform's roots, loaded once per process.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            let native = rustls_native_certs::load_native_certs()
                .map_err(|e| format!("reading the platform's CA certificates failed: {e}"))?;
            let (added, _ignored) = roots.add_parsable_certificates(native);
            if added == 0 {
                return Err("the platform has no CA certificates (install ca-certificates)".into());
            }
            client_config(roots)
        })
        .clone()
}

/// The TLS config of a link with a `ca_file`: the platform's roots and
/// every certificate in the file. Read when the link is put, so a missing
/// or empty file fails the link, not each request.
pub fn tls_config_with_ca_file(
    path: &std::path::Path,
) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let at = |e: &dyn std::fmt::Display| format!("ca_file {}: {e}", path.display());
    let meta = std::fs::metadata(path).map_err(|e| at(&e))?;
    if !meta.is_file() || meta.len() > MAX_CA_FILE_BYTES {
        return Err(at(&format!(
            "not a regular file of at most {MAX_CA_FILE_BYTES} bytes"
        )));
    }
    let pem = std::fs::read(path).map_err(|e| at(&e))?;
    let extra: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| at(&e))?;
    if extra.is_empty() {
        return Err(at(
            &"holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
        ));
    }
    let mut roots = rustls::RootCertStore::empty();
    // The platform's roots too, when it has any: a private CA is added to
    // them, not put in their place.
    if let Ok(native) = rustls_native_certs::load_native_certs() {
        roots.add_parsable_certificates(native);
    }
    let (added, _) = roots.add_parsable_certificates(extra);
    if added == 0 {
        return Err(at(&"none of its certificates is a usable CA certificate"));
    }
    client_config(roots)
}

fn client_config(roots: rustls::RootCertStore) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

enum Conn {
    Plain(TokioIo<TcpStream>),
    Tls(Box<TokioIo<TlsStream<TcpStream>>>),
}

/// A connection the pooled client reads and writes.
pub struct Stream(Conn);

impl Connection for Stream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl Read for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().0 {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl Write for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().0 {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().0 {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().0 {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
