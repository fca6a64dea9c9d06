//! `wasi:blobstore@0.2.0-draft`: containers and objects of the blobstore
//! provider the component's link names, which must run on this host:
//! values stream between the guest and the provider through the host, so
//! a 1 GiB object never sits in memory. An outgoing value is spooled to an
//! anonymous temporary file as the guest writes it (the guest may write
//! before or after naming the object), and handed to the provider as a
//! stream on `finish`; an incoming value is the provider's reader behind a
//! `wasi:io` input stream.

use std::collections::VecDeque;
use std::io::{Seek, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use futures::future::BoxFuture;
use tokio::io::AsyncReadExt;
use trellis_protocol::LinkName;
use trellis_protocol::link::{InterfaceRef, WitName};
use trellis_provider_sdk::blobstore::{BlobReader, BlobResult, Blobstore, ObjectRef};
use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::p2::pipe::AsyncReadStream;
use wasmtime_wasi::p2::{
    DynInputStream, DynOutputStream, OutputStream, Pollable, StreamError, StreamResult,
};

use super::bindings::wasi::blobstore::{blobstore, container, types};
use crate::capabilities::route::Target;
use crate::capabilities::{CapabilityView, ComponentCaps};

/// Largest object a guest may write (bounds the spool on the host's disk).
pub const MAX_OBJECT_BYTES: u64 = 8 << 30;

/// Largest value `incoming-value-consume-sync` returns in one piece.
pub const MAX_SYNC_BYTES: u64 = 16 << 20;

/// What the guest's blobstore calls see: the component's capabilities and
/// the instance's WASI table, where the streams live.
pub struct BlobView<'a> {
    /// The component's capabilities (for the link).
    pub caps: Arc<ComponentCaps>,
    /// The link name the instance uses for `wasi:blobstore`.
    pub link_name: LinkName,
    /// The WASI resource table of the instance.
    pub table: &'a mut ResourceTable,
}

/// Marker tying the generated `add_to_linker` functions to [`BlobView`].
pub struct HasBlob;

impl wasmtime::component::HasData for HasBlob {
    type Data<'a> = BlobView<'a>;
}

/// Adds `wasi:blobstore` to a linker.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut wasmtime::component::Linker<T>,
    get: fn(&mut T) -> BlobView<'_>,
) -> wasmtime::Result<()> {
    types::add_to_linker::<T, HasBlob>(linker, get)?;
    container::add_to_linker::<T, HasBlob>(linker, get)?;
    blobstore::add_to_linker::<T, HasBlob>(linker, get)?;
    Ok(())
}

/// An open container.
pub struct ContainerHandle {
    name: String,
}

/// Object names being read.
pub struct ObjectNames {
    names: VecDeque<String>,
}

/// A value being written.
pub struct OutgoingBlob {
    spool: Arc<Mutex<std::fs::File>>,
    written: Arc<AtomicU64>,
    body_taken: bool,
    target: Option<ObjectRef>,
}

/// A value being read.
pub struct IncomingBlob {
    size: u64,
    reader: BlobReader,
}

/// The guest's output stream of an outgoing value: each write lands in
/// the spool file before `write` returns, so `finish` sees every byte.
struct SpoolStream {
    spool: Arc<Mutex<std::fs::File>>,
    written: Arc<AtomicU64>,
}

/// Bytes the guest may hand over per write.
const WRITE_BUDGET: usize = 64 << 10;

impl OutputStream for SpoolStream {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        let total = self.written.load(Ordering::Acquire) + bytes.len() as u64;
        if total > MAX_OBJECT_BYTES {
            return Err(StreamError::LastOperationFailed(wasmtime::format_err!(
                "the object would be larger than {MAX_OBJECT_BYTES} bytes"
            )));
        }
        self.spool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .write_all(&bytes)
            .map_err(|e| {
                StreamError::LastOperationFailed(wasmtime::format_err!("spooling: {e}"))
            })?;
        self.written.store(total, Ordering::Release);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_BUDGET)
    }
}

#[async_trait::async_trait]
impl Pollable for SpoolStream {
    async fn ready(&mut self) {}
}

