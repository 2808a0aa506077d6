//! Handles to Serve deployments: a driver calls a deployment through a
//! host's HTTP gateway (`/v1/serve/APP/DEPLOYMENT`), which routes the call
//! to a replica as it routes any request (power of two choices, the
//! deployment's queue and its 503 past `max_queued_requests`, batching),
//! so a call from a driver is placed and counted as one from outside is.
//!
//! The gateways are every live host's, taken in turn; one that cannot be
//! reached is skipped for the next. Connections are pooled (HTTPS with the
//! cluster's CA where the gateways speak it).

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::{Client, ClientError};

/// A deployment of a Serve application, callable from this process.
#[derive(Clone)]
pub struct DeploymentHandle {
    app: String,
    deployment: String,
    gateways: Vec<String>,
    next: std::sync::Arc<AtomicUsize>,
    https: bool,
    token: Option<String>,
    http: reqwest::Client,
}

/// What a handler deployment answered.
#[derive(Debug, Clone)]
pub struct ServeReply {
    /// The HTTP status.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

impl Client {
    /// A handle to `deployment` of Serve application `app`, once the leader
    /// knows it and some live host serves HTTP.
    pub async fn deployment_handle(
        &mut self,
        app: &str,
        deployment: &str,
    ) -> Result<DeploymentHandle, ClientError> {
        let statuses = self.serve_status(app).await?;
        let known = statuses
            .iter()
            .flat_map(|s| &s.deployments)
            .any(|d| d.name == deployment);
        if !known {
            return Err(ClientError::Rpc(tonic::Status::not_found(format!(
                "Serve application {app} has no deployment {deployment} (see `weft serve status`)"
            ))));
        }
        let gateways: Vec<String> = self
            .list_nodes()
            .await?
            .into_iter()
            .filter(|n| n.alive)
            .filter_map(|n| n.engine.map(|e| e.http_address))
            .filter(|a| !a.is_empty())
            .collect();
        if gateways.is_empty() {
            return Err(ClientError::NoHost(
                "no live host serves HTTP: handles reach deployments through a host's \
                 gateway (start hosts with --http-port)"
                    .into(),
            ));
        }
        let address = self.current_address().to_string();
        let tls = weft_proto::tls::tls_for(&address)
            .map_err(|e| ClientError::Local(format!("TLS settings for {address}: {e}")))?;
        Ok(DeploymentHandle {
            app: app.to_string(),
            deployment: deployment.to_string(),
            gateways,
            next: Default::default(),
            https: tls.is_some(),
            token: weft_proto::auth::token_for(&address),
            http: weft_core::gateway::client(tls.as_deref()),
        })
    }
}

impl DeploymentHandle {
    /// The application's name.
    pub fn app(&self) -> &str {
        &self.app
    }

    /// The deployment's name.
    pub fn deployment(&self) -> &str {
        &self.deployment
    }

    /// Calls a function deployment with its arguments (a JSON array) and
    /// returns its JSON result; a failure names the status and why.
    pub async fn call_json(
        &self,
        args: &serde_json::Value,
    ) -> Result<serde_json::Value, ClientError> {
        let body = self.arguments(args)?;
        let reply = self.send(reqwest::Method::POST, "", body).await?;
        if reply.status != 200 {
            return Err(self.failed(&reply));
        }
        serde_json::from_slice(&reply.body).map_err(|e| {
            ClientError::Unreadable(format!(
                "{}/{} answered something that is not JSON: {e}",
                self.app, self.deployment
            ))
        })
    }

    /// Calls a streaming function deployment (`stream: true`): the values
    /// it emits, each as it comes, then its result (when it has one).
    pub async fn call_stream(&self, args: &serde_json::Value) -> Result<ServeStream, ClientError> {
        let body = self.arguments(args)?;
        let (response, gateway) = self.open(reqwest::Method::POST, "", body).await?;
        let status = response.status().as_u16();
        if status != 200 {
            let body = response.bytes().await.unwrap_or_default().to_vec();
            return Err(self.failed(&ServeReply { status, body }));
        }
        Ok(ServeStream {
            what: format!("{}/{} through {gateway}", self.app, self.deployment),
            response,
            buffer: Vec::new(),
        })
    }

