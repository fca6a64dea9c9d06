//! A messaging link's config, parsed once per link: what to subscribe to,
//! how to deliver, and which NATS to use. Every fault names its key.

use std::collections::BTreeMap;
use std::time::Duration;

use trellis_protocol::messaging::{check_subject, lattice_safe};

/// Config keys of messaging links (wasmCloud's names where it has them).
pub mod keys {
    /// Comma-separated subjects (wildcards allowed) of a handler link.
    pub const SUBSCRIPTIONS: &str = "subscriptions";
    /// Queue group of the subscriptions; empty for none.
    pub const QUEUE_GROUP: &str = "queue_group";
    /// JetStream stream to consume from (at least once).
    pub const STREAM: &str = "stream";
    /// How long a delivered stream message may stay unacknowledged.
    pub const ACK_WAIT_MS: &str = "ack_wait_ms";
    /// How often a stream message is delivered before it is given up.
    pub const MAX_DELIVER: &str = "max_deliver";
    /// Messages handled at once per link on one host.
    pub const MAX_IN_FLIGHT: &str = "max_in_flight";
    /// Comma-separated NATS URLs of the app's own NATS (instead of the
    /// lattice's connection).
    pub const CLUSTER_URIS: &str = "cluster_uris";
    /// User JWT for `cluster_uris`.
    pub const CLIENT_JWT: &str = "client_jwt";
    /// The user's nkey seed (signs the server's nonce) for `cluster_uris`.
    pub const CLIENT_SEED: &str = "client_seed";
}

/// Most subjects one link may subscribe to.
pub const MAX_SUBSCRIPTIONS: usize = 64;
/// Bound of `max_in_flight`.
pub const MAX_IN_FLIGHT_LIMIT: usize = 1024;

/// Which NATS a link's messages travel on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    /// The lattice's own connection (the default): subjects that reach the
    /// lattice's control plane are refused.
    Lattice,
    /// The app's own NATS.
    Own {
        /// Server URLs.
        uris: String,
        /// JWT and seed, when the server wants them.
        credentials: Option<(String, String)>,
    },
}

/// Where and how a handler link receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerConfig {
    /// Subjects subscribed to.
    pub subscriptions: Vec<String>,
    /// Queue group, if any.
    pub queue_group: Option<String>,
    /// JetStream stream, for at-least-once delivery.
    pub stream: Option<String>,
    /// See [`keys::ACK_WAIT_MS`].
    pub ack_wait: Duration,
    /// See [`keys::MAX_DELIVER`].
    pub max_deliver: i64,
    /// See [`keys::MAX_IN_FLIGHT`].
    pub max_in_flight: usize,
    /// Which NATS.
    pub connection: Connection,
}

/// The connection part of any messaging link's config.
pub fn connection(config: &BTreeMap<String, String>) -> Result<Connection, String> {
    let Some(uris) = config
        .get(keys::CLUSTER_URIS)
        .filter(|u| !u.trim().is_empty())
    else {
        if config.contains_key(keys::CLIENT_JWT) || config.contains_key(keys::CLIENT_SEED) {
            return Err(format!(
                "{} and {} need {}: the lattice's own connection has its credentials",
                keys::CLIENT_JWT,
                keys::CLIENT_SEED,
                keys::CLUSTER_URIS
            ));
        }
        return Ok(Connection::Lattice);
    };
    let credentials = match (config.get(keys::CLIENT_JWT), config.get(keys::CLIENT_SEED)) {
        (Some(jwt), Some(seed)) => Some((jwt.clone(), seed.clone())),
        (None, None) => None,
        _ => {
            return Err(format!(
                "give both {} and {}, or neither",
                keys::CLIENT_JWT,
                keys::CLIENT_SEED
            ));
        }
    };
    Ok(Connection::Own {
        uris: uris.clone(),
        credentials,
    })
}

