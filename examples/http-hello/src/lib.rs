//! How to run: `weft deploy target/wasm32-wasip2/release/example_http_hello.wasm --name http-hello && weft route add /... http-hello && curl localhost:8080/hello/weft` (with `weft up --http-port 8080`)
//!
//! A `wasi:http/incoming-handler` component with a small router: the same
//! file runs under `weft` routes and under `wasmtime serve`.
//!
//! - `GET /hello/{name}` answers `Hello, {name}!`
//! - `POST /echo` with a JSON body answers `{"received": <body>, "bytes": n}`
//! - anything else is 404.

#![allow(
    unsafe_code,
    reason = "wit-bindgen's generated bindings and exports lift and lower through raw guest memory"
)]
#![allow(
    missing_docs,
    reason = "a guest's interface is its WIT world, documented there"
)]

use std::io::{Read as _, Write as _};

use wasip2::http::types::{
    Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

wasip2::http::proxy::export!(HttpHello);

struct HttpHello;

impl wasip2::exports::http::incoming_handler::Guest for HttpHello {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let path = path.split('?').next().unwrap_or_default().to_string();
        let (status, content_type, body) = match (request.method(), path.as_str()) {
            (Method::Get, p) if p.starts_with("/hello/") && p.len() > "/hello/".len() => (
                200,
                "text/plain",
                format!("Hello, {}!\n", &p["/hello/".len()..]).into_bytes(),
            ),
            (Method::Post, "/echo") => echo(&request),
            _ => (
                404,
                "text/plain",
                format!("nothing at {path}\n").into_bytes(),
            ),
        };
        respond(out, status, content_type, &body);
    }
}

fn echo(request: &IncomingRequest) -> (u16, &'static str, Vec<u8>) {
    let bytes = read_body(request);
    match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Ok(value) => {
            let reply = serde_json::json!({ "received": value, "bytes": bytes.len() });
            (200, "application/json", reply.to_string().into_bytes())
        }
        Err(e) => (
            400,
            "text/plain",
            format!("the body is not JSON: {e}\n").into_bytes(),
        ),
    }
}

fn read_body(request: &IncomingRequest) -> Vec<u8> {
    let mut bytes = Vec::new();
    if let Ok(body) = request.consume() {
        if let Ok(mut stream) = body.stream() {
            let _ = stream.read_to_end(&mut bytes);
        }
        IncomingBody::finish(body);
    }
    bytes
}

fn respond(out: ResponseOutparam, status: u16, content_type: &str, body: &[u8]) {
    let headers =
        Fields::from_list(&[("content-type".to_string(), content_type.as_bytes().to_vec())])
            .unwrap_or_else(|_| Fields::new());
    let response = OutgoingResponse::new(headers);
    let _ = response.set_status_code(status);
    let outgoing = response.body().expect("a fresh response has a body");
    ResponseOutparam::set(out, Ok(response));
    {
        let mut stream = outgoing.write().expect("a fresh body has a stream");
        let _ = stream.write_all(body);
        let _ = stream.flush();
    }
    let _ = OutgoingBody::finish(outgoing, None);
}
