//! The routing table of one listener: which link serves a request.
//!
//! Pure logic (no sockets): routes are added, replaced and removed by a key
//! (the link), and a request is matched by its path and `Host`.

/// Which requests a route takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// Every request (`routing=address`: one route per listener).
    Any,
    /// Paths equal to this prefix or under it on a segment boundary
    /// (`/api` takes `/api` and `/api/x`, not `/apix`); `/` takes every
    /// path. Normalized: starts with `/`, no trailing `/` except the root.
    Prefix(String),
    /// Requests whose host (see [`normalize_host`]) equals this one.
    Host(String),
}

impl Rule {
    /// Whether two routes would claim the same requests. A table holds one
    /// kind of rule (the provider's routing mode), so [`Rule::Any`] claims
    /// everything and different kinds count as overlapping.
    fn overlaps(&self, other: &Rule) -> bool {
        match (self, other) {
            (Rule::Prefix(a), Rule::Prefix(b)) | (Rule::Host(a), Rule::Host(b)) => a == b,
            _ => true,
        }
    }

    /// How specific the match is (longer prefix wins), or `None` when the
    /// request is not this route's.
    fn score(&self, path: &str, host: Option<&str>) -> Option<usize> {
        match self {
            Rule::Any => Some(0),
            Rule::Prefix(prefix) => under_prefix(path, prefix).then_some(prefix.len()),
            Rule::Host(want) => {
                let host = normalize_host(host?);
                (host == *want).then_some(0)
            }
        }
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rule::Any => f.write_str("every request"),
            Rule::Prefix(prefix) => write!(f, "path {prefix}"),
            Rule::Host(host) => write!(f, "host {host}"),
        }
    }
}

/// `path` (without query) is `prefix` or below it on a segment boundary.
fn under_prefix(path: &str, prefix: &str) -> bool {
    if prefix == "/" {
        return true;
    }
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// A host as compared: lower-case, without port and trailing dot
/// (`App.Example.com.:8080` -> `app.example.com`; `[::1]:80` -> `[::1]`).
pub fn normalize_host(host: &str) -> String {
    let host = host.trim();
    let bare = if host.starts_with('[') {
        // IPv6 literal: keep the brackets, drop what follows `]`.
        host.find(']').map_or(host, |end| &host[..=end])
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        }
    };
    bare.trim_end_matches('.').to_ascii_lowercase()
}

/// Why a route was refused: `holder` already claims the same requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict<K> {
    /// The route already in place.
    pub holder: K,
    /// What it claims.
    pub rule: Rule,
}

/// Routes keyed by `K` (a link), each with a value `V` (what serves it).
#[derive(Debug, Clone)]
pub struct RouteTable<K, V> {
    routes: Vec<(K, Rule, V)>,
}

impl<K, V> Default for RouteTable<K, V> {
    fn default() -> Self {
        Self { routes: Vec::new() }
    }
}

impl<K: PartialEq + Clone, V> RouteTable<K, V> {
    /// Adds the route of `key`, replacing its previous one. Refused, leaving
    /// the table unchanged, when another key's route claims the same
    /// requests.
    pub fn insert(&mut self, key: K, rule: Rule, value: V) -> Result<(), Conflict<K>> {
        if let Some((holder, held, _)) = self
            .routes
            .iter()
            .find(|(k, r, _)| *k != key && r.overlaps(&rule))
        {
            return Err(Conflict {
                holder: holder.clone(),
                rule: held.clone(),
            });
        }
        match self.routes.iter_mut().find(|(k, _, _)| *k == key) {
            Some(entry) => *entry = (key, rule, value),
            None => self.routes.push((key, rule, value)),
        }
        Ok(())
    }