impl CapabilityView {
    /// The blob view of an instance: these capabilities and `table`.
    pub fn blob_view<'a>(&self, table: &'a mut ResourceTable) -> BlobView<'a> {
        BlobView {
            caps: self.caps.clone(),
            link_name: self.link_name_for(&interface()),
            table,
        }
    }
}

fn interface() -> InterfaceRef {
    let name = |s: &str| WitName::new(s).unwrap_or_else(|e| unreachable!("static WIT name: {e}"));
    InterfaceRef::new(name("wasi"), name("blobstore"), name("blobstore"))
}

impl BlobView<'_> {
    /// `call` on the provider behind the component's blobstore link; the
    /// future owns what it needs, so no borrow of the instance (whose
    /// table is not `Sync`) is held across the await.
    fn with_store<T: Send + 'static, F>(&self, call: F) -> BoxFuture<'static, BlobResult<T>>
    where
        F: FnOnce(
            &dyn Blobstore,
            &trellis_protocol::ComponentId,
        ) -> BoxFuture<'static, BlobResult<T>>,
    {
        let caps = &self.caps;
        let source = &caps.component_id;
        let interface = interface();
        let how = || {
            format!(
                "link it to a blobstore provider: trellis link put {source} PROVIDER wasi \
                 blobstore --interface blobstore --interface container --interface types"
            )
        };
        let refused = |e: String| -> BoxFuture<'static, BlobResult<T>> {
            Box::pin(futures::future::ready(Err(e)))
        };
        match caps
            .providers
            .target(source, &self.link_name, &interface, how)
        {
            Err(e) => refused(e),
            Ok(Target::Local(local)) => match local.provider.blobstore() {
                Some(store) => call(store, source),
                None => refused(format!(
                    "{} is not a blobstore provider; link {source} to builtin://blobstore-fs \
                     or builtin://blobstore-nats",
                    local.description.id
                )),
            },
            Ok(Target::Remote(target)) => refused(format!(
                "blobstore provider {target} does not run on this host; blob values stream \
                 in process, so run it on every host that runs {source}"
            )),
        }
    }

    fn container_name(&self, handle: &Resource<ContainerHandle>) -> wasmtime::Result<String> {
        Ok(self.table.get(handle)?.name.clone())
    }

    fn object(
        &self,
        handle: &Resource<ContainerHandle>,
        name: String,
    ) -> wasmtime::Result<ObjectRef> {
        Ok(ObjectRef {
            container: self.container_name(handle)?,
            object: name,
        })
    }
}

type Answer<T> = wasmtime::Result<Result<T, String>>;

impl types::Host for BlobView<'_> {}

impl types::HostOutgoingValue for BlobView<'_> {
    async fn new_outgoing_value(&mut self) -> wasmtime::Result<Resource<OutgoingBlob>> {
        let spool = tempfile::tempfile()
            .map_err(|e| wasmtime::format_err!("cannot make a spool file for a blob: {e}"))?;
        Ok(self.table.push(OutgoingBlob {
            spool: Arc::new(Mutex::new(spool)),
            written: Arc::default(),
            body_taken: false,
            target: None,
        })?)
    }

    async fn outgoing_value_write_body(
        &mut self,
        value: Resource<OutgoingBlob>,
    ) -> wasmtime::Result<Result<Resource<DynOutputStream>, ()>> {
        let value = self.table.get_mut(&value)?;
        if value.body_taken {
            return Ok(Err(()));
        }
        value.body_taken = true;
        let stream: DynOutputStream = Box::new(SpoolStream {
            spool: value.spool.clone(),
            written: value.written.clone(),
        });
        Ok(Ok(self.table.push(stream)?))
    }

    async fn finish(&mut self, value: Resource<OutgoingBlob>) -> Answer<()> {
        let value = self.table.delete(value)?;
        let Some(target) = value.target else {
            return Ok(Err(
                "the value was never given a name: call container.write-data before finish".into(),
            ));
        };
        let reader = {
            let mut spool = value.spool.lock().unwrap_or_else(PoisonError::into_inner);
            spool
                .rewind()
                .and_then(|()| spool.try_clone())
                .map_err(|e| wasmtime::format_err!("rereading the spool: {e}"))?
        };
        let reader: BlobReader = Box::new(tokio::fs::File::from_std(reader));
        Ok(self
            .with_store(|store, source| store.put(source, target, reader))
            .await
            .map(|_| ()))
    }

    async fn drop(&mut self, value: Resource<OutgoingBlob>) -> wasmtime::Result<()> {
        self.table.delete(value)?;
        Ok(())
    }
}

