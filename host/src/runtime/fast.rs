//! The byte-list fast path: functions of a few common shapes (byte lists,
//! strings, `u64`, `result<_, string>`) are bound and called through
//! wasmtime's *typed* API instead of its dynamic one.
//!
//! Why: the dynamic API holds every list element in its own 32-byte `Val`,
//! so a 64 MiB `list<u8>` becomes 2 GiB of fresh pages per copy and takes
//! seconds per hop; the typed API lifts and lowers a `Vec<u8>` with one
//! copy. Wasmtime's typed functions need their Rust types at compile time,
//! so the shapes are a fixed table ([`dispatch`]) rather than anything a
//! component declares; every other function takes the dynamic path, which
//! behaves the same, only slower for large lists.
//!
//! The wire form is the one the dynamic path writes (a byte list is one
//! [`Node::Bytes`]), so either side may take either path. A peer that
//! sends the same value another way (a byte list as `u8` nodes) is served
//! by the dynamic path, which accepts both.

use wasmtime::component::{ComponentNamedList, ComponentType, Lift, Lower, Type};

use trellis_protocol::value::Node;

/// One value of a shape the fast path knows, and its wire form.
pub(super) trait Piece:
    ComponentType + Lift + Lower + Send + Sync + Sized + 'static
{
    /// Whether a value of WIT type `ty` is this.
    fn fits(ty: &Type) -> bool;
    /// How many nodes at the front of `nodes` are one of these, if they are.
    fn peek(nodes: &[Node]) -> Option<usize>;
    /// Moves one of these out of the front of `nodes` (which [`Piece::peek`]
    /// accepted), leaving emptied nodes behind.
    fn take(nodes: &mut [Node]) -> Option<Self>;
    /// Appends its wire form.
    fn push(self, out: &mut Vec<Node>);
    /// Bytes of payload it holds (strings and byte lists), for the bound.
    fn bytes(&self) -> usize;
    /// This value holding `message` as its error, if it can (a
    /// `result<_, string>`); other shapes trap instead.
    fn error(_message: String) -> Option<Self> {
        None
    }
}

fn is_bytes(ty: &Type) -> bool {
    matches!(ty, Type::List(list) if matches!(list.ty(), Type::U8))
}

impl Piece for Vec<u8> {
    fn fits(ty: &Type) -> bool {
        is_bytes(ty)
    }
    fn peek(nodes: &[Node]) -> Option<usize> {
        matches!(nodes.first(), Some(Node::Bytes(_))).then_some(1)
    }
    fn take(nodes: &mut [Node]) -> Option<Self> {
        match nodes.first_mut() {
            Some(Node::Bytes(bytes)) => Some(std::mem::take(bytes)),
            _ => None,
        }
    }
    fn push(self, out: &mut Vec<Node>) {
        out.push(Node::Bytes(self));
    }
    fn bytes(&self) -> usize {
        self.len()
    }
}

impl Piece for String {
    fn fits(ty: &Type) -> bool {
        matches!(ty, Type::String)
    }
    fn peek(nodes: &[Node]) -> Option<usize> {
        matches!(nodes.first(), Some(Node::String(_))).then_some(1)
    }
    fn take(nodes: &mut [Node]) -> Option<Self> {
        match nodes.first_mut() {
            Some(Node::String(text)) => Some(std::mem::take(text)),
            _ => None,
        }
    }
    fn push(self, out: &mut Vec<Node>) {
        out.push(Node::String(self));
    }
    fn bytes(&self) -> usize {
        self.len()
    }
}

impl Piece for u64 {
    fn fits(ty: &Type) -> bool {
        matches!(ty, Type::U64)
    }
    fn peek(nodes: &[Node]) -> Option<usize> {
        matches!(nodes.first(), Some(Node::U64(_))).then_some(1)
    }
    fn take(nodes: &mut [Node]) -> Option<Self> {
        match nodes.first() {
            Some(Node::U64(n)) => Some(*n),
            _ => None,
        }
    }
    fn push(self, out: &mut Vec<Node>) {
        out.push(Node::U64(self));
    }
    fn bytes(&self) -> usize {
        0
    }
}

