//! One call of an exported function (any WIT interface) in a fresh
//! instance: arguments checked against the function's types, the same
//! limits, deadline and trap handling as an HTTP request.

use std::sync::Arc;

use trellis_protocol::call::{CallArgs, CallRequest, CallResponse};
use trellis_protocol::invocation::{ErrorKind, InvocationError, InvocationReply};
use trellis_protocol::link::{InterfaceRef, WitName};
use wasmtime::component::{Type, Val, wasm_wave};

use super::component::PreparedComponent;
use super::http::{deadline_error, internal, trap_error};
use super::instance::Running;
use super::values;
use crate::capabilities::ComponentCaps;

impl PreparedComponent {
    /// Calls `interface.function` with the request's arguments in a new
    /// instance. `slot` (the call's admission) is held until the guest's
    /// store is gone, even if the caller stops waiting earlier.
    pub async fn call<S: Send + 'static>(
        &self,
        interface: &InterfaceRef,
        function: &WitName,
        request: CallRequest,
        slot: S,
        caps: Arc<ComponentCaps>,
    ) -> InvocationReply<CallResponse> {
        let target = self.interfaces().function(interface, function)?;
        let args = arguments(&target.name, &target.params, request.args)?;
        let results = vec![Val::Bool(false); target.ty.results().len()];
        // One store per call, so nothing a call leaves behind reaches the
        // next; `call_async` runs an async export (WASI 0.3 style) in the
        // store's event loop.
        let store = self.limits.new_store(self.pre.engine(), caps);
        let pre = self.pre.clone();
        let index = target.index;
        let guest = tokio::spawn(async move {
            let mut running = Running { store, _slot: slot };
            let mut results = results;
            let instance = pre.instantiate_async(&mut running.store).await?;
            let func = instance
                .get_func(&mut running.store, index)
                .ok_or_else(|| wasmtime::format_err!("export vanished from its instance"))?;
            func.call_async(&mut running.store, &args, &mut results)
                .await?;
            wasmtime::Result::<_>::Ok(results)
        });
        let abort = guest.abort_handle();
        let results = match tokio::time::timeout_at(self.limits.backstop(), guest).await {
            Ok(Ok(Ok(results))) => results,
            Ok(Ok(Err(e))) => return Err(trap_error(&e)),
            Ok(Err(e)) => return Err(internal("component task failed", e)),
            Err(_) => {
                abort.abort();
                return Err(deadline_error());
            }
        };
        let wave = if request.wave {
            let texts = results
                .iter()
                .map(|val| {
                    wasm_wave::to_string(val).map_err(|e| internal("cannot print a result", e))
                })
                .collect::<Result<Vec<_>, _>>()?;
            Some(texts)
        } else {
            None
        };
        let results = values::to_wire(&results).map_err(|e| {
            InvocationError::new(
                ErrorKind::Internal,
                format!(
                    "{} returned a value that cannot cross the lattice: {e}",
                    target.name
                ),
            )
        })?;
        Ok(CallResponse { results, wave })
    }
}

/// The call's arguments as wasmtime values, checked against the
/// function's parameter types; a mismatch is the caller's error.
fn arguments(function: &str, params: &[Type], args: CallArgs) -> Result<Vec<Val>, InvocationError> {
    let bad =
        |what: String| InvocationError::new(ErrorKind::BadRequest, format!("{function}: {what}"));
    match args {
        CallArgs::Values(values) => {
            values::from_wire(params, &values).map_err(|e| bad(e.to_string()))
        }
        CallArgs::Wave(texts) => {
            if texts.len() != params.len() {
                return Err(bad(format!(
                    "takes {} arguments, {} given",
                    params.len(),
                    texts.len()
                )));
            }
            params
                .iter()
                .zip(&texts)
                .enumerate()
                .map(|(i, (ty, text))| {
                    wasm_wave::from_str::<Val>(ty, text)
                        .map_err(|e| bad(format!("argument {}: {e} (in `{text}`)", i + 1)))
                })
                .collect()
        }
    }
}
