//! The fuzz targets, one module per wire format.
//!
//! | target | bytes as they arrive at |
//! |---|---|
//! | `invocation-http` | a host's rpc subscription (`HttpRequest`) and a caller's reply (`InvocationReply<HttpResponse>`, `HttpResponse`) |
//! | `invocation-chunk` | a body stream's pull (`ChunkRequest`) and its answer (`ChunkReply`) |
//! | `invocation-keyvalue` | a provider's rpc subscription (`KvRequest`) and the reply (`KvReply`) |
//! | `control` | every host control verb's body, and the subject it came on |
//! | `wadm-api` | every wadm API body (`PutRequest` with its manifest, `AppRequest`, `RolloutRequest`) |
//! | `events` | wadm's event subscription (CloudEvents and the heartbeat inventory) |
//! | `claims-section` | a component's bytes: the claims section walk and `verify` |
//! | `claims-jwt` | a provider's detached JWT (`verify_detached`, `decode`) |
//! | `manifest` | a YAML manifest: parse, validate, the API's checks |

mod claims;
mod control;
mod events;
mod invocation;
mod manifest;
mod wadm;

use crate::Target;

/// Every target, in a fixed order.
pub fn all() -> Vec<Target> {
    vec![
        invocation::HTTP,
        invocation::CHUNK,
        invocation::KEYVALUE,
        control::CONTROL,
        wadm::WADM_API,
        events::EVENTS,
        claims::SECTION,
        claims::JWT,
        manifest::MANIFEST,
    ]
}

/// Decodes `bytes` as JSON of type `T` the way control and wadm handlers
/// do; whatever decodes must encode and decode to the same value.
pub(crate) fn json_round_trip<T>(bytes: &[u8])
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    if let Ok(value) = trellis_protocol::control::parse_request::<T>(bytes) {
        let again = serde_json::to_vec(&value).expect("a decoded value encodes");
        let back = trellis_protocol::control::parse_request::<T>(&again)
            .unwrap_or_else(|e| panic!("re-encoded {value:?} does not decode: {e}"));
        assert_eq!(back, value, "JSON round trip changed the value");
    }
}
