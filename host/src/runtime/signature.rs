//! Function types as WIT-like text (`func(u32, list<u8>) -> result<string,
//! string>`), the form `component.types` answers with and a link check
//! compares (`trellis_protocol::signature`).
//!
//! Structural: a record is written with its fields, a variant with its
//! cases, so two components agree exactly when the texts are equal,
//! whatever they named their types. Parameter names are left out (a
//! caller passes values by position); field and case names are part of
//! the type.

use sha2::{Digest, Sha256};
use trellis_protocol::limits::MAX_LISTED_INTERFACES;
use trellis_protocol::signature::{
    ComponentTypes, Functions, MAX_LISTED_FUNCTIONS, MAX_SIGNATURE_BYTES,
};
use wasmtime::component::types::{self, ComponentFunc, ComponentItem};
use wasmtime::component::{Component, Type};

/// The function types of `component`'s custom (non-`wasi`) interfaces,
/// imported and exported, or why a reply could not hold them. Written
/// when a caller asks (`component.types`), not when the component is
/// prepared: only link checks read them.
pub(super) fn component_types(component: &Component) -> Result<ComponentTypes, String> {
    let engine = component.engine();
    let ty = component.component_type();
    let custom = |(name, item): (&str, types::ComponentItem)| match item {
        ComponentItem::ComponentInstance(instance)
            if !name.starts_with("wasi:") && name.contains('/') =>
        {
            Some((name.to_owned(), functions(engine, &instance)))
        }
        _ => None,
    };
    let types = ComponentTypes {
        imports: ty
            .imports(engine)
            .filter_map(|(n, i)| custom((n, i.ty)))
            .collect(),
        exports: ty
            .exports(engine)
            .filter_map(|(n, i)| custom((n, i.ty)))
            .collect(),
    };
    for (side, interfaces) in [("exports", &types.exports), ("imports", &types.imports)] {
        if interfaces.len() > MAX_LISTED_INTERFACES {
            return Err(format!(
                "the component {side} {} custom interfaces, more than the {MAX_LISTED_INTERFACES} \
                 a host lists",
                interfaces.len()
            ));
        }
        if let Some((name, functions)) = interfaces
            .iter()
            .find(|(_, functions)| functions.len() > MAX_LISTED_FUNCTIONS)
        {
            return Err(format!(
                "{name} has {} functions, more than the {MAX_LISTED_FUNCTIONS} a host lists",
                functions.len()
            ));
        }
    }
    Ok(types)
}

/// Each function of an interface with its type.
fn functions(engine: &wasmtime::Engine, instance: &types::ComponentInstance) -> Functions {
    instance
        .exports(engine)
        .filter_map(|(function, item)| match item.ty {
            ComponentItem::ComponentFunc(func) => Some((function.to_owned(), of(&func))),
            _ => None,
        })
        .collect()
}

/// Deepest nesting written out; deeper types are cut with `…` (they
/// still differ from any other text, as the digest covers them).
const MAX_DEPTH: usize = 32;

/// `func(...) -> ...` for `func`, at most [`MAX_SIGNATURE_BYTES`] long:
/// a longer text is cut and ends in a digest of the whole.
pub(super) fn of(func: &ComponentFunc) -> String {
    let mut out = String::from("func(");
    for (i, (_, ty)) in func.params().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write(&ty, 0, &mut out);
    }
    out.push(')');
    let results: Vec<Type> = func.results().collect();
    if !results.is_empty() {
        out.push_str(" -> ");
        for (i, ty) in results.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            write(ty, 0, &mut out);
        }
    }
    if func.async_() {
        out.insert_str(0, "async ");
    }
    bounded(out)
}

fn bounded(text: String) -> String {
    if text.len() <= MAX_SIGNATURE_BYTES {
        return text;
    }
    let digest = hex::encode(Sha256::digest(text.as_bytes()));
    let mut cut = MAX_SIGNATURE_BYTES - digest.len() - "… sha256:".len();
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}… sha256:{digest}", &text[..cut])
}

