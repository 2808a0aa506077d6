//! A test guest for weft's own tests: every WIT value type, and guests that
//! misbehave on purpose (trap, spin, eat memory, chatter).

#![allow(
    unsafe_code,
    reason = "wit-bindgen's generated bindings and exports lift and lower through raw guest memory"
)]
#![allow(
    missing_docs,
    reason = "a guest's interface is its WIT world, documented there"
)]

wit_bindgen::generate!({
    path: ["../../../wit", "wit"],
    world: "weft:testkit/testkit",
    with: {
        "weft:runtime/types@0.2.0": weft_guest::bindings::weft::runtime::types,
        "weft:runtime/log@0.2.0": weft_guest::bindings::weft::runtime::log,
        "weft:runtime/objects@0.2.0": weft_guest::bindings::weft::runtime::objects,
        "weft:runtime/tasks@0.2.0": weft_guest::bindings::weft::runtime::tasks,
        "weft:runtime/actors@0.2.0": weft_guest::bindings::weft::runtime::actors,
    },
});

use exports::weft::testkit::values::{self, Color, Numbers, Perms, Point, Shape};

struct Testkit;

mod instance_state;

impl values::Guest for Testkit {
    fn echo_bool(v: bool) -> bool {
        v
    }
    fn echo_numbers(v: Numbers) -> Numbers {
        v
    }
    fn echo_char(v: char) -> char {
        v
    }
    fn echo_string(v: String) -> String {
        v
    }
    fn echo_bytes(v: Vec<u8>) -> Vec<u8> {
        v
    }
    fn echo_strings(v: Vec<String>) -> Vec<String> {
        v
    }
    fn echo_point(v: Point) -> Point {
        v
    }
    fn echo_shape(v: Shape) -> Shape {
        v
    }
    fn echo_color(v: Color) -> Color {
        v
    }
    fn echo_perms(v: Perms) -> Perms {
        v
    }
    fn echo_option(v: Option<u32>) -> Option<u32> {
        v
    }
    fn echo_result(v: Result<String, u32>) -> Result<String, u32> {
        v
    }
    fn echo_tuple(v: (u8, String, bool)) -> (u8, String, bool) {
        v
    }
    fn echo_nested(v: Vec<Option<Point>>) -> Vec<Option<Point>> {
        v
    }
}

impl Guest for Testkit {
    fn add(a: i32, b: i32) -> i32 {
        a.wrapping_add(b)
    }

    fn nothing() {}

    fn tally() -> u64 {
        static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1
    }

    fn fail(message: String) -> String {
        panic!("{message}")
    }

    fn spin() -> u64 {
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }

    fn zeros(megabytes: u32) -> String {
        "0".repeat(megabytes as usize * (1 << 20))
    }

    fn busy(millis: u32) -> u32 {
        let until = std::time::Instant::now() + std::time::Duration::from_millis(millis.into());
        while std::time::Instant::now() < until {
            std::hint::black_box(0u64);
        }
        millis
    }

    fn hog(megabytes: u32) -> u32 {
        let mut chunks = Vec::new();
        for _ in 0..megabytes {
            let mut chunk = vec![0u8; 1 << 20];
            chunk[0] = 1;
            chunk[(1 << 20) - 1] = 1;
            chunks.push(chunk);
        }
        std::hint::black_box(&chunks);
        chunks.len() as u32
    }

    fn chatter(lines: u32) -> u32 {
        for i in 0..lines {
            println!("line {i} of some chatter from the guest");
        }
        lines
    }

    fn drip(lines: u32, millis: u32) -> u32 {
        for i in 0..lines {
            println!("drip {i}");
            std::thread::sleep(std::time::Duration::from_millis(u64::from(millis)));
        }
        lines
    }

    fn try_objects() -> String {
        match weft_guest::objects::put(b"data") {
            Ok(r) => match weft_guest::objects::size(&r) {
                Ok(size) => format!("stored {} ({size} bytes)", r.id),
                Err(e) => e.message().to_string(),
            },
            Err(e) => e.message().to_string(),
        }
    }

    fn checksum(object: ObjectRef) -> u64 {
        let size = weft_guest::objects::size(&object).expect("the object's size");
        let mut hash = FNV_OFFSET;
        let mut at = 0;
        while at < size {
            let chunk = weft_guest::objects::get_range(&object, at, 4 << 20).expect("a range");
            assert!(!chunk.is_empty(), "an empty range at {at} of {size}");
            hash = fnv(hash, &chunk);
            at += chunk.len() as u64;
        }
        hash
    }

    fn checksum_bytes(data: Vec<u8>) -> u64 {
        fnv(FNV_OFFSET, &data)
    }

