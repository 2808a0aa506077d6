//! A Serve deployment's handle for Python: each call blocks its thread
//! with the GIL released, so the Python side runs calls concurrently on a
//! thread pool and gives them Ray's `DeploymentResponse` shape.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use weft_client::ClientError;

use crate::session::{block, raise, seconds};

/// `weft-client`'s handle to one deployment.
#[pyclass(frozen, module = "weft._native")]
pub struct DeploymentHandle(pub(crate) weft_client::DeploymentHandle);

#[pymethods]
impl DeploymentHandle {
    /// Calls a function deployment with `args_json` (a JSON array) and
    /// returns its result as JSON text; `timeout` seconds bound the wait.
    #[pyo3(signature = (args_json, timeout=None))]
    fn call(&self, py: Python<'_>, args_json: &str, timeout: Option<f64>) -> PyResult<String> {
        let args: serde_json::Value = serde_json::from_str(args_json)
            .map_err(|e| PyTypeError::new_err(format!("arguments are not JSON: {e}")))?;
        let call = self.0.call_json(&args);
        let result = match seconds(timeout)? {
            None => block(py, call),
            Some(after) => block(py, async {
                tokio::time::timeout(after, call)
                    .await
                    .unwrap_or(Err(ClientError::Timeout { after, pending: 1 }))
            }),
        };
        result
            .map(|value| value.to_string())
            .map_err(|e| raise(py, e))
    }

    /// Calls a streaming function deployment with `args_json`: the values
    /// it sends, one `next()` at a time.
    fn stream(&self, py: Python<'_>, args_json: &str) -> PyResult<ServeStream> {
        let args: serde_json::Value = serde_json::from_str(args_json)
            .map_err(|e| PyTypeError::new_err(format!("arguments are not JSON: {e}")))?;
        let stream = block(py, self.0.call_stream(&args)).map_err(|e| raise(py, e))?;
        Ok(ServeStream(tokio::sync::Mutex::new(stream)))
    }

    /// Sends an HTTP request to a handler deployment: `(status, body)`.
    fn request<'py>(
        &self,
        py: Python<'py>,
        method: &str,
        path: &str,
        body: Vec<u8>,
    ) -> PyResult<(u16, Bound<'py, PyBytes>)> {
        let reply = block(py, self.0.request(method, path, body)).map_err(|e| raise(py, e))?;
        Ok((reply.status, PyBytes::new(py, &reply.body)))
    }
}

/// The values a streaming deployment sends, as JSON text.
#[pyclass(frozen, module = "weft._native")]
pub struct ServeStream(tokio::sync::Mutex<weft_client::ServeStream>);

#[pymethods]
impl ServeStream {
    /// The next value as JSON text; `None` at the end.
    fn next(&self, py: Python<'_>) -> PyResult<Option<String>> {
        block(py, async { self.0.lock().await.next().await })
            .map(|value| value.map(|v| v.to_string()))
            .map_err(|e| raise(py, e))
    }
}
