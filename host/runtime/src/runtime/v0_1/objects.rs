//! `weft:runtime/objects@0.1.0`: the current `objects`, function for
//! function (the types and the `writer` resource are the same).

use wasmtime::component::Resource;

use super::old::objects;
use crate::runtime::generated::weft::runtime::objects as current;
use crate::runtime::generated::weft::runtime::types::{Error, ObjectRef};
use crate::runtime::{ObjectWriter, RuntimeCtx};

impl objects::Host for RuntimeCtx {
    async fn put(&mut self, data: Vec<u8>) -> Result<ObjectRef, Error> {
        current::Host::put(self, data).await
    }

    async fn get(&mut self, object: ObjectRef) -> Result<Vec<u8>, Error> {
        current::Host::get(self, object).await
    }

    async fn get_range(
        &mut self,
        object: ObjectRef,
        offset: u64,
        length: u64,
    ) -> Result<Vec<u8>, Error> {
        current::Host::get_range(self, object, offset, length).await
    }

    async fn size(&mut self, object: ObjectRef) -> Result<u64, Error> {
        current::Host::size(self, object).await
    }

    async fn create(&mut self, size: u64) -> Result<Resource<ObjectWriter>, Error> {
        current::Host::create(self, size).await
    }
}

impl objects::HostWriter for RuntimeCtx {
    async fn write(
        &mut self,
        writer: Resource<ObjectWriter>,
        offset: u64,
        data: Vec<u8>,
    ) -> Result<(), Error> {
        current::HostWriter::write(self, writer, offset, data).await
    }

    async fn finish(&mut self, writer: Resource<ObjectWriter>) -> Result<ObjectRef, Error> {
        current::HostWriter::finish(self, writer).await
    }

    async fn drop(&mut self, writer: Resource<ObjectWriter>) -> wasmtime::Result<()> {
        current::HostWriter::drop(self, writer).await
    }
}