impl types::HostIncomingValue for BlobView<'_> {
    async fn incoming_value_consume_sync(
        &mut self,
        value: Resource<IncomingBlob>,
    ) -> Answer<Vec<u8>> {
        let mut value = self.table.delete(value)?;
        if value.size > MAX_SYNC_BYTES {
            return Ok(Err(format!(
                "the value is {} bytes; read values over {MAX_SYNC_BYTES} bytes with \
                 incoming-value-consume-async",
                value.size
            )));
        }
        let mut bytes = Vec::with_capacity(value.size as usize);
        Ok(value
            .reader
            .read_to_end(&mut bytes)
            .await
            .map(|_| bytes)
            .map_err(|e| format!("reading the value: {e}")))
    }

    async fn incoming_value_consume_async(
        &mut self,
        value: Resource<IncomingBlob>,
    ) -> Answer<Resource<DynInputStream>> {
        let value = self.table.delete(value)?;
        let stream: DynInputStream = Box::new(AsyncReadStream::new(value.reader));
        Ok(Ok(self.table.push(stream)?))
    }

    async fn size(&mut self, value: Resource<IncomingBlob>) -> wasmtime::Result<u64> {
        Ok(self.table.get(&value)?.size)
    }

    async fn drop(&mut self, value: Resource<IncomingBlob>) -> wasmtime::Result<()> {
        self.table.delete(value)?;
        Ok(())
    }
}

impl container::Host for BlobView<'_> {}

impl container::HostContainer for BlobView<'_> {
    async fn name(&mut self, handle: Resource<ContainerHandle>) -> Answer<String> {
        Ok(Ok(self.container_name(&handle)?))
    }

    async fn info(
        &mut self,
        handle: Resource<ContainerHandle>,
    ) -> Answer<types::ContainerMetadata> {
        let name = self.container_name(&handle)?;
        Ok(self
            .with_store(|store, source| store.container_info(source, &name))
            .await
            .map(|info| types::ContainerMetadata {
                name: info.name,
                created_at: info.created_at,
            }))
    }

    async fn get_data(
        &mut self,
        handle: Resource<ContainerHandle>,
        name: String,
        start: u64,
        end: u64,
    ) -> Answer<Resource<IncomingBlob>> {
        let object = self.object(&handle, name)?;
        match self
            .with_store(|store, source| store.get(source, object, start, end))
            .await
        {
            Ok((size, reader)) => Ok(Ok(self.table.push(IncomingBlob { size, reader })?)),
            Err(e) => Ok(Err(e)),
        }
    }

    async fn write_data(
        &mut self,
        handle: Resource<ContainerHandle>,
        name: String,
        value: Resource<OutgoingBlob>,
    ) -> Answer<()> {
        let object = self.object(&handle, name)?;
        if let Err(e) = trellis_provider_sdk::blobstore::check_object_name(&object.object) {
            return Ok(Err(e));
        }
        self.table.get_mut(&value)?.target = Some(object);
        Ok(Ok(()))
    }

    async fn list_objects(
        &mut self,
        handle: Resource<ContainerHandle>,
    ) -> Answer<Resource<ObjectNames>> {
        let name = self.container_name(&handle)?;
        match self
            .with_store(|store, source| store.list(source, &name))
            .await
        {
            Ok(names) => Ok(Ok(self.table.push(ObjectNames {
                names: names.into(),
            })?)),
            Err(e) => Ok(Err(e)),
        }
    }

    async fn delete_object(
        &mut self,
        handle: Resource<ContainerHandle>,
        name: String,
    ) -> Answer<()> {
        self.delete_objects(handle, vec![name]).await
    }

    async fn delete_objects(
        &mut self,
        handle: Resource<ContainerHandle>,
        names: Vec<String>,
    ) -> Answer<()> {
        let container = self.container_name(&handle)?;
        Ok(self
            .with_store(|store, source| store.delete(source, &container, names))
            .await)
    }

    async fn has_object(
        &mut self,
        handle: Resource<ContainerHandle>,
        name: String,
    ) -> Answer<bool> {
        let object = self.object(&handle, name)?;
        if let Err(e) = trellis_provider_sdk::blobstore::check_object_name(&object.object) {
            return Ok(Err(e));
        }
        Ok(Ok(self
            .with_store(|store, source| store.info(source, object))
            .await
            .is_ok()))
    }

    async fn object_info(
        &mut self,
        handle: Resource<ContainerHandle>,
        name: String,
    ) -> Answer<types::ObjectMetadata> {
        let object = self.object(&handle, name)?;
        Ok(self
            .with_store(|store, source| store.info(source, object))
            .await
            .map(|info| types::ObjectMetadata {
                name: info.name,
                container: info.container,
                created_at: info.created_at,
                size: info.size,
            }))
    }

    async fn clear(&mut self, handle: Resource<ContainerHandle>) -> Answer<()> {
        let container = self.container_name(&handle)?;
        let names = match self
            .with_store(|store, source| store.list(source, &container))
            .await
        {
            Ok(names) => names,
            Err(e) => return Ok(Err(e)),
        };
        Ok(self
            .with_store(|store, source| store.delete(source, &container, names))
            .await)
    }

    async fn drop(&mut self, handle: Resource<ContainerHandle>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}

