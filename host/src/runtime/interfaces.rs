//! What a component exports and imports, read from its type once when it
//! is prepared: the names a host reports in its inventory, and the
//! functions (with their types and export indices) a caller may invoke.

use std::collections::BTreeMap;

use trellis_protocol::invocation::{ErrorKind, InvocationError};
use trellis_protocol::link::{InterfaceRef, WitName};
pub(super) use trellis_protocol::signature::{unversioned, version_of};
use wasmtime::Engine;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, ComponentExportIndex, Type};

/// The interfaces of one component.
#[derive(Clone)]
pub struct Interfaces {
    exports: Vec<Export>,
    imports: Vec<String>,
}

/// One exported interface (or a function exported on its own).
#[derive(Clone)]
struct Export {
    /// As the component names it, version included
    /// (`example:pong/pingpong@0.1.0`).
    name: String,
    functions: BTreeMap<String, Function>,
}

/// An exported function a caller can invoke.
#[derive(Clone)]
pub struct Function {
    /// Its parameter types, in order (read once, used by every call).
    pub params: Vec<Type>,
    /// Its result types, in order.
    pub results: Vec<Type>,
    /// Where it is in every instance of the component.
    pub index: ComponentExportIndex,
    /// `interface.function`, for messages.
    pub name: String,
    /// Whether it is a component-model async function.
    pub is_async: bool,
}

impl Interfaces {
    /// Reads them from `component`'s type.
    pub fn read(engine: &Engine, component: &Component) -> Self {
        let ty = component.component_type();
        let imports = ty
            .imports(engine)
            .map(|(name, _)| name.to_owned())
            .collect();
        let mut exports = Vec::new();
        for (name, item) in ty.exports(engine) {
            let mut functions = BTreeMap::new();
            if let ComponentItem::ComponentInstance(instance) = item.ty {
                let Some(parent) = component.get_export_index(None, name) else {
                    continue;
                };
                for (function, item) in instance.exports(engine) {
                    if let ComponentItem::ComponentFunc(func) = item.ty
                        && let Some(index) = component.get_export_index(Some(&parent), function)
                    {
                        let entry = Function {
                            params: func.params().map(|(_, ty)| ty).collect(),
                            results: func.results().collect(),
                            index,
                            name: format!("{name}.{function}"),
                            is_async: func.async_(),
                        };
                        functions.insert(function.to_owned(), entry);
                    }
                }
            }
            exports.push(Export {
                name: name.to_owned(),
                functions,
            });
        }
        Self { exports, imports }
    }

    /// Exported names, versions included, in the component's order.
    pub fn export_names(&self) -> Vec<String> {
        self.exports.iter().map(|e| e.name.clone()).collect()
    }

    /// Imported names, versions included, in the component's order.
    pub fn import_names(&self) -> Vec<String> {
        self.imports.clone()
    }

    /// Whether it exports at least one function a caller can invoke.
    pub fn has_functions(&self) -> bool {
        self.exports.iter().any(|e| !e.functions.is_empty())
    }

    /// The exported `function` of `interface` (any version of it; the
    /// highest when the component exports several), or an error that
    /// says what the component exports instead.
    pub fn function(
        &self,
        interface: &InterfaceRef,
        function: &WitName,
    ) -> Result<&Function, InvocationError> {
        let wanted = interface.to_string();
        let export = self
            .exports
            .iter()
            .filter(|e| unversioned(&e.name) == wanted && !e.functions.is_empty())
            .max_by(|a, b| version_of(&a.name).cmp(&version_of(&b.name)))
            .ok_or_else(|| {
                InvocationError::new(
                    ErrorKind::NotFound,
                    format!(
                        "the component does not export {wanted}; it exports {}",
                        self.describe()
                    ),
                )
            })?;
        export.functions.get(function.as_str()).ok_or_else(|| {
            let known: Vec<&str> = export.functions.keys().map(String::as_str).collect();
            InvocationError::new(
                ErrorKind::NotFound,
                format!(
                    "{} has no function `{function}`; its functions are {}",
                    export.name,
                    known.join(", ")
                ),
            )
        })
    }

    /// Exported names for messages.
    pub fn describe(&self) -> String {
        if self.exports.is_empty() {
            "nothing".into()
        } else {
            self.export_names().join(", ")
        }
    }
}
