//! Component-model values as they cross the lattice.
//!
//! A component on one host calls a function another component exports on
//! another host: the arguments and results travel as [`Values`], a flat
//! pre-order list of [`Node`]s. A compound node says how many values
//! follow as its children (`List(2), S32(1), S32(2)` is `[1, 2]`).
//!
//! Flat, not a tree, so that nothing recurses over data a peer sent:
//! decoding a nested enum would recurse once per level and a hostile
//! peer picks the nesting. [`Values::new`] checks the structure in one
//! loop with a stack bounded by [`MAX_VALUE_DEPTH`]; after that, readers
//! may recurse (the depth is bounded).
//!
//! The encoding is self-describing (field, case and flag names travel
//! with the values) so the receiver checks them against its own types and
//! the CLI prints results without knowing any types.

use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value as Json;

use crate::limits::{MAX_VALUE_DEPTH, MAX_VALUE_FLAGS, MAX_VALUE_NAME_BYTES, MAX_VALUE_NODES};

/// One node of the pre-order encoding: a whole scalar value, or the head
/// of a compound value whose children are the values that follow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Node {
    /// `bool`.
    Bool(bool),
    /// `s8`.
    S8(i8),
    /// `u8`.
    U8(u8),
    /// `s16`.
    S16(i16),
    /// `u16`.
    U16(u16),
    /// `s32`.
    S32(i32),
    /// `u32`.
    U32(u32),
    /// `s64`.
    S64(i64),
    /// `u64`.
    U64(u64),
    /// `f32`.
    F32(f32),
    /// `f64`.
    F64(f64),
    /// `char`.
    Char(char),
    /// `string`.
    String(String),
    /// A whole `list<u8>` in one node (byte payloads would otherwise cost
    /// a node, and two bytes on the wire, per byte).
    Bytes(#[serde(with = "serde_bytes")] Vec<u8>),
    /// A list of `len` values; the next `len` values are its items.
    List(u32),
    /// A record; the next `names.len()` values are its fields, in order.
    Record(Vec<String>),
    /// A tuple; the next `len` values are its elements.
    Tuple(u32),
    /// A variant case; if `payload`, the next value is its payload.
    Variant {
        /// The case's name.
        case: String,
        /// Whether a payload follows.
        payload: bool,
    },
    /// An enum case.
    Enum(String),
    /// An option; `some` is followed by its value.
    Option {
        /// Whether a value follows.
        some: bool,
    },
    /// A result; if `payload`, the `ok` or `err` value follows.
    Result {
        /// `ok` rather than `err`.
        ok: bool,
        /// Whether a payload follows.
        payload: bool,
    },
    /// The flags that are set.
    Flags(Vec<String>),
}

impl Node {
    /// How many values follow this node as its children.
    pub fn children(&self) -> u64 {
        match self {
            Node::List(n) | Node::Tuple(n) => u64::from(*n),
            Node::Record(names) => names.len() as u64,
            Node::Variant { payload, .. } | Node::Result { payload, .. } => u64::from(*payload),
            Node::Option { some } => u64::from(*some),
            _ => 0,
        }
    }

    /// What kind of value the node starts, for messages (`s32`, `bytes`,
    /// `record`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Node::Bool(_) => "bool",
            Node::S8(_) => "s8",
            Node::U8(_) => "u8",
            Node::S16(_) => "s16",
            Node::U16(_) => "u16",
            Node::S32(_) => "s32",
            Node::U32(_) => "u32",
            Node::S64(_) => "s64",
            Node::U64(_) => "u64",
            Node::F32(_) => "f32",
            Node::F64(_) => "f64",
            Node::Char(_) => "char",
            Node::String(_) => "string",
            Node::Bytes(_) => "bytes",
            Node::List(_) => "list",
            Node::Record(_) => "record",
            Node::Tuple(_) => "tuple",
            Node::Variant { .. } => "variant",
            Node::Enum(_) => "enum",
            Node::Option { .. } => "option",
            Node::Result { .. } => "result",
            Node::Flags(_) => "flags",
        }
    }

    /// What a compound claims, for the message when its children are
    /// missing: its description and the unit of its children.
    fn claim(&self) -> (String, &'static str) {
        match self {
            Node::List(_) => ("list".into(), "items"),
            Node::Record(_) => ("record".into(), "fields"),
            Node::Tuple(_) => ("tuple".into(), "elements"),
            Node::Variant { case, .. } => (format!("variant case `{}`", shown(case)), PAYLOAD),
            Node::Option { .. } => ("option `some`".into(), PAYLOAD),
            Node::Result { ok: true, .. } => ("result `ok`".into(), PAYLOAD),
            Node::Result { ok: false, .. } => ("result `err`".into(), PAYLOAD),
            other => (other.kind().into(), "children"),
        }
    }
}

