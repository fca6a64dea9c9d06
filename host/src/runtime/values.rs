//! Component-model values between wasmtime ([`Val`]) and the wire
//! ([`Values`]), for calls that cross hosts.
//!
//! [`from_wire`] walks the callee's *types* and consumes nodes as the
//! types ask for them, so its recursion is bounded by the component's own
//! types, never by what a peer sent (whose depth was bounded anyway when
//! it was decoded). [`to_wire`] recurses over values a guest returned and
//! stops at the wire's depth limit.
//!
//! A `list<u8>` goes out as one [`Node::Bytes`] and is accepted either as
//! that or as a list of `u8` nodes. Maps travel as a list of `(key, value)`
//! tuples, which is how the canonical ABI lays them out. Resources,
//! futures, streams and error contexts are handles into one store and
//! cannot cross hosts.

use trellis_protocol::limits::{MAX_VALUE_DEPTH, MAX_VALUE_NODES};
use trellis_protocol::value::{Node, ValueError, Values};
use wasmtime::component::{Type, Val};

/// A value that does not fit the types it is meant for, or that cannot
/// cross hosts; the message says where and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render(.path, .problem))]
pub(crate) struct ValueMismatch {
    /// Where, innermost first (it is filled in while the walk unwinds, so
    /// the success path builds no strings).
    path: Vec<String>,
    /// What is wrong.
    problem: String,
}

fn render(path: &[String], problem: &str) -> String {
    let places = path.iter().rev().map(String::as_str);
    places.chain([problem]).collect::<Vec<_>>().join(": ")
}

fn fail<T>(problem: impl Into<String>) -> Result<T, ValueMismatch> {
    Err(ValueMismatch {
        path: Vec::new(),
        problem: problem.into(),
    })
}

/// Adds a place to the error on its way out.
trait Within<T> {
    fn within(self, place: impl FnOnce() -> String) -> Result<T, ValueMismatch>;
}

impl<T> Within<T> for Result<T, ValueMismatch> {
    fn within(self, place: impl FnOnce() -> String) -> Result<T, ValueMismatch> {
        self.map_err(|mut e| {
            e.path.push(place());
            e
        })
    }
}

/// At most 64 characters of a name a peer sent, escaped, so messages
/// stay small and printable.
fn shown(s: &str) -> String {
    let mut out: String = s.chars().take(64).flat_map(char::escape_debug).collect();
    if s.chars().nth(64).is_some() {
        out.push('…');
    }
    out
}

const RESOURCES: &str = "resources cannot cross hosts";
const FUTURES: &str = "futures cannot cross hosts";
const STREAMS: &str = "streams cannot cross hosts";
const ERROR_CONTEXTS: &str = "error contexts cannot cross hosts";

/// A type's name for messages: the WIT name of a primitive, the kind of
/// a compound (lists with their element's kind).
fn type_name(ty: &Type) -> String {
    match ty {
        Type::List(l) => format!("list<{}>", kind(&l.ty())),
        Type::FixedLengthList(l) => format!("list<{}, {}>", kind(&l.ty()), l.len()),
        Type::Map(m) => format!("map<{}, {}>", kind(&m.key()), kind(&m.value())),
        other => kind(other).to_owned(),
    }
}

fn kind(ty: &Type) -> &'static str {
    match ty {
        Type::Bool => "bool",
        Type::S8 => "s8",
        Type::U8 => "u8",
        Type::S16 => "s16",
        Type::U16 => "u16",
        Type::S32 => "s32",
        Type::U32 => "u32",
        Type::S64 => "s64",
        Type::U64 => "u64",
        Type::Float32 => "f32",
        Type::Float64 => "f64",
        Type::Char => "char",
        Type::String => "string",
        Type::List(_) | Type::FixedLengthList(_) => "list",
        Type::Map(_) => "map",
        Type::Record(_) => "record",
        Type::Tuple(_) => "tuple",
        Type::Variant(_) => "variant",
        Type::Enum(_) => "enum",
        Type::Option(_) => "option",
        Type::Result(_) => "result",
        Type::Flags(_) => "flags",
        Type::Own(_) | Type::Borrow(_) => "resource",
        Type::Future(_) => "future",
        Type::Stream(_) => "stream",
        Type::ErrorContext => "error-context",
    }
}