    /// Removes the route of `key`, returning its value.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        let index = self.routes.iter().position(|(k, _, _)| k == key)?;
        Some(self.routes.swap_remove(index).2)
    }

    /// The route for a request with this path (no query) and host header:
    /// the longest matching prefix, or the matching host.
    pub fn find(&self, path: &str, host: Option<&str>) -> Option<&V> {
        self.routes
            .iter()
            .filter_map(|(_, rule, value)| rule.score(path, host).map(|s| (s, value)))
            .max_by_key(|(score, _)| *score)
            .map(|(_, value)| value)
    }

    /// Whether no route is left.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix(p: &str) -> Rule {
        Rule::Prefix(p.into())
    }

    fn host(h: &str) -> Rule {
        Rule::Host(h.into())
    }

    #[test]
    fn longest_prefix_wins_on_segment_boundaries() {
        let mut t = RouteTable::default();
        t.insert("root", prefix("/"), "root").unwrap();
        t.insert("api", prefix("/api"), "api").unwrap();
        t.insert("v2", prefix("/api/v2"), "v2").unwrap();
        assert_eq!(t.find("/api", None), Some(&"api"));
        assert_eq!(t.find("/api/", None), Some(&"api"));
        assert_eq!(t.find("/api/x", None), Some(&"api"));
        assert_eq!(t.find("/api/v2", None), Some(&"v2"));
        assert_eq!(t.find("/api/v2/users", None), Some(&"v2"));
        assert_eq!(t.find("/api/v20", None), Some(&"api"));
        assert_eq!(t.find("/apix", None), Some(&"root"));
        assert_eq!(t.find("/", None), Some(&"root"));
        t.remove(&"root");
        assert_eq!(t.find("/apix", None), None);
        assert_eq!(t.find("/", None), None);
    }

    #[test]
    fn hosts_match_case_insensitively_without_port() {
        let mut t = RouteTable::default();
        t.insert(1, host("a.test"), "a").unwrap();
        t.insert(2, host("b.test"), "b").unwrap();
        t.insert(3, host("[::1]"), "v6").unwrap();
        assert_eq!(t.find("/x", Some("a.test")), Some(&"a"));
        assert_eq!(t.find("/x", Some("A.Test:8080")), Some(&"a"));
        assert_eq!(t.find("/", Some("b.test.")), Some(&"b"));
        assert_eq!(t.find("/", Some("[::1]:8080")), Some(&"v6"));
        assert_eq!(t.find("/", Some("c.test")), None);
        assert_eq!(t.find("/", None), None);
    }

    #[test]
    fn normalize_host_strips_port_case_and_dot() {
        assert_eq!(normalize_host("Example.COM:443"), "example.com");
        assert_eq!(normalize_host("example.com."), "example.com");
        assert_eq!(normalize_host("[2001:DB8::1]:80"), "[2001:db8::1]");
        assert_eq!(normalize_host("localhost"), "localhost");
    }

    #[test]
    fn conflicts_name_the_holder_and_leave_the_table_alone() {
        let mut t = RouteTable::default();
        t.insert("first", prefix("/hello"), 1).unwrap();
        let conflict = t.insert("second", prefix("/hello"), 2).unwrap_err();
        assert_eq!(conflict.holder, "first");
        assert_eq!(conflict.rule.to_string(), "path /hello");
        assert_eq!(t.find("/hello", None), Some(&1));
        // A different prefix, even one nested under it, is fine.
        t.insert("second", prefix("/hello/there"), 2).unwrap();

        let mut hosts = RouteTable::default();
        hosts.insert("a", host("a.test"), ()).unwrap();
        assert_eq!(
            hosts.insert("b", host("a.test"), ()).unwrap_err().holder,
            "a"
        );

        let mut any = RouteTable::default();
        any.insert("a", Rule::Any, ()).unwrap();
        assert_eq!(any.insert("b", Rule::Any, ()).unwrap_err().holder, "a");
    }

    #[test]
    fn a_key_replaces_its_own_route() {
        let mut t = RouteTable::default();
        t.insert("a", prefix("/one"), 1).unwrap();
        t.insert("a", prefix("/two"), 2).unwrap();
        assert_eq!(t.find("/one", None), None);
        assert_eq!(t.find("/two", None), Some(&2));
        t.insert("a", Rule::Any, 3).unwrap();
        assert_eq!(t.find("/anything", None), Some(&3));
    }

    #[test]
    fn removal_empties_the_table() {
        let mut t = RouteTable::default();
        t.insert("a", prefix("/a"), 1).unwrap();
        t.insert("b", prefix("/b"), 2).unwrap();
        assert_eq!(t.remove(&"a"), Some(1));
        assert_eq!(t.remove(&"a"), None);
        assert!(!t.is_empty());
        assert_eq!(t.find("/a", None), None);
        assert_eq!(t.remove(&"b"), Some(2));
        assert!(t.is_empty());
    }
}