const PAYLOAD: &str = "payload";

/// Why a list of nodes is not a valid sequence of values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// A compound whose children the remaining nodes do not hold.
    #[error("{what} claims {} but {}", claims(*.claimed, .unit), follows(*.got))]
    Truncated {
        /// The compound, e.g. `list` or ``variant case `circle` ``.
        what: String,
        /// How many children it claims.
        claimed: u64,
        /// What its children are called (`items`, `fields`, ...).
        unit: &'static str,
        /// How many values followed before the nodes ended.
        got: u64,
    },
    /// Nesting over [`MAX_VALUE_DEPTH`].
    #[error("values nested deeper than {MAX_VALUE_DEPTH} levels")]
    TooDeep,
    /// More nodes than [`MAX_VALUE_NODES`].
    #[error(
        "more than {MAX_VALUE_NODES} value nodes; send fewer values (a list<u8> counts as one \
         node) or split the call"
    )]
    TooManyNodes,
    /// An empty field, case or flag name.
    #[error("{what} name is empty")]
    EmptyName {
        /// What kind of name (`record field`, `variant case`, ...).
        what: &'static str,
    },
    /// A field, case or flag name over [`MAX_VALUE_NAME_BYTES`].
    #[error("{what} name `{shown}` is {len} bytes, more than the limit of {max}")]
    NameTooLong {
        /// What kind of name.
        what: &'static str,
        /// Its start, escaped.
        shown: String,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A flags value with more flags than any flags type has.
    #[error("flags value sets {count} flags, more than the limit of {max}")]
    TooManyFlags {
        /// How many were given.
        count: usize,
        /// The limit.
        max: usize,
    },
}

fn claims(claimed: u64, unit: &str) -> String {
    if unit == PAYLOAD {
        "a payload".into()
    } else {
        format!("{claimed} {unit}")
    }
}

fn follows(got: u64) -> String {
    match got {
        0 => "no value follows".into(),
        1 => "only 1 value follows".into(),
        n => format!("only {n} values follow"),
    }
}

/// At most 64 characters of a peer's name, escaped, so a message about a
/// huge or binary name stays small and readable.
fn shown(s: &str) -> String {
    let mut out: String = s.chars().take(64).flat_map(char::escape_debug).collect();
    if s.chars().nth(64).is_some() {
        out.push('…');
    }
    out
}

fn check_name(what: &'static str, name: &str) -> Result<(), ValueError> {
    if name.is_empty() {
        return Err(ValueError::EmptyName { what });
    }
    if name.len() > MAX_VALUE_NAME_BYTES {
        return Err(ValueError::NameTooLong {
            what,
            shown: shown(name),
            len: name.len(),
            max: MAX_VALUE_NAME_BYTES,
        });
    }
    Ok(())
}

fn check_names(node: &Node) -> Result<(), ValueError> {
    match node {
        Node::Record(names) => names.iter().try_for_each(|n| check_name("record field", n)),
        Node::Variant { case, .. } => check_name("variant case", case),
        Node::Enum(case) => check_name("enum case", case),
        Node::Flags(names) => {
            if names.len() > MAX_VALUE_FLAGS {
                return Err(ValueError::TooManyFlags {
                    count: names.len(),
                    max: MAX_VALUE_FLAGS,
                });
            }
            names.iter().try_for_each(|n| check_name("flag", n))
        }
        _ => Ok(()),
    }
}

