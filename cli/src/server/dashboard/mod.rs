//! The web dashboard every controller can serve (`--dashboard-port`; `weft
//! up` serves one by default): the cluster at a glance in a browser, with
//! no internet access needed, since the page, its script and its styles
//! are compiled into the binary.
//!
//! The page is plain HTML with one small script module that polls JSON
//! views every second and draws them, charts included, as SVG. The views
//! are read through the same client API the CLI uses (`sampler.rs` keeps
//! the cluster overview and its history; `views.rs` answers the rest on
//! demand), so the dashboard holds no state of its own: a replica's
//! dashboard follows the leader as its client does, and the page moves to
//! another replica's dashboard when its own goes away.
//!
//! The dashboard is read-only except for stopping a job. With tokens on,
//! the browser presents one (kept in an HttpOnly cookie after the sign-in
//! form or a `?token=` link) and each view is admitted as the RPC it reads
//! would be.

mod assets;
mod sampler;
mod views;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use anyhow::Context;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use hyper::{Method, Request, Response, StatusCode};
use tokio::net::TcpListener;
use weft_proto::auth::Keys;

pub use sampler::Sampler;

/// The port `weft up` serves its dashboard on when it is free (Ray's).
pub const DEFAULT_PORT: u16 = 8265;

/// The cookie the browser's token is kept in.
const COOKIE_NAME: &str = "weft_token";

/// The dashboard flags of `weft up` and `weft controller`.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct DashboardArgs {
    /// Serve the web dashboard on this port (0 picks a free one). `weft
    /// up` serves it on 8265, or a free port when 8265 is taken;
    /// `weft controller` serves none without it.
    #[arg(long)]
    dashboard_port: Option<u16>,
    /// Serve no dashboard.
    #[arg(long, conflicts_with = "dashboard_port")]
    no_dashboard: bool,
}

/// A dashboard's listening socket, bound before the controller starts so
/// the controller can report where it is.
pub struct Bound {
    listener: TcpListener,
    /// HTTPS with the node's certificate when the cluster speaks TLS.
    tls: Option<Arc<rustls::ServerConfig>>,
    /// `http://HOST:PORT/` (or https).
    pub url: String,
}

impl DashboardArgs {
    /// Binds the dashboard's port: the one given, else (`default_on`, for
    /// `weft up`) 8265 or any free port. None when it is off.
    pub async fn bind(&self, bind: IpAddr, default_on: bool) -> anyhow::Result<Option<Bound>> {
        if self.no_dashboard {
            return Ok(None);
        }
        let listener = match self.dashboard_port {
            Some(port) => TcpListener::bind(SocketAddr::new(bind, port))
                .await
                .with_context(|| format!("cannot listen for the dashboard on {bind}:{port}"))?,
            None if default_on => {
                match TcpListener::bind(SocketAddr::new(bind, DEFAULT_PORT)).await {
                    Ok(listener) => listener,
                    // Another cluster has it: any port serves as well.
                    Err(_) => TcpListener::bind(SocketAddr::new(bind, 0))
                        .await
                        .context("cannot listen for the dashboard")?,
                }
            }
            None => return Ok(None),
        };
        let tls = weft_proto::tls::process_tls()
            .and_then(|tls| tls.https_server())
            .transpose()?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let local = listener.local_addr()?;
        let host = if local.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            local.ip().to_string()
        };
        let url = if local.is_ipv6() {
            format!("{scheme}://[{host}]:{}/", local.port())
        } else {
            format!("{scheme}://{host}:{}/", local.port())
        };
        Ok(Some(Bound { listener, tls, url }))
    }
}

impl Bound {
    /// Serves the dashboard, reading the cluster through `controller` (this
    /// replica's client address) and admitting browsers with `keys`.
    pub fn serve(self, controller: &str, keys: Arc<Keys>) -> tokio::task::JoinHandle<()> {
        let sampler = Sampler::start(controller.to_string());
        let state = Arc::new(Dashboard { sampler, keys });
        tokio::spawn(crate::server::http_server::serve(
            self.listener,
            self.tls,
            "dashboard",
            move |req| {
                let state = state.clone();
                async move { state.answer(req).await }
            },
        ))
    }
}

/// What every request handler shares.
struct Dashboard {
    sampler: Arc<Sampler>,
    keys: Arc<Keys>,
}

type Reply = Response<Full<Bytes>>;

fn reply(status: StatusCode, kind: &str, body: impl Into<Bytes>) -> Reply {
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, kind)
        .header(CACHE_CONTROL, "no-store")
        .body(Full::new(body.into()))
        .unwrap_or_default()
}

fn json(status: StatusCode, value: &serde_json::Value) -> Reply {
    reply(status, "application/json", value.to_string())
}

fn error(status: StatusCode, message: &str) -> Reply {
    json(status, &serde_json::json!({ "error": message }))
}