fn plural(n: usize, one: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {one}s")
    }
}

/// A name the type does not have, with the ones it has.
fn unknown<'a, T>(
    what: &str,
    name: &str,
    known: impl Iterator<Item = &'a str>,
) -> Result<T, ValueMismatch> {
    let known: Vec<&str> = known.collect();
    fail(format!(
        "{what} `{}` (it has: {})",
        shown(name),
        known.join(", ")
    ))
}

/// Wire values -> wasmtime values, directed by the callee's parameter
/// types. Places in messages count arguments from 1 and list items from 0.
pub(crate) fn from_wire(types: &[Type], values: &Values) -> Result<Vec<Val>, ValueMismatch> {
    if types.len() != values.count() {
        let expected = plural(types.len(), "argument");
        return fail(format!("expected {expected}, got {}", values.count()));
    }
    let mut cursor = Cursor {
        nodes: values.nodes(),
        pos: 0,
    };
    let args = types.iter().enumerate();
    args.map(|(i, ty)| cursor.val(ty).within(|| format!("argument {}", i + 1)))
        .collect()
}

/// Reads nodes in order as the types ask for them.
struct Cursor<'a> {
    nodes: &'a [Node],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn next(&mut self) -> Result<&'a Node, ValueMismatch> {
        // `Values` guarantees every claimed child exists and every value
        // read here was claimed, so this is a refusal to panic only.
        let Some(node) = self.nodes.get(self.pos) else {
            return fail("the values end early");
        };
        self.pos += 1;
        Ok(node)
    }

    /// Room for `claimed` items, but never more than the nodes left: a
    /// peer's claim does not decide an allocation.
    fn room<T>(&self, claimed: usize) -> Vec<T> {
        Vec::with_capacity(claimed.min(self.nodes.len() - self.pos))
    }

    fn val(&mut self, ty: &Type) -> Result<Val, ValueMismatch> {
        match ty {
            Type::Own(_) | Type::Borrow(_) => return fail(RESOURCES),
            Type::Future(_) => return fail(FUTURES),
            Type::Stream(_) => return fail(STREAMS),
            Type::ErrorContext => return fail(ERROR_CONTEXTS),
            _ => {}
        }
        let node = self.next()?;
        Ok(match (ty, node) {
            (Type::Bool, Node::Bool(v)) => Val::Bool(*v),
            (Type::S8, Node::S8(v)) => Val::S8(*v),
            (Type::U8, Node::U8(v)) => Val::U8(*v),
            (Type::S16, Node::S16(v)) => Val::S16(*v),
            (Type::U16, Node::U16(v)) => Val::U16(*v),
            (Type::S32, Node::S32(v)) => Val::S32(*v),
            (Type::U32, Node::U32(v)) => Val::U32(*v),
            (Type::S64, Node::S64(v)) => Val::S64(*v),
            (Type::U64, Node::U64(v)) => Val::U64(*v),
            (Type::Float32, Node::F32(v)) => Val::Float32(*v),
            (Type::Float64, Node::F64(v)) => Val::Float64(*v),
            (Type::Char, Node::Char(v)) => Val::Char(*v),
            (Type::String, Node::String(v)) => Val::String(v.clone()),
            (Type::List(l), Node::List(_) | Node::Bytes(_)) => {
                Val::List(self.items(ty, &l.ty(), node, None)?)
            }
            (Type::FixedLengthList(l), Node::List(_) | Node::Bytes(_)) => {
                Val::FixedLengthList(self.items(ty, &l.ty(), node, Some(l.len()))?)
            }
            (Type::Map(m), Node::List(n)) => {
                let mut entries = self.room(*n as usize);
                for i in 0..*n {
                    let entry = self.entry(&m.key(), &m.value());
                    entries.push(entry.within(|| format!("map entry {i}"))?);
                }
                Val::Map(entries)
            }
            (Type::Record(r), Node::Record(names)) => {
                let expected: Vec<&str> = r.fields().map(|f| f.name).collect();
                if *names != expected {
                    let got = plural(names.len(), "field");
                    let at = first_difference(names, &expected);
                    return fail(format!(
                        "expected record {{{}}}, got a record with {got}{at}",
                        expected.join(", ")
                    ));
                }
                let mut fields = self.room(names.len());
                for field in r.fields() {
                    let value = self.val(&field.ty);
                    let value = value.within(|| format!("field `{}` of record", field.name))?;
                    fields.push((field.name.to_owned(), value));
                }
                Val::Record(fields)
            }
            (Type::Tuple(t), Node::Tuple(n)) => {
                if *n as usize != t.types().len() {
                    return fail(format!("expected a tuple of {}, got {n}", t.types().len()));
                }
                let mut items = self.room(*n as usize);
                for (i, ty) in t.types().enumerate() {
                    items.push(self.val(&ty).within(|| format!("element {i} of tuple"))?);
                }
                Val::Tuple(items)
            }
            (Type::Variant(v), Node::Variant { case, payload }) => {
                let Some(found) = v.cases().find(|c| c.name == case) else {
                    return unknown("variant has no case", case, v.cases().map(|c| c.name));
                };
                let payload = self.payload(found.ty.as_ref(), *payload);
                Val::Variant(
                    case.clone(),
                    payload.within(|| format!("case `{case}` of variant"))?,
                )
            }
            (Type::Enum(e), Node::Enum(case)) => {
                if !e.names().any(|n| n == case) {
                    return unknown("enum has no case", case, e.names());
                }
                Val::Enum(case.clone())
            }
            (Type::Option(_), Node::Option { some: false }) => Val::Option(None),
            (Type::Option(o), Node::Option { some: true }) => {
                let value = self.val(&o.ty()).within(|| "`some` of option".into())?;
                Val::Option(Some(Box::new(value)))
            }
            (Type::Result(r), Node::Result { ok, payload }) => {
                let (ty, arm) = if *ok {
                    (r.ok(), "ok")
                } else {
                    (r.err(), "err")
                };
                let payload = self.payload(ty.as_ref(), *payload);
                let payload = payload.within(|| format!("`{arm}` of result"))?;
                Val::Result(if *ok { Ok(payload) } else { Err(payload) })
            }
            (Type::Flags(f), Node::Flags(names)) => {
                for (i, name) in names.iter().enumerate() {
                    if !f.names().any(|n| n == name) {
                        return unknown("flags have no flag", name, f.names());
                    }
                    if names[..i].contains(name) {
                        return fail(format!("flag `{name}` given twice"));
                    }
                }
                Val::Flags(names.clone())
            }
            _ => return fail(format!("expected {}, got {}", type_name(ty), node.kind())),
        })
    }

    /// The items of a list (`len` is the length a fixed-length list must
    /// have). A `list<u8>` may come as one bytes node.
    fn items(
        &mut self,
        list: &Type,
        elem: &Type,
        node: &Node,
        len: Option<u32>,
    ) -> Result<Vec<Val>, ValueMismatch> {
        let n = match node {
            Node::Bytes(bytes) if matches!(elem, Type::U8) => bytes.len(),
            Node::List(n) => *n as usize,
            other => {
                return fail(format!(
                    "expected {}, got {}",
                    type_name(list),
                    other.kind()
                ));
            }
        };
        if let Some(len) = len.filter(|len| *len as usize != n) {
            let expected = plural(len as usize, "item");
            return fail(format!("expected a list of {expected}, got {n}"));
        }
        if let Node::Bytes(bytes) = node {
            return Ok(bytes.iter().map(|b| Val::U8(*b)).collect());
        }
        let mut items = self.room(n);
        for i in 0..n {
            items.push(self.val(elem).within(|| format!("list index {i}"))?);
        }
        Ok(items)
    }

    /// One `(key, value)` tuple of a map.
    fn entry(&mut self, key: &Type, value: &Type) -> Result<(Val, Val), ValueMismatch> {
        match self.next()? {
            Node::Tuple(2) => {}
            Node::Tuple(n) => {
                return fail(format!("expected a (key, value) tuple, got a tuple of {n}"));
            }
            other => {
                return fail(format!(
                    "expected a (key, value) tuple, got {}",
                    other.kind()
                ));
            }
        }
        let key = self.val(key).within(|| "key".into())?;
        Ok((key, self.val(value).within(|| "value".into())?))
    }

    /// The payload of a variant case or result arm, which must be there
    /// exactly when the type has one.
    fn payload(
        &mut self,
        ty: Option<&Type>,
        present: bool,
    ) -> Result<Option<Box<Val>>, ValueMismatch> {
        match (ty, present) {
            (Some(ty), true) => Ok(Some(Box::new(self.val(ty)?))),
            (None, false) => Ok(None),
            (Some(ty), false) => fail(format!(
                "expected a payload of type {}, got none",
                type_name(ty)
            )),
            (None, true) => fail("expected no payload, got one"),
        }
    }
}

