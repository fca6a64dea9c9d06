//! One call of an exported function (any WIT interface) in a fresh
//! instance: arguments checked against the function's types, the same
//! limits, deadline and trap handling as an HTTP request.
//!
//! A function of a shape the fast path knows (see `fast`) is called
//! through wasmtime's typed API when its arguments arrive in the fast
//! path's wire form; everything else through dynamic values.

use std::future::Future;
use std::sync::Arc;

use trellis_protocol::call::{CallArgs, CallRequest, CallResponse};
use trellis_protocol::invocation::{ErrorKind, InvocationError, InvocationReply};
use trellis_protocol::link::{InterfaceRef, WitName};
use trellis_protocol::value::Values;
use wasmtime::Store;
use wasmtime::component::{ComponentExportIndex, Func, Type, Val, wasm_wave};

use super::component::PreparedComponent;
use super::fast::{self, Shape};
use super::http::{finish, internal};
use super::instance::Alongside;
use super::state::StoreState;
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
        let guest = Guest {
            code: self,
            index: target.index,
            slot,
            caps,
        };
        if let CallRequest {
            args: CallArgs::Values(args),
            wave: false,
        } = request
        {
            let (guest, args) =
                match fast::dispatch(&target.params, &target.results, TypedCall { guest, args }) {
                    Ok(Ok(call)) => return call.await,
                    // Not a fast-path shape, or arguments in another form.
                    Ok(Err(typed)) | Err(typed) => (typed.guest, typed.args),
                };
            return guest.dynamic(target, CallArgs::Values(args), false).await;
        }
        guest.dynamic(target, request.args, request.wave).await
    }
}

/// What a call runs in: the component, the function's index, the call's
/// admission and capabilities.
struct Guest<'a, S> {
    code: &'a PreparedComponent,
    index: ComponentExportIndex,
    slot: S,
    caps: Arc<ComponentCaps>,
}

impl<S: Send + 'static> Guest<'_, S> {
    /// Runs `call` on the function in a fresh instance under the
    /// component's limits: one store per call, so nothing a call leaves
    /// behind reaches the next.
    async fn run<T>(
        self,
        call: impl AsyncFnOnce(Func, &mut Store<StoreState>) -> wasmtime::Result<T>,
    ) -> InvocationReply<T> {
        let limits = &self.code.limits;
        let mut store = limits.new_store(self.code.pre.engine(), self.caps);
        let (pre, index) = (&self.code.pre, self.index);
        let guest = async move {
            let instance = pre.instantiate_async(&mut store).await?;
            let func = instance
                .get_func(&mut store, index)
                .ok_or_else(|| wasmtime::format_err!("export vanished from its instance"))?;
            call(func, &mut store).await
        };
        finish(Alongside::new(guest, self.slot), limits.backstop()).await
    }

    /// The call through dynamic values, for any function and for WAVE.
    async fn dynamic(
        self,
        target: &super::interfaces::Function,
        args: CallArgs,
        wave: bool,
    ) -> InvocationReply<CallResponse> {
        let args = arguments(&target.name, &target.params, args)?;
        let results = vec![Val::Bool(false); target.results.len()];
        let results = self
            .run(async move |func, store| {
                let mut results = results;
                // `call_async` runs an async export (WASI 0.3 style) in the
                // store's event loop.
                func.call_async(store, &args, &mut results).await?;
                Ok(results)
            })
            .await?;
        let wave = if wave {
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

/// A call of a fast-path function: typed if its arguments are in the fast
/// path's wire form, given back otherwise.
struct TypedCall<'a, S> {
    guest: Guest<'a, S>,
    args: Values,
}

type Boxed<'a> = std::pin::Pin<Box<dyn Future<Output = InvocationReply<CallResponse>> + Send + 'a>>;

impl<'a, S: Send + 'static> fast::Visit for TypedCall<'a, S> {
    /// The call, or the arguments back when they are not in the fast
    /// path's form (valid, perhaps, like a byte list as `u8` nodes: the
    /// dynamic path accepts that, or says what is wrong).
    type Out = Result<Boxed<'a>, Self>;

    fn visit<P: Shape, R: Shape>(self) -> Self::Out {
        if !P::accepts(self.args.nodes()) {
            return Err(self);
        }
        let TypedCall { guest, args } = self;
        Ok(Box::pin(async move {
            let params = P::from_nodes(args.into_nodes()).ok_or_else(|| {
                InvocationError::new(ErrorKind::Internal, "fast-path arguments vanished")
            })?;
            let results = guest
                .run(async move |func, store| {
                    let typed = func.typed::<P, R>(&*store)?;
                    typed.call_async(store, params).await
                })
                .await?;
            let results = Values::new(results.into_nodes())
                .map_err(|e| internal("cannot send the results", e))?;
            Ok(CallResponse {
                results,
                wave: None,
            })
        }))
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
