//! Which stage each host of an app belongs to.

use std::collections::BTreeMap;

use trellis_protocol::HostId;
use trellis_protocol::inventory::Labels;

use crate::manifest::Stage;

/// The stage index of each of `hosts` (the hosts that run the app). A host
/// belongs to the first stage whose requirements it meets and that has
/// room (`max_hosts`, filled in host id order); hosts left over go with
/// the last stage, so a rollout always ends with every host updated.
pub fn assign(stages: &[Stage], hosts: &BTreeMap<HostId, Labels>) -> BTreeMap<HostId, usize> {
    let last = stages.len().saturating_sub(1);
    let mut taken: BTreeMap<HostId, usize> = BTreeMap::new();
    for (i, stage) in stages.iter().enumerate() {
        let mut room = stage.max_hosts.map_or(usize::MAX, |n| n as usize);
        for (host, labels) in hosts {
            if room == 0 {
                break;
            }
            let fits = stage
                .requirements
                .iter()
                .all(|(k, v)| labels.get(k) == Some(v));
            if fits && !taken.contains_key(host) {
                taken.insert(host.clone(), i);
                room -= 1;
            }
        }
    }
    for host in hosts.keys() {
        taken.entry(host.clone()).or_insert(last);
    }
    taken
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(c: char) -> HostId {
        HostId::new(format!("N{}", c.to_string().repeat(55))).unwrap()
    }

    fn stage(name: &str, zone: &str, max_hosts: Option<u32>) -> Stage {
        Stage {
            name: name.into(),
            requirements: [("zone".to_owned(), zone.to_owned())].into(),
            max_hosts,
        }
    }

    #[test]
    fn canary_takes_one_then_the_rest_of_its_zone_then_the_edge() {
        let zone = |z: &str| -> Labels { [("zone".to_owned(), z.to_owned())].into() };
        let hosts: BTreeMap<HostId, Labels> = [
            (host('A'), zone("cloud")),
            (host('B'), zone("cloud")),
            (host('C'), zone("edge")),
            (host('D'), zone("moon")),
        ]
        .into();
        let stages = [
            stage("cloud-canary", "cloud", Some(1)),
            stage("cloud", "cloud", None),
            stage("edge", "edge", None),
        ];
        let got = assign(&stages, &hosts);
        assert_eq!(got[&host('A')], 0);
        assert_eq!(got[&host('B')], 1);
        assert_eq!(got[&host('C')], 2);
        assert_eq!(got[&host('D')], 2, "unmatched hosts go with the last stage");
    }
}