/// Where a record's field names first differ from the type's, for the
/// message (the names may be a peer's, so only one is shown).
fn first_difference(got: &[String], expected: &[&str]) -> String {
    let at = got.iter().zip(expected).take_while(|(a, b)| a == b).count();
    match (got.get(at), expected.get(at)) {
        (Some(g), Some(e)) => format!(" (field {} is `{}`, not `{e}`)", at + 1, shown(g)),
        (Some(g), None) => format!(" (an extra field `{}`)", shown(g)),
        (None, Some(e)) => format!(" (no field `{e}`)"),
        (None, None) => String::new(),
    }
}

/// wasmtime values -> wire values. A list whose items are all `u8` (that
/// is, a non-empty `list<u8>`: items of a list share one type) becomes
/// one bytes node; an empty list is `List(0)` whatever its type, which
/// [`from_wire`] accepts for every list. Places in messages count values
/// from 1.
pub(crate) fn to_wire(vals: &[Val]) -> Result<Values, ValueMismatch> {
    let mut nodes = Vec::new();
    for (i, val) in vals.iter().enumerate() {
        push(val, 1, &mut nodes).within(|| format!("value {}", i + 1))?;
    }
    // `push` kept to the depth and node bounds; this checks the rest
    // (names) so what leaves is what a peer will accept.
    Values::new(nodes).or_else(|e| fail(e.to_string()))
}