/// `result<T, string>` where `T` is a piece, or `result<_, string>` for
/// `T = ()`.
trait OkPiece: ComponentType + Lift + Lower + Send + Sync + Sized + 'static {
    /// Whether an `ok` carries a value on the wire.
    const PAYLOAD: bool;
    fn fits_ok(ty: Option<Type>) -> bool;
    fn peek_ok(nodes: &[Node]) -> Option<usize>;
    fn take_ok(nodes: &mut [Node]) -> Option<Self>;
    fn push_ok(self, out: &mut Vec<Node>);
    fn bytes_ok(&self) -> usize;
}

impl OkPiece for () {
    const PAYLOAD: bool = false;
    fn fits_ok(ty: Option<Type>) -> bool {
        ty.is_none()
    }
    fn peek_ok(_: &[Node]) -> Option<usize> {
        Some(0)
    }
    fn take_ok(_: &mut [Node]) -> Option<Self> {
        Some(())
    }
    fn push_ok(self, _: &mut Vec<Node>) {}
    fn bytes_ok(&self) -> usize {
        0
    }
}

impl OkPiece for Vec<u8> {
    const PAYLOAD: bool = true;
    fn fits_ok(ty: Option<Type>) -> bool {
        ty.as_ref().is_some_and(is_bytes)
    }
    fn peek_ok(nodes: &[Node]) -> Option<usize> {
        <Self as Piece>::peek(nodes)
    }
    fn take_ok(nodes: &mut [Node]) -> Option<Self> {
        <Self as Piece>::take(nodes)
    }
    fn push_ok(self, out: &mut Vec<Node>) {
        <Self as Piece>::push(self, out);
    }
    fn bytes_ok(&self) -> usize {
        self.len()
    }
}

impl<T: OkPiece> Piece for Result<T, String> {
    fn fits(ty: &Type) -> bool {
        matches!(ty, Type::Result(result)
            if T::fits_ok(result.ok()) && matches!(result.err(), Some(Type::String)))
    }
    fn peek(nodes: &[Node]) -> Option<usize> {
        match nodes.first()? {
            Node::Result { ok: true, payload } if *payload == T::PAYLOAD => {
                Some(1 + T::peek_ok(&nodes[1..])?)
            }
            Node::Result {
                ok: false,
                payload: true,
            } => Some(1 + <String as Piece>::peek(&nodes[1..])?),
            _ => None,
        }
    }
    fn take(nodes: &mut [Node]) -> Option<Self> {
        let (head, rest) = nodes.split_first_mut()?;
        match head {
            Node::Result { ok: true, .. } => T::take_ok(rest).map(Ok),
            Node::Result { ok: false, .. } => <String as Piece>::take(rest).map(Err),
            _ => None,
        }
    }
    fn push(self, out: &mut Vec<Node>) {
        match self {
            Ok(value) => {
                out.push(Node::Result {
                    ok: true,
                    payload: T::PAYLOAD,
                });
                value.push_ok(out);
            }
            Err(message) => {
                out.push(Node::Result {
                    ok: false,
                    payload: true,
                });
                out.push(Node::String(message));
            }
        }
    }
    fn bytes(&self) -> usize {
        match self {
            Ok(value) => value.bytes_ok(),
            Err(message) => message.len(),
        }
    }
    fn error(message: String) -> Option<Self> {
        Some(Err(message))
    }
}

/// A function's parameters or results as one tuple of pieces.
pub(super) trait Shape:
    ComponentNamedList + Lift + Lower + Send + Sync + Sized + 'static
{
    /// Whether values of these WIT types are this.
    fn fits(types: &[Type]) -> bool;
    /// Whether `nodes` are exactly one of these (so [`Shape::from_nodes`]
    /// will take them).
    fn accepts(nodes: &[Node]) -> bool;
    /// Moves the value out of `nodes`, which [`Shape::accepts`] accepted.
    fn from_nodes(nodes: Vec<Node>) -> Option<Self>;
    /// Its wire form.
    fn into_nodes(self) -> Vec<Node>;
    /// Bytes of payload it holds.
    fn bytes(&self) -> usize;
    /// This shape carrying `message` as the guest's error, where it is a
    /// single `result<_, string>`.
    fn error(_message: String) -> Option<Self> {
        None
    }
}