/// A compound whose children are still being read.
struct Open {
    /// Index of its node, to describe it if its children are missing.
    at: usize,
    /// Children not yet started.
    left: u64,
}

/// Checks the structure and returns the number of top-level values.
/// One loop and a stack of at most [`MAX_VALUE_DEPTH`] entries, whatever
/// the input.
fn validate(nodes: &[Node]) -> Result<usize, ValueError> {
    if nodes.len() > MAX_VALUE_NODES {
        return Err(ValueError::TooManyNodes);
    }
    let mut open: Vec<Open> = Vec::new();
    let mut count = 0usize;
    for (at, node) in nodes.iter().enumerate() {
        // A node at the top level is at depth 1.
        if open.len() >= MAX_VALUE_DEPTH {
            return Err(ValueError::TooDeep);
        }
        check_names(node)?;
        match open.last_mut() {
            Some(parent) => parent.left -= 1,
            None => count += 1,
        }
        let children = node.children();
        if children > 0 {
            open.push(Open { at, left: children });
        } else {
            // This value is complete, and so is every compound for which
            // it was the last child.
            while open.last().is_some_and(|o| o.left == 0) {
                open.pop();
            }
        }
    }
    // The innermost unfinished compound names the problem most precisely.
    if let Some(o) = open.last() {
        let (what, unit) = nodes[o.at].claim();
        let claimed = nodes[o.at].children();
        return Err(ValueError::Truncated {
            what,
            claimed,
            unit,
            got: claimed - o.left,
        });
    }
    Ok(count)
}

/// A sequence of values (a function's arguments or results), checked:
/// every compound's children are present, nesting is at most
/// [`MAX_VALUE_DEPTH`], there are at most [`MAX_VALUE_NODES`] nodes and
/// names are bounded.
///
/// It is (de)serialized as the plain list of nodes; deserializing checks.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Values {
    nodes: Vec<Node>,
    count: usize,
}

impl Values {
    /// Checks `nodes` and wraps them.
    pub fn new(nodes: Vec<Node>) -> Result<Values, ValueError> {
        let count = validate(&nodes)?;
        Ok(Values { nodes, count })
    }

    /// No values (a function without parameters or results).
    pub fn empty() -> Values {
        Values::default()
    }

    /// The nodes, in pre-order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The number of top-level values.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The nodes, taken out.
    pub fn into_nodes(self) -> Vec<Node> {
        self.nodes
    }

    /// One readable JSON value per top-level value:
    ///
    /// - integers and finite floats: numbers; NaN and infinities: the
    ///   strings `"NaN"`, `"inf"`, `"-inf"`;
    /// - `char` and `string`: strings;
    /// - lists and tuples: arrays; a `list<u8>` is an array of numbers
    ///   whether it travelled as [`Node::Bytes`] or as a list, so the
    ///   output never depends on the encoding (and non-UTF-8 bytes need
    ///   no escaping scheme);
    /// - records: objects (serde_json sorts their keys);
    /// - variants: `{"case": payload}`, or `"case"` without a payload;
    ///   enums: `"case"`;
    /// - options: `null` or the value (so `some(none)` prints as `null`
    ///   too: the JSON is for reading, not for sending back);
    /// - results: `{"ok": value}` / `{"err": value}`, `null` without a
    ///   payload;
    /// - flags: an array of the names that are set.
    pub fn to_json(&self) -> Vec<Json> {
        let mut pos = 0;
        (0..self.count)
            .map(|_| json(&self.nodes, &mut pos))
            .collect()
    }
}