/// Appends `val` at `depth` (top-level values are at depth 1). The
/// recursion stops at the wire's depth limit.
fn push(val: &Val, depth: usize, out: &mut Vec<Node>) -> Result<(), ValueMismatch> {
    if depth > MAX_VALUE_DEPTH {
        return fail(ValueError::TooDeep.to_string());
    }
    if out.len() >= MAX_VALUE_NODES {
        return fail(ValueError::TooManyNodes.to_string());
    }
    let children = |items: &[Val], out: &mut Vec<Node>, what: &str| {
        let mut items = items.iter().enumerate();
        items.try_for_each(|(i, item)| push(item, depth + 1, out).within(|| format!("{what} {i}")))
    };
    match val {
        Val::Bool(v) => out.push(Node::Bool(*v)),
        Val::S8(v) => out.push(Node::S8(*v)),
        Val::U8(v) => out.push(Node::U8(*v)),
        Val::S16(v) => out.push(Node::S16(*v)),
        Val::U16(v) => out.push(Node::U16(*v)),
        Val::S32(v) => out.push(Node::S32(*v)),
        Val::U32(v) => out.push(Node::U32(*v)),
        Val::S64(v) => out.push(Node::S64(*v)),
        Val::U64(v) => out.push(Node::U64(*v)),
        Val::Float32(v) => out.push(Node::F32(*v)),
        Val::Float64(v) => out.push(Node::F64(*v)),
        Val::Char(v) => out.push(Node::Char(*v)),
        Val::String(v) => out.push(Node::String(v.clone())),
        Val::List(items) | Val::FixedLengthList(items) => match as_bytes(items) {
            Some(bytes) => out.push(Node::Bytes(bytes)),
            None => {
                out.push(Node::List(count(items.len())?));
                children(items, out, "list index")?;
            }
        },
        Val::Map(entries) => {
            out.push(Node::List(count(entries.len())?));
            for (i, (key, value)) in entries.iter().enumerate() {
                let entry = |out: &mut Vec<Node>| {
                    // The tuple node is a level of its own.
                    if depth + 1 > MAX_VALUE_DEPTH {
                        return fail(ValueError::TooDeep.to_string());
                    }
                    out.push(Node::Tuple(2));
                    push(key, depth + 2, out).within(|| "key".into())?;
                    push(value, depth + 2, out).within(|| "value".into())
                };
                entry(out).within(|| format!("map entry {i}"))?;
            }
        }
        Val::Record(fields) => {
            out.push(Node::Record(
                fields.iter().map(|(n, _)| n.clone()).collect(),
            ));
            for (name, value) in fields {
                push(value, depth + 1, out).within(|| format!("field `{name}` of record"))?;
            }
        }
        Val::Tuple(items) => {
            out.push(Node::Tuple(count(items.len())?));
            children(items, out, "element")?;
        }
        Val::Variant(case, payload) => {
            let (case, payload) = (case.clone(), payload.is_some());
            out.push(Node::Variant { case, payload });
        }
        Val::Enum(case) => out.push(Node::Enum(case.clone())),
        Val::Option(value) => out.push(Node::Option {
            some: value.is_some(),
        }),
        Val::Result(result) => {
            let (ok, payload) = (
                result.is_ok(),
                result.as_ref().unwrap_or_else(|e| e).is_some(),
            );
            out.push(Node::Result { ok, payload });
        }
        Val::Flags(names) => out.push(Node::Flags(names.clone())),
        Val::Resource(_) => return fail(RESOURCES),
        Val::Future(_) => return fail(FUTURES),
        Val::Stream(_) => return fail(STREAMS),
        Val::ErrorContext(_) => return fail(ERROR_CONTEXTS),
    }
    // The payload of a variant, option or result follows its head.
    let (payload, place) = match val {
        Val::Variant(case, payload) => (payload, format!("case `{case}` of variant")),
        Val::Option(value) => (value, "`some` of option".into()),
        Val::Result(Ok(payload)) => (payload, "`ok` of result".into()),
        Val::Result(Err(payload)) => (payload, "`err` of result".into()),
        _ => return Ok(()),
    };
    match payload {
        Some(payload) => push(payload, depth + 1, out).within(|| place),
        None => Ok(()),
    }
}

