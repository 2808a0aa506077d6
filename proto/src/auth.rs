//! Who may call what. A cluster started with a token refuses every RPC
//! that does not carry it (`authorization: Bearer TOKEN`): clients, hosts,
//! host-to-host transfers and Raft peers alike. It may also have an invoke
//! token, which runs work (calls, tasks, objects, actor calls, logs) but
//! cannot change the cluster (deploys, routes, key-value writes,
//! membership, kills, joining as a host or a peer).
//!
//! Servers wrap their routes in a [`GuardLayer`]; clients attach a
//! [`Bearer`] to their channels. The token a client sends is, in order:
//! its process's own ([`set_token`]: a host's or controller's
//! `--auth-token-file`, the CLI's `--token-file`), `WEFT_TOKEN`, the file
//! named by `WEFT_TOKEN_FILE`, or the token `weft up` left for its
//! address in `~/.weft/tokens/`.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};

use tonic::codegen::http;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::{Request, Status};
use tower_layer::Layer;
use tower_service::Service;

/// The header a token travels in.
pub const HEADER: &str = "authorization";

/// The RPCs that change the cluster: an invoke token may not make them.
/// (Every RPC of the Raft peers' service is one too.)
const ADMIN_ONLY: &[&str] = &[
    "/weft.v1.Weft/Deploy",
    "/weft.v1.Weft/DeployChunks",
    "/weft.v1.Weft/Prepare",
    "/weft.v1.Weft/DeleteComponent",
    "/weft.v1.Weft/KvPut",
    "/weft.v1.Weft/KvDelete",
    "/weft.v1.Weft/KvIncrement",
    "/weft.v1.Weft/AddMember",
    "/weft.v1.Weft/RemoveMember",
    "/weft.v1.Weft/AddRoute",
    "/weft.v1.Weft/RemoveRoute",
    "/weft.v1.Weft/HostSession",
    "/weft.v1.Weft/FetchComponent",
    "/weft.v1.Weft/KillActor",
    "/weft.v1.Weft/RemovePlacementGroup",
    "/weft.v1.Weft/PutSecret",
    "/weft.v1.Weft/ListSecrets",
    "/weft.v1.Weft/DeleteSecret",
    "/weft.v1.Weft/ReadSecrets",
    "/weft.v1.Weft/SetRuntimeEnv",
    "/weft.v1.Weft/DeployServeApp",
    "/weft.v1.Weft/DeleteServeApp",
];

/// Whether the RPC at `path` (`/package.Service/Method`) needs the admin
/// token.
pub fn admin_only(path: &str) -> bool {
    path.starts_with("/weft.raft.") || ADMIN_ONLY.contains(&path)
}

/// Compares two secrets in time that depends only on their lengths.
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// The tokens a server accepts; none means it accepts every caller.
#[derive(Debug, Clone, Default)]
pub struct Keys {
    admin: Option<String>,
    invoke: Option<String>,
}

impl Keys {
    /// Keys that admit `admin` to everything and `invoke` to running work;
    /// without `admin`, everyone is admitted.
    pub fn new(admin: Option<String>, invoke: Option<String>) -> Self {
        let admin = admin.filter(|t| !t.is_empty());
        let invoke = invoke.filter(|t| !t.is_empty() && admin.is_some());
        Keys { admin, invoke }
    }

    /// Whether callers need a token.
    pub fn required(&self) -> bool {
        self.admin.is_some()
    }

    /// Whether `token` (as sent, `Bearer ...` or bare) may make the RPC at
    /// `path`; the refusal says why without saying what was expected.
    pub fn admit(&self, path: &str, token: Option<&[u8]>) -> Result<(), Status> {
        let Some(admin) = &self.admin else {
            return Ok(());
        };
        let Some(token) = token else {
            return Err(Status::unauthenticated(format!(
                "{path} needs a token: this weft cluster requires one \
                 (WEFT_TOKEN, --token-file, or the file `weft up` wrote in ~/.weft/tokens)"
            )));
        };
        let token = token.strip_prefix(b"Bearer ").unwrap_or(token);
        if same_secret(token, admin.as_bytes()) {
            return Ok(());
        }
        if let Some(invoke) = &self.invoke
            && same_secret(token, invoke.as_bytes())
        {
            if admin_only(path) {
                return Err(Status::permission_denied(format!(
                    "{path} changes the cluster: the invoke token may not call it, the admin token may"
                )));
            }
            return Ok(());
        }
        Err(Status::unauthenticated(format!(
            "{path}: wrong token for this weft cluster"
        )))
    }
}

/// Wraps a server's routes in a [`Guard`].
#[derive(Debug, Clone)]
pub struct GuardLayer(Arc<Keys>);

impl GuardLayer {
    /// A layer that admits callers by `keys`.
    pub fn new(keys: Arc<Keys>) -> Self {
        GuardLayer(keys)
    }
}

impl<S> Layer<S> for GuardLayer {
    type Service = Guard<S>;