impl container::HostStreamObjectNames for BlobView<'_> {
    async fn read_stream_object_names(
        &mut self,
        names: Resource<ObjectNames>,
        len: u64,
    ) -> Answer<(Vec<String>, bool)> {
        let names = &mut self.table.get_mut(&names)?.names;
        let take = usize::try_from(len).unwrap_or(usize::MAX).min(names.len());
        let page: Vec<String> = names.drain(..take).collect();
        Ok(Ok((page, names.is_empty())))
    }

    async fn skip_stream_object_names(
        &mut self,
        names: Resource<ObjectNames>,
        num: u64,
    ) -> Answer<(u64, bool)> {
        let names = &mut self.table.get_mut(&names)?.names;
        let skip = usize::try_from(num).unwrap_or(usize::MAX).min(names.len());
        names.drain(..skip);
        Ok(Ok((skip as u64, names.is_empty())))
    }

    async fn drop(&mut self, names: Resource<ObjectNames>) -> wasmtime::Result<()> {
        self.table.delete(names)?;
        Ok(())
    }
}

impl blobstore::Host for BlobView<'_> {
    async fn create_container(&mut self, name: String) -> Answer<Resource<ContainerHandle>> {
        match self
            .with_store(|store, source| store.create_container(source, &name))
            .await
        {
            Ok(info) => Ok(Ok(self.table.push(ContainerHandle { name: info.name })?)),
            Err(e) => Ok(Err(e)),
        }
    }

    async fn get_container(&mut self, name: String) -> Answer<Resource<ContainerHandle>> {
        match self
            .with_store(|store, source| store.container_info(source, &name))
            .await
        {
            Ok(info) => Ok(Ok(self.table.push(ContainerHandle { name: info.name })?)),
            Err(e) => Ok(Err(e)),
        }
    }

    async fn delete_container(&mut self, name: String) -> Answer<()> {
        Ok(self
            .with_store(|store, source| store.delete_container(source, &name))
            .await)
    }

    async fn container_exists(&mut self, name: String) -> Answer<bool> {
        Ok(self
            .with_store(|store, source| store.container_exists(source, &name))
            .await)
    }

    async fn copy_object(&mut self, src: types::ObjectId, dest: types::ObjectId) -> Answer<()> {
        let (from, to) = (to_ref(src), to_ref(dest));
        Ok(self
            .with_store(|store, source| store.copy(source, from, to))
            .await)
    }

    async fn move_object(&mut self, src: types::ObjectId, dest: types::ObjectId) -> Answer<()> {
        let (from, to) = (to_ref(src), to_ref(dest));
        Ok(self
            .with_store(|store, source| store.rename(source, from, to))
            .await)
    }
}

fn to_ref(id: types::ObjectId) -> ObjectRef {
    ObjectRef {
        container: id.container,
        object: id.object,
    }
}