/// Parses a handler link's config. `default_queue` is used when the link
/// names no `queue_group`.
pub fn handler(
    config: &BTreeMap<String, String>,
    default_queue: &str,
) -> Result<HandlerConfig, String> {
    let connection = connection(config)?;
    let list = config
        .get(keys::SUBSCRIPTIONS)
        .map(String::as_str)
        .unwrap_or("");
    let subscriptions: Vec<String> = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if subscriptions.is_empty() {
        return Err(format!(
            "{}: the link subscribes to nothing; give subjects, e.g. subscriptions=orders.created,orders.>",
            keys::SUBSCRIPTIONS
        ));
    }
    if subscriptions.len() > MAX_SUBSCRIPTIONS {
        return Err(format!(
            "{}: {} subjects; at most {MAX_SUBSCRIPTIONS} (use wildcards)",
            keys::SUBSCRIPTIONS,
            subscriptions.len()
        ));
    }
    for subject in &subscriptions {
        check_subject(subject, true).map_err(|e| format!("{}: {e}", keys::SUBSCRIPTIONS))?;
        if connection == Connection::Lattice {
            lattice_safe(subject, true).map_err(|e| format!("{}: {e}", keys::SUBSCRIPTIONS))?;
        }
    }
    let queue_group = match config.get(keys::QUEUE_GROUP) {
        None => Some(default_queue.to_owned()),
        Some(q) if q.trim().is_empty() => None,
        Some(q) => {
            check_subject(q, false).map_err(|e| format!("{}: {e}", keys::QUEUE_GROUP))?;
            Some(q.trim().to_owned())
        }
    };
    let stream = match config.get(keys::STREAM).map(|s| s.trim()) {
        None | Some("") => None,
        Some(s)
            if s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
        {
            Some(s.to_owned())
        }
        Some(s) => {
            return Err(format!(
                "{}: `{s}` is not a JetStream stream name (letters, digits, `-`, `_`)",
                keys::STREAM
            ));
        }
    };
    Ok(HandlerConfig {
        subscriptions,
        queue_group,
        stream,
        ack_wait: Duration::from_millis(number(config, keys::ACK_WAIT_MS, 30_000, 1..=3_600_000)?),
        max_deliver: number(config, keys::MAX_DELIVER, 10, 1..=1000)? as i64,
        max_in_flight: number(
            config,
            keys::MAX_IN_FLIGHT,
            64,
            1..=MAX_IN_FLIGHT_LIMIT as u64,
        )? as usize,
        connection,
    })
}

fn number(
    config: &BTreeMap<String, String>,
    key: &str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, String> {
    let Some(text) = config.get(key) else {
        return Ok(default);
    };
    text.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| range.contains(n))
        .ok_or_else(|| {
            format!(
                "{key}: `{text}` is not a number from {} to {}",
                range.start(),
                range.end()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_handler_link_needs_subscriptions_and_gets_a_queue_group() {
        let err = handler(&config(&[]), "q").unwrap_err();
        assert!(err.contains("subscriptions"), "{err}");
        let c = handler(&config(&[("subscriptions", "a.b, c.>")]), "q").unwrap();
        assert_eq!(c.subscriptions, ["a.b", "c.>"]);
        assert_eq!(c.queue_group.as_deref(), Some("q"));
        assert_eq!(c.stream, None);
        let c = handler(&config(&[("subscriptions", "a"), ("queue_group", "")]), "q").unwrap();
        assert_eq!(c.queue_group, None);
    }

    #[test]
    fn the_lattices_subjects_are_out_of_reach_on_its_connection() {
        for subject in ["trellis.default.ctl.>", ">", "*.x", "$JS.API.>", "_INBOX.>"] {
            let err = handler(&config(&[("subscriptions", subject)]), "q").unwrap_err();
            assert!(err.contains("cluster_uris"), "{subject}: {err}");
        }
        let own = config(&[
            ("subscriptions", ">"),
            ("cluster_uris", "nats://10.0.0.1:4222"),
        ]);
        assert!(handler(&own, "q").is_ok());
        assert!(
            trellis_protocol::messaging::lattice_safe("trellis.default.ctl.host.stop", false)
                .is_err()
        );
        assert!(trellis_protocol::messaging::lattice_safe("_INBOX.abc", false).is_ok());
    }

    #[test]
    fn bad_values_name_their_key() {
        for (key, value) in [
            ("stream", "a b"),
            ("ack_wait_ms", "0"),
            ("max_deliver", "x"),
            ("max_in_flight", "5000"),
            ("queue_group", "a b"),
        ] {
            let err = handler(&config(&[("subscriptions", "a"), (key, value)]), "q").unwrap_err();
            assert!(err.contains(key), "{err}");
        }
        let err = connection(&config(&[("client_jwt", "x")])).unwrap_err();
        assert!(err.contains("cluster_uris"), "{err}");
    }
}
