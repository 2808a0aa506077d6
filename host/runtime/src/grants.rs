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

/// The domain under which a guest reaches Serve deployments:
/// `DEPLOYMENT.APP.serve.weft`, no grant needed.
pub const SERVE_DOMAIN: &str = ".serve.weft";

/// The wasi-http hooks of one call: requests to hosts outside the grants
/// are refused with `HTTP-request-denied` before any connection is made;
/// requests to a Serve deployment go through the host's gateway.
pub(crate) struct OutboundHttp {
    grants: Grants,
    tasks: Option<std::sync::Arc<dyn crate::services::TaskServices>>,
}

impl OutboundHttp {
    pub(crate) fn new(
        grants: Grants,
        tasks: Option<std::sync::Arc<dyn crate::services::TaskServices>>,
    ) -> Self {
        OutboundHttp { grants, tasks }
    }
}

/// `app/deployment` for an authority `DEPLOYMENT.APP.serve.weft[:port]`.
fn serve_deployment(authority: &str) -> Option<String> {
    let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
    let host = host.to_ascii_lowercase();
    let (deployment, app) = host.strip_suffix(SERVE_DOMAIN)?.split_once('.')?;
    (!deployment.is_empty() && !app.is_empty() && !app.contains('.'))
        .then(|| format!("{app}/{deployment}"))
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
        if let Some(deployment) = serve_deployment(&authority) {
            let Some(tasks) = self.tasks.clone() else {
                return Box::new(async { Err(HttpError::HttpRequestDenied) });
            };
            return Box::new(async move {
                let response = tasks
                    .serve_call(deployment, request)
                    .await
                    .map_err(|e| HttpError::InternalError(Some(e)))?;
                Ok((
                    response,
                    Box::new(async { Ok(()) })
                        as Box<dyn Future<Output = Result<(), HttpError>> + Send>,
                ))
            });
        }
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

    #[test]
    fn serve_authorities_name_a_deployment() {
        assert_eq!(
            serve_deployment("echo.shop.serve.weft").as_deref(),
            Some("shop/echo")
        );
        assert_eq!(
            serve_deployment("Echo.Shop.serve.weft:80").as_deref(),
            Some("shop/echo")
        );
        assert_eq!(serve_deployment("serve.weft"), None);
        assert_eq!(serve_deployment("a.b.c.serve.weft"), None);
        assert_eq!(serve_deployment("api.example.com"), None);
    }
}
