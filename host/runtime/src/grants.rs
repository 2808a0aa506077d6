//! Capabilities a component's deploy manifest grants beyond the sandbox.
//! Today: outbound HTTP to listed hosts. Everything else stays denied.

use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// What a component may do beyond the default sandbox.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// Hosts (`name` or `name:port`) the component may send HTTP requests
    /// to. Empty: no outbound HTTP at all.
    pub http_hosts: Vec<String>,
}

impl Grants {
    /// Whether a request to `authority` (`host` or `host:port`) is allowed:
    /// a grant of `host` allows any port, `host:port` only that port.
    pub fn allows_http(&self, authority: &str) -> bool {
        let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
        self.http_hosts.iter().any(|g| {
            g.eq_ignore_ascii_case(authority) || (!g.contains(':') && g.eq_ignore_ascii_case(host))
        })
    }
}

/// The wasi-http hooks of one call: requests to hosts outside the grants
/// are refused with `HTTP-request-denied` before any connection is made.
pub(crate) struct OutboundHttp {
    grants: Grants,
}

impl OutboundHttp {
    pub(crate) fn new(grants: Grants) -> Self {
        OutboundHttp { grants }
    }
}

type SendFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                ),
                HttpError,
            >,
        > + Send,
>;

impl WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> SendFuture {
        let authority = request
            .uri()
            .authority()
            .map(|a| a.to_string())
            .unwrap_or_default();
        if !self.grants.allows_http(&authority) {
            tracing::warn!(%authority, "outbound HTTP refused: not granted to this component");
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = Result<(), HttpError>> + Send>,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_match_hosts_and_ports() {
        let g = Grants {
            http_hosts: vec!["api.example.com".into(), "127.0.0.1:8080".into()],
        };
        assert!(g.allows_http("api.example.com"));
        assert!(g.allows_http("API.example.com:443"));
        assert!(g.allows_http("127.0.0.1:8080"));
        assert!(!g.allows_http("127.0.0.1:9090"));
        assert!(!g.allows_http("evil.example.com"));
        assert!(!Grants::default().allows_http("api.example.com"));
    }
}