/// `name=value` pairs of a query string or form body, decoded.
fn params(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// A query or form value decoded: `+` is a space (forms send it so),
/// then `%XX` escapes.
fn decode(text: &str) -> String {
    weft_host::gateway::percent_decode(&text.replace('+', " "))
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> &'a str {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// The browser's token: its cookie, or an `authorization` header.
fn token_of(req: &Request<Incoming>) -> Option<String> {
    if let Some(value) = req.headers().get(hyper::header::AUTHORIZATION)
        && let Ok(text) = value.to_str()
    {
        return Some(text.to_string());
    }
    req.headers()
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            let (k, v) = c.trim().split_once('=')?;
            (k == COOKIE_NAME).then(|| v.to_string())
        })
}

/// A redirect to `/` that keeps `token` in the browser's cookie.
fn signed_in(token: &str) -> Reply {
    let mut response = reply(StatusCode::SEE_OTHER, "text/plain", "signed in\n");
    let headers = response.headers_mut();
    headers.insert(LOCATION, hyper::header::HeaderValue::from_static("/"));
    if let Ok(cookie) = format!("{COOKIE_NAME}={token}; Path=/; HttpOnly; SameSite=Strict").parse()
    {
        headers.insert(SET_COOKIE, cookie);
    }
    response
}

/// The RPC whose admission rules a view follows.
fn rpc_of(view: &str) -> &'static str {
    match view {
        "jobs/stop" => "/weft.v1.Weft/StopJob",
        "jobs" => "/weft.v1.Weft/ListJobs",
        "actors" => "/weft.v1.Weft/ListActors",
        "groups" => "/weft.v1.Weft/ListPlacementGroups",
        "serve" => "/weft.v1.Weft/GetServeStatus",
        "tune" => "/weft.v1.Weft/ListTune",
        "experiment" => "/weft.v1.Weft/GetTune",
        "tasks" | "task" => "/weft.v1.Weft/ListTasks",
        "logs" => "/weft.v1.Weft/LocateLogs",
        "components" => "/weft.v1.Weft/ListComponents",
        _ => "/weft.v1.Weft/Status",
    }
}

impl Dashboard {
    async fn answer(&self, req: Request<Incoming>) -> Reply {
        let path = req.uri().path().to_string();
        let query = params(req.uri().query().unwrap_or(""));
        if let Some(asset) = assets::get(&path) {
            return reply(StatusCode::OK, asset.kind, asset.body);
        }
        if path == "/login" {
            return self.login(req, &query).await;
        }
        let Some(view) = path.strip_prefix("/api/") else {
            return error(StatusCode::NOT_FOUND, &format!("no {path} here"));
        };
        let view = view.to_string();
        let token = token_of(&req);
        if let Err(status) = self
            .keys
            .admit(rpc_of(&view), token.as_deref().map(str::as_bytes))
        {
            let code = if status.code() == tonic::Code::PermissionDenied {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::UNAUTHORIZED
            };
            return error(code, status.message());
        }
        self.sampler.watched();
        let post = req.method() == Method::POST;
        // A stop must come from the page's own script: a form on another
        // site can send neither this header nor (SameSite) the cookie.
        if post && req.headers().get("x-weft-dashboard").is_none() {
            return error(
                StatusCode::FORBIDDEN,
                "POST needs the x-weft-dashboard header",
            );
        }
        if !post && view == "overview" {
            return json(StatusCode::OK, &self.sampler.overview());
        }
        let result = async {
            let mut client = self.sampler.client().await?;
            match (post, view.as_str()) {
                (false, _) => views::read(&mut client, &view, &query).await,
                (true, "jobs/stop") => views::stop_job(&mut client, param(&query, "id")).await,
                (true, _) => Err(views::ViewError::NotFound(format!("no POST /api/{view}"))),
            }
        }
        .await;
        match result {
            Ok(value) => json(StatusCode::OK, &value),
            Err(e) => error(e.status(), &e.to_string()),
        }
    }

    /// `GET /login?token=T` (a link `weft dashboard` prints) or the sign-in
    /// form's `POST /login`: checks the token, then keeps it in a cookie.
    async fn login(&self, req: Request<Incoming>, query: &[(String, String)]) -> Reply {
        let token = if req.method() == Method::POST {
            let body = match Limited::new(req.into_body(), 4096).collect().await {
                Ok(body) => body.to_bytes(),
                Err(_) => return error(StatusCode::PAYLOAD_TOO_LARGE, "sign-in form too large"),
            };
            param(&params(&String::from_utf8_lossy(&body)), "token").to_string()
        } else {
            param(query, "token").to_string()
        };
        let token = token.trim();
        match self.keys.admit(rpc_of("overview"), Some(token.as_bytes())) {
            Ok(()) => signed_in(token),
            Err(status) => error(StatusCode::UNAUTHORIZED, status.message()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{decode, params};

    #[test]
    fn query_strings_decode() {
        assert_eq!(decode("a%20b+c%2Fd"), "a b c/d");
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%zz"), "%zz");
        let p = params("state=failed&q=fib%28&empty=");
        assert_eq!(p[0], ("state".into(), "failed".into()));
        assert_eq!(p[1], ("q".into(), "fib(".into()));
        assert_eq!(p[2], ("empty".into(), String::new()));
    }
}
