//! The cluster's replicated key-value table from a task client: what a
//! host serves guests' `wasi:keyvalue` buckets with. Reads are
//! linearizable (through the leader), so a guest reads what it wrote.

use weft_proto::v1 as pb;

use crate::{ClientError, TaskClient};

impl TaskClient {
    /// The value of `key` in `namespace`, if any.
    pub async fn kv_get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, ClientError> {
        let request = pb::KvGetRequest {
            namespace: namespace.to_string(),
            key: key.to_string(),
            linearizable: true,
        };
        let reply = self
            .unary(request, |mut c, r| async move { c.kv_get(r).await })
            .await?;
        Ok(reply.found.then_some(reply.value))
    }

    /// Sets `key` in `namespace`, once a quorum holds it.
    pub async fn kv_put(
        &self,
        namespace: &str,
        key: &str,
        value: Vec<u8>,
    ) -> Result<(), ClientError> {
        let request = pb::KvPutRequest {
            namespace: namespace.to_string(),
            key: key.to_string(),
            value,
        };
        self.unary(request, |mut c, r| async move { c.kv_put(r).await })
            .await
            .map(drop)
    }

    /// Adds `delta` to `key`'s count in `namespace` (a missing key counts
    /// from 0) in one replicated step; the count now. Retried after a lost
    /// answer, it is still one increment: the request carries this
    /// connection's write identity.
    pub async fn kv_increment(
        &self,
        namespace: &str,
        key: &str,
        delta: u64,
    ) -> Result<u64, ClientError> {
        let request = pb::KvIncrementRequest {
            namespace: namespace.to_string(),
            key: key.to_string(),
            delta,
        };
        let mut connection = self.shared.rpc.lock().await;
        let write = connection.next_write();
        let reply = connection
            .request(|mut c| {
                let r = write.request(request.clone());
                async move { c.kv_increment(r).await }
            })
            .await?;
        Ok(reply.value)
    }

    /// Removes `key` from `namespace`; whether it was there.
    pub async fn kv_delete(&self, namespace: &str, key: &str) -> Result<bool, ClientError> {
        let request = pb::KvDeleteRequest {
            namespace: namespace.to_string(),
            key: key.to_string(),
        };
        let reply = self
            .unary(request, |mut c, r| async move { c.kv_delete(r).await })
            .await?;
        Ok(reply.existed)
    }

    /// Every key of `namespace`, in order.
    pub async fn kv_keys(&self, namespace: &str) -> Result<Vec<String>, ClientError> {
        let request = pb::KvListRequest {
            namespace: namespace.to_string(),
            prefix: String::new(),
            linearizable: true,
        };
        let reply = self
            .unary(request, |mut c, r| async move { c.kv_list(r).await })
            .await?;
        Ok(reply.entries.into_iter().map(|e| e.key).collect())
    }
}