    fn batch_lengths(items: Vec<String>) -> Vec<u32> {
        vec![items.len() as u32; items.len()]
    }

    fn reconfigure(user_config: String) {
        instance_state::reconfigure(user_config);
    }

    fn record_metric(name: String, value: f64) -> Result<f64, String> {
        weft_guest::serve::record_metric(&name, value).map_err(|e| e.message().to_string())?;
        Ok(value)
    }

    fn instance_state() -> String {
        instance_state::read()
    }

    fn make(megabytes: u32, seed: u32) -> ObjectRef {
        let data: Vec<u8> = (0..megabytes as usize * (1 << 20))
            .map(|i| pattern_byte(i, seed))
            .collect();
        weft_guest::objects::put(&data).expect("put")
    }

    fn make_in_parts(megabytes: u32, seed: u32, skip: u32) -> Result<ObjectRef, String> {
        const MIB: usize = 1 << 20;
        let size = megabytes as u64 * MIB as u64;
        let writer = weft_guest::objects::create(size).map_err(|e| e.message().to_string())?;
        for part in (0..megabytes as usize).filter(|p| *p != skip as usize) {
            let data: Vec<u8> = (part * MIB..(part + 1) * MIB)
                .map(|i| pattern_byte(i, seed))
                .collect();
            writer
                .write((part * MIB) as u64, &data)
                .map_err(|e| e.message().to_string())?;
        }
        if writer.write(size, &[1]).is_ok() {
            return Err("a write past the end was accepted".into());
        }
        weft_guest::objects::Writer::finish(writer).map_err(|e| e.message().to_string())
    }

    fn put_get(data: Vec<u8>) -> String {
        let object = match weft_guest::objects::put(&data) {
            Ok(object) => object,
            Err(e) => return format!("put failed: {}", e.message()),
        };
        let mut problems = Vec::new();
        match weft_guest::objects::get(&object) {
            Ok(back) if back == data => {}
            Ok(back) => problems.push(format!(
                "objects.get gave {} bytes, not the {} put",
                back.len(),
                data.len()
            )),
            Err(e) => problems.push(format!("objects.get failed: {}", e.message())),
        }
        // `tasks.get` gives the object's value: the bytes put.
        match weft_guest::tasks::get::<Vec<u8>>(&object) {
            Ok(back) if back == data => {}
            Ok(back) => problems.push(format!(
                "tasks.get gave {} bytes, not the {} put",
                back.len(),
                data.len()
            )),
            Err(e) => problems.push(format!("tasks.get failed: {}", e.message())),
        }
        problems.join("; ")
    }
}

impl exports::weft::testkit::streams::Guest for Testkit {
    fn count(n: u32, pause_ms: u32, hold_ms: u32) -> u32 {
        let pause = std::time::Duration::from_millis(pause_ms.into());
        for i in 0..n {
            weft_guest::tasks::emit(i).unwrap_or_else(|e| panic!("emit {i}: {}", e.message()));
            if !pause.is_zero() {
                std::thread::sleep(pause);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(hold_ms.into()));
        n
    }

    fn sum(component: String, n: u32) -> u64 {
        use weft_guest::tasks;
        let placement = tasks::Placement {
            streaming: Some(8),
            ..Default::default()
        };
        let stream = tasks::submit_placed(
            &component,
            "streams.count",
            (n, 0u32, 0u32),
            tasks::Options::default(),
            placement,
        )
        .unwrap_or_else(|e| panic!("submit: {}", e.message()));
        let mut total = 0u64;
        for item in tasks::items(&stream) {
            let item = item.unwrap_or_else(|e| panic!("item: {}", e.message()));
            let value: u32 = tasks::get(&item).unwrap_or_else(|e| panic!("get: {}", e.message()));
            total += u64::from(value);
        }
        total
    }

    fn blobs(n: u32, kib: u32) -> u32 {
        for i in 0..n {
            let item = vec![(i % 251) as u8; kib as usize * 1024];
            weft_guest::tasks::emit(&item[..])
                .unwrap_or_else(|e| panic!("emit {i}: {}", e.message()));
        }
        n
    }
}

impl exports::weft::testkit::fanout::Guest for Testkit {
    fn weigh(p: exports::weft::testkit::fanout::Parcel) -> u64 {
        use exports::weft::testkit::fanout::Size;
        let size = match p.size {
            Size::Small => 1,
            Size::Large(n) => u64::from(n),
        };
        p.label.len() as u64 + size + p.tags.len() as u64
    }

