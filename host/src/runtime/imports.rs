//! Imports of custom interfaces, bound at run time by links: each imported
//! function becomes a dynamic host function (no code generated per
//! interface) that hands the call to the component's call router, which
//! picks the target by link, local first.
//!
//! Functions of a shape the fast path knows (see `fast`) are bound as
//! typed functions, so a large byte list is lifted with one copy; the
//! rest through wasmtime's dynamic values.
//!
//! What this cannot bind (async-typed functions, interfaces with resources
//! whose functions take them, anything of `wasi:` the host does not
//! provide) is bound to a function that traps with "unknown import", so
//! the component still starts and only a call of it fails.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use trellis_protocol::LinkName;
use trellis_protocol::invocation::{ErrorKind, InvocationError};
use trellis_protocol::link::{InterfaceRef, WitName};
use trellis_protocol::value::Values;
use wasmtime::StoreContextMut;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Linker, LinkerInstance, Type, Val};

use super::fast::{self, Shape};
use super::state::StoreState;
use super::values;
use crate::calls::OutgoingCall;
use crate::capabilities::ComponentCaps;

/// One imported function and where its calls go.
struct Import {
    interface: InterfaceRef,
    function: WitName,
    /// `ns:pkg/iface@version.function`, for messages.
    name: String,
    /// Largest payload (bytes of strings and byte lists) a call through
    /// the fast path may send or take back.
    max_bytes: usize,
    /// The types the guest expects back, read once at bind time.
    results: Vec<Type>,
}

/// `base` plus a dynamic function for every function of every imported
/// interface outside the `wasi` namespace, and trapping stubs for what is
/// still missing. `max_bytes` bounds the payload of a fast-path call.
pub(super) fn bind(
    base: &Linker<StoreState>,
    component: &Component,
    max_bytes: usize,
) -> wasmtime::Result<Linker<StoreState>> {
    let mut linker = base.clone();
    let engine = component.engine();
    for (name, item) in component.component_type().imports(engine) {
        let ComponentItem::ComponentInstance(instance) = item.ty else {
            continue;
        };
        // The host implements what it implements of `wasi`; a link cannot
        // stand in for WASI.
        let Ok(interface) = InterfaceRef::from_str(super::interfaces::unversioned(name)) else {
            continue;
        };
        if interface.namespace.as_str() == "wasi" {
            continue;
        }
        let mut bound = linker.instance(name)?;
        for (function, item) in instance.exports(engine) {
            let ComponentItem::ComponentFunc(func) = item.ty else {
                continue;
            };
            let Ok(wit_function) = WitName::new(function) else {
                continue;
            };
            if func.async_() {
                continue;
            }
            let params: Vec<Type> = func.params().map(|(_, ty)| ty).collect();
            let import = Arc::new(Import {
                interface: interface.clone(),
                function: wit_function,
                name: format!("{name}.{function}"),
                max_bytes,
                results: func.results().collect(),
            });
            let typed = BindTyped {
                bound: &mut bound,
                function,
                import: import.clone(),
            };
            // A function the host defines itself (wasmcloud:bus,
            // wasmcloud:messaging/consumer) keeps the host's definition:
            // the linker refuses to shadow it, and that refusal is the test.
            let _ = match fast::dispatch(&params, &import.results, typed) {
                Ok(defined) => defined,
                Err(_) => bound.func_new_async(function, move |store, _, params, results| {
                    let import = import.clone();
                    Box::new(async move { forward(store, params, results, &import).await })
                }),
            };
        }
    }
    linker.define_unknown_imports_as_traps(component)?;
    Ok(linker)
}

/// Binds one import of a fast-path shape as a typed function.
struct BindTyped<'a, 'b> {
    bound: &'a mut LinkerInstance<'b, StoreState>,
    function: &'a str,
    import: Arc<Import>,
}

impl fast::Visit for BindTyped<'_, '_> {
    type Out = wasmtime::Result<()>;

    fn visit<P: Shape, R: Shape>(self) -> Self::Out {
        let import = self.import;
        self.bound
            .func_wrap_async(self.function, move |store, params: P| {
                let import = import.clone();
                Box::new(async move { forward_typed::<P, R>(store, params, &import).await })
            })
    }
}

