//! Annotations: the free-form markers workloads and links carry. Both
//! [`crate::inventory`] and [`crate::link`] need the type, so it lives
//! below them rather than in either.

use std::collections::BTreeMap;

/// Annotations attached by whoever started a workload or put a link (wadm
/// puts the app here).
pub type Annotations = BTreeMap<String, String>;
