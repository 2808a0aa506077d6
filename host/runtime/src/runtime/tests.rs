//! Each `weft:runtime` capability on its own: its host functions called
//! directly on a [`RuntimeCtx`] whose services are a fake (the capability
//! is what is under test here; the agent behind the real services is
//! tested by the end-to-end suite).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use weft_core::{ActorHandle, ActorOptions, Arg, ClientError, Constructor, Submission, TaskResult};
use weft_proto::FailureKind;
use weft_values::Value;

use super::RuntimeCtx;
use super::generated::weft::runtime::types::{Error, ObjectRef};
use super::generated::weft::runtime::{actors, gpu, log, objects, tasks};
use super::generated_v0_1::weft::runtime as v0_1;
use crate::gpu::{GpuError, Lease};
use crate::services::{
    GuestObject, LogSink, ObjectParts, PartError, PutError, ServiceFuture, TaskServices,
};

/// What the fake was asked, in order.
type Asked = Arc<Mutex<Vec<String>>>;

/// Host services in memory: objects in a map, tasks answered from a map of
/// results, every request recorded.
#[derive(Debug, Default)]
struct Fake {
    asked: Asked,
    submitted: Mutex<Vec<Submission>>,
    results: Mutex<HashMap<String, TaskResult>>,
    objects: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    /// Puts and creates fail as a full store would.
    full: bool,
    env: crate::services::RuntimeEnv,
    lease: Option<Arc<Lease>>,
}

impl Fake {
    fn ask(&self, what: String) {
        self.asked.lock().unwrap().push(what);
    }

    fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }

    fn finished(&self, id: &str, value: Value) {
        self.results.lock().unwrap().insert(
            id.into(),
            TaskResult {
                id: id.into(),
                ok: true,
                has_value: true,
                value: weft_values::encode(&value),
                ..Default::default()
            },
        );
    }

    fn failed(&self, id: &str, kind: FailureKind, error: &str) {
        let mut result = TaskResult {
            id: id.into(),
            error: error.into(),
            ..Default::default()
        };
        result.set_failure(kind);
        self.results.lock().unwrap().insert(id.into(), result);
    }
}

/// An object written in parts into the fake's map.
struct FakeParts {
    id: String,
    bytes: Mutex<Vec<u8>>,
    objects: Arc<Mutex<HashMap<String, Vec<u8>>>>,
}

impl ObjectParts for FakeParts {
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), PartError> {
        let mut bytes = self.bytes.lock().unwrap();
        let size = bytes.len() as u64;
        let end = offset + data.len() as u64;
        if end > size {
            return Err(PartError::OutOfRange {
                len: data.len(),
                offset,
                size,
            });
        }
        bytes[offset as usize..end as usize].copy_from_slice(data);
        Ok(())
    }

    fn fill(
        &self,
        offset: u64,
        len: usize,
        fill: &mut dyn FnMut(&mut [u8]) -> Result<(), GpuError>,
    ) -> Result<Result<(), GpuError>, PartError> {
        let mut bytes = self.bytes.lock().unwrap();
        Ok(fill(&mut bytes[offset as usize..offset as usize + len]))
    }

    fn seal(self: Box<Self>) -> Result<(String, u64), PartError> {
        let bytes = self.bytes.into_inner().unwrap();
        let size = bytes.len() as u64;
        let encoded = [weft_values::bytes_header(size), bytes].concat();
        self.objects
            .lock()
            .unwrap()
            .insert(self.id.clone(), encoded);
        Ok((self.id, size))
    }
}

impl TaskServices for Fake {
    fn runtime_env(&self) -> &crate::services::RuntimeEnv {
        &self.env
    }

    fn job(&self) -> &str {
        ""
    }

