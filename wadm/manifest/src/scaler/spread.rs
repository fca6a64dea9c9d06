//! Placement: how many instances each host gets.
//!
//! Weights split a total by largest remainder; within a group the count
//! moves as little as possible (hosts keep what they run, additions go to
//! the hosts with the fewest, removals come from the hosts with the most),
//! so a host joining does not cause a rebalance: it is used by the next
//! change.

use std::collections::BTreeMap;

use trellis_protocol::HostId;
use trellis_protocol::inventory::Labels;

use crate::manifest::Spread;

/// The outcome of placing one scaler.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    /// Instances per host; hosts absent get none.
    pub targets: BTreeMap<HostId, u32>,
    /// Why some instances could not be placed, one line per group.
    pub problems: Vec<String>,
}

/// Splits `total` over `weights` by largest remainder (ties go to the
/// earlier entry). The parts always sum to `total` unless every weight is 0.
pub fn split_by_weight(total: u32, weights: &[u32]) -> Vec<u32> {
    let sum: u64 = weights.iter().map(|w| u64::from(*w)).sum();
    if sum == 0 {
        return vec![0; weights.len()];
    }
    let total64 = u64::from(total);
    let mut parts: Vec<u32> = weights
        .iter()
        .map(|w| u32::try_from(total64 * u64::from(*w) / sum).unwrap_or(u32::MAX))
        .collect();
    let placed: u64 = parts.iter().map(|p| u64::from(*p)).sum();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    // Stable sort keeps earlier entries first among equal remainders.
    order.sort_by_key(|&i| std::cmp::Reverse(total64 * u64::from(weights[i]) % sum));
    for &i in order.iter().take((total64 - placed) as usize) {
        parts[i] += 1;
    }
    parts
}

/// Whether `labels` has every `requirements` label with the same value.
pub fn matches(labels: &Labels, requirements: &BTreeMap<String, String>) -> bool {
    requirements
        .iter()
        .all(|(k, v)| labels.get(k).is_some_and(|have| have == v))
}

