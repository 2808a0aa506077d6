//! `weft:runtime/objects`: a task's guest puts objects, reads them (whole
//! or a range, one copy from the store into its memory), and writes large
//! ones in parts (`writer`). Each reaches the host's store through
//! [`TaskServices`](crate::services::TaskServices).

use wasmtime::component::{HasSelf, Linker, Resource};

use super::generated::weft::runtime::objects;
use super::generated::weft::runtime::types::{Error, ObjectRef};
use super::{ObjectWriter, RuntimeCtx, guest_error};
use crate::services::PutError;

/// Adds `weft:runtime/objects` to `linker`, with its reads served by
/// [`add_one_copy_reads`].
pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut RuntimeCtx,
) -> wasmtime::Result<()> {
    objects::add_to_linker::<T, HasSelf<RuntimeCtx>>(linker, get)?;
    add_one_copy_reads(linker, get, "weft:runtime/objects@0.2.0")
}

/// Defines `objects.get` and `objects.get-range` again, over bindgen's:
/// (of `interface`, the versioned name) they return the object's bytes as a `bytes::Bytes` lent from the arena,
/// which wasmtime lowers straight into the guest's memory (bindgen's
/// `Vec<u8>` would cost a copy of its own first).
pub(super) fn add_one_copy_reads<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut RuntimeCtx,
    interface: &str,
) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut objects = linker.instance(interface)?;
    objects.func_wrap_async(
        "get-range",
        move |mut store, (object, offset, length): (ObjectRef, u64, u64)| {
            Box::new(async move { Ok((get(store.data_mut()).read(object, offset, length).await,)) })
        },
    )?;
    objects.func_wrap_async("get", move |mut store, (object,): (ObjectRef,)| {
        Box::new(async move { Ok((get(store.data_mut()).read(object, 0, u64::MAX).await,)) })
    })?;
    linker.allow_shadowing(false);
    Ok(())
}

impl RuntimeCtx {
    /// Bytes `offset..offset + length` of an object, lent without a copy.
    async fn read(
        &mut self,
        object: ObjectRef,
        offset: u64,
        length: u64,
    ) -> Result<bytes::Bytes, Error> {
        let context = self.task_context("objects.get")?;
        let bytes = context.object(&object.id).await.map_err(guest_error)?;
        Ok(bytes.range(offset, length))
    }
}

impl objects::Host for RuntimeCtx {
    async fn put(&mut self, data: Vec<u8>) -> Result<ObjectRef, Error> {
        let context = self.task_context("objects.put")?;
        let id = context.put(data).await.map_err(put_error)?;
        Ok(ObjectRef { id })
    }

    // The linker serves these two with `RuntimeCtx::read` (one copy, see
    // `add_one_copy_reads`); bindgen's trait still wants them.
    async fn get(&mut self, object: ObjectRef) -> Result<Vec<u8>, Error> {
        self.read(object, 0, u64::MAX).await.map(Vec::from)
    }

    async fn get_range(
        &mut self,
        object: ObjectRef,
        offset: u64,
        length: u64,
    ) -> Result<Vec<u8>, Error> {
        self.read(object, offset, length).await.map(Vec::from)
    }

    async fn size(&mut self, object: ObjectRef) -> Result<u64, Error> {
        let context = self.task_context("objects.size")?;
        let bytes = context.object(&object.id).await.map_err(guest_error)?;
        Ok(bytes.as_slice().len() as u64)
    }

    async fn create(&mut self, size: u64) -> Result<Resource<ObjectWriter>, Error> {
        let context = self.task_context("objects.create")?;
        let writer = context.create(size).await.map_err(put_error)?;
        self.resources
            .push(ObjectWriter(writer))
            .map_err(|e| Error::ResourceExhausted(format!("objects.create: {e}")))
    }
}

impl objects::HostWriter for RuntimeCtx {
    async fn write(
        &mut self,
        writer: Resource<ObjectWriter>,
        offset: u64,
        data: Vec<u8>,
    ) -> Result<(), Error> {
        let writer = self
            .resources
            .get(&writer)
            .map_err(|e| Error::InvalidArgument(format!("writer.write: {e}")))?;
        writer
            .0
            .write(offset, &data)
            .map_err(|e| Error::InvalidArgument(e.to_string()))
    }

    async fn finish(&mut self, writer: Resource<ObjectWriter>) -> Result<ObjectRef, Error> {
        let context = self.task_context("writer.finish")?;
        let writer = self
            .resources
            .delete(writer)
            .map_err(|e| Error::InvalidArgument(format!("writer.finish: {e}")))?;
        let id = context.finish(writer.0).await.map_err(put_error)?;
        Ok(ObjectRef { id })
    }

    async fn drop(&mut self, writer: Resource<ObjectWriter>) -> wasmtime::Result<()> {
        // Unfinished: the room goes back with the writer.
        self.resources.delete(writer)?;
        Ok(())
    }
}

/// A failed put or create as the guest sees it.
fn put_error(e: PutError) -> Error {
    match e {
        PutError::Full(message) => Error::ResourceExhausted(message),
        PutError::Failed(message) => Error::Other(message),
    }
}