/// Recursion over the data is fine here and only here: [`Values::new`]
/// bounded the depth to [`MAX_VALUE_DEPTH`].
fn json(nodes: &[Node], pos: &mut usize) -> Json {
    // Validation guarantees every claimed child exists; `Null` is only a
    // refusal to panic should that ever be wrong.
    let Some(node) = nodes.get(*pos) else {
        return Json::Null;
    };
    *pos += 1;
    let mut children = |n: u64| -> Vec<Json> { (0..n).map(|_| json(nodes, pos)).collect() };
    match node {
        Node::Bool(b) => Json::Bool(*b),
        Node::S8(n) => (*n).into(),
        Node::U8(n) => (*n).into(),
        Node::S16(n) => (*n).into(),
        Node::U16(n) => (*n).into(),
        Node::S32(n) => (*n).into(),
        Node::U32(n) => (*n).into(),
        Node::S64(n) => (*n).into(),
        Node::U64(n) => (*n).into(),
        // Through the shortest decimal form, so 0.1f32 prints as 0.1 and
        // not as the 0.10000000149011612 a widening cast gives.
        Node::F32(f) => float(f64::from(*f), || f.to_string().parse().ok()),
        Node::F64(f) => float(*f, || Some(*f)),
        Node::Char(c) => Json::String(c.to_string()),
        Node::String(s) => Json::String(s.clone()),
        Node::Bytes(bytes) => Json::Array(bytes.iter().map(|b| (*b).into()).collect()),
        Node::List(n) | Node::Tuple(n) => Json::Array(children(u64::from(*n))),
        Node::Record(names) => {
            let fields = children(names.len() as u64);
            Json::Object(names.iter().cloned().zip(fields).collect())
        }
        Node::Variant { case, payload } => match children(u64::from(*payload)).pop() {
            Some(value) => Json::Object([(case.clone(), value)].into_iter().collect()),
            None => Json::String(case.clone()),
        },
        Node::Enum(case) => Json::String(case.clone()),
        Node::Option { some } => children(u64::from(*some)).pop().unwrap_or(Json::Null),
        Node::Result { ok, payload } => {
            let value = children(u64::from(*payload)).pop().unwrap_or(Json::Null);
            let key = if *ok { "ok" } else { "err" };
            Json::Object([(key.to_owned(), value)].into_iter().collect())
        }
        Node::Flags(names) => Json::Array(names.iter().cloned().map(Json::String).collect()),
    }
}

fn float(f: f64, shortest: impl FnOnce() -> Option<f64>) -> Json {
    match f {
        f if f.is_nan() => "NaN".into(),
        f if f.is_infinite() => if f > 0.0 { "inf" } else { "-inf" }.into(),
        f => serde_json::Number::from_f64(shortest().unwrap_or(f)).map_or(Json::Null, Json::Number),
    }
}

impl Serialize for Values {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.nodes.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Values {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Values, D::Error> {
        let nodes = deserializer.deserialize_seq(NodesVisitor)?;
        Values::new(nodes).map_err(de::Error::custom)
    }
}

/// Reads the node list, stopping at the node limit rather than decoding
/// whatever length a peer claims first and checking afterwards.
struct NodesVisitor;

impl<'de> Visitor<'de> for NodesVisitor {
    type Value = Vec<Node>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sequence of value nodes")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Node>, A::Error> {
        // The length is the peer's claim: reserve for a little of it only.
        let mut nodes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(node) = seq.next_element()? {
            if nodes.len() == MAX_VALUE_NODES {
                return Err(de::Error::custom(ValueError::TooManyNodes));
            }
            nodes.push(node);
        }
        Ok(nodes)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::invocation::{CodecError, decode, encode};

    fn values(nodes: Vec<Node>) -> Values {
        Values::new(nodes).unwrap()
    }

    fn round_trip(v: &Values) -> Values {
        decode::<Values>(&encode(v)).unwrap()
    }

