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
use wasmtime::component::{Func, Type, Val, wasm_wave};

use super::component::PreparedComponent;
use super::fast::{self, Shape};
use super::instance::Alongside;
use super::interfaces::Function;
use super::reply::{finish_keeping, internal};
use super::state::StoreState;
use super::values;
use super::warm::{Admitted, Ready, Reuse, Warm};
use crate::capabilities::ComponentCaps;

impl PreparedComponent {
    /// Calls `interface.function` with the request's arguments, in a new
    /// instance or in the kept one `admitted` brings (see `warm`). The
    /// admission is held until the guest's store is gone, even if the
    /// caller stops waiting earlier; the instance comes back, with its
    /// admission, when it answered cleanly and `reuse` lets it serve
    /// another call.
    pub async fn call<S: Send + 'static>(
        &self,
        interface: &InterfaceRef,
        function: &WitName,
        request: CallRequest,
        admitted: Admitted<S>,
        caps: Arc<ComponentCaps>,
        reuse: Reuse,
    ) -> (InvocationReply<CallResponse>, Option<Warm<S>>) {
        let target = match self.interfaces().function(interface, function) {
            Ok(target) => target,
            Err(e) => return (Err(e), admitted.unused()),
        };
        let guest = Guest {
            code: self,
            target,
            admitted,
            caps,
            // An async export may leave tasks running in its store.
            reuse: if target.is_async { Reuse::NEVER } else { reuse },
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
            return guest.dynamic(CallArgs::Values(args), false).await;
        }
        guest.dynamic(request.args, request.wave).await
    }
}

/// What a call runs in: the component, the function, the call's admission
/// (and kept instance, if any) and capabilities.
struct Guest<'a, S> {
    code: &'a PreparedComponent,
    target: &'a Function,
    admitted: Admitted<S>,
    caps: Arc<ComponentCaps>,
    reuse: Reuse,
}

/// A call's answer and the instance to keep, if any.
type Answered<T, S> = (InvocationReply<T>, Option<Warm<S>>);

impl<S: Send + 'static> Guest<'_, S> {
    /// Runs `call` on the function under the component's limits, in a
    /// fresh instance unless a kept one was admitted: by default one store
    /// per call, so nothing a call leaves behind reaches the next.
    async fn run<T>(
        self,
        call: impl AsyncFnOnce(Func, &mut Store<StoreState>) -> wasmtime::Result<T>,
    ) -> Answered<T, S> {
        let limits = &self.code.limits;
        let engine = self.code.pre.engine();
        let Ready {
            mut store,
            instance,
            left,
            slot,
        } = self.admitted.ready(limits, engine, self.caps, self.reuse);
        let (pre, index) = (&self.code.pre, self.target.index);
        let guest = async move {
            let instance = match instance {
                Some(instance) => instance,
                None => pre.instantiate_async(&mut store).await?,
            };
            let func = instance
                .get_func(&mut store, index)
                .ok_or_else(|| wasmtime::format_err!("export vanished from its instance"))?;
            let value = call(func, &mut store).await?;
            // Not kept: the store goes here, before the slot.
            Ok((value, (left > 0).then_some((store, instance))))
        };
        match finish_keeping(Alongside::new(guest, slot), limits.backstop()).await {
            Ok(((value, Some((store, instance))), slot)) => {
                (Ok(value), Some(Warm::new(store, instance, left, slot)))
            }
            Ok(((value, None), _slot)) => (Ok(value), None),
            Err(e) => (Err(e), None),
        }
    }

    /// The call through dynamic values, for any function and for WAVE.
    async fn dynamic(self, args: CallArgs, wave: bool) -> Answered<CallResponse, S> {
        let target = self.target;
        let args = match arguments(&target.name, &target.params, args) {
            Ok(args) => args,
            Err(e) => return (Err(e), self.admitted.unused()),
        };
        let results = vec![Val::Bool(false); target.results.len()];
        let (results, warm) = self
            .run(async move |func, store| {
                let mut results = results;
                // `call_async` runs an async export (WASI 0.3 style) in the
                // store's event loop.
                func.call_async(store, &args, &mut results).await?;
                Ok(results)
            })
            .await;
        (
            results.and_then(|results| respond(target, results, wave)),
            warm,
        )
    }
}

/// The results of a dynamic call as the caller gets them.
fn respond(target: &Function, results: Vec<Val>, wave: bool) -> InvocationReply<CallResponse> {
    let wave = if wave {
        let texts = results
            .iter()
            .map(|val| wasm_wave::to_string(val).map_err(|e| internal("cannot print a result", e)))
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

/// A call of a fast-path function: typed if its arguments are in the fast
/// path's wire form, given back otherwise.
struct TypedCall<'a, S> {
    guest: Guest<'a, S>,
    args: Values,
}

type Boxed<'a, S> = std::pin::Pin<Box<dyn Future<Output = Answered<CallResponse, S>> + Send + 'a>>;

impl<'a, S: Send + 'static> fast::Visit for TypedCall<'a, S> {
    /// The call, or the arguments back when they are not in the fast
    /// path's form (valid, perhaps, like a byte list as `u8` nodes: the
    /// dynamic path accepts that, or says what is wrong).
    type Out = Result<Boxed<'a, S>, Self>;

    fn visit<P: Shape, R: Shape>(self) -> Self::Out {
        if !P::accepts(self.args.nodes()) {
            return Err(self);
        }
        let TypedCall { guest, args } = self;
        Ok(Box::pin(async move {
            let Some(params) = P::from_nodes(args.into_nodes()) else {
                let vanished =
                    InvocationError::new(ErrorKind::Internal, "fast-path arguments vanished");
                return (Err(vanished), guest.admitted.unused());
            };
            let (results, warm) = guest
                .run(async move |func, store| {
                    let typed = func.typed::<P, R>(&*store)?;
                    typed.call_async(store, params).await
                })
                .await;
            let reply = results.and_then(|results| {
                let results = Values::new(results.into_nodes())
                    .map_err(|e| internal("cannot send the results", e))?;
                Ok(CallResponse {
                    results,
                    wave: None,
                })
            });
            (reply, warm)
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
