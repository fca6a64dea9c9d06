//! Judging a stage: invocation counts over the bake, against the bound.

use trellis_protocol::inventory::InvocationStats;

use super::Count;

/// What `now` counted since `baseline`, summed over every workload. A
/// workload absent from the baseline (updated after the bake began)
/// counts from zero.
pub fn since(now: &[Count], baseline: &[Count]) -> InvocationStats {
    let mut total = InvocationStats::default();
    for c in now {
        let before = baseline
            .iter()
            .find(|b| b.host == c.host && b.component == c.component)
            .map(|b| b.stats)
            .unwrap_or_default();
        total.add(c.stats.since(before));
    }
    total
}

/// Fails when `seen` has more failed invocations than `max_rate` allows.
/// No invocations is no evidence either way: it passes.
pub fn error_rate(seen: InvocationStats, max_rate: f64) -> Result<(), String> {
    if seen.invocations == 0 {
        return Ok(());
    }
    // Counts stay far below 2^52, where f64 is exact.
    let rate = seen.failures as f64 / seen.invocations as f64;
    if rate > max_rate {
        return Err(format!(
            "{} of {} invocations failed ({:.1}%, more than the {:.1}% max_error_rate allows)",
            seen.failures,
            seen.invocations,
            rate * 100.0,
            max_rate * 100.0
        ));
    }
    Ok(())
}