    /// Sends an HTTP request to a handler deployment at `path` (with its
    /// query); its status and body, whatever the status.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
    ) -> Result<ServeReply, ClientError> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).map_err(|_| {
            ClientError::InvalidArgument(format!("`{method}` is not an HTTP method"))
        })?;
        self.send(method, path.trim_start_matches('/'), body).await
    }

    /// `args`, a JSON array, as a request's body.
    fn arguments(&self, args: &serde_json::Value) -> Result<Vec<u8>, ClientError> {
        if !args.is_array() {
            return Err(ClientError::InvalidArgument(format!(
                "the arguments to {}/{} are a JSON array, not {args}",
                self.app, self.deployment
            )));
        }
        Ok(serde_json::to_vec(args).expect("a JSON value serializes"))
    }

    /// One request, its whole answer read.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Vec<u8>,
    ) -> Result<ServeReply, ClientError> {
        let (response, gateway) = self.open(method, path, body).await?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(|e| {
            ClientError::HolderUnavailable(format!(
                "the answer of {}/{} from {gateway} was cut: {e}",
                self.app, self.deployment
            ))
        })?;
        Ok(ServeReply {
            status,
            body: body.to_vec(),
        })
    }

    /// One request, to the next gateway in turn (a gateway that cannot be
    /// reached, so nothing was sent, is passed over for the next): the
    /// response, its body unread, and the gateway that answered.
    async fn open(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Vec<u8>,
    ) -> Result<(reqwest::Response, &str), ClientError> {
        let escape = |s: &str| {
            s.bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect::<String>()
        };
        let target = format!(
            "/v1/serve/{}/{}/{path}",
            escape(&self.app),
            escape(&self.deployment)
        );
        let first = self.next.fetch_add(1, Ordering::Relaxed);
        let mut last = String::new();
        for i in 0..self.gateways.len() {
            let gateway = &self.gateways[(first + i) % self.gateways.len()];
            let url = weft_core::gateway::url(gateway, self.https, &target);
            let mut request = self.http.request(method.clone(), url).body(body.clone());
            if let Some(token) = &self.token {
                request = request.bearer_auth(token);
            }
            match request.send().await {
                Ok(response) => return Ok((response, gateway.as_str())),
                Err(e) if e.is_connect() => last = format!("{gateway}: {e}"),
                Err(e) => {
                    return Err(ClientError::HolderUnavailable(format!(
                        "{}/{} through {gateway}: {e}",
                        self.app, self.deployment
                    )));
                }
            }
        }
        Err(ClientError::NoHost(format!(
            "no gateway could be reached for {}/{} (last: {last})",
            self.app, self.deployment
        )))
    }

    /// The error of a call answered with a failure: the gateway's JSON
    /// `error`, else the body's text.
    fn failed(&self, reply: &ServeReply) -> ClientError {
        let message = serde_json::from_slice::<serde_json::Value>(&reply.body)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&reply.body).into_owned());
        ClientError::Serve {
            status: reply.status,
            message: format!(
                "{}/{} answered {}: {message}",
                self.app, self.deployment, reply.status
            ),
        }
    }
}

/// The values a streaming deployment sends, as they come.
pub struct ServeStream {
    what: String,
    response: reqwest::Response,
    /// Bytes of a line not yet ended.
    buffer: Vec<u8>,
}

impl ServeStream {
    /// The next value; `None` once the deployment's call has ended. A call
    /// that failed after its first value cuts the stream: an error.
    pub async fn next(&mut self) -> Result<Option<serde_json::Value>, ClientError> {
        loop {
            if let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                return serde_json::from_slice(&line[..end]).map(Some).map_err(|e| {
                    ClientError::Unreadable(format!(
                        "{} sent a line that is not JSON: {e}",
                        self.what
                    ))
                });
            }
            let chunk = self
                .response
                .chunk()
                .await
                .map_err(|e| ClientError::Serve {
                    status: 500,
                    message: format!("{} stopped before its end: {e}", self.what),
                })?;
            match chunk {
                Some(bytes) => self.buffer.extend_from_slice(&bytes),
                None if self.buffer.iter().all(u8::is_ascii_whitespace) => return Ok(None),
                None => {
                    return Err(ClientError::Unreadable(format!(
                        "{} ended in the middle of a line",
                        self.what
                    )));
                }
            }
        }
    }
}