/// `zone=edge, arch=aarch64`, or `any host` for no requirements.
pub fn describe(requirements: &BTreeMap<String, String>) -> String {
    if requirements.is_empty() {
        return "any host".into();
    }
    requirements
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A spreadscaler: `total` instances over `spreads` (none means one group of
/// every host), starting from what runs now (`current`), at most `cap` per
/// host (`None`: no bound). Among hosts with equally few instances of this
/// workload, the least loaded (`load`: instances of everything) comes
/// first, so many small apps spread over the lattice instead of piling on
/// the first hosts.
pub fn spread(
    total: u32,
    spreads: &[Spread],
    hosts: &BTreeMap<HostId, Labels>,
    current: &BTreeMap<HostId, u32>,
    load: &BTreeMap<HostId, u32>,
    cap: Option<u32>,
) -> Placement {
    let any = [Spread {
        name: "default".into(),
        requirements: BTreeMap::new(),
        weight: None,
    }];
    let spreads = if spreads.is_empty() {
        &any[..]
    } else {
        spreads
    };
    let weights: Vec<u32> = spreads.iter().map(|s| s.weight.unwrap_or(100)).collect();
    let quotas = split_by_weight(total, &weights);
    let mut unclaimed = current.clone();
    let mut placement = Placement::default();
    for (group, quota) in spreads.iter().zip(quotas) {
        let eligible: Vec<&HostId> = hosts
            .iter()
            .filter(|(_, labels)| matches(labels, &group.requirements))
            .map(|(id, _)| id)
            .collect();
        // A host in two groups counts its instances toward the first.
        let mut counts: Vec<u32> = eligible
            .iter()
            .map(|h| unclaimed.remove(*h).unwrap_or(0))
            .collect();
        if let Some(cap) = cap {
            counts.iter_mut().for_each(|c| *c = (*c).min(cap));
        }
        // Loads only matter when instances move: a settled workload (the
        // common case on a pass) skips a lookup per eligible host.
        let short = if counts.iter().sum::<u32>() == quota {
            0
        } else {
            let loads: Vec<u32> = eligible
                .iter()
                .map(|h| load.get(*h).copied().unwrap_or(0))
                .collect();
            fill(&mut counts, &loads, quota, cap)
        };
        if short > 0 {
            placement.problems.push(if eligible.is_empty() {
                format!("no host matches {}", describe(&group.requirements))
            } else {
                format!(
                    "{short} of {quota} instances unplaced: only {} host(s) match {} and each runs at most {}",
                    eligible.len(),
                    describe(&group.requirements),
                    cap.unwrap_or(u32::MAX)
                )
            });
        }
        for (host, count) in eligible.into_iter().zip(counts) {
            if count > 0 {
                *placement.targets.entry(host.clone()).or_default() += count;
            }
        }
    }
    placement
}

/// A daemonscaler: `per_host` instances on every host matching any of
/// `spreads` (none means every host).
pub fn daemon(per_host: u32, spreads: &[Spread], hosts: &BTreeMap<HostId, Labels>) -> Placement {
    let mut placement = Placement::default();
    for (id, labels) in hosts {
        if spreads.is_empty() || spreads.iter().any(|s| matches(labels, &s.requirements)) {
            placement.targets.insert(id.clone(), per_host);
        }
    }
    if placement.targets.is_empty() && per_host > 0 {
        placement.problems.push(if spreads.is_empty() {
            "no host in the lattice".into()
        } else {
            let wanted: Vec<String> = spreads.iter().map(|s| describe(&s.requirements)).collect();
            format!("no host matches {}", wanted.join(" or "))
        });
    }
    placement
}

/// Moves `counts` to sum to `quota` with the fewest changes: removes from
/// the largest, adds to the smallest; ties go by `load` (busier hosts lose
/// first, idler ones gain first), then by position. Returns how many could
/// not be added under `cap`.
fn fill(counts: &mut [u32], load: &[u32], quota: u32, cap: Option<u32>) -> u32 {
    let mut sum: u32 = counts.iter().sum();
    while sum > quota {
        let Some(i) = (0..counts.len()).max_by_key(|&i| (counts[i], load[i])) else {
            break;
        };
        let cut = (sum - quota).min(counts[i]).min(step(counts, i, true));
        counts[i] -= cut;
        sum -= cut;
    }
    while sum < quota {
        let open = (0..counts.len()).filter(|&i| cap.is_none_or(|c| counts[i] < c));
        let Some(i) = open.min_by_key(|&i| (counts[i], load[i])) else {
            break;
        };
        let add = (quota - sum).min(step(counts, i, false));
        let add = cap.map_or(add, |c| add.min(c - counts[i]));
        counts[i] += add;
        sum += add;
    }
    quota.saturating_sub(sum)
}

/// How far `counts[i]` may move in one go while staying fair: down to the
/// next lower count (when cutting the largest) or up to the next higher one
/// (when raising the smallest); at least 1.
fn step(counts: &[u32], i: usize, down: bool) -> u32 {
    let here = counts[i];
    let other = counts
        .iter()
        .enumerate()
        .filter(|&(j, _)| j != i)
        .map(|(_, c)| *c);
    let gap = if down {
        other.filter(|c| *c < here).max().map(|c| here - c)
    } else {
        other.filter(|c| *c > here).min().map(|c| c - here)
    };
    // Equal neighbours: move one at a time so ties alternate fairly.
    let equal = counts.iter().enumerate().any(|(j, c)| j != i && *c == here);
    if equal {
        1
    } else {
        gap.unwrap_or(u32::MAX).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(n: u8) -> HostId {
        HostId::new(format!("N{}{}", (b'A' + n) as char, "B".repeat(54))).unwrap()
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn zone(name: &str, zone: &str, weight: u32) -> Spread {
        Spread {
            name: name.into(),
            requirements: labels(&[("zone", zone)]),
            weight: Some(weight),
        }
    }

    fn lattice() -> BTreeMap<HostId, Labels> {
        [
            (host(0), labels(&[("zone", "edge")])),
            (host(1), labels(&[("zone", "cloud")])),
            (host(2), labels(&[("zone", "cloud")])),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn largest_remainder_sums_to_total() {
        assert_eq!(split_by_weight(4, &[50, 50]), [2, 2]);
        assert_eq!(split_by_weight(4, &[75, 25]), [3, 1]);
        assert_eq!(split_by_weight(5, &[1, 1, 1]), [2, 2, 1]);
        assert_eq!(split_by_weight(1, &[1, 2]), [0, 1]);
        assert_eq!(split_by_weight(3, &[0, 0]), [0, 0]);
    }

    #[test]
    fn half_edge_half_cloud_spreads_over_cloud_hosts() {
        let spreads = [zone("edge", "edge", 50), zone("cloud", "cloud", 50)];
        let p = spread(
            4,
            &spreads,
            &lattice(),
            &BTreeMap::new(),
            &BTreeMap::new(),
            None,
        );
        assert!(p.problems.is_empty(), "{:?}", p.problems);
        assert_eq!(p.targets[&host(0)], 2);
        assert_eq!(p.targets[&host(1)], 1);
        assert_eq!(p.targets[&host(2)], 1);
    }

    #[test]
    fn a_lost_host_moves_its_share_within_the_group() {
        let spreads = [zone("edge", "edge", 50), zone("cloud", "cloud", 50)];
        let mut hosts = lattice();
        hosts.remove(&host(2));
        let current = [(host(0), 2), (host(1), 1)].into_iter().collect();
        let p = spread(4, &spreads, &hosts, &current, &BTreeMap::new(), None);
        assert_eq!(p.targets[&host(0)], 2);
        assert_eq!(p.targets[&host(1)], 2);
    }

    #[test]
    fn new_hosts_do_not_cause_a_rebalance() {
        let current = [(host(1), 3)].into_iter().collect();
        let p = spread(3, &[], &lattice(), &current, &BTreeMap::new(), None);
        assert_eq!(p.targets.len(), 1);
        assert_eq!(p.targets[&host(1)], 3);
        // The next change uses the idle hosts first.
        let p = spread(5, &[], &lattice(), &current, &BTreeMap::new(), None);
        assert_eq!(p.targets[&host(1)], 3);
        assert_eq!(p.targets[&host(0)] + p.targets[&host(2)], 2);
        assert_eq!(p.targets[&host(0)], 1);
    }

    #[test]
    fn scaling_down_takes_from_the_fullest() {
        let current = [(host(0), 1), (host(1), 4), (host(2), 2)]
            .into_iter()
            .collect();
        let p = spread(4, &[], &lattice(), &current, &BTreeMap::new(), None);
        assert_eq!(p.targets.values().sum::<u32>(), 4);
        assert_eq!(p.targets[&host(1)], 2);
        assert_eq!(p.targets[&host(2)], 1);
    }

    #[test]
    fn unmet_requirements_are_named() {
        let spreads = [zone("mars", "mars", 1)];
        let p = spread(
            2,
            &spreads,
            &lattice(),
            &BTreeMap::new(),
            &BTreeMap::new(),
            None,
        );
        assert!(p.targets.is_empty());
        assert_eq!(p.problems, ["no host matches zone=mars"]);
        let p = daemon(1, &spreads, &lattice());
        assert_eq!(p.problems, ["no host matches zone=mars"]);
    }

    #[test]
    fn a_cap_of_one_per_host_reports_the_rest() {
        let p = spread(
            4,
            &[zone("c", "cloud", 1)],
            &lattice(),
            &BTreeMap::new(),
            &BTreeMap::new(),
            Some(1),
        );
        assert_eq!(p.targets.values().sum::<u32>(), 2);
        assert_eq!(p.problems.len(), 1);
        assert!(p.problems[0].starts_with("2 of 4"), "{}", p.problems[0]);
    }

    #[test]
    fn ties_go_to_the_least_loaded_host() {
        let load = [(host(0), 5), (host(1), 0), (host(2), 3)]
            .into_iter()
            .collect();
        let p = spread(2, &[], &lattice(), &BTreeMap::new(), &load, None);
        assert_eq!(p.targets.keys().collect::<Vec<_>>(), [&host(1), &host(2)]);
    }

    #[test]
    fn daemons_go_to_every_matching_host() {
        let p = daemon(3, &[zone("c", "cloud", 1)], &lattice());
        assert_eq!(p.targets.len(), 2);
        assert!(p.targets.values().all(|n| *n == 3));
        assert_eq!(daemon(1, &[], &lattice()).targets.len(), 3);
    }

    proptest::proptest! {
        #[test]
        fn spread_places_exactly_the_total_when_hosts_exist(
            total in 0u32..200,
            cur in proptest::collection::vec(0u32..50, 3),
        ) {
            let current = (0..3).map(|i| (host(i as u8), cur[i])).collect();
            let p = spread(total, &[], &lattice(), &current, &BTreeMap::new(), None);
            proptest::prop_assert_eq!(p.targets.values().sum::<u32>(), total);
            proptest::prop_assert!(p.problems.is_empty());
        }
    }
}