/// One call of a fast-path import: the same route and errors as
/// [`forward`], without a `Val` per list element.
async fn forward_typed<P: Shape, R: Shape>(
    store: StoreContextMut<'_, StoreState>,
    params: P,
    import: &Import,
) -> wasmtime::Result<R> {
    let caller = Caller::of(&store, import);
    let outcome = if params.bytes() > import.max_bytes {
        Err(over_limit(import, "arguments", params.bytes()))
    } else {
        match Values::new(params.into_nodes()) {
            Ok(args) => caller.route(import, args).await,
            Err(e) => Err(InvocationError::new(ErrorKind::BadRequest, e.to_string())),
        }
    };
    let error = match outcome {
        Ok(values) => match R::from_nodes(values.into_nodes()) {
            Some(results) if results.bytes() <= import.max_bytes => return Ok(results),
            Some(results) => over_limit(import, "results", results.bytes()).message,
            None => format!(
                "{}: the answer does not fit the import's result types",
                import.name
            ),
        },
        Err(e) => e.message,
    };
    caller.failed(import, &error);
    R::error(error.clone()).ok_or_else(|| wasmtime::format_err!("{error}"))
}

/// Who is calling an import, read from the guest's store before the call.
struct Caller {
    caps: Arc<ComponentCaps>,
    link_name: LinkName,
    budget: Duration,
}

impl Caller {
    fn of(store: &StoreContextMut<'_, StoreState>, import: &Import) -> Self {
        let state = store.data();
        Self {
            caps: state.caps.caps.clone(),
            link_name: state.caps.link_name_for(&import.interface),
            budget: state.deadline.saturating_duration_since(Instant::now()),
        }
    }

    /// Sends `args` where the caller's link for the import points.
    async fn route(&self, import: &Import, args: Values) -> Result<Values, InvocationError> {
        let call = OutgoingCall {
            source: &self.caps.component_id,
            link_name: &self.link_name,
            interface: &import.interface,
            function: &import.function,
            args,
            budget: self.budget,
        };
        self.caps.calls.call(call).await
    }

    /// The host's side of a failed call: the guest gets the error (or
    /// traps with it), and the log says it either way.
    fn failed(&self, import: &Import, error: &str) {
        tracing::warn!(component = %self.caps.component_id, import = %import.name, %error, "call of an imported function failed");
    }
}

fn over_limit(import: &Import, what: &str, bytes: usize) -> InvocationError {
    InvocationError::new(
        ErrorKind::BadRequest,
        format!(
            "{}: {what} of {bytes} bytes are over the host's limit of {} bytes per call \
             (trellis host --max-response-mb)",
            import.name, import.max_bytes
        ),
    )
}

/// Runs one call of an imported function through the component's links.
/// A failure is the guest's `err` where the function returns
/// `result<_, string>`, and a trap with the reason otherwise.
async fn forward(
    store: StoreContextMut<'_, StoreState>,
    params: &[Val],
    results: &mut [Val],
    import: &Import,
) -> wasmtime::Result<()> {
    let answers_string_err = matches!(
        import.results.as_slice(),
        [Type::Result(result)] if matches!(result.err(), Some(Type::String))
    );
    let caller = Caller::of(&store, import);
    let outcome = match values::to_wire(params) {
        Ok(args) => caller.route(import, args).await,
        Err(e) => Err(InvocationError::new(
            ErrorKind::BadRequest,
            format!("cannot send the arguments: {e}"),
        )),
    };
    let error = match outcome.map(|answer| values::from_wire(&import.results, &answer)) {
        Ok(Ok(values)) if values.len() == results.len() => {
            // Moved, not cloned: a large list is tens of bytes per element.
            for (slot, value) in results.iter_mut().zip(values) {
                *slot = value;
            }
            return Ok(());
        }
        Ok(Ok(values)) => format!(
            "{} answered {} values where {} were expected",
            import.name,
            values.len(),
            results.len()
        ),
        Ok(Err(e)) => format!(
            "{}: the answer does not fit the import's result types: {e}",
            import.name
        ),
        Err(e) => e.message,
    };
    caller.failed(import, &error);
    if answers_string_err {
        results[0] = Val::Result(Err(Some(Box::new(Val::String(error)))));
        return Ok(());
    }
    Err(wasmtime::format_err!("{error}"))
}