impl Shape for () {
    fn fits(types: &[Type]) -> bool {
        types.is_empty()
    }
    fn accepts(nodes: &[Node]) -> bool {
        nodes.is_empty()
    }
    fn from_nodes(nodes: Vec<Node>) -> Option<Self> {
        nodes.is_empty().then_some(())
    }
    fn into_nodes(self) -> Vec<Node> {
        Vec::new()
    }
    fn bytes(&self) -> usize {
        0
    }
}

impl<A: Piece> Shape for (A,) {
    fn fits(types: &[Type]) -> bool {
        matches!(types, [a] if A::fits(a))
    }
    fn accepts(nodes: &[Node]) -> bool {
        A::peek(nodes) == Some(nodes.len())
    }
    fn from_nodes(mut nodes: Vec<Node>) -> Option<Self> {
        Self::accepts(&nodes).then(|| A::take(&mut nodes).map(|a| (a,)))?
    }
    fn into_nodes(self) -> Vec<Node> {
        let mut out = Vec::with_capacity(2);
        self.0.push(&mut out);
        out
    }
    fn bytes(&self) -> usize {
        self.0.bytes()
    }
    fn error(message: String) -> Option<Self> {
        A::error(message).map(|a| (a,))
    }
}

impl<A: Piece, B: Piece> Shape for (A, B) {
    fn fits(types: &[Type]) -> bool {
        matches!(types, [a, b] if A::fits(a) && B::fits(b))
    }
    fn accepts(nodes: &[Node]) -> bool {
        A::peek(nodes)
            .and_then(|a| Some(a + B::peek(&nodes[a..])?))
            .is_some_and(|n| n == nodes.len())
    }
    fn from_nodes(mut nodes: Vec<Node>) -> Option<Self> {
        let split = A::peek(&nodes)?;
        if !Self::accepts(&nodes) {
            return None;
        }
        let a = A::take(&mut nodes)?;
        let b = B::take(&mut nodes[split..])?;
        Some((a, b))
    }
    fn into_nodes(self) -> Vec<Node> {
        let mut out = Vec::with_capacity(4);
        self.0.push(&mut out);
        self.1.push(&mut out);
        out
    }
    fn bytes(&self) -> usize {
        self.0.bytes() + self.1.bytes()
    }
}

/// What to do with a function once its shape is known: called with the
/// Rust types of its parameters `P` and results `R`.
pub(super) trait Visit {
    /// What the visit gives back.
    type Out;
    /// Does it for parameters `P` and results `R`.
    fn visit<P: Shape, R: Shape>(self) -> Self::Out;
}

/// Calls `visitor` with the Rust types of a function whose parameter and
/// result types are `params` and `results`, or gives it back if the fast
/// path has no such shape.
pub(super) fn dispatch<V: Visit>(
    params: &[Type],
    results: &[Type],
    visitor: V,
) -> Result<V::Out, V> {
    if <(Vec<u8>,)>::fits(params) {
        with_results::<(Vec<u8>,), V>(results, visitor)
    } else if <(String, Vec<u8>)>::fits(params) {
        with_results::<(String, Vec<u8>), V>(results, visitor)
    } else if <(String,)>::fits(params) {
        with_results::<(String,), V>(results, visitor)
    } else if <()>::fits(params) {
        with_results::<(), V>(results, visitor)
    } else {
        Err(visitor)
    }
}

