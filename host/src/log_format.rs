//! Host log lines name the component whose invocation they come from.
//!
//! The host's own warnings name it (`component = %spans::Running`); lines
//! that wasmtime-wasi and wasmtime-wasi-http log while serving a guest
//! ("connect error", "dns lookup error") cannot. This event format adds
//! `component=ID` to any line logged inside an invocation that has no
//! `component` field, read from the task-local the invocation already
//! carries, so no span is paid for per invocation.

use std::fmt;

use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{Format, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::spans;

/// Wraps an event format (`tracing_subscriber::fmt::format()`) so lines
/// logged inside an invocation end with `component=ID`.
#[derive(Debug, Clone, Default)]
pub struct NamesComponent<F>(pub F);

impl<S, N, L, T> FormatEvent<S, N> for NamesComponent<Format<L, T>>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
    Format<L, T>: FormatEvent<S, N> + Clone,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let named = event.metadata().fields().field("component").is_some();
        let component = spans::component().filter(|_| !named);
        let Some(component) = component else {
            return self.0.format_event(ctx, writer, event);
        };
        // Rare lines only (inside an invocation, from code that cannot
        // name it): formatted into a buffer to put the field before the
        // newline. A buffer's writer has no terminal colours of its own,
        // so the format is told whether the real one has.
        let mut line = String::new();
        let format = self.0.clone().with_ansi(writer.has_ansi_escapes());
        format.format_event(ctx, Writer::new(&mut line), event)?;
        let line = line.strip_suffix('\n').unwrap_or(&line);
        writer.write_str(line)?;
        writeln!(writer, " component={component}")
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Lines {
        type Writer = Lines;
        fn make_writer(&'a self) -> Lines {
            self.clone()
        }
    }

    /// What a subscriber with this format writes (`ansi`: as on a
    /// terminal) for one line outside an invocation, then `inside`'s lines
    /// logged inside one of component "fetcher".
    async fn logged(ansi: bool, inside: impl std::future::Future<Output = ()>) -> String {
        let lines = Lines::default();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(ansi)
            .with_writer(lines.clone())
            .event_format(NamesComponent(tracing_subscriber::fmt::format()))
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let id = Arc::new(trellis_protocol::ComponentId::new("fetcher").unwrap());
        let trace = trellis_protocol::trace::TraceParent::new_root();
        tracing::warn!("outside");
        spans::within(trace, id, inside).await;
        String::from_utf8(lines.0.lock().unwrap().clone()).unwrap()
    }

    #[tokio::test]
    async fn named_lines_keep_the_terminals_colours() {
        let text = logged(true, async { tracing::warn!("connect error") }).await;
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        // The level is coloured the same way inside an invocation as
        // outside it.
        let warn = "\u{1b}[33m WARN\u{1b}[0m";
        assert!(lines[0].contains(warn), "{text:?}");
        assert!(lines[1].contains(warn), "{text:?}");
        assert!(lines[1].ends_with(" component=fetcher"), "{text:?}");
    }

    #[tokio::test]
    async fn lines_inside_an_invocation_name_its_component() {
        let text = logged(false, async {
            tracing::warn!(target: "wasmtime_wasi_http", "connect error: refused");
            tracing::warn!(component = "other", "already named");
        })
        .await;
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].ends_with("outside"), "{text}");
        assert!(
            lines[1].ends_with("wasmtime_wasi_http: connect error: refused component=fetcher"),
            "{text}"
        );
        assert!(
            lines[2].ends_with("already named component=\"other\""),
            "{text}"
        );
    }
}
