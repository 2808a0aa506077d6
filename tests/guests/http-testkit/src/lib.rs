//! A test guest for the HTTP gateway. Paths:
//! `/trap` panics; `/spin` never returns; `/sleep?ms=N` sleeps N ms then
//! answers; `/size` answers the request body's length; `/fetch?url=URL`
//! sends a GET to URL and answers `status N` or `error: ...`;
//! `/sum?n=N` submits `kit.add(i, 0)` for i in 1..=N as tasks, waits for
//! them all and answers `sum S` (a handler using the task API);
//! `/count?actor=NAME` calls `incr()` on the named counter actor and
//! answers `count N` (a handler calling an actor); `/state` answers what
//! this instance holds: the config `reconfigure` gave it, how often it was
//! reconfigured, and how many `/state` requests it served.

#![allow(
    unsafe_code,
    reason = "wit-bindgen's generated bindings and exports lift and lower through raw guest memory"
)]
#![allow(
    missing_docs,
    reason = "a guest's interface is its WIT world, documented there"
)]

use std::io::{Read as _, Write as _};

use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    Fields, IncomingBody, IncomingRequest, OutgoingBody, OutgoingRequest, OutgoingResponse,
    ResponseOutparam, Scheme,
};

wasip2::http::proxy::export!(HttpTestkit);

// Beside the handler, Ray's `reconfigure`: a Serve replica's instance
// calls it with the deployment's user_config before its first request.
wit_bindgen::generate!({
    inline: "
        package weft:http-testkit;

        world configured {
            export reconfigure: func(user-config: string);
        }
    ",
});

export!(HttpTestkit);

struct HttpTestkit;

#[path = "../../testkit/src/instance_state.rs"]
mod instance_state;

impl Guest for HttpTestkit {
    fn reconfigure(user_config: String) {
        instance_state::reconfigure(user_config);
    }
}

impl wasip2::exports::http::incoming_handler::Guest for HttpTestkit {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let full = request.path_with_query().unwrap_or_default();
        let (path, query) = full.split_once('?').unwrap_or((full.as_str(), ""));
        let param = |name: &str| {
            query
                .split('&')
                .find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
                .unwrap_or_default()
                .to_string()
        };
        let body = match path {
            "/trap" => panic!("the handler gave up on purpose"),
            "/spin" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "/sleep" => {
                let ms: u64 = param("ms").parse().unwrap_or(100);
                wasip2::clocks::monotonic_clock::subscribe_duration(ms * 1_000_000).block();
                format!("slept {ms} ms")
            }
            "/size" => {
                let mut bytes = Vec::new();
                if let Ok(body) = request.consume() {
                    if let Ok(mut stream) = body.stream() {
                        let _ = stream.read_to_end(&mut bytes);
                    }
                    IncomingBody::finish(body);
                }
                format!("{}", bytes.len())
            }
            "/say" => {
                // Output, as a handler writes it: stdout and stderr both
                // go to the route's log.
                println!("said {}", param("text"));
                eprint!("(to stderr) ");
                eprintln!("{}", param("text"));
                "ok".to_string()
            }
            "/fetch" => fetch(&param("url")),
            "/sum" => sum(param("n").parse().unwrap_or(10)),
            "/count" => count(&param("actor")),
            "/state" => instance_state::read(),
            other => format!("unknown path {other}"),
        };
        let response = OutgoingResponse::new(Fields::new());
        let outgoing = response.body().expect("body");
        ResponseOutparam::set(out, Ok(response));
        {
            let mut stream = outgoing.write().expect("stream");
            let _ = stream.write_all(body.as_bytes());
            let _ = stream.flush();
        }
        let _ = OutgoingBody::finish(outgoing, None);
    }
}

/// GET `url` (`http://host:port/path`) and describe the outcome.
fn fetch(url: &str) -> String {
    let Some(rest) = url.strip_prefix("http://") else {
        return "error: only http:// URLs".into();
    };
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(a, p)| (a, format!("/{p}")));
    let request = OutgoingRequest::new(Fields::new());
    let _ = request.set_scheme(Some(&Scheme::Http));
    let _ = request.set_authority(Some(authority));
    let _ = request.set_path_with_query(Some(&path));
    match outgoing_handler::handle(request, None) {
        Err(e) => format!("error: {e:?}"),
        Ok(future) => {
            future.subscribe().block();
            match future.get() {
                Some(Ok(Ok(response))) => format!("status {}", response.status()),
                Some(Ok(Err(e))) => format!("error: {e:?}"),
                _ => "error: no response".into(),
            }
        }
    }
}

/// Calls `incr()` on the counter actor named `name`.
fn count(name: &str) -> String {
    let counted = weft_guest::actors::lookup(name, None)
        .and_then(|actor| weft_guest::actors::call_wait::<u64>(&actor, "incr", ()));
    match counted {
        Ok(n) => format!("count {n}"),
        Err(e) => format!("error: {}", e.message()),
    }
}

/// Fans out `n` tasks and adds up their results.
fn sum(n: i64) -> String {
    let refs: Result<Vec<_>, _> = (1..=n)
        .map(|i| weft_guest::tasks::submit("kit", "add", (i, 0)))
        .collect();
    let refs = match refs {
        Ok(refs) => refs,
        Err(e) => return format!("error: {}", e.message()),
    };
    let mut total = 0i64;
    for r in &refs {
        match weft_guest::tasks::get::<i64>(r) {
            Ok(n) => total += n,
            Err(e) => return format!("error: {}", e.message()),
        }
    }
    format!("sum {total}")
}
