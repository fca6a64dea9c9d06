//! `config_echo.wasm`: exposes the host's `wasi:config/store` and
//! `wasi:logging/logging` over HTTP. All routes are `GET`; query parameters
//! are form-decoded (`+`, `%XX`).
//!
//! - `/config?key=K`: `store::get(K)`; `200` with the value, `404 unset`
//!   when it has none, `500 config error: <kind>: <text>` on error (kind
//!   `upstream` or `io`).
//! - `/config-all`: `store::get-all`; `200` with one line `k=v\n` per entry,
//!   sorted by key (empty body when there are none), `500` as above.
//! - `/log?level=L&msg=TEXT`: `logging::log(L, "config-echo", TEXT)` and
//!   `204`. `L` is one of `trace|debug|info|warn|error|critical` (ASCII
//!   case-insensitive; `info` when absent); anything else answers `400`.
//!   A missing `msg` logs the empty string.
//!
//! Other paths answer `404 not found`, other methods `405`. Every body is
//! `content-type: text/plain`.

use actor_common::config::store;
use actor_common::logging::logging::{self, Level};
use actor_common::{
    Guest, IncomingRequest, Method, ResponseOutparam, path_and_query, query_param_decoded, respond,
    respond_empty,
};

/// The `context` argument of every `logging::log` call.
const LOG_CONTEXT: &str = "config-echo";
const TEXT: &[(&str, &[u8])] = &[("content-type", b"text/plain")];

struct ConfigEcho;

impl Guest for ConfigEcho {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        match route(&request) {
            Ok(None) => respond_empty(response_out, 204, &[]),
            Ok(Some(body)) => respond(response_out, 200, TEXT, &body),
            Err((status, message)) => respond(response_out, status, TEXT, message.as_bytes()),
        }
    }
}

/// Dispatches on path. `Ok(Some(body))` is a `200`, `Ok(None)` a `204`;
/// `Err` carries the status and text of an error reply.
fn route(request: &IncomingRequest) -> Result<Option<Vec<u8>>, (u16, String)> {
    let (path, query) = path_and_query(request);
    let query = query.as_deref();
    let param = |name| query_param_decoded(query, name).map_err(|e| (400, e));

    if !matches!(path.as_str(), "/config" | "/config-all" | "/log") {
        return Err((404, "not found".to_string()));
    }
    if !matches!(request.method(), Method::Get) {
        return Err((405, "method not allowed (use GET)".to_string()));
    }

    match path.as_str() {
        "/config" => {
            let key = param("key")?.ok_or((400, "expected /config?key=K".to_string()))?;
            match store::get(&key).map_err(config_error)? {
                Some(value) => Ok(Some(value.into_bytes())),
                None => Err((404, "unset".to_string())),
            }
        }
        "/config-all" => {
            let mut entries = store::get_all().map_err(config_error)?;
            entries.sort();
            let mut body = String::new();
            for (key, value) in &entries {
                body.push_str(key);
                body.push('=');
                body.push_str(value);
                body.push('\n');
            }
            Ok(Some(body.into_bytes()))
        }
        _ => {
            let level = match param("level")? {
                None => Level::Info,
                Some(name) => parse_level(&name).ok_or_else(|| {
                    (
                        400,
                        format!(
                            "unknown level {name:?} (expected trace|debug|info|warn|error|critical)"
                        ),
                    )
                })?,
            };
            let message = param("msg")?.unwrap_or_default();
            logging::log(level, LOG_CONTEXT, &message);
            Ok(None)
        }
    }
}

fn parse_level(name: &str) -> Option<Level> {
    const LEVELS: [(&str, Level); 6] = [
        ("trace", Level::Trace),
        ("debug", Level::Debug),
        ("info", Level::Info),
        ("warn", Level::Warn),
        ("error", Level::Error),
        ("critical", Level::Critical),
    ];
    LEVELS
        .into_iter()
        .find_map(|(n, level)| n.eq_ignore_ascii_case(name).then_some(level))
}

/// `500 config error: <kind>: <text>` for a config error.
fn config_error(error: store::Error) -> (u16, String) {
    let (kind, text) = match error {
        store::Error::Upstream(text) => ("upstream", text),
        store::Error::Io(text) => ("io", text),
    };
    (500, format!("config error: {kind}: {text}"))
}

actor_common::export_http_actor!(ConfigEcho);
