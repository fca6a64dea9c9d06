//! Imports of custom interfaces, bound at run time by links: each imported
//! function becomes a dynamic host function (no code generated per
//! interface) that hands the call to the component's call router, which
//! picks the target by link, local first.
//!
//! What this cannot bind (async-typed functions, interfaces with resources
//! whose functions take them, anything of `wasi:` the host does not
//! provide) is bound to a function that traps with "unknown import", so
//! the component still starts and only a call of it fails.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

use trellis_protocol::link::{InterfaceRef, WitName};
use wasmtime::StoreContextMut;
use wasmtime::component::types::{ComponentFunc, ComponentItem};
use wasmtime::component::{Component, Linker, Type, Val};

use super::state::StoreState;
use crate::calls::OutgoingCall;

/// One imported function and where its calls go.
struct Import {
    interface: InterfaceRef,
    function: WitName,
    /// `ns:pkg/iface@version.function`, for messages.
    name: String,
}

/// `base` plus a dynamic function for every function of every imported
/// interface outside the `wasi` namespace, and trapping stubs for what is
/// still missing.
pub(super) fn bind(
    base: &Linker<StoreState>,
    component: &Component,
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
            let import = Arc::new(Import {
                interface: interface.clone(),
                function: wit_function,
                name: format!("{name}.{function}"),
            });
            // A function the host defines itself (wasmcloud:bus,
            // wasmcloud:messaging/consumer) keeps the host's definition:
            // the linker refuses to shadow it, and that refusal is the test.
            let defined = bound.func_new_async(function, move |store, ty, params, results| {
                let import = import.clone();
                Box::new(async move { forward(store, ty, params, results, &import).await })
            });
            if defined.is_err() {
                continue;
            }
        }
    }
    linker.define_unknown_imports_as_traps(component)?;
    Ok(linker)
}

/// Runs one call of an imported function through the component's links.
/// A failure is the guest's `err` where the function returns
/// `result<_, string>`, and a trap with the reason otherwise.
async fn forward(
    store: StoreContextMut<'_, StoreState>,
    ty: ComponentFunc,
    params: &[Val],
    results: &mut [Val],
    import: &Import,
) -> wasmtime::Result<()> {
    let state = store.data();
    let caps = state.caps.caps.clone();
    let link_name = state.caps.link_name_for(&import.interface);
    let budget = state.deadline.saturating_duration_since(Instant::now());
    let result_types: Vec<Type> = ty.results().collect();
    // Decided before the types move into the call.
    let answers_string_err = matches!(
        result_types.as_slice(),
        [Type::Result(result)] if matches!(result.err(), Some(Type::String))
    );
    let call = OutgoingCall {
        source: &caps.component_id,
        link_name: &link_name,
        interface: &import.interface,
        function: &import.function,
        args: params,
        result_types,
        budget,
    };
    let error = match caps.calls.call(call).await {
        Ok(values) if values.len() == results.len() => {
            // Moved, not cloned: a large list is tens of bytes per element.
            for (slot, value) in results.iter_mut().zip(values) {
                *slot = value;
            }
            return Ok(());
        }
        Ok(values) => format!(
            "{} answered {} values where {} were expected",
            import.name,
            values.len(),
            results.len()
        ),
        Err(e) => e.message,
    };
    tracing::warn!(component = %caps.component_id, import = %import.name, %error, "call of an imported function failed");
    if answers_string_err {
        results[0] = Val::Result(Err(Some(Box::new(Val::String(error)))));
        return Ok(());
    }
    Err(wasmtime::format_err!("{error}"))
}