/// The bytes of a non-empty list of `u8`s.
fn as_bytes(items: &[Val]) -> Option<Vec<u8>> {
    if items.is_empty() {
        return None;
    }
    let byte = |v: &Val| match v {
        Val::U8(b) => Some(*b),
        _ => None,
    };
    items.iter().map(byte).collect()
}

fn count(len: usize) -> Result<u32, ValueMismatch> {
    u32::try_from(len).or_else(|_| fail(format!("a list of {len} items is too long")))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use wasmtime::component::types::ComponentItem;
    use wasmtime::component::{Component, Linker};
    use wasmtime::{Config, Engine, Store};

    use super::*;

    /// Exported types of every kind, and one function to call for real.
    const WAT: &str = r#"(component
        (type $point' (record (field "x" s32) (field "y" s32))) (export $point "point" (type $point'))
        (type $shape (variant (case "circle" f64) (case "none"))) (export "shape" (type $shape))
        (type $color (enum "red" "green")) (export "color" (type $color))
        (type $perms (flags "read" "write")) (export "perms" (type $perms))
        (type $bytes (list u8)) (export "bytes" (type $bytes))
        (type $points (list $point)) (export "points" (type $points))
        (type $maybe (option $point)) (export "maybe-point" (type $maybe))
        (type $outcome (result string (error u32))) (export "outcome" (type $outcome))
        (type $done (result)) (export "done" (type $done))
        (type $pair (tuple u8 char)) (export "pair" (type $pair))
        (type $counts (map string u32)) (export "counts" (type $counts))
        (type $quad (list u8 4)) (export "quad" (type $quad))
        (type $thing' (resource (rep i32))) (export $thing "thing" (type $thing'))
        (type $owned (own $thing)) (export "owned" (type $owned))
        (core module $m
            (memory (export "mem") 1)
            ;; swap(x, y) returns {x: y, y: x} through memory at 0
            (func (export "swap") (param i32 i32) (result i32)
                (i32.store (i32.const 0) (local.get 1))
                (i32.store (i32.const 4) (local.get 0))
                (i32.const 0)))
        (core instance $i (instantiate $m))
        (func $swap (param "p" $point) (result $point)
            (canon lift (core func $i "swap") (memory (core memory $i "mem"))))
        (export "swap" (func $swap))
    )"#;

    fn component() -> (Engine, Component) {
        let mut config = Config::new();
        config.wasm_component_model_map(true);
        config.wasm_component_model_fixed_length_lists(true);
        let engine = Engine::new(&config).unwrap();
        let component = Component::new(&engine, WAT).unwrap();
        (engine, component)
    }

    /// The exported types, by name.
    fn types() -> HashMap<String, Type> {
        let (engine, component) = component();
        let exports = component.component_type();
        let exports = exports
            .exports(&engine)
            .filter_map(|(name, export)| match export.ty {
                ComponentItem::Type(ty) => Some((name.to_owned(), ty)),
                _ => None,
            });
        exports.collect()
    }

    /// `nodes` as values of the named types, and back.
    fn round_trip(
        types: &HashMap<String, Type>,
        names: &[&str],
        nodes: &[Node],
    ) -> Result<Vec<Node>, String> {
        let types: Vec<Type> = names.iter().map(|n| types[*n].clone()).collect();
        let vals = from_wire(&types, &Values::new(nodes.to_vec()).unwrap());
        let wire = to_wire(&vals.map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
        Ok(wire.into_nodes())
    }

    fn s(text: &str) -> String {
        text.to_owned()
    }

    fn variant(case: &str, payload: bool) -> Node {
        let case = s(case);
        Node::Variant { case, payload }
    }

    fn result(ok: bool, payload: bool) -> Node {
        Node::Result { ok, payload }
    }

    fn point(x: i32, y: i32) -> Vec<Node> {
        vec![
            Node::Record(vec![s("x"), s("y")]),
            Node::S32(x),
            Node::S32(y),
        ]
    }

    fn with(head: Vec<Node>, tail: &[Node]) -> Vec<Node> {
        head.into_iter().chain(tail.iter().cloned()).collect()
    }

    #[test]
    fn every_kind_with_a_wire_form_round_trips() {
        use Node::*;
        let types = types();
        let pairs = vec![
            Tuple(2),
            String(s("a")),
            U32(1),
            Tuple(2),
            String(s("b")),
            U32(2),
        ];
        let same = [
            ("point", point(1, -2)),
            ("shape", vec![variant("circle", true), F64(2.5)]),
            ("shape", vec![variant("none", false)]),
            ("color", vec![Enum(s("green"))]),
            ("perms", vec![Flags(vec![s("write"), s("read")])]),
            ("perms", vec![Flags(vec![])]),
            ("bytes", vec![Bytes(vec![1, 2, 255])]),
            ("bytes", vec![List(0)]),
            (
                "points",
                with(with(vec![List(2)], &point(1, 2)), &point(3, 4)),
            ),
            (
                "maybe-point",
                with(vec![Option { some: true }], &point(5, 6)),
            ),
            ("maybe-point", vec![Option { some: false }]),
            ("outcome", vec![result(true, true), String(s("fine"))]),
            ("outcome", vec![result(false, true), U32(404)]),
            ("done", vec![result(false, false)]),
            ("pair", vec![Tuple(2), U8(7), Char('λ')]),
            ("counts", with(vec![List(2)], &pairs)),
            ("quad", vec![Bytes(vec![1, 2, 3, 4])]),
        ];
        for (ty, nodes) in same {
            assert_eq!(round_trip(&types, &[ty], &nodes), Ok(nodes), "{ty}");
        }
    }

    #[test]
    fn byte_lists_are_accepted_as_lists_and_sent_as_bytes() {
        use Node::*;
        let types = types();
        let as_list = [List(3), U8(1), U8(2), U8(3)];
        let back = round_trip(&types, &["bytes"], &as_list);
        assert_eq!(back, Ok(vec![Bytes(vec![1, 2, 3])]));
        let quad = [List(4), U8(1), U8(2), U8(3), U8(4)];
        let back = round_trip(&types, &["quad"], &quad);
        assert_eq!(back, Ok(vec![Bytes(vec![1, 2, 3, 4])]));
    }

    #[test]
    fn mismatches_say_where_and_what() {
        use Node::*;
        let types = types();
        let cases: Vec<(&[&str], Vec<Node>, &str)> = vec![
            (
                &["point", "point"],
                with(
                    point(1, 2),
                    &[Record(vec![s("x"), s("y")]), S32(1), String(s("2"))],
                ),
                "argument 2: field `y` of record: expected s32, got string",
            ),
            (
                &["point"],
                with(point(1, 2), &[Bool(true)]),
                "expected 1 argument, got 2",
            ),
            (&["point"], vec![], "expected 1 argument, got 0"),
            (
                &["point"],
                vec![Record(vec![s("x"), s("z")]), S32(1), S32(2)],
                "argument 1: expected record {x, y}, got a record with 2 fields (field 2 is `z`, not `y`)",
            ),
            (
                &["point"],
                vec![Record(vec![s("x")]), S32(1)],
                "argument 1: expected record {x, y}, got a record with 1 field (no field `y`)",
            ),
            (
                &["points"],
                with(with(vec![List(2)], &point(1, 2)), &[U8(3)]),
                "argument 1: list index 1: expected record, got u8",
            ),
            (
                &["points"],
                vec![Bytes(vec![1])],
                "argument 1: expected list<record>, got bytes",
            ),
            (
                &["quad"],
                vec![Bytes(vec![1, 2, 3])],
                "argument 1: expected a list of 4 items, got 3",
            ),
            (
                &["color"],
                vec![Enum(s("blue"))],
                "argument 1: enum has no case `blue` (it has: red, green)",
            ),
            (
                &["shape"],
                vec![variant("circle", false)],
                "argument 1: case `circle` of variant: expected a payload of type f64, got none",
            ),
            (
                &["shape"],
                vec![variant("none", true), Bool(true)],
                "argument 1: case `none` of variant: expected no payload, got one",
            ),
            (
                &["perms"],
                vec![Flags(vec![s("read"), s("read")])],
                "argument 1: flag `read` given twice",
            ),
            (
                &["perms"],
                vec![Flags(vec![s("exec")])],
                "argument 1: flags have no flag `exec` (it has: read, write)",
            ),
            (
                &["outcome"],
                vec![result(true, true), U32(1)],
                "argument 1: `ok` of result: expected string, got u32",
            ),
            (
                &["counts"],
                vec![List(1), Tuple(3), U8(1), U8(2), U8(3)],
                "argument 1: map entry 0: expected a (key, value) tuple, got a tuple of 3",
            ),
            (
                &["owned"],
                vec![U32(1)],
                "argument 1: resources cannot cross hosts",
            ),
        ];
        for (names, nodes, expected) in cases {
            assert_eq!(round_trip(&types, names, &nodes), Err(s(expected)));
        }
    }

    #[test]
    fn guest_values_are_bounded_and_placed() {
        let mut deep = Val::Bool(true);
        for _ in 0..MAX_VALUE_DEPTH {
            deep = Val::Option(Some(Box::new(deep)));
        }
        let err = to_wire(&[Val::U8(1), deep]).unwrap_err().to_string();
        assert!(
            err.starts_with("value 2: `some` of option: `some` of option"),
            "{err}"
        );
        assert!(
            err.ends_with("values nested deeper than 64 levels"),
            "{err}"
        );

        let many = Val::List(vec![Val::U16(1); MAX_VALUE_NODES]);
        let err = to_wire(&[many]).unwrap_err().to_string();
        assert!(
            err.starts_with("value 1: list index 999999: more than 1000000"),
            "{err}"
        );

        // Empty lists are plain lists; mixed content is never bytes.
        let vals = [
            Val::List(vec![]),
            Val::Tuple(vec![Val::U8(1), Val::Bool(true)]),
        ];
        let nodes = vec![Node::List(0), Node::Tuple(2), Node::U8(1), Node::Bool(true)];
        assert_eq!(to_wire(&vals).unwrap().into_nodes(), nodes);
    }

    #[test]
    fn a_call_runs_on_values_from_the_wire() {
        let (engine, component) = component();
        let component_type = component.component_type();
        let export = component_type.get_export(&engine, "swap").unwrap();
        let ComponentItem::ComponentFunc(func_ty) = export.ty else {
            panic!("swap is not a function");
        };
        let params: Vec<Type> = func_ty.params().map(|(_, ty)| ty).collect();
        let args = from_wire(&params, &Values::new(point(1, 2)).unwrap()).unwrap();

        let mut store = Store::new(&engine, ());
        let linker = Linker::new(&engine);
        let instance = linker.instantiate(&mut store, &component).unwrap();
        let func = instance.get_func(&mut store, "swap").unwrap();
        let mut results = vec![Val::Bool(false); func_ty.results().len()];
        func.call(&mut store, &args, &mut results).unwrap();
        assert_eq!(to_wire(&results).unwrap().into_nodes(), point(2, 1));
    }
}
