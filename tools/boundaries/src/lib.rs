//! Structure checks for the Trellis workspace that the compiler does not
//! make: no import circle between the modules of one crate.
//!
//! A circle (module `a` uses `b`, which uses `a`) means neither can be read,
//! tested or moved without the other; in a crate that grows, the circle
//! grows with it until every file depends on every other. The check is
//! syntactic: it reads `crate::`, `super::`, `self::` and child-module
//! paths (in `use` trees and in code), follows `pub use` re-exports to the
//! module that defines the item, and reports every strongly connected set
//! of files with the lines that tie it together.
//!
//! - [`tokens`]: Rust source to identifiers and punctuation (comments and
//!   literals dropped).
//! - [`paths`]: module paths a file names, with the inline module they sit in.
//! - [`modules`]: a crate's module tree, read from `mod name;` declarations.
//! - [`circles`]: the graph between a crate's files and its circles.

pub mod circles;
pub mod modules;
pub mod paths;
pub mod tokens;

pub use circles::{Circle, check_workspace};