fn with_results<P: Shape, V: Visit>(results: &[Type], visitor: V) -> Result<V::Out, V> {
    type Bytes = Vec<u8>;
    if <()>::fits(results) {
        Ok(visitor.visit::<P, ()>())
    } else if <(Bytes,)>::fits(results) {
        Ok(visitor.visit::<P, (Bytes,)>())
    } else if <(u64,)>::fits(results) {
        Ok(visitor.visit::<P, (u64,)>())
    } else if <(String,)>::fits(results) {
        Ok(visitor.visit::<P, (String,)>())
    } else if <(Result<Bytes, String>,)>::fits(results) {
        Ok(visitor.visit::<P, (Result<Bytes, String>,)>())
    } else if <(Result<(), String>,)>::fits(results) {
        Ok(visitor.visit::<P, (Result<(), String>,)>())
    } else {
        Err(visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(payload: bool) -> Node {
        Node::Result { ok: true, payload }
    }
    fn err() -> Node {
        Node::Result {
            ok: false,
            payload: true,
        }
    }

    fn round_trip<S: Shape + PartialEq + std::fmt::Debug + Clone>(value: S) {
        let nodes = value.clone().into_nodes();
        assert!(S::accepts(&nodes), "{nodes:?}");
        assert_eq!(S::from_nodes(nodes), Some(value));
    }

    #[test]
    fn every_shape_round_trips_in_the_dynamic_path_s_wire_form() {
        round_trip((vec![1u8, 2, 3],));
        round_trip(("key".to_string(), vec![0u8; 5]));
        round_trip((7u64,));
        round_trip(());
        round_trip((Ok::<Vec<u8>, String>(vec![9]),));
        round_trip((Err::<Vec<u8>, String>("no".into()),));
        round_trip((Ok::<(), String>(()),));
        round_trip((Err::<(), String>("no".into()),));
        assert_eq!(
            (Ok::<(), String>(()),).into_nodes(),
            vec![ok(false)],
            "result<_, string> has no ok payload on the wire"
        );
        assert_eq!(
            (Ok::<Vec<u8>, String>(vec![1]),).into_nodes(),
            vec![ok(true), Node::Bytes(vec![1])]
        );
    }

    #[test]
    fn other_wire_forms_are_left_to_the_dynamic_path() {
        // A byte list as a list of u8 nodes is valid, but not this path's.
        let listed = vec![Node::List(1), Node::U8(1)];
        assert!(!<(Vec<u8>,)>::accepts(&listed));
        assert_eq!(<(Vec<u8>,)>::from_nodes(listed), None);
        // Too few, too many, or the wrong kind of node.
        assert!(!<(String, Vec<u8>)>::accepts(&[Node::String("k".into())]));
        assert!(!<(u64,)>::accepts(&[Node::U64(1), Node::U64(2)]));
        assert!(!<(u64,)>::accepts(&[Node::U32(1)]));
        // A result whose ok payload is there when the type has none.
        assert!(!<(Result<(), String>,)>::accepts(&[
            ok(true),
            Node::Bytes(vec![])
        ]));
        assert!(!<(Result<Vec<u8>, String>,)>::accepts(&[ok(false)]));
        assert!(!<(Result<Vec<u8>, String>,)>::accepts(&[
            err(),
            Node::U64(1)
        ]));
        // A failed check leaves the nodes as they were (they go on to the
        // dynamic path).
        let nodes = vec![Node::String("k".into()), Node::U64(1)];
        assert!(!<(String, Vec<u8>)>::accepts(&nodes));
    }

    #[test]
    fn only_results_with_a_string_error_carry_the_host_s_error() {
        assert_eq!(
            <(Result<Vec<u8>, String>,)>::error("why".into()),
            Some((Err("why".into()),))
        );
        assert_eq!(<(Vec<u8>,)>::error("why".into()), None);
        assert_eq!(<()>::error("why".into()), None);
    }

    #[test]
    fn payload_bytes_are_counted() {
        assert_eq!(("ab".to_string(), vec![0u8; 10]).bytes(), 12);
        assert_eq!((Ok::<Vec<u8>, String>(vec![0; 4]),).bytes(), 4);
        assert_eq!((3u64,).bytes(), 0);
    }
}