    fn keyvalue(
        &self,
        op: crate::services::KvOp,
    ) -> ServiceFuture<'_, Result<crate::services::KvReply, ClientError>> {
        self.ask(format!("keyvalue {op:?}"));
        Box::pin(async { Ok(crate::services::KvReply::Done) })
    }

    fn gpu(&self) -> Option<Arc<Lease>> {
        self.lease.clone()
    }

    fn release_made(&self) {
        self.ask("release".into());
    }

    fn submit(&self, submission: Submission) -> ServiceFuture<'_, Result<String, ClientError>> {
        self.ask(format!(
            "submit {}.{}",
            submission.component, submission.function
        ));
        let mut submitted = self.submitted.lock().unwrap();
        submitted.push(submission);
        let id = format!("t{}", submitted.len());
        Box::pin(async move { Ok(id) })
    }

    fn wait<'a>(
        &'a self,
        ids: &'a [String],
        num_ready: usize,
        _timeout: Option<Duration>,
    ) -> ServiceFuture<'a, Result<Vec<TaskResult>, ClientError>> {
        self.ask(format!("wait {num_ready} of {}", ids.join(",")));
        let results = self.results.lock().unwrap();
        let ready = ids.iter().filter_map(|id| results.get(id).cloned());
        let ready: Vec<TaskResult> = ready.take(num_ready).collect();
        Box::pin(async move { Ok(ready) })
    }

    fn cancel<'a>(&'a self, id: &'a str) -> ServiceFuture<'a, Result<(), ClientError>> {
        self.ask(format!("cancel {id}"));
        Box::pin(async { Ok(()) })
    }

    fn emit(&self, encoded: Vec<u8>) -> ServiceFuture<'_, Result<(), crate::services::EmitError>> {
        self.ask(format!("emit {} bytes", encoded.len()));
        Box::pin(async { Ok(()) })
    }

    fn object<'a>(
        &'a self,
        id: &'a str,
    ) -> ServiceFuture<'a, Result<Box<dyn GuestObject>, ClientError>> {
        let found = self.objects.lock().unwrap().get(id).cloned();
        Box::pin(async move {
            found
                .map(|bytes| Box::new(bytes) as Box<dyn GuestObject>)
                .ok_or_else(|| ClientError::TaskFailed {
                    id: id.into(),
                    kind: FailureKind::Lost,
                    message: format!("object {id} is lost"),
                })
        })
    }

    fn put(&self, data: Vec<u8>) -> ServiceFuture<'_, Result<String, PutError>> {
        let mut objects = self.objects.lock().unwrap();
        let id = format!("o{}", objects.len() + 1);
        let stored = if self.full {
            Err(PutError::Full(format!("no room for {} bytes", data.len())))
        } else {
            let encoded = [weft_values::bytes_header(data.len() as u64), data].concat();
            objects.insert(id.clone(), encoded);
            Ok(id)
        };
        Box::pin(async move { stored })
    }

    fn create(&self, size: u64) -> ServiceFuture<'_, Result<Box<dyn ObjectParts>, PutError>> {
        let made = if self.full {
            Err(PutError::Full(format!("no room for {size} bytes")))
        } else {
            Ok(Box::new(FakeParts {
                id: format!("w{size}"),
                bytes: Mutex::new(vec![0; size as usize]),
                objects: self.objects.clone(),
            }) as Box<dyn ObjectParts>)
        };
        Box::pin(async move { made })
    }

    fn finish(&self, object: Box<dyn ObjectParts>) -> ServiceFuture<'_, Result<String, PutError>> {
        let sealed = object
            .seal()
            .map(|(id, _)| id)
            .map_err(|e| PutError::Failed(e.to_string()));
        Box::pin(async move { sealed })
    }

    fn call_actor<'a>(
        &'a self,
        actor: &'a str,
        method: &'a str,
        args: Vec<Arg>,
    ) -> ServiceFuture<'a, Result<String, ClientError>> {
        self.ask(format!("call {actor}.{method} with {args:?}"));
        Box::pin(async { Ok("c1".to_string()) })
    }

    fn create_actor<'a>(
        &'a self,
        component: &'a str,
        class: &'a str,
        constructor: Constructor,
        options: ActorOptions,
    ) -> ServiceFuture<'a, Result<ActorHandle, ClientError>> {
        self.ask(format!(
            "create {component}.{class} {constructor:?} named {} with {} restarts",
            options.name, options.max_restarts
        ));
        Box::pin(async { Ok(ActorHandle { id: "a1".into() }) })
    }

    fn get_actor<'a>(
        &'a self,
        name: &'a str,
        namespace: &'a str,
    ) -> ServiceFuture<'a, Result<ActorHandle, ClientError>> {
        self.ask(format!("lookup {name} in {namespace:?}"));
        Box::pin(async { Ok(ActorHandle { id: "a1".into() }) })
    }

    fn kill_actor<'a>(&'a self, actor: &'a str) -> ServiceFuture<'a, Result<(), ClientError>> {
        self.ask(format!("kill {actor}"));
        Box::pin(async { Ok(()) })
    }
}

/// A guest log that keeps what it is given.
#[derive(Debug, Default)]
struct Lines(Mutex<Vec<u8>>);

