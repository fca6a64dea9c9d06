//! `trellis call`: invoke any exported function of a component, with
//! arguments in WAVE text, on whichever host the lattice picks.

use std::time::Duration;

use anyhow::{Context, bail};
use trellis_protocol::ControlVerb;
use trellis_protocol::call::{CallArgs as Args, CallRequest, CallResponse};
use trellis_protocol::context::CallContext;
use trellis_protocol::control::CallComponentRequest;
use trellis_protocol::link::{InterfaceRef, WitName};
use trellis_protocol::{ComponentId, LinkName};

use crate::args::{CallArgs, GlobalArgs, OutputFormat};

/// Runs `trellis call`.
pub(super) async fn run(global: &GlobalArgs, args: CallArgs) -> anyhow::Result<()> {
    let target = ComponentId::new(args.component.clone()).context("component id")?;
    let (interface, function) = parse_function(&args.function)?;
    let lattice = super::connect(global).await?;
    let request = CallRequest {
        args: Args::Wave(args.args),
        wave: true,
    };
    request.check_limits()?;
    let wait = Duration::from_secs(args.wait);
    let response: CallResponse = match &args.host {
        // One host's instance: a control request to that host.
        Some(host) => {
            let host = super::host_id(host)?;
            let request = CallComponentRequest {
                component_id: target.clone(),
                interface: interface.clone(),
                function: function.clone(),
                call: request,
                timeout_ms: u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            };
            // A little longer than the host's own bound, so its verdict
            // arrives before this side gives up.
            let reply_wait = Some(wait + Duration::from_secs(2));
            lattice
                .control(
                    ControlVerb::ComponentCall(host.clone()),
                    &request,
                    reply_wait,
                )
                .await
                .with_context(|| format!("calling {target} on host {host}"))?
                .context("the host answered without a result")?
        }
        // Any instance: the component's queue group picks one.
        None => {
            let ctx = CallContext::new(None, LinkName::default(), wait);
            lattice
                .call(&target, &interface, &function, &request, &ctx)
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "calling {interface}.{function} of {target} failed ({:?}): {}",
                        e.kind,
                        e.message
                    )
                })?
        }
    };
    match global.output {
        OutputFormat::Json => {
            let json = response.results.to_json();
            println!("{}", serde_json::to_string_pretty(&json)?);
        }
        OutputFormat::Table => {
            for text in response.wave.unwrap_or_default() {
                println!("{text}");
            }
        }
    }
    Ok(())
}

/// Splits `ns:pkg/iface[@version].func`.
fn parse_function(text: &str) -> anyhow::Result<(InterfaceRef, WitName)> {
    let hint = "write the function as namespace:package/interface.function, e.g. \
                example:pong/pingpong.ping";
    let Some((interface, function)) = text.rsplit_once('.') else {
        bail!("`{text}` names no function; {hint}");
    };
    // A version's own dots end before the function's: `iface@0.1.0.func`
    // split at the last dot leaves `iface@0.1.0`.
    let interface = interface
        .split_once('@')
        .map_or(interface, |(name, _)| name);
    let interface: InterfaceRef = interface
        .parse()
        .with_context(|| format!("`{text}`: {hint}"))?;
    let function = WitName::new(function).with_context(|| format!("`{text}`: {hint}"))?;
    Ok((interface, function))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn functions_parse_with_or_without_a_version() {
        let (i, f) = parse_function("example:pong/pingpong.ping").unwrap();
        assert_eq!(
            (i.to_string(), f.as_str()),
            ("example:pong/pingpong".into(), "ping")
        );
        let (i, f) = parse_function("trellis:examples/shapes@0.1.0.echo-bytes").unwrap();
        assert_eq!(
            (i.to_string(), f.as_str()),
            ("trellis:examples/shapes".into(), "echo-bytes")
        );
        assert!(parse_function("ping").is_err());
        assert!(parse_function("nopackage.ping").is_err());
    }
}
