//! `wasmcloud:messaging@0.2.0` as messages: a component's `consumer` calls
//! go to its messaging provider in process or over NATS with one shape,
//! and a provider hands each received message to a component's `handler`.

use serde::{Deserialize, Serialize};

use crate::link::{InterfaceRef, WitName};
use crate::value::{Node, Values};

/// Longest subject a component may publish to or subscribe to. NATS itself
/// has no small limit; this keeps a hostile guest from making every
/// message carry a megabyte of subject.
pub const MAX_SUBJECT_BYTES: usize = 1024;

/// A message as the broker carries it (`types.broker-message`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerMessage {
    /// Where it was published.
    pub subject: String,
    /// Payload.
    #[serde(with = "serde_bytes")]
    pub body: Vec<u8>,
    /// Where answers go.
    pub reply_to: Option<String>,
}

/// One `consumer` call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessagingRequest {
    /// `consumer.publish`.
    Publish(BrokerMessage),
    /// `consumer.request`.
    Request {
        /// Where to publish.
        subject: String,
        /// Payload.
        #[serde(with = "serde_bytes")]
        body: Vec<u8>,
        /// How long to wait for the answer.
        timeout_ms: u32,
    },
}

/// The answer to a [`MessagingRequest`]: the reply message of a `request`,
/// nothing for a `publish`, or the guest-visible error text.
pub type MessagingReply = Result<Option<BrokerMessage>, String>;

impl MessagingRequest {
    /// The interface and function this call is of.
    pub fn operation(&self) -> (InterfaceRef, WitName) {
        let function = match self {
            Self::Publish(_) => "publish",
            Self::Request { .. } => "request",
        };
        (consumer_interface(), name(function))
    }
}

fn name(s: &str) -> WitName {
    WitName::new(s).unwrap_or_else(|e| unreachable!("static WIT name: {e}"))
}

/// `wasmcloud:messaging/consumer`.
pub fn consumer_interface() -> InterfaceRef {
    InterfaceRef::new(name("wasmcloud"), name("messaging"), name("consumer"))
}

/// `wasmcloud:messaging/handler`.
pub fn handler_interface() -> InterfaceRef {
    InterfaceRef::new(name("wasmcloud"), name("messaging"), name("handler"))
}

/// `handle-message`, the one function of [`handler_interface`].
pub fn handle_message() -> WitName {
    name("handle-message")
}

/// Checks a subject a component gave (to publish to or in a link's
/// subscriptions): NATS tokens separated by `.`, no whitespace, not empty,
/// at most [`MAX_SUBJECT_BYTES`]. Wildcards only when `wildcards`.
pub fn check_subject(subject: &str, wildcards: bool) -> Result<(), String> {
    if subject.is_empty() {
        return Err("the subject is empty".into());
    }
    if subject.len() > MAX_SUBJECT_BYTES {
        return Err(format!(
            "the subject is {} bytes; at most {MAX_SUBJECT_BYTES} are allowed",
            subject.len()
        ));
    }
    if subject.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "subject `{}` contains whitespace",
            subject.escape_debug()
        ));
    }
    let tokens: Vec<&str> = subject.split('.').collect();
    for (i, token) in tokens.iter().enumerate() {
        match *token {
            "" => return Err(format!("subject `{subject}` has an empty token")),
            "*" | ">" if !wildcards => {
                return Err(format!(
                    "subject `{subject}` has a wildcard; publish to a concrete subject"
                ));
            }
            ">" if i + 1 != tokens.len() => {
                return Err(format!("subject `{subject}`: `>` must be the last token"));
            }
            t if t.len() > 1 && (t.contains('*') || t.contains('>')) => {
                return Err(format!(
                    "subject `{subject}`: `*` and `>` must be whole tokens"
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// On the lattice's own connection, a component must not reach the
/// lattice's control plane, JetStream API or system account: those
/// subjects (and, when `subscribing`, wildcards that would match them)
/// are refused.
pub fn lattice_safe(subject: &str, subscribing: bool) -> Result<(), String> {
    let first = subject.split('.').next().unwrap_or_default();
    let forbidden = first == crate::subject::PREFIX
        || first.starts_with('$')
        || (subscribing && (first == "*" || first == ">" || first == "_INBOX"));
    if forbidden {
        return Err(format!(
            "`{subject}` reaches the lattice's own subjects ({}.*, $JS, $KV, $SYS, inboxes); \
             use a subject prefix of your app, or give the link its own NATS with cluster_uris",
            crate::subject::PREFIX
        ));
    }
    Ok(())
}

/// The one argument of `handle-message`, as call values.
pub fn handle_message_args(msg: BrokerMessage) -> Values {
    let mut nodes = vec![
        Node::Record(vec!["subject".into(), "body".into(), "reply-to".into()]),
        Node::String(msg.subject),
        Node::Bytes(msg.body),
        Node::Option {
            some: msg.reply_to.is_some(),
        },
    ];
    if let Some(reply_to) = msg.reply_to {
        nodes.push(Node::String(reply_to));
    }
    Values::new(nodes).unwrap_or_else(|e| unreachable!("a broker message is a valid value: {e}"))
}

/// What `handle-message` returned: `Ok` or the guest's error text.
pub fn handle_message_result(results: &Values) -> Result<(), String> {
    match results.nodes() {
        [Node::Result { ok: true, .. }, ..] => Ok(()),
        [
            Node::Result {
                ok: false,
                payload: true,
            },
            Node::String(e),
            ..,
        ] => Err(e.clone()),
        [Node::Result { ok: false, .. }, ..] => Err("the handler returned an error".into()),
        other => Err(format!(
            "handle-message returned {} values, not result<_, string>",
            other.len()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_checked() {
        assert!(check_subject("orders.created", false).is_ok());
        assert!(check_subject("orders.*", true).is_ok());
        assert!(check_subject("orders.>", true).is_ok());
        for (bad, wildcards) in [
            ("", true),
            ("a..b", true),
            ("a b", true),
            ("a.*", false),
            ("a.>.b", true),
            ("a.b*", true),
        ] {
            assert!(check_subject(bad, wildcards).is_err(), "{bad:?}");
        }
        assert!(check_subject(&"a".repeat(MAX_SUBJECT_BYTES + 1), false).is_err());
    }

    #[test]
    fn handler_args_and_results_round_trip_shapes() {
        let args = handle_message_args(BrokerMessage {
            subject: "s".into(),
            body: b"x".to_vec(),
            reply_to: Some("r".into()),
        });
        assert_eq!(args.count(), 1);
        let ok = Values::new(vec![Node::Result {
            ok: true,
            payload: false,
        }])
        .unwrap();
        assert_eq!(handle_message_result(&ok), Ok(()));
        let err = Values::new(vec![
            Node::Result {
                ok: false,
                payload: true,
            },
            Node::String("no".into()),
        ])
        .unwrap();
        assert_eq!(handle_message_result(&err), Err("no".into()));
    }
}