fn write(ty: &Type, depth: usize, out: &mut String) {
    if depth >= MAX_DEPTH {
        out.push('…');
        return;
    }
    let inner = |ty: &Type, out: &mut String| write(ty, depth + 1, out);
    match ty {
        Type::Bool => out.push_str("bool"),
        Type::S8 => out.push_str("s8"),
        Type::U8 => out.push_str("u8"),
        Type::S16 => out.push_str("s16"),
        Type::U16 => out.push_str("u16"),
        Type::S32 => out.push_str("s32"),
        Type::U32 => out.push_str("u32"),
        Type::S64 => out.push_str("s64"),
        Type::U64 => out.push_str("u64"),
        Type::Float32 => out.push_str("f32"),
        Type::Float64 => out.push_str("f64"),
        Type::Char => out.push_str("char"),
        Type::String => out.push_str("string"),
        Type::ErrorContext => out.push_str("error-context"),
        Type::List(list) => {
            out.push_str("list<");
            inner(&list.ty(), out);
            out.push('>');
        }
        Type::FixedLengthList(list) => {
            out.push_str("list<");
            inner(&list.ty(), out);
            out.push_str(&format!(", {}>", list.len()));
        }
        Type::Map(map) => {
            out.push_str("map<");
            inner(&map.key(), out);
            out.push_str(", ");
            inner(&map.value(), out);
            out.push('>');
        }
        Type::Record(record) => {
            out.push_str("record { ");
            for (i, field) in record.fields().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(field.name);
                out.push_str(": ");
                inner(&field.ty, out);
            }
            out.push_str(" }");
        }
        Type::Tuple(tuple) => {
            out.push_str("tuple<");
            for (i, ty) in tuple.types().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                inner(&ty, out);
            }
            out.push('>');
        }
        Type::Variant(variant) => {
            out.push_str("variant { ");
            for (i, case) in variant.cases().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(case.name);
                if let Some(ty) = &case.ty {
                    out.push('(');
                    inner(ty, out);
                    out.push(')');
                }
            }
            out.push_str(" }");
        }
        Type::Enum(names) => {
            out.push_str("enum { ");
            out.push_str(&names.names().collect::<Vec<_>>().join(", "));
            out.push_str(" }");
        }
        Type::Flags(names) => {
            out.push_str("flags { ");
            out.push_str(&names.names().collect::<Vec<_>>().join(", "));
            out.push_str(" }");
        }
        Type::Option(option) => {
            out.push_str("option<");
            inner(&option.ty(), out);
            out.push('>');
        }
        Type::Result(result) => {
            out.push_str("result");
            match (result.ok(), result.err()) {
                (None, None) => {}
                (Some(ok), None) => {
                    out.push('<');
                    inner(&ok, out);
                    out.push('>');
                }
                (ok, Some(err)) => {
                    out.push('<');
                    match ok {
                        Some(ok) => inner(&ok, out),
                        None => out.push('_'),
                    }
                    out.push_str(", ");
                    inner(&err, out);
                    out.push('>');
                }
            }
        }
        // Resource types have no name in the type information; which
        // resource it is shows in the interface it belongs to.
        Type::Own(_) => out.push_str("own<resource>"),
        Type::Borrow(_) => out.push_str("borrow<resource>"),
        Type::Future(future) => {
            out.push_str("future");
            if let Some(ty) = future.ty() {
                out.push('<');
                inner(&ty, out);
                out.push('>');
            }
        }
        Type::Stream(stream) => {
            out.push_str("stream");
            if let Some(ty) = stream.ty() {
                out.push('<');
                inner(&ty, out);
                out.push('>');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_texts_are_cut_with_a_digest_of_the_whole() {
        let short = "func() -> string".to_owned();
        assert_eq!(bounded(short.clone()), short);
        let long = format!("func({})", "u8, ".repeat(400));
        let other = format!("func({}u16)", "u8, ".repeat(400));
        let (a, b) = (bounded(long), bounded(other));
        assert!(a.len() <= MAX_SIGNATURE_BYTES && b.len() <= MAX_SIGNATURE_BYTES);
        assert!(a.contains("… sha256:"));
        assert_ne!(a, b, "texts that differ only past the cut still differ");
    }
}

#[cfg(test)]
mod component_tests {
    use wasmtime::component::Component;
    use wasmtime::component::types::ComponentItem;
    use wasmtime::{Config, Engine};

    use super::of;

    const WAT: &str = r#"(component
        (type $point' (record (field "x" s32) (field "y" s32)))
        (export $point "point" (type $point'))
        (type $shape (variant (case "circle" f64) (case "none")))
        (export $shape' "shape" (type $shape))
        (core module $m
            (memory (export "mem") 1)
            (func (export "swap") (param i32 i32) (result i32) i32.const 0)
            (func (export "n") (result i32) i32.const 0)
            (func (export "draw") (param i32 f64 i32 i32))
            (func (export "realloc") (param i32 i32 i32 i32) (result i32) i32.const 0))
        (core instance $i (instantiate $m))
        (func $swap (param "p" $point) (result $point)
            (canon lift (core func $i "swap") (memory (core memory $i "mem"))))
        (func $n (result u32) (canon lift (core func $i "n")))
        (func $draw (param "s" $shape') (param "name" string)
            (canon lift (core func $i "draw") (memory (core memory $i "mem"))
                (realloc (core func $i "realloc"))))
        (export "swap" (func $swap))
        (export "n" (func $n))
        (export "draw" (func $draw))
    )"#;

    #[test]
    fn functions_are_written_structurally_without_parameter_names() {
        let engine = Engine::new(&Config::new()).unwrap();
        let component = Component::new(&engine, WAT).unwrap();
        let texts: std::collections::BTreeMap<String, String> = component
            .component_type()
            .exports(&engine)
            .filter_map(|(name, item)| match item.ty {
                ComponentItem::ComponentFunc(func) => Some((name.to_owned(), of(&func))),
                _ => None,
            })
            .collect();
        assert_eq!(
            texts["swap"],
            "func(record { x: s32, y: s32 }) -> record { x: s32, y: s32 }"
        );
        assert_eq!(texts["n"], "func() -> u32");
        assert_eq!(texts["draw"], "func(variant { circle(f64), none }, string)");
    }
}
