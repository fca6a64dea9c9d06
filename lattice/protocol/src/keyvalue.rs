//! `wasi:keyvalue@0.2.0-draft` calls as messages, so a host can hand them to
//! a provider in process or over NATS with one shape.

use serde::{Deserialize, Serialize};

use crate::link::{InterfaceRef, WitName};

/// One key-value operation on a bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvRequest {
    /// `store.open`: check that the bucket can be used.
    Open {
        /// Bucket identifier (`""` is the default bucket).
        bucket: String,
    },
    /// `bucket.get`.
    Get {
        /// Bucket identifier.
        bucket: String,
        /// Key.
        key: String,
    },
    /// `bucket.set`.
    Set {
        /// Bucket identifier.
        bucket: String,
        /// Key.
        key: String,
        /// Value.
        #[serde(with = "serde_bytes")]
        value: Vec<u8>,
    },
    /// `bucket.delete`.
    Delete {
        /// Bucket identifier.
        bucket: String,
        /// Key.
        key: String,
    },
    /// `bucket.exists`.
    Exists {
        /// Bucket identifier.
        bucket: String,
        /// Key.
        key: String,
    },
    /// `bucket.list-keys`.
    ListKeys {
        /// Bucket identifier.
        bucket: String,
        /// Where the previous page ended.
        cursor: Option<u64>,
    },
    /// `atomics.increment`.
    Increment {
        /// Bucket identifier.
        bucket: String,
        /// Key.
        key: String,
        /// Amount to add.
        delta: u64,
    },
    /// `batch.get-many`.
    GetMany {
        /// Bucket identifier.
        bucket: String,
        /// Keys.
        keys: Vec<String>,
    },
    /// `batch.set-many`.
    SetMany {
        /// Bucket identifier.
        bucket: String,
        /// Pairs to store.
        items: Vec<(String, Vec<u8>)>,
    },
    /// `batch.delete-many`.
    DeleteMany {
        /// Bucket identifier.
        bucket: String,
        /// Keys.
        keys: Vec<String>,
    },
}

impl KvRequest {
    /// The WIT interface and function this request stands for (used in the
    /// invocation subject).
    pub fn operation(&self) -> (InterfaceRef, WitName) {
        let (interface, function) = match self {
            Self::Open { .. } => ("store", "open"),
            Self::Get { .. } => ("store", "get"),
            Self::Set { .. } => ("store", "set"),
            Self::Delete { .. } => ("store", "delete"),
            Self::Exists { .. } => ("store", "exists"),
            Self::ListKeys { .. } => ("store", "list-keys"),
            Self::Increment { .. } => ("atomics", "increment"),
            Self::GetMany { .. } => ("batch", "get-many"),
            Self::SetMany { .. } => ("batch", "set-many"),
            Self::DeleteMany { .. } => ("batch", "delete-many"),
        };
        let name =
            |s: &str| WitName::new(s).unwrap_or_else(|e| unreachable!("static WIT name: {e}"));
        (
            InterfaceRef::new(name("wasi"), name("keyvalue"), name(interface)),
            name(function),
        )
    }
}

/// The successful answer to a [`KvRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvResponse {
    /// For `open`, `set`, `delete`, `set-many`, `delete-many`.
    Done,
    /// For `get`.
    Value(Option<Vec<u8>>),
    /// For `exists`.
    Exists(bool),
    /// For `list-keys`.
    Keys {
        /// One page of keys.
        keys: Vec<String>,
        /// Where the next page starts, if there is one.
        cursor: Option<u64>,
    },
    /// For `increment`: the new value.
    Count(u64),
    /// For `get-many`, in the order of the keys asked for.
    Values(Vec<Option<(String, Vec<u8>)>>),
}

/// `wasi:keyvalue/store.error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum KvError {
    /// The bucket does not exist (and cannot be created).
    #[error("no such store")]
    NoSuchStore,
    /// The caller may not use the bucket.
    #[error("access denied")]
    AccessDenied,
    /// Anything else, with a message for the guest.
    #[error("{0}")]
    Other(String),
}

/// The reply to a key-value invocation.
pub type KvReply = Result<KvResponse, KvError>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invocation::{decode, encode};

    #[test]
    fn requests_and_replies_round_trip() {
        let req = KvRequest::Set {
            bucket: String::new(),
            key: "k".into(),
            value: vec![0, 255, 7],
        };
        assert_eq!(decode::<KvRequest>(&encode(&req)).unwrap(), req);
        let reply: KvReply = Err(KvError::Other("no link".into()));
        assert_eq!(decode::<KvReply>(&encode(&reply)).unwrap(), reply);
        let reply: KvReply = Ok(KvResponse::Values(vec![
            Some(("a".into(), b"1".to_vec())),
            None,
        ]));
        assert_eq!(decode::<KvReply>(&encode(&reply)).unwrap(), reply);
    }

    #[test]
    fn operations_name_interface_and_function() {
        let (iface, func) = KvRequest::Increment {
            bucket: String::new(),
            key: "c".into(),
            delta: 1,
        }
        .operation();
        assert_eq!(iface.to_string(), "wasi:keyvalue/atomics");
        assert_eq!(func.as_str(), "increment");
    }
}
