//! `wasi:keyvalue` (store, atomics, batch): each call goes to the provider
//! that the component's link for the interface names, in process when the
//! provider runs on this host, over NATS otherwise. The link is looked up
//! on every call, so a link changed at runtime applies to the next call.

use std::time::{Duration, Instant};

use trellis_protocol::context::CallContext;
use trellis_protocol::keyvalue::{KvError, KvReply, KvRequest, KvResponse};
use trellis_protocol::{ComponentId, LinkName};
use wasmtime::component::Resource;

use super::bindings::wasi::keyvalue::{atomics, batch, store};
use crate::capabilities::CapabilityView;
use crate::capabilities::route::{ProviderRouter, Target};
use crate::counters::Reached;
use crate::spans;

/// Bound on one key-value call.
pub const KV_TIMEOUT: Duration = Duration::from_secs(30);

/// An open bucket of one instance.
pub struct Bucket {
    name: String,
}

impl ProviderRouter {
    /// Sends key-value `request` from `source` through its link named
    /// `link_name`.
    pub async fn keyvalue(
        &self,
        source: &ComponentId,
        link_name: &LinkName,
        request: KvRequest,
    ) -> KvReply {
        let (interface, _) = request.operation();
        let how = || {
            format!(
                "link it to a keyvalue provider: trellis link put {source} PROVIDER wasi \
                 keyvalue --interface store --interface atomics --interface batch"
            )
        };
        let target = self
            .target(source, link_name, &interface, how)
            .map_err(KvError::Other)?;
        let remote = matches!(target, Target::Remote(_));
        let started = Instant::now();
        let mut span = spans::provider_call("keyvalue", source, link_name, request.operation());
        let reply = match target {
            Target::Local(local) => local.provider.keyvalue(Some(source.clone()), request).await,
            Target::Remote(target) => {
                let ctx = CallContext::new(Some(source.clone()), link_name.clone(), KV_TIMEOUT)
                    .traced(Some(span.context()));
                self.lattice.invoke_keyvalue(&target, &request, &ctx).await
            }
        };
        spans::finish(&mut span, remote, reply.as_ref().err());
        self.counted
            .record(Reached::Keyvalue, remote, reply.is_ok(), started);
        reply
    }
}

fn to_wit(e: KvError) -> store::Error {
    match e {
        KvError::NoSuchStore => store::Error::NoSuchStore,
        KvError::AccessDenied => store::Error::AccessDenied,
        KvError::Other(message) => store::Error::Other(message),
    }
}

fn unexpected(response: KvResponse) -> store::Error {
    store::Error::Other(format!("provider sent an unexpected answer: {response:?}"))
}

type Answer<T> = wasmtime::Result<Result<T, store::Error>>;

impl CapabilityView {
    /// The call's future owns what it needs: the instance's resource table
    /// is not `Sync`, so it must not be borrowed across the await.
    fn kv(
        &self,
        request: KvRequest,
    ) -> impl std::future::Future<Output = Result<KvResponse, store::Error>> + Send + 'static {
        let caps = self.caps.clone();
        let link_name = self.link_name_for(&request.operation().0);
        async move {
            caps.providers
                .keyvalue(&caps.component_id, &link_name, request)
                .await
                .map_err(to_wit)
        }
    }

    fn bucket_name(&self, bucket: &Resource<Bucket>) -> wasmtime::Result<String> {
        Ok(self.table.get(bucket)?.name.clone())
    }
}

impl store::Host for CapabilityView {
    async fn open(&mut self, identifier: String) -> Answer<Resource<Bucket>> {
        match self
            .kv(KvRequest::Open {
                bucket: identifier.clone(),
            })
            .await
        {
            Ok(_) => Ok(Ok(self.table.push(Bucket { name: identifier })?)),
            Err(e) => Ok(Err(e)),
        }
    }
}

impl store::HostBucket for CapabilityView {
    async fn get(&mut self, bucket: Resource<Bucket>, key: String) -> Answer<Option<Vec<u8>>> {
        let bucket = self.bucket_name(&bucket)?;
        Ok(match self.kv(KvRequest::Get { bucket, key }).await {
            Ok(KvResponse::Value(value)) => Ok(value),
            Ok(other) => Err(unexpected(other)),
            Err(e) => Err(e),
        })
    }

    async fn set(&mut self, bucket: Resource<Bucket>, key: String, value: Vec<u8>) -> Answer<()> {
        let bucket = self.bucket_name(&bucket)?;
        Ok(self
            .kv(KvRequest::Set { bucket, key, value })
            .await
            .map(|_| ()))
    }

    async fn delete(&mut self, bucket: Resource<Bucket>, key: String) -> Answer<()> {
        let bucket = self.bucket_name(&bucket)?;
        Ok(self.kv(KvRequest::Delete { bucket, key }).await.map(|_| ()))
    }

    async fn exists(&mut self, bucket: Resource<Bucket>, key: String) -> Answer<bool> {
        let bucket = self.bucket_name(&bucket)?;
        Ok(match self.kv(KvRequest::Exists { bucket, key }).await {
            Ok(KvResponse::Exists(exists)) => Ok(exists),
            Ok(other) => Err(unexpected(other)),
            Err(e) => Err(e),
        })
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<Bucket>,
        cursor: Option<u64>,
    ) -> Answer<store::KeyResponse> {
        let bucket = self.bucket_name(&bucket)?;
        Ok(
            match self.kv(KvRequest::ListKeys { bucket, cursor }).await {
                Ok(KvResponse::Keys { keys, cursor }) => Ok(store::KeyResponse { keys, cursor }),
                Ok(other) => Err(unexpected(other)),
                Err(e) => Err(e),
            },
        )
    }

    async fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl atomics::Host for CapabilityView {
    async fn increment(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        delta: u64,
    ) -> Answer<u64> {
        let bucket = self.bucket_name(&bucket)?;
        Ok(
            match self.kv(KvRequest::Increment { bucket, key, delta }).await {
                Ok(KvResponse::Count(n)) => Ok(n),
                Ok(other) => Err(unexpected(other)),
                Err(e) => Err(e),
            },
        )
    }
}

impl batch::Host for CapabilityView {
    async fn get_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Answer<Vec<Option<(String, Vec<u8>)>>> {
        let bucket = self.bucket_name(&bucket)?;
        Ok(match self.kv(KvRequest::GetMany { bucket, keys }).await {
            Ok(KvResponse::Values(values)) => Ok(values),
            Ok(other) => Err(unexpected(other)),
            Err(e) => Err(e),
        })
    }

    async fn set_many(
        &mut self,
        bucket: Resource<Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> Answer<()> {
        let bucket = self.bucket_name(&bucket)?;
        Ok(self
            .kv(KvRequest::SetMany {
                bucket,
                items: key_values,
            })
            .await
            .map(|_| ()))
    }

    async fn delete_many(&mut self, bucket: Resource<Bucket>, keys: Vec<String>) -> Answer<()> {
        let bucket = self.bucket_name(&bucket)?;
        Ok(self
            .kv(KvRequest::DeleteMany { bucket, keys })
            .await
            .map(|_| ()))
    }
}
