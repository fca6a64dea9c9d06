//! An OTLP/HTTP receiver: what a collector would get from the hosts,
//! decoded span by span, so a test can assert on whole traces.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message;

/// Largest export request taken (the SDK sends at most 512 spans).
const MAX_EXPORT: usize = 16 << 20;

/// One received span, ids as lowercase hex.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    /// The span's name.
    pub name: String,
    /// Its trace.
    pub trace_id: String,
    /// Its own id.
    pub span_id: String,
    /// The parent's span id (empty for a root).
    pub parent_span_id: String,
    /// The resource's `service.instance.id` (the host id).
    pub instance: String,
    /// Its string and integer attributes, as text.
    pub attributes: BTreeMap<String, String>,
    /// Whether the status is error.
    pub failed: bool,
}

/// A receiver on 127.0.0.1 that keeps every span posted to `/v1/traces`.
pub struct OtlpReceiver {
    addr: SocketAddr,
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
    requests: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl OtlpReceiver {
    /// Listens on a free port.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let spans = Arc::new(Mutex::new(Vec::new()));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (kept, seen) = (spans.clone(), requests.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (kept, seen) = (kept.clone(), seen.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let (kept, seen) = (kept.clone(), seen.clone());
                        async move { answer(req, &kept, &seen).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self {
            addr,
            spans,
            requests,
            task,
        })
    }

    /// The endpoint to give `--otlp-endpoint`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// `METHOD path content-type` of every request received.
    pub fn requests(&self) -> Vec<String> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The spans once `done` holds for them, polling until `timeout`.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        done: impl Fn(&[ReceivedSpan]) -> bool,
    ) -> anyhow::Result<Vec<ReceivedSpan>> {
        let deadline = Instant::now() + timeout;
        loop {
            let spans = self.spans();
            if done(&spans) {
                return Ok(spans);
            }
            if Instant::now() >= deadline {
                anyhow::bail!(
                    "spans did not arrive within {timeout:?}; received {} spans: {spans:#?}; \
                     requests: {:?}",
                    spans.len(),
                    self.requests()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn answer(
    req: Request<Incoming>,
    kept: &Mutex<Vec<ReceivedSpan>>,
    seen: &Mutex<Vec<String>>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let content_type = req
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    seen.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(format!(
            "{} {} {content_type}",
            req.method(),
            req.uri().path()
        ));
    let status = |code: u16, body: Vec<u8>| {
        let mut response = Response::new(Full::new(Bytes::from(body)));
        *response.status_mut() = hyper::StatusCode::from_u16(code).unwrap_or_default();
        response.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("application/x-protobuf"),
        );
        Ok(response)
    };
    if req.uri().path() != "/v1/traces" || content_type != "application/x-protobuf" {
        return status(404, Vec::new());
    }
    let Ok(body) = Limited::new(req.into_body(), MAX_EXPORT).collect().await else {
        return status(400, Vec::new());
    };
    let Ok(export) = ExportTraceServiceRequest::decode(body.to_bytes()) else {
        return status(400, Vec::new());
    };
    let mut spans = kept.lock().unwrap_or_else(PoisonError::into_inner);
    for resource_spans in export.resource_spans {
        let instance = resource_spans
            .resource
            .as_ref()
            .and_then(|r| attribute(&r.attributes, "service.instance.id"))
            .unwrap_or_default();
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                spans.push(ReceivedSpan {
                    name: span.name,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    instance: instance.clone(),
                    attributes: span
                        .attributes
                        .iter()
                        .filter_map(|kv| Some((kv.key.clone(), text(kv.value.as_ref()?)?)))
                        .collect(),
                    // Status code 2 is ERROR in OTLP.
                    failed: span.status.is_some_and(|s| s.code == 2),
                });
            }
        }
    }
    status(200, ExportTraceServiceResponse::default().encode_to_vec())
}

fn attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| text(kv.value.as_ref()?))
}

fn text(value: &AnyValue) -> Option<String> {
    match value.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        any_value::Value::IntValue(i) => Some(i.to_string()),
        any_value::Value::BoolValue(b) => Some(b.to_string()),
        _ => None,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
