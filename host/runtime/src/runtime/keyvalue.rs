//! `wasi:keyvalue` (the store, its atomic increment and its batch
//! operations) over the cluster's replicated key-value table, so a component written for Spin or
//! wasmCloud that keeps data in key-value buckets runs unchanged.
//!
//! A bucket is a namespace of the table: `wasi-keyvalue/<scope>/<bucket>`,
//! where the scope is the guest's job when it runs for one, else its
//! component (by digest), so guests of one job or one component share
//! their buckets and no one else's. Every operation goes to the leader
//! through the host's client: a `set` is acknowledged once replicated.

use wasmtime::component::{HasSelf, Linker, Resource};

use super::RuntimeCtx;
use crate::services::{KvOp, KvReply};

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit/keyvalue",
        world: "wasi:keyvalue/hosted",
        imports: { default: async | trappable },
        with: {
            "wasi:keyvalue/store.bucket": super::Bucket,
        },
        trappable_error_type: {
            "wasi:keyvalue/store.error" => super::KvError,
        },
    });
}

use bindings::wasi::keyvalue::{atomics, batch, store};

/// An open bucket: the table namespace it reads and writes.
pub struct Bucket {
    namespace: String,
}

/// Why an operation failed, before it is a `wasi:keyvalue` error.
pub enum KvError {
    /// The guest is not running as a task (no client to reach the table).
    NoSuchStore,
    /// Anything else, with its message.
    Other(String),
}

impl From<wasmtime::component::ResourceTableError> for KvError {
    fn from(e: wasmtime::component::ResourceTableError) -> Self {
        KvError::Other(e.to_string())
    }
}

/// Keys per `list-keys` page.
const PAGE: usize = 1000;

/// Adds `wasi:keyvalue/store`, `atomics` and `batch` to `linker`.
pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut RuntimeCtx,
) -> wasmtime::Result<()> {
    store::add_to_linker::<T, HasSelf<RuntimeCtx>>(linker, get)?;
    atomics::add_to_linker::<T, HasSelf<RuntimeCtx>>(linker, get)?;
    batch::add_to_linker::<T, HasSelf<RuntimeCtx>>(linker, get)
}

impl RuntimeCtx {
    /// Runs `op` on the table, for bucket `bucket`.
    async fn kv(
        &mut self,
        bucket: &Resource<Bucket>,
        op: impl FnOnce(String) -> KvOp,
    ) -> Result<KvReply, KvError> {
        let namespace = self.resources.get(bucket)?.namespace.clone();
        let tasks = self.tasks.clone().ok_or(KvError::NoSuchStore)?;
        tasks
            .keyvalue(op(namespace))
            .await
            .map_err(|e| KvError::Other(e.to_string()))
    }
}

impl store::Host for RuntimeCtx {
    async fn open(&mut self, identifier: String) -> Result<Resource<Bucket>, KvError> {
        let Some(tasks) = self.tasks.as_ref() else {
            return Err(KvError::NoSuchStore);
        };
        if identifier.contains('/') {
            return Err(KvError::Other(format!(
                "bucket `{identifier}`: a bucket's name holds no `/`"
            )));
        }
        let scope = match tasks.job() {
            "" => format!("component-{}", &self.component),
            job => format!("job-{job}"),
        };
        let bucket = if identifier.is_empty() {
            "default"
        } else {
            identifier.as_str()
        };
        Ok(self.resources.push(Bucket {
            namespace: format!("wasi-keyvalue/{scope}/{bucket}"),
        })?)
    }

    fn convert_error(&mut self, err: KvError) -> wasmtime::Result<store::Error> {
        Ok(match err {
            KvError::NoSuchStore => store::Error::NoSuchStore,
            KvError::Other(e) => store::Error::Other(e),
        })
    }
}

impl store::HostBucket for RuntimeCtx {
    async fn get(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> Result<Option<Vec<u8>>, KvError> {
        match self
            .kv(&bucket, |namespace| KvOp::Get { namespace, key })
            .await?
        {
            KvReply::Value(value) => Ok(value),
            other => Err(unexpected(other)),
        }
    }

    async fn set(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), KvError> {
        self.kv(&bucket, |namespace| KvOp::Set {
            namespace,
            key,
            value,
        })
        .await
        .map(drop)
    }

    async fn delete(&mut self, bucket: Resource<Bucket>, key: String) -> Result<(), KvError> {
        self.kv(&bucket, |namespace| KvOp::Delete { namespace, key })
            .await
            .map(drop)
    }

    async fn exists(&mut self, bucket: Resource<Bucket>, key: String) -> Result<bool, KvError> {
        self.get(bucket, key).await.map(|v| v.is_some())
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<Bucket>,
        cursor: Option<u64>,
    ) -> Result<store::KeyResponse, KvError> {
        let keys = match self
            .kv(&bucket, |namespace| KvOp::List { namespace })
            .await?
        {
            KvReply::Keys(keys) => keys,
            other => return Err(unexpected(other)),
        };
        let start = usize::try_from(cursor.unwrap_or(0))
            .unwrap_or(usize::MAX)
            .min(keys.len());
        let end = (start + PAGE).min(keys.len());
        Ok(store::KeyResponse {
            keys: keys[start..end].to_vec(),
            cursor: (end < keys.len()).then_some(end as u64),
        })
    }

    async fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.resources.delete(bucket)?;
        Ok(())
    }
}

impl atomics::Host for RuntimeCtx {
    async fn increment(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        delta: u64,
    ) -> Result<u64, KvError> {
        match self
            .kv(&bucket, |namespace| KvOp::Increment {
                namespace,
                key,
                delta,
            })
            .await?
        {
            KvReply::Count(value) => Ok(value),
            other => Err(unexpected(other)),
        }
    }
}

impl batch::Host for RuntimeCtx {
    async fn get_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Result<Vec<Option<(String, Vec<u8>)>>, KvError> {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let b = Resource::new_borrow(bucket.rep());
            let value = store::HostBucket::get(self, b, key.clone()).await?;
            out.push(value.map(|v| (key, v)));
        }
        Ok(out)
    }

    async fn set_many(
        &mut self,
        bucket: Resource<Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> Result<(), KvError> {
        for (key, value) in key_values {
            let b = Resource::new_borrow(bucket.rep());
            store::HostBucket::set(self, b, key, value).await?;
        }
        Ok(())
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Result<(), KvError> {
        for key in keys {
            let b = Resource::new_borrow(bucket.rep());
            store::HostBucket::delete(self, b, key).await?;
        }
        Ok(())
    }
}

fn unexpected(reply: KvReply) -> KvError {
    KvError::Other(format!("the key-value table answered {reply:?}"))
}
