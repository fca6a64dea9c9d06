//! `trellis`: the command-line entry point.

mod app_args;
mod args;
mod cmd;
mod exit;
mod oci_args;
mod output;
mod secrets_args;
mod security_args;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    init_tracing(&cli.command);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(cmd::run(cli));
    // Dropping a runtime waits for its blocking threads without a bound;
    // a stopping process must not (see cmd::host::shutdown_signal).
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            exit::code(&e)
        }
    }
}

/// Long-running commands log at info; one-shot commands only warn, so their
/// stdout stays clean for `--output json`.
fn init_tracing(command: &args::Command) {
    let default = match command {
        args::Command::Up(_) | args::Command::Host(_) | args::Command::Wadm(_) => "info",
        _ => "warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .event_format(trellis_host::log_format::NamesComponent(
            tracing_subscriber::fmt::format(),
        ))
        .init();
}
