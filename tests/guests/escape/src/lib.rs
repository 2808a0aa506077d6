//! A guest written to misbehave: it tries every way out of its sandbox a
//! program has (the file system, the environment, sockets, name lookups,
//! the stack) and reports what the host let it do. The sandbox tests
//! (`tests/e2e/sandbox.rs`) expect every attempt refused.

#![allow(
    unsafe_code,
    reason = "wit-bindgen's generated bindings and exports lift and lower through raw guest memory"
)]
#![allow(
    missing_docs,
    reason = "a guest's interface is its WIT world, documented there"
)]

wit_bindgen::generate!({
    path: "wit",
    world: "weft:escape/escape",
});

use std::io::{Read, Write};

struct Escape;

fn outcome<T: std::fmt::Debug, E: std::fmt::Display>(attempt: Result<T, E>) -> String {
    match attempt {
        Ok(got) => format!("escaped: {got:?}"),
        Err(e) => format!("refused: {e}"),
    }
}

impl Guest for Escape {
    fn read_file(path: String) -> String {
        outcome(std::fs::File::open(&path).and_then(|mut f| {
            let mut text = String::new();
            f.read_to_string(&mut text).map(|_| text.len())
        }))
    }

    fn list_dir(path: String) -> String {
        outcome(std::fs::read_dir(&path).map(|entries| entries.count()))
    }

    fn write_file(path: String) -> String {
        outcome(std::fs::File::create(&path).and_then(|mut f| f.write_all(b"escaped")))
    }

    fn env_vars() -> Vec<String> {
        std::env::vars().map(|(k, v)| format!("{k}={v}")).collect()
    }

    fn tcp_connect(addr: String) -> String {
        outcome(std::net::TcpStream::connect(&addr).map(|s| s.peer_addr().ok()))
    }

    fn udp_bind(addr: String) -> String {
        outcome(std::net::UdpSocket::bind(&addr).and_then(|s| {
            let me = s.local_addr()?;
            s.send_to(b"out", me)
        }))
    }

    fn dns_lookup(name: String) -> String {
        use std::net::ToSocketAddrs;
        outcome(
            name.to_socket_addrs()
                .map(|found| found.collect::<Vec<_>>()),
        )
    }

    fn recurse(depth: u64) -> u64 {
        // A frame the optimiser cannot fold away: each level keeps a
        // buffer and adds after the call returns.
        let frame = std::hint::black_box([depth as u8; 256]);
        if depth == 0 {
            return u64::from(frame[0]);
        }
        Self::recurse(std::hint::black_box(depth - 1)) + u64::from(frame[255] & 1)
    }
}

export!(Escape);