    fn error(nodes: Vec<Node>) -> String {
        Values::new(nodes).unwrap_err().to_string()
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

    fn option(some: bool) -> Node {
        Node::Option { some }
    }

    #[test]
    fn every_kind_round_trips_and_prints() {
        use Node::*;
        let cases: Vec<(Vec<Node>, Json)> = vec![
            (vec![Bool(true)], json!(true)),
            (vec![S8(-8)], json!(-8)),
            (vec![U8(8)], json!(8)),
            (vec![S16(-16)], json!(-16)),
            (vec![U16(16)], json!(16)),
            (vec![S32(i32::MIN)], json!(i32::MIN)),
            (vec![U32(u32::MAX)], json!(u32::MAX)),
            (vec![S64(i64::MIN)], json!(i64::MIN)),
            (vec![U64(u64::MAX)], json!(u64::MAX)),
            (vec![F32(0.1)], json!(0.1)),
            (vec![F64(-2.5)], json!(-2.5)),
            (vec![F32(f32::INFINITY)], json!("inf")),
            (vec![F64(f64::NEG_INFINITY)], json!("-inf")),
            (vec![Char('é')], json!("é")),
            (vec![String(s("hi\0"))], json!("hi\0")),
            (vec![Bytes(vec![0, 255])], json!([0, 255])),
            (vec![List(0)], json!([])),
            (vec![List(2), U8(0), U8(255)], json!([0, 255])),
            (
                vec![Record(vec![s("x"), s("y")]), S32(1), S32(2)],
                json!({"x": 1, "y": 2}),
            ),
            (
                vec![Tuple(2), String(s("a")), Bool(false)],
                json!(["a", false]),
            ),
            (
                vec![variant("circle", true), F64(1.5)],
                json!({"circle": 1.5}),
            ),
            (vec![variant("none", false)], json!("none")),
            (vec![Enum(s("red"))], json!("red")),
            (vec![option(false)], json!(null)),
            (vec![option(true), U32(7)], json!(7)),
            (
                vec![result(true, true), String(s("done"))],
                json!({"ok": "done"}),
            ),
            (vec![result(false, false)], json!({"err": null})),
            (
                vec![Flags(vec![s("read"), s("write")])],
                json!(["read", "write"]),
            ),
            (vec![Flags(vec![])], json!([])),
        ];
        for (nodes, expected) in cases {
            let v = values(nodes.clone());
            assert_eq!(v.count(), 1, "{nodes:?}");
            assert_eq!(round_trip(&v), v, "{nodes:?}");
            assert_eq!(v.to_json(), vec![expected], "{nodes:?}");
        }
    }

    #[test]
    fn nan_survives_the_wire_and_prints_as_a_string() {
        let v = values(vec![Node::F32(f32::NAN), Node::F64(f64::NAN)]);
        let back = round_trip(&v);
        assert!(matches!(back.nodes(), [Node::F32(a), Node::F64(b)] if a.is_nan() && b.is_nan()));
        assert_eq!(v.to_json(), vec![json!("NaN"), json!("NaN")]);
    }

    #[test]
    fn nested_values_round_trip_and_print() {
        use Node::*;
        // list<record { name: string, tags: option<list<tuple<u8, char>>> }>, then an s32
        let v = values(vec![
            List(2),
            Record(vec![s("name"), s("tags")]),
            String(s("a")),
            option(true),
            List(1),
            Tuple(2),
            U8(1),
            Char('x'),
            Record(vec![s("name"), s("tags")]),
            String(s("b")),
            option(false),
            S32(-1),
        ]);
        assert_eq!(v.count(), 2);
        assert_eq!(round_trip(&v), v);
        let list = json!([{"name": "a", "tags": [[1, "x"]]}, {"name": "b", "tags": null}]);
        assert_eq!(v.to_json(), vec![list, json!(-1)]);
        // Values after the first are just more top-level values.
        let v = values(vec![
            Node::List(1),
            Node::U8(1),
            Node::U8(2),
            Node::Bool(true),
        ]);
        assert_eq!(v.count(), 3);
        assert_eq!(v.to_json(), vec![json!([1]), json!(2), json!(true)]);
        assert_eq!(Values::empty().count(), 0);
        assert_eq!(round_trip(&Values::empty()), Values::empty());
        assert!(Values::empty().to_json().is_empty());
    }

    #[test]
    fn claims_beyond_the_nodes_are_refused_with_what_is_missing() {
        use Node::*;
        let cases = [
            (
                vec![List(5), U8(1), U8(2)],
                "list claims 5 items but only 2 values follow",
            ),
            (
                vec![List(u32::MAX)],
                "list claims 4294967295 items but no value follows",
            ),
            // The innermost unfinished compound is the one named; a nested
            // value counts once however many nodes it has.
            (
                vec![List(2), Tuple(3), option(true), U8(1)],
                "tuple claims 3 elements but only 1 value follows",
            ),
            (
                vec![Record(vec![s("x"), s("y")]), S32(1)],
                "record claims 2 fields but only 1 value follows",
            ),
            (
                vec![variant("circle", true)],
                "variant case `circle` claims a payload but no value follows",
            ),
            (
                vec![Bool(true), option(true)],
                "option `some` claims a payload but no value follows",
            ),
            (
                vec![result(false, true)],
                "result `err` claims a payload but no value follows",
            ),
        ];
        for (nodes, expected) in cases {
            assert_eq!(error(nodes), expected);
        }
    }

    fn nested(depth: usize) -> Vec<Node> {
        let mut nodes = vec![option(true); depth - 1];
        nodes.push(Node::Bool(true));
        nodes
    }

    #[test]
    fn nesting_is_bounded_without_recursion() {
        let v = values(nested(MAX_VALUE_DEPTH));
        assert_eq!(round_trip(&v), v);
        assert_eq!(v.to_json().len(), 1);
        let err = error(nested(MAX_VALUE_DEPTH + 1));
        assert_eq!(err, "values nested deeper than 64 levels");
        // Far deeper than any stack would survive if this recursed.
        let err = error(nested(MAX_VALUE_NODES));
        assert_eq!(err, "values nested deeper than 64 levels");
    }

    #[test]
    fn hostile_messages_are_refused_when_decoded() {
        // A peer encodes raw nodes; they are checked on the way in.
        // Postcard drops custom error messages (its errors carry no
        // text), so the codec only says "malformed"; a self-describing
        // format such as JSON keeps the reason.
        let raw = vec![Node::Tuple(3), Node::U8(1)];
        let err = decode::<Values>(&encode(&raw)).unwrap_err();
        assert!(matches!(err, CodecError::Malformed(_)), "{err}");
        let err = serde_json::from_value::<Values>(serde_json::to_value(&raw).unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("tuple claims 3 elements but only 1 value follows"),
            "{err}"
        );
        let err = decode::<Values>(&encode(&nested(1000))).unwrap_err();
        assert!(matches!(err, CodecError::Malformed(_)), "{err}");
        let err = decode::<Values>(&encode(&vec![Node::Bool(false); MAX_VALUE_NODES + 1]));
        assert!(matches!(err, Err(CodecError::Malformed(_))), "{err:?}");
        let most = values(vec![Node::Bool(false); MAX_VALUE_NODES]);
        assert_eq!(round_trip(&most).count(), MAX_VALUE_NODES);
        // A length prefix claiming billions of nodes with nothing behind it.
        let err = decode::<Values>(&[1, 0xff, 0xff, 0xff, 0xff, 0x0f]).unwrap_err();
        assert!(matches!(err, CodecError::Malformed(_)), "{err}");
    }

    #[test]
    fn names_are_bounded() {
        assert_eq!(error(vec![Node::Enum(s(""))]), "enum case name is empty");
        let nodes = vec![Node::Record(vec![s("x"), s("")]), Node::U8(1), Node::U8(2)];
        assert_eq!(error(nodes), "record field name is empty");
        let long = "n".repeat(MAX_VALUE_NAME_BYTES + 1);
        let err = error(vec![variant(&long, false)]);
        assert!(
            err.starts_with("variant case name `nnnn") && err.contains("1025 bytes"),
            "{err}"
        );
        assert!(err.len() < 200, "{err}");
        let flags: Vec<std::string::String> = (0..33).map(|i| format!("f{i}")).collect();
        let err = error(vec![Node::Flags(flags)]);
        assert_eq!(err, "flags value sets 33 flags, more than the limit of 32");
        let err = error(vec![Node::Flags(vec![s("a"), s("")])]);
        assert_eq!(err, "flag name is empty");
    }

    fn leaf() -> impl Strategy<Value = Node> {
        prop_oneof![
            any::<bool>().prop_map(Node::Bool),
            any::<i8>().prop_map(Node::S8),
            any::<u8>().prop_map(Node::U8),
            any::<i16>().prop_map(Node::S16),
            any::<u16>().prop_map(Node::U16),
            any::<i32>().prop_map(Node::S32),
            any::<u32>().prop_map(Node::U32),
            any::<i64>().prop_map(Node::S64),
            any::<u64>().prop_map(Node::U64),
            // Not NaN: NaN != NaN would fail the equality, not the codec.
            (-1e30f32..1e30f32).prop_map(Node::F32),
            (-1e300f64..1e300f64).prop_map(Node::F64),
            any::<char>().prop_map(Node::Char),
            ".{0,12}".prop_map(Node::String),
            prop::collection::vec(any::<u8>(), 0..32).prop_map(Node::Bytes),
            "[a-z][a-z-]{0,8}".prop_map(Node::Enum),
            prop::collection::vec("[a-z]{1,8}", 0..4).prop_map(Node::Flags),
        ]
    }

    /// The nodes of one random value: a compound's head, then its
    /// children's nodes.
    fn value() -> impl Strategy<Value = Vec<Node>> {
        fn with(head: Node, children: Vec<Vec<Node>>) -> Vec<Node> {
            std::iter::once(head)
                .chain(children.into_iter().flatten())
                .collect()
        }
        let name = "[a-z][a-z0-9-]{0,8}";
        leaf()
            .prop_map(|n| vec![n])
            .prop_recursive(8, 128, 5, move |inner| {
                let items = prop::collection::vec(inner.clone(), 0..5);
                let payload = prop::option::of(inner.clone());
                prop_oneof![
                    items
                        .clone()
                        .prop_map(|c| with(Node::List(c.len() as u32), c)),
                    items.prop_map(|c| with(Node::Tuple(c.len() as u32), c)),
                    prop::collection::vec((name, inner), 0..5).prop_map(|fields| {
                        let (names, c): (Vec<_>, Vec<_>) = fields.into_iter().unzip();
                        with(Node::Record(names), c)
                    }),
                    (name, payload.clone()).prop_map(|(case, p)| {
                        with(variant(&case, p.is_some()), p.into_iter().collect())
                    }),
                    payload
                        .clone()
                        .prop_map(|p| with(option(p.is_some()), p.into_iter().collect())),
                    (any::<bool>(), payload)
                        .prop_map(|(ok, p)| with(result(ok, p.is_some()), p.into_iter().collect())),
                ]
            })
    }

    proptest! {
        #[test]
        fn random_values_round_trip(trees in prop::collection::vec(value(), 0..4)) {
            let nodes: Vec<Node> = trees.iter().flatten().cloned().collect();
            let v = Values::new(nodes.clone()).unwrap();
            prop_assert_eq!(v.count(), trees.len());
            prop_assert_eq!(v.nodes(), &nodes[..]);
            prop_assert_eq!(&round_trip(&v), &v);
            prop_assert_eq!(v.to_json().len(), trees.len());
        }

        #[test]
        fn any_node_list_is_checked_without_panicking(
            nodes in prop::collection::vec(
                prop_oneof![
                    leaf(),
                    (0u32..4).prop_map(Node::List),
                    (0u32..4).prop_map(Node::Tuple),
                    any::<bool>().prop_map(option),
                    prop::collection::vec("[a-z]{1,3}", 0..3).prop_map(Node::Record),
                ],
                0..40,
            )
        ) {
            if let Ok(v) = Values::new(nodes) {
                prop_assert_eq!(v.to_json().len(), v.count());
                prop_assert_eq!(&round_trip(&v), &v);
            }
        }
    }
}