impl LogSink for Lines {
    fn write(&self, data: &[u8]) {
        self.0.lock().unwrap().extend_from_slice(data);
    }

    fn finish(&self) {}
}

/// A guest's context whose services are `fake`.
fn task(fake: &Arc<Fake>) -> RuntimeCtx {
    RuntimeCtx::new("kit", "run", Some(fake.clone() as Arc<dyn TaskServices>))
}

fn block<T>(future: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

fn object(id: &str) -> ObjectRef {
    ObjectRef { id: id.into() }
}

#[test]
fn log_lines_reach_the_calls_log_with_their_level() {
    let lines = Arc::new(Lines::default());
    let mut ctx = RuntimeCtx::new("kit", "run", None);
    ctx.log = Some(lines.clone());
    log::Host::log(&mut ctx, log::Level::Warn, "careful".into());
    log::Host::log(&mut ctx, log::Level::Info, "fine".into());
    let written = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    assert_eq!(written, "[WARN] careful\n[INFO] fine\n");
}

#[test]
fn objects_need_a_task_and_say_so() {
    let mut ctx = RuntimeCtx::new("kit", "run", None);
    let e = block(objects::Host::put(&mut ctx, b"x".to_vec())).unwrap_err();
    assert!(
        matches!(&e, Error::Unsupported(m) if m.contains("objects.put needs the guest to run as a task")),
        "{e:?}"
    );
}

#[test]
fn objects_put_read_back_whole_by_range_and_by_size() {
    let fake = Arc::new(Fake::default());
    let mut ctx = task(&fake);
    let data: Vec<u8> = (0..100).collect();
    let put = block(objects::Host::put(&mut ctx, data.clone())).unwrap();
    assert_eq!(
        block(objects::Host::get(&mut ctx, object(&put.id))).unwrap(),
        data
    );
    let range = block(objects::Host::get_range(&mut ctx, object(&put.id), 90, 50)).unwrap();
    assert_eq!(range, data[90..], "a range past the end is cut");
    assert_eq!(
        block(objects::Host::size(&mut ctx, object(&put.id))).unwrap(),
        100
    );
    let e = block(objects::Host::get(&mut ctx, object("nope"))).unwrap_err();
    assert!(
        matches!(&e, Error::NotFound(m) if m.contains("lost")),
        "{e:?}"
    );
}

#[test]
fn objects_written_in_parts_are_checked_and_sealed() {
    let fake = Arc::new(Fake::default());
    let mut ctx = task(&fake);
    let writer = block(objects::Host::create(&mut ctx, 8)).unwrap();
    let rep = writer.rep();
    let again = || wasmtime::component::Resource::<super::ObjectWriter>::new_borrow(rep);
    block(objects::HostWriter::write(
        &mut ctx,
        again(),
        2,
        b"abc".to_vec(),
    ))
    .unwrap();
    let e = block(objects::HostWriter::write(
        &mut ctx,
        again(),
        6,
        b"abc".to_vec(),
    ))
    .unwrap_err();
    assert!(
        matches!(&e, Error::InvalidArgument(m) if m.contains("3 bytes at 6 run past the object's 8 bytes")),
        "{e:?}"
    );
    let sealed = block(objects::HostWriter::finish(&mut ctx, writer)).unwrap();
    assert_eq!(
        block(objects::Host::get(&mut ctx, sealed)).unwrap(),
        b"\0\0abc\0\0\0"
    );
}

#[test]
fn a_full_store_is_resource_exhausted() {
    let fake = Arc::new(Fake {
        full: true,
        ..Default::default()
    });
    let mut ctx = task(&fake);
    let e = block(objects::Host::put(&mut ctx, vec![1; 10])).unwrap_err();
    assert!(
        matches!(&e, Error::ResourceExhausted(m) if m.contains("no room")),
        "{e:?}"
    );
    let e = block(objects::Host::create(&mut ctx, 10)).err().unwrap();
    assert!(matches!(e, Error::ResourceExhausted(_)), "{e:?}");
}

fn options() -> tasks::Options {
    tasks::Options {
        timeout_ms: Some(1500),
        memory_limit_bytes: None,
        cpus: Some(0.5),
        gpus: None,
        max_retries: Some(0),
        retry_on_trap: Some(true),
    }
}

fn encoded(value: &Value) -> tasks::Argument {
    tasks::Argument::Value(weft_values::encode(value))
}

#[test]
fn tasks_carry_encoded_values_refs_and_the_options_given() {
    let fake = Arc::new(Fake::default());
    let mut ctx = task(&fake);
    let record = Value::Record(vec![("n".into(), Value::S64(2))]);
    let args = vec![
        encoded(&Value::S64(1)),
        encoded(&record),
        tasks::Argument::Object(object("o9")),
    ];
    let id = block(tasks::Host::submit(
        &mut ctx,
        "kit".into(),
        "add".into(),
        args,
        options(),
    ))
    .unwrap();
    assert_eq!(id.id, "t1");
    let submitted = fake.submitted.lock().unwrap().remove(0);
    assert!(
        matches!(
            &submitted.args[..],
            [Arg::Value(Value::S64(1)), Arg::Value(r), Arg::Ref(o)] if *r == record && o == "o9"
        ),
        "{:?}",
        submitted.args
    );
    let o = &submitted.options;
    assert_eq!(
        (
            o.timeout_ms,
            o.has_cpus,
            o.cpus,
            o.has_max_retries,
            o.max_retries,
            o.retry_on_trap
        ),
        (1500, true, 0.5, true, 0, true)
    );
    let bad = vec![
        encoded(&Value::U8(1)),
        tasks::Argument::Value(vec![1, 0xff]),
    ];
    let e = block(tasks::Host::submit(
        &mut ctx,
        "kit".into(),
        "add".into(),
        bad,
        options(),
    ))
    .unwrap_err();
    assert!(
        matches!(&e, Error::InvalidArgument(m) if m.starts_with("argument 2 is not an encoded value")),
        "{e:?}"
    );
    assert_eq!(fake.submitted.lock().unwrap().len(), 0, "nothing was sent");
}

#[test]
fn old_guests_tasks_carry_text_typed_by_the_task_api() {
    let fake = Arc::new(Fake::default());
    let mut ctx = task(&fake);
    let args = vec![
        v0_1::tasks::Argument::Wave("1".into()),
        v0_1::tasks::Argument::Json("[2]".into()),
        v0_1::tasks::Argument::Object(object("o9")),
    ];
    let options = v0_1::tasks::Options {
        timeout_ms: Some(1500),
        memory_limit_bytes: None,
        cpus: Some(0.5),
        gpus: None,
        max_retries: Some(0),
        retry_on_trap: Some(true),
    };
    block(v0_1::tasks::Host::submit(
        &mut ctx,
        "kit".into(),
        "add".into(),
        args,
        options,
    ))
    .unwrap();
    let submitted = fake.submitted.lock().unwrap().remove(0);
    assert!(
        matches!(
            &submitted.args[..],
            [Arg::Wave(w), Arg::Json(j), Arg::Ref(r)] if w == "1" && j == &serde_json::json!([2]) && r == "o9"
        ),
        "{:?}",
        submitted.args
    );
    assert_eq!(submitted.options.timeout_ms, 1500);
    let bad = vec![v0_1::tasks::Argument::Json("{".into())];
    let e = block(v0_1::tasks::Host::submit(
        &mut ctx,
        "kit".into(),
        "add".into(),
        bad,
        options,
    ))
    .unwrap_err();
    assert!(
        matches!(&e, Error::InvalidArgument(m) if m.starts_with("argument 1 is not JSON")),
        "{e:?}"
    );
}

#[test]
fn task_values_come_back_encoded_and_failures_by_kind() {
    let fake = Arc::new(Fake::default());
    let mut ctx = task(&fake);
    let list = Value::List(vec![Value::U32(1), Value::U32(2)]);
    fake.finished("t1", list.clone());
    assert_eq!(
        block(tasks::Host::get(&mut ctx, object("t1"), None)).unwrap(),
        Some(weft_values::encode(&list))
    );
    fake.failed("t2", FailureKind::Trap, "boom");
    let e = block(tasks::Host::get(&mut ctx, object("t2"), None)).unwrap_err();
    assert!(matches!(&e, Error::Trapped(m) if m == "boom"), "{e:?}");
    let e = block(tasks::Host::get(&mut ctx, object("t3"), Some(5))).unwrap_err();
    assert!(
        matches!(&e, Error::Timeout(m) if m.contains("within 5 ms")),
        "{e:?}"
    );
    let ready = block(tasks::Host::wait(
        &mut ctx,
        vec![object("t1"), object("t3")],
        1,
        None,
    ))
    .unwrap();
    assert_eq!(
        ready.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["t1"]
    );
    block(tasks::Host::cancel(&mut ctx, object("t3"))).unwrap();
    assert_eq!(fake.asked().last().unwrap(), "cancel t3");
}

#[test]
fn old_guests_read_task_values_as_text() {
    let fake = Arc::new(Fake::default());
    let mut ctx = task(&fake);
    fake.finished("t1", Value::List(vec![Value::U32(1), Value::U32(2)]));
    assert_eq!(
        block(v0_1::tasks::Host::get(&mut ctx, object("t1"), None)).unwrap(),
        "[1, 2]"
    );
    assert_eq!(
        block(v0_1::tasks::Host::get_json(&mut ctx, object("t1"), None)).unwrap(),
        "[1,2]"
    );
    fake.failed("t2", FailureKind::Trap, "boom");
    let e = block(v0_1::tasks::Host::get(&mut ctx, object("t2"), None)).unwrap_err();
    assert!(matches!(&e, Error::Trapped(m) if m == "boom"), "{e:?}");
}

#[test]
fn actors_are_made_found_called_and_killed_through_the_services() {
    let fake = Arc::new(Fake::default());
    let mut ctx = task(&fake);
    let options = actors::Options {
        name: Some("tally".into()),
        namespace: None,
        detached: None,
        max_restarts: Some(2),
        max_task_retries: None,
        cpus: None,
        checkpoint_every_calls: None,
        checkpoint_every_ms: None,
    };
    let actor = block(actors::Host::create(
        &mut ctx,
        "counter".into(),
        "counter".into(),
        vec![encoded(&Value::S64(0))],
        options,
    ))
    .unwrap();
    let old_options = v0_1::actors::Options {
        name: None,
        namespace: None,
        detached: None,
        max_restarts: None,
        max_task_retries: None,
        cpus: None,
        checkpoint_every_calls: None,
        checkpoint_every_ms: None,
    };
    block(v0_1::actors::Host::create(
        &mut ctx,
        "counter".into(),
        "counter".into(),
        "new(0)".into(),
        old_options,
    ))
    .unwrap();
    let found = block(actors::Host::lookup(&mut ctx, "tally".into(), None)).unwrap();
    let called = block(actors::Host::call(
        &mut ctx,
        found,
        "incr".into(),
        vec![encoded(&Value::S64(1))],
    ))
    .unwrap();
    let old = v0_1::actors::Actor {
        id: actor.id.clone(),
    };
    let called_as_before = block(v0_1::actors::Host::call(
        &mut ctx,
        old.clone(),
        "incr".into(),
        vec!["1".into()],
    ))
    .unwrap();
    block(v0_1::actors::Host::kill(&mut ctx, old)).unwrap();
    assert_eq!(
        (called.id.as_str(), called_as_before.id.as_str()),
        ("c1", "c1")
    );
    assert_eq!(
        fake.asked(),
        [
            "create counter.counter Values([S64(0)]) named tally with 2 restarts",
            "create counter.counter Wave(\"new(0)\") named  with 0 restarts",
            "lookup tally in \"\"",
            "call a1.incr with [Value(S64(1))]",
            "call a1.incr with [Wave(\"1\")]",
            "kill a1",
        ]
    );
}

#[test]
fn gpu_buffers_go_to_objects_inline_or_in_parts_and_read_back() {
    let gpus = crate::gpu::Gpus::new(crate::gpu::cpu(1, 64 << 20), 0);
    let fake = Arc::new(Fake {
        lease: Some(gpus.lease(1, &[0]).unwrap()),
        ..Default::default()
    });
    let mut ctx = task(&fake);
    // Small enough to travel inline (a put), and large enough to be
    // copied from the device straight into an object written in parts.
    for size in [1024, 2 * weft_proto::limits::INLINE_MAX as u64] {
        let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let buffer = block(gpu::HostBuffer::create(&mut ctx, 0, size)).unwrap();
        let rep = buffer.rep();
        let again = || wasmtime::component::Resource::<crate::gpu::Buffer>::new_borrow(rep);
        block(gpu::HostBuffer::write(&mut ctx, again(), 0, data.clone())).unwrap();
        let stored = block(gpu::HostBuffer::to_object(&mut ctx, again())).unwrap();
        assert_eq!(block(objects::Host::get(&mut ctx, stored)).unwrap(), data);
    }
    let mut plain = task(&Arc::new(Fake::default()));
    let e = block(gpu::HostBuffer::create(&mut plain, 0, 16))
        .err()
        .unwrap();
    assert!(
        matches!(&e, gpu::GpuError::InvalidArgument(m) if m.contains("given no GPUs")),
        "{e:?}"
    );
}