    fn placed(
        component: String,
        node: Option<String>,
        custom: Option<String>,
        memory: u64,
    ) -> weft_guest::ObjectRef {
        let placement = weft_guest::tasks::Placement {
            node,
            resources: custom.map(|r| (r, 1.0)).into_iter().collect(),
            memory: Some(memory),
            ..Default::default()
        };
        weft_guest::tasks::submit_placed(
            &component,
            "add",
            (1i32, 2i32),
            weft_guest::tasks::Options::default(),
            placement,
        )
        .unwrap_or_else(|e| panic!("submit-placed: {}", e.message()))
    }

    fn spread(component: String, n: u32) -> u64 {
        use weft_guest::Value;
        let parcel = |i: u32| {
            let size = if i % 2 == 1 {
                Value::Variant("large".into(), Some(Box::new(Value::U32(i))))
            } else {
                Value::Variant("small".into(), None)
            };
            let tags = (0..i % 4).map(|t| Value::String(format!("t{t}"))).collect();
            Value::Record(vec![
                ("label".into(), Value::String(format!("p{i}"))),
                ("size".into(), size),
                ("tags".into(), Value::List(tags)),
            ])
        };
        let refs: Vec<ObjectRef> = (0..n)
            .map(|i| {
                weft_guest::tasks::submit(&component, "fanout.weigh", (parcel(i),))
                    .unwrap_or_else(|e| panic!("submitting parcel {i}: {}", e.message()))
            })
            .collect();
        refs.iter()
            .map(|r| {
                weft_guest::tasks::get::<u64>(r)
                    .unwrap_or_else(|e| panic!("weighing {}: {}", r.id, e.message()))
            })
            .sum()
    }

    fn spread_bytes(component: String, n: u32, mebibytes: u32) -> Vec<u64> {
        let refs: Vec<ObjectRef> = (0..n)
            .map(|seed| {
                let data: Vec<u8> = (0..mebibytes as usize * (1 << 20))
                    .map(|i| pattern_byte(i, seed))
                    .collect();
                weft_guest::tasks::submit(&component, "checksum-bytes", (data.as_slice(),))
                    .unwrap_or_else(|e| panic!("submitting buffer {seed}: {}", e.message()))
            })
            .collect();
        refs.iter()
            .map(|r| {
                weft_guest::tasks::get::<u64>(r)
                    .unwrap_or_else(|e| panic!("checksum {}: {}", r.id, e.message()))
            })
            .collect()
    }

    fn counter_from(component: String, start: u32) -> u64 {
        use weft_guest::actors;
        let fail = |what: &str, e: weft_guest::Error| -> ! { panic!("{what}: {}", e.message()) };
        let counter = actors::create(&component, "counter", (start,), &actors::Options::default())
            .unwrap_or_else(|e| fail("create", e));
        actors::call_wait::<u64>(&counter, "add", (2i32,)).unwrap_or_else(|e| fail("add", e));
        let now = actors::call_wait(&counter, "get", ()).unwrap_or_else(|e| fail("get", e));
        let _ = actors::kill(&counter);
        now
    }

    fn adds(component: String, n: u32) -> i64 {
        let refs: Vec<ObjectRef> = (0..n)
            .map(|i| {
                weft_guest::tasks::submit(&component, "add", (i, 1))
                    .unwrap_or_else(|e| panic!("submitting add {i}: {}", e.message()))
            })
            .collect();
        refs.iter()
            .map(|r| {
                weft_guest::tasks::get::<i64>(r)
                    .unwrap_or_else(|e| panic!("add {}: {}", r.id, e.message()))
            })
            .sum()
    }
}

impl exports::weft::testkit::refs::Guest for Testkit {
    fn make_bundle(kib: u32, count: u32) -> exports::weft::testkit::refs::Bundle {
        let refs: Vec<ObjectRef> = (0..count.max(1))
            .map(|seed| {
                let data: Vec<u8> = (0..kib as usize * 1024)
                    .map(|i| pattern_byte(i, seed))
                    .collect();
                weft_guest::objects::put(&data).expect("put")
            })
            .collect();
        let mut refs = refs.into_iter();
        let first = refs.next().expect("one at least");
        let rest: Vec<ObjectRef> = refs.collect();
        exports::weft::testkit::refs::Bundle {
            label: format!("{count} objects of {kib} KiB"),
            maybe: rest.last().cloned(),
            first,
            rest,
        }
    }

    fn echo_lookalike(
        v: exports::weft::testkit::refs::Lookalike,
    ) -> exports::weft::testkit::refs::Lookalike {
        v
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a, continued from `hash` (tests compute the same).
fn fnv(mut hash: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// Byte `i` of the test pattern for `seed` (tests compute the same).
fn pattern_byte(i: usize, seed: u32) -> u8 {
    ((i as u32).wrapping_mul(2_654_435_761) >> 13).wrapping_add(seed) as u8
}

export!(Testkit);