    fn layer(&self, inner: S) -> Guard<S> {
        Guard {
            inner,
            keys: self.0.clone(),
        }
    }
}

/// A server's routes behind its keys: a refused call is answered with
/// its status and never reaches a service, so it costs no state.
#[derive(Debug, Clone)]
pub struct Guard<S> {
    inner: S,
    keys: Arc<Keys>,
}

impl<S, B> Service<http::Request<B>> for Guard<S>
where
    S: Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let token = request.headers().get(HEADER).map(|v| v.as_bytes());
        match self.keys.admit(request.uri().path(), token) {
            Ok(()) => Box::pin(self.inner.call(request)),
            Err(status) => Box::pin(std::future::ready(Ok(status.into_http()))),
        }
    }
}

/// Adds a token to every request of a client.
#[derive(Debug, Clone, Default)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl Bearer {
    /// Sends `token`, if any.
    pub fn new(token: Option<&str>) -> Self {
        Bearer(token.and_then(|t| format!("Bearer {t}").parse().ok()))
    }

    /// Sends the token this process has for `address` (see the module's
    /// docs).
    pub fn for_address(address: &str) -> Self {
        Bearer::new(token_for(address).as_deref())
    }
}

impl Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(token) = &self.0 {
            request.metadata_mut().insert(HEADER, token.clone());
        }
        Ok(request)
    }
}

/// A client's channel with its token.
pub type Authed<T> = tonic::service::interceptor::InterceptedService<T, Bearer>;

/// A channel to a weft server, with the token this process sends it.
pub type AuthedChannel = Authed<tonic::transport::Channel>;

/// The token this process was given, and the last one found for an
/// address (used for the hosts and actor lanes of the same cluster).
static PROCESS_TOKEN: RwLock<Option<String>> = RwLock::new(None);
static LAST_FOUND: RwLock<Option<String>> = RwLock::new(None);

/// Gives this process its token: every client channel it opens sends it.
pub fn set_token(token: Option<String>) {
    *PROCESS_TOKEN.write().unwrap_or_else(|p| p.into_inner()) = token.filter(|t| !t.is_empty());
}

/// Where `weft up` leaves its token for clients on this machine that
/// reach it at `address`.
pub fn local_token_path(address: &str) -> Option<PathBuf> {
    local_path("tokens", address)
}

/// `~/.weft/KIND/ADDRESS`, the address made a file name: where `weft up`
/// leaves what local clients need to reach it.
pub(crate) fn local_path(kind: &str, address: &str) -> Option<PathBuf> {
    let home = std::env::var_os("HOME")?;
    let name: String = address
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Some(PathBuf::from(home).join(".weft").join(kind).join(name))
}

fn read_token(path: impl AsRef<std::path::Path>) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    Some(text.trim().to_string()).filter(|t| !t.is_empty())
}

/// The token to send to `address` (see the module's docs).
pub fn token_for(address: &str) -> Option<String> {
    if let Some(token) = PROCESS_TOKEN
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
    {
        return Some(token);
    }
    if let Some(token) = std::env::var("WEFT_TOKEN").ok().filter(|t| !t.is_empty()) {
        return Some(token);
    }
    if let Some(file) = std::env::var_os("WEFT_TOKEN_FILE") {
        return read_token(file);
    }
    match local_token_path(address).and_then(read_token) {
        Some(token) => {
            *LAST_FOUND.write().unwrap_or_else(|p| p.into_inner()) = Some(token.clone());
            Some(token)
        }
        None => LAST_FOUND.read().unwrap_or_else(|p| p.into_inner()).clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_admit_by_role() {
        let keys = Keys::new(Some("root".into()), Some("user".into()));
        let deploy = "/weft.v1.Weft/Deploy";
        let call = "/weft.v1.Weft/Call";
        assert!(keys.admit(deploy, Some(b"Bearer root")).is_ok());
        assert!(keys.admit(call, Some(b"Bearer user")).is_ok());
        let denied = keys.admit(deploy, Some(b"Bearer user")).unwrap_err();
        assert_eq!(denied.code(), tonic::Code::PermissionDenied);
        let raft = keys.admit("/weft.raft.v1.RaftPeer/Vote", Some(b"Bearer user"));
        assert_eq!(raft.unwrap_err().code(), tonic::Code::PermissionDenied);
        let wrong = keys.admit(call, Some(b"Bearer nope")).unwrap_err();
        assert_eq!(wrong.code(), tonic::Code::Unauthenticated);
        assert!(
            wrong.message().contains("wrong token"),
            "{}",
            wrong.message()
        );
        let missing = keys.admit(call, None).unwrap_err();
        assert_eq!(missing.code(), tonic::Code::Unauthenticated);
        assert!(Keys::default().admit(deploy, None).is_ok());
        // An invoke token without an admin token admits nobody special.
        assert!(!Keys::new(None, Some("user".into())).required());
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"ab"));
    }
}
