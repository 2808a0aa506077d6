//! The client API (`weft.v1.Weft`) over tonic: each request is unpacked,
//! handed to the [`Controller`], and each failure mapped once to a
//! `tonic::Status` (in `error.rs`).

use std::sync::Arc;
use std::time::Duration;

use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use weft_proto::v1 as pb;
use weft_values::CallText;

use crate::call::CallOptions;
use crate::command::{ComponentRecord, RouteRecord};
use crate::controller::{Controller, MemberView};

/// The gRPC face of a [`Controller`].
#[derive(Clone)]
pub struct WeftService {
    controller: Arc<Controller>,
}

impl WeftService {
    /// Serves `controller`.
    pub fn new(controller: Arc<Controller>) -> Self {
        WeftService { controller }
    }

    /// The tonic server for this service, with message limits that admit
    /// the configured upload size.
    pub fn into_server(self) -> pb::weft_server::WeftServer<Self> {
        let max = self.controller.max_message_size();
        pb::weft_server::WeftServer::new(self)
            .max_decoding_message_size(max)
            .max_encoding_message_size(max)
    }
}

impl WeftService {
    async fn deploy_one(
        &self,
        req: pb::DeployRequest,
    ) -> Result<Response<pb::DeployResponse>, Status> {
        let name = Some(req.name).filter(|n| !n.is_empty());
        let (record, existed, validate) = self
            .controller
            .deploy(req.wasm, name, req.allow_http)
            .await?;
        Ok(Response::new(pb::DeployResponse {
            component: Some(info(&record)),
            existed,
            validate_micros: validate.as_micros() as u64,
        }))
    }
}

fn info(record: &ComponentRecord) -> pb::ComponentInfo {
    pb::ComponentInfo {
        digest: record.digest.clone(),
        names: record.names.clone(),
        size_bytes: record.size_bytes,
        functions: record
            .functions
            .iter()
            .map(|(name, signature)| pb::ExportedFunction {
                name: name.clone(),
                signature: signature.clone(),
            })
            .collect(),
        deployed_at_ms: record.deployed_at_ms,
    }
}

fn members(members: Vec<MemberView>) -> Vec<pb::Member> {
    members
        .into_iter()
        .map(|m| pb::Member {
            id: m.id,
            address: m.address,
            voter: m.voter,
            has_progress: m.matched.is_some(),
            matched_index: m.matched.unwrap_or(0),
            lag: m.lag.unwrap_or(0),
        })
        .collect()
}

/// The client's request number from `weft-client-id` and `weft-seq`
/// metadata: retries of one request carry the same pair.
fn session_of<T>(request: &Request<T>) -> Option<(u64, u64)> {
    let get = |key: &str| request.metadata().get(key)?.to_str().ok()?.parse().ok();
    Some((
        get(weft_proto::metadata::CLIENT_ID)?,
        get(weft_proto::metadata::SEQ)?,
    ))
}

fn namespace(ns: String) -> String {
    if ns.is_empty() { "default".into() } else { ns }
}

/// Namespaces starting with this hold the cluster's own state (actor
/// records): the KV API reads them but never writes them.
const RESERVED_PREFIX: &str = "weft.";

/// The namespace a KV write goes to, refused when it is reserved.
fn writable_namespace(ns: String) -> Result<String, Status> {
    let ns = namespace(ns);
    if ns.starts_with(RESERVED_PREFIX) {
        return Err(Status::invalid_argument(format!(
            "namespace `{ns}` is reserved for the cluster's own state (namespaces starting with `{RESERVED_PREFIX}` cannot be written through the KV API)"
        )));
    }
    Ok(ns)
}

#[tonic::async_trait]
impl pb::weft_server::Weft for WeftService {
    type TaskSessionStream = UnboundedReceiverStream<Result<pb::OwnerEvent, Status>>;
    type HostSessionStream = UnboundedReceiverStream<Result<pb::HostCommand, Status>>;
    type PrepareStream = UnboundedReceiverStream<Result<pb::PrepareEvent, Status>>;

    async fn task_session(
        &self,
        request: Request<Streaming<pb::OwnerMessage>>,
    ) -> Result<Response<Self::TaskSessionStream>, Status> {
        let (owner, events) = self.controller.open_owner().await?;
        let mut incoming = request.into_inner();
        let controller = self.controller.clone();
        tokio::spawn(async move {
            while let Ok(Some(mut message)) = incoming.message().await {
                // Objects first: a task in the same message may take them.
                controller.tasks().owner_message(owner, &mut message);
                controller.submit_tasks(owner, message.submit);
            }
            controller.tasks().close_owner(owner);
        });
        Ok(Response::new(UnboundedReceiverStream::new(events)))
    }

    async fn host_session(
        &self,
        request: Request<Streaming<pb::HostEvent>>,
    ) -> Result<Response<Self::HostSessionStream>, Status> {
        let mut incoming = request.into_inner();
        let registration = match incoming.message().await? {
            Some(pb::HostEvent {
                kind: Some(pb::host_event::Kind::Register(r)),
            }) => r,
            _ => {
                return Err(Status::invalid_argument(
                    "a host session starts with its registration",
                ));
            }
        };
        let id = registration.id.clone();
        let (connection, commands) = self.controller.connect_host(registration).await?;
        let tasks = self.controller.tasks().clone();
        tokio::spawn(async move {
            let reason = loop {
                match incoming.message().await {
                    Ok(Some(pb::HostEvent { kind: Some(kind) })) => {
                        tasks.host_event(&id, connection, kind)
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => break "closed its session".to_string(),
                    Err(e) => break format!("lost its session ({})", e.message()),
                };
            };
            tasks.host_disconnected(&id, connection, &reason);
        });
        Ok(Response::new(UnboundedReceiverStream::new(commands)))
    }

    async fn get_tasks(
        &self,
        request: Request<pb::GetTasksRequest>,
    ) -> Result<Response<pb::GetTasksResponse>, Status> {
        let req = request.into_inner();
        let (finished, pending) = self
            .controller
            .get_tasks(
                &req.ids,
                req.num_ready as usize,
                Duration::from_millis(req.timeout_ms),
            )
            .await?;
        Ok(Response::new(pb::GetTasksResponse { finished, pending }))
    }

    async fn cancel_task(
        &self,
        request: Request<pb::CancelTaskRequest>,
    ) -> Result<Response<pb::CancelTaskResponse>, Status> {
        let canceled = self
            .controller
            .cancel_task(&request.into_inner().id)
            .await?;
        Ok(Response::new(pb::CancelTaskResponse { canceled }))
    }

    async fn task_events(
        &self,
        request: Request<pb::TaskEventsRequest>,
    ) -> Result<Response<pb::TaskEventsResponse>, Status> {
        self.controller.ensure_leader().await?;
        let task = request.into_inner().task;
        Ok(Response::new(self.controller.tasks().events(&task)))
    }

    async fn locate_logs(
        &self,
        request: Request<pb::LocateLogsRequest>,
    ) -> Result<Response<pb::LocateLogsResponse>, Status> {
        self.controller.ensure_leader().await?;
        let mut task = request.into_inner().task;
        let mut located = self.controller.tasks().log_host(&task);
        // Not a task or an actor: a job's output is its latest attempt's.
        if located.is_err()
            && let Some(attempt) = self.controller.job_task(&task)
        {
            task = attempt;
            located = self.controller.tasks().log_host(&task);
        }
        match located {
            Ok(Some(located)) => Ok(Response::new(located)),
            Ok(None) => Err(Status::failed_precondition(format!(
                "task {task} has not started on a host yet, so it has written nothing"
            ))),
            Err(e) => Err(Status::not_found(e)),
        }
    }

    async fn list_objects(
        &self,
        request: Request<pb::ListObjectsRequest>,
    ) -> Result<Response<pb::ListObjectsResponse>, Status> {
        self.controller.ensure_leader().await?;
        let limit = match request.into_inner().limit {
            0 => 100,
            n => n as usize,
        };
        Ok(Response::new(self.controller.tasks().objects(limit)))
    }

    async fn list_tasks(
        &self,
        request: Request<pb::ListTasksRequest>,
    ) -> Result<Response<pb::ListTasksResponse>, Status> {
        self.controller.ensure_leader().await?;
        let req = request.into_inner();
        let limit = if req.limit == 0 {
            100
        } else {
            req.limit as usize
        };
        Ok(Response::new(
            self.controller.tasks().list(req.state(), limit),
        ))
    }

    async fn get_demand(
        &self,
        _: Request<pb::GetDemandRequest>,
    ) -> Result<Response<pb::DemandResponse>, Status> {
        let demands = self.controller.demand().await?;
        Ok(Response::new(pb::DemandResponse { demands }))
    }

    async fn list_nodes(
        &self,
        _: Request<pb::ListNodesRequest>,
    ) -> Result<Response<pb::ListNodesResponse>, Status> {
        self.controller.ensure_leader().await?;
        Ok(Response::new(pb::ListNodesResponse {
            nodes: self.controller.tasks().nodes(),
        }))
    }

    async fn create_actor(
        &self,
        request: Request<pb::CreateActorRequest>,
    ) -> Result<Response<pb::ActorResponse>, Status> {
        let req = request.into_inner();
        let spec = req
            .spec
            .ok_or_else(|| Status::invalid_argument("an actor needs a spec"))?;
        let actor = self.controller.create_actor(spec, req.owner).await?;
        Ok(Response::new(pb::ActorResponse { actor: Some(actor) }))
    }

    async fn get_actor(
        &self,
        request: Request<pb::GetActorRequest>,
    ) -> Result<Response<pb::ActorResponse>, Status> {
        let actor = self.controller.get_actor(&request.into_inner()).await?;
        Ok(Response::new(pb::ActorResponse { actor: Some(actor) }))
    }

    async fn list_actors(
        &self,
        _: Request<pb::ListActorsRequest>,
    ) -> Result<Response<pb::ListActorsResponse>, Status> {
        let actors = self.controller.list_actors().await?;
        Ok(Response::new(pb::ListActorsResponse { actors }))
    }

    async fn kill_actor(
        &self,
        request: Request<pb::KillActorRequest>,
    ) -> Result<Response<pb::KillActorResponse>, Status> {
        let killed = self.controller.kill_actor(&request.into_inner().id).await?;
        Ok(Response::new(pb::KillActorResponse { killed }))
    }

    async fn create_placement_group(
        &self,
        request: Request<pb::CreatePlacementGroupRequest>,
    ) -> Result<Response<pb::PlacementGroupRecord>, Status> {
        let req = request.into_inner();
        let spec = req
            .spec
            .ok_or_else(|| Status::invalid_argument("a placement group needs a spec"))?;
        Ok(Response::new(
            self.controller.create_group(spec, req.owner).await?,
        ))
    }

    async fn get_placement_group(
        &self,
        request: Request<pb::GetPlacementGroupRequest>,
    ) -> Result<Response<pb::PlacementGroupRecord>, Status> {
        Ok(Response::new(
            self.controller.get_group(&request.into_inner()).await?,
        ))
    }

    async fn list_placement_groups(
        &self,
        _: Request<pb::ListPlacementGroupsRequest>,
    ) -> Result<Response<pb::ListPlacementGroupsResponse>, Status> {
        let groups = self.controller.list_groups().await?;
        Ok(Response::new(pb::ListPlacementGroupsResponse { groups }))
    }

    async fn remove_placement_group(
        &self,
        request: Request<pb::RemovePlacementGroupRequest>,
    ) -> Result<Response<pb::RemovePlacementGroupResponse>, Status> {
        let removed = self
            .controller
            .remove_group(&request.into_inner().id)
            .await?;
        Ok(Response::new(pb::RemovePlacementGroupResponse { removed }))
    }

    async fn put_secret(
        &self,
        request: Request<pb::PutSecretRequest>,
    ) -> Result<Response<pb::PutSecretResponse>, Status> {
        let req = request.into_inner();
        let existed = self.controller.put_secret(&req.name, req.value).await?;
        Ok(Response::new(pb::PutSecretResponse { existed }))
    }

    async fn list_secrets(
        &self,
        _: Request<pb::ListSecretsRequest>,
    ) -> Result<Response<pb::ListSecretsResponse>, Status> {
        let names = self.controller.secret_names().await?;
        Ok(Response::new(pb::ListSecretsResponse { names }))
    }

    async fn delete_secret(
        &self,
        request: Request<pb::DeleteSecretRequest>,
    ) -> Result<Response<pb::DeleteSecretResponse>, Status> {
        let existed = self
            .controller
            .delete_secret(&request.into_inner().name)
            .await?;
        Ok(Response::new(pb::DeleteSecretResponse { existed }))
    }

    async fn read_secrets(
        &self,
        request: Request<pb::ReadSecretsRequest>,
    ) -> Result<Response<pb::ReadSecretsResponse>, Status> {
        let names = request.into_inner().names;
        Ok(Response::new(self.controller.read_secrets(&names).await?))
    }

    async fn set_runtime_env(
        &self,
        request: Request<pb::SetRuntimeEnvRequest>,
    ) -> Result<Response<pb::SetRuntimeEnvResponse>, Status> {
        let req = request.into_inner();
        let digest = self
            .controller
            .set_runtime_env(&req.component, req.env.unwrap_or_default())
            .await?;
        Ok(Response::new(pb::SetRuntimeEnvResponse { digest }))
    }

    async fn deploy_serve_app(
        &self,
        request: Request<pb::DeployServeAppRequest>,
    ) -> Result<Response<pb::ServeAppStatus>, Status> {
        let app = request.into_inner().app.unwrap_or_default();
        Ok(Response::new(self.controller.deploy_serve_app(app).await?))
    }

    async fn get_serve_status(
        &self,
        request: Request<pb::GetServeStatusRequest>,
    ) -> Result<Response<pb::GetServeStatusResponse>, Status> {
        let only = request.into_inner().app;
        let apps = self.controller.serve_status(&only).await?;
        Ok(Response::new(pb::GetServeStatusResponse { apps }))
    }

    async fn delete_serve_app(
        &self,
        request: Request<pb::DeleteServeAppRequest>,
    ) -> Result<Response<pb::DeleteServeAppResponse>, Status> {
        let app = request.into_inner().app;
        self.controller.delete_serve_app(&app).await?;
        Ok(Response::new(pb::DeleteServeAppResponse {}))
    }

    async fn run_tune(
        &self,
        request: Request<pb::RunTuneRequest>,
    ) -> Result<Response<pb::TuneExperiment>, Status> {
        let record = self.controller.run_tune(request.into_inner()).await?;
        Ok(Response::new(record))
    }

    async fn get_tune(
        &self,
        request: Request<pb::GetTuneRequest>,
    ) -> Result<Response<pb::TuneStatus>, Status> {
        let status = self.controller.get_tune(&request.into_inner().id).await?;
        Ok(Response::new(status))
    }

    async fn list_tune(
        &self,
        _: Request<pb::ListTuneRequest>,
    ) -> Result<Response<pb::ListTuneResponse>, Status> {
        let experiments = self.controller.list_tune().await?;
        Ok(Response::new(pb::ListTuneResponse { experiments }))
    }

    async fn stop_tune(
        &self,
        request: Request<pb::StopTuneRequest>,
    ) -> Result<Response<pb::TuneExperiment>, Status> {
        let record = self.controller.stop_tune(&request.into_inner().id).await?;
        Ok(Response::new(record))
    }

    async fn resume_tune(
        &self,
        request: Request<pb::ResumeTuneRequest>,
    ) -> Result<Response<pb::TuneExperiment>, Status> {
        let record = self.controller.resume_tune(request.into_inner()).await?;
        Ok(Response::new(record))
    }

    async fn submit_job(
        &self,
        request: Request<pb::SubmitJobRequest>,
    ) -> Result<Response<pb::JobRecord>, Status> {
        let record = self.controller.submit_job(request.into_inner()).await?;
        Ok(Response::new(record))
    }

    async fn get_job(
        &self,
        request: Request<pb::GetJobRequest>,
    ) -> Result<Response<pb::JobRecord>, Status> {
        let record = self.controller.get_job(&request.into_inner().job).await?;
        Ok(Response::new(record))
    }

    async fn list_jobs(
        &self,
        _: Request<pb::ListJobsRequest>,
    ) -> Result<Response<pb::ListJobsResponse>, Status> {
        let jobs = self.controller.list_jobs().await?;
        Ok(Response::new(pb::ListJobsResponse { jobs }))
    }

    async fn stop_job(
        &self,
        request: Request<pb::StopJobRequest>,
    ) -> Result<Response<pb::StopJobResponse>, Status> {
        let (job, stopped) = self.controller.stop_job(&request.into_inner().job).await?;
        Ok(Response::new(pb::StopJobResponse {
            job: Some(job),
            stopped,
        }))
    }

    async fn fetch_component(
        &self,
        request: Request<pb::FetchComponentRequest>,
    ) -> Result<Response<pb::FetchComponentResponse>, Status> {
        let wasm = self
            .controller
            .component_bytes(&request.into_inner().digest)
            .await?;
        Ok(Response::new(pb::FetchComponentResponse { wasm }))
    }

    async fn describe(
        &self,
        request: Request<pb::DescribeRequest>,
    ) -> Result<Response<pb::DescribeResponse>, Status> {
        let component = request.into_inner().component;
        Ok(Response::new(self.controller.describe(&component).await?))
    }

    async fn deploy(
        &self,
        request: Request<pb::DeployRequest>,
    ) -> Result<Response<pb::DeployResponse>, Status> {
        self.controller
            .admit_deploy(request.remote_addr().map(|a| a.ip()))?;
        self.deploy_one(request.into_inner()).await
    }

    async fn deploy_chunks(
        &self,
        request: Request<Streaming<pb::DeployChunk>>,
    ) -> Result<Response<pb::DeployResponse>, Status> {
        self.controller
            .admit_deploy(request.remote_addr().map(|a| a.ip()))?;
        let mut chunks = request.into_inner();
        let first = chunks.message().await?.unwrap_or_default();
        let mut header = first.header.ok_or_else(|| {
            Status::invalid_argument("a chunked upload starts with a message naming it")
        })?;
        let total = first.total_bytes;
        self.controller.check_upload_size(total)?;
        // A follower would send the client to the leader after the whole
        // upload: send it there before.
        self.controller.ensure_leader().await?;
        let mut wasm = Vec::with_capacity(total as usize);
        let mut next = Some(first.data);
        while let Some(data) = next {
            wasm.extend_from_slice(&data);
            if wasm.len() as u64 > total {
                return Err(Status::invalid_argument(format!(
                    "the upload sent more than the {total} bytes it announced"
                )));
            }
            next = chunks.message().await?.map(|c| c.data);
        }
        if wasm.len() as u64 != total {
            return Err(Status::invalid_argument(format!(
                "the upload ended after {} of the {total} bytes it announced",
                wasm.len()
            )));
        }
        header.wasm = wasm;
        self.deploy_one(header).await
    }

    async fn prepare(
        &self,
        request: Request<pb::PrepareRequest>,
    ) -> Result<Response<Self::PrepareStream>, Status> {
        let req = request.into_inner();
        let timeout = (req.timeout_ms > 0).then(|| Duration::from_millis(req.timeout_ms));
        let events = self.controller.prepare(&req.component, timeout).await?;
        Ok(Response::new(UnboundedReceiverStream::new(events)))
    }

    async fn list_components(
        &self,
        _: Request<pb::ListComponentsRequest>,
    ) -> Result<Response<pb::ListComponentsResponse>, Status> {
        let components = self.controller.state().components().map_err(Status::from)?;
        Ok(Response::new(pb::ListComponentsResponse {
            components: components.iter().map(info).collect(),
        }))
    }

    async fn delete_component(
        &self,
        request: Request<pb::DeleteComponentRequest>,
    ) -> Result<Response<pb::DeleteComponentResponse>, Status> {
        let removed_blob = self
            .controller
            .delete(&request.into_inner().component)
            .await?;
        Ok(Response::new(pb::DeleteComponentResponse { removed_blob }))
    }

    async fn call(
        &self,
        request: Request<pb::CallRequest>,
    ) -> Result<Response<pb::CallResponse>, Status> {
        let req = request.into_inner();
        let text = match req.invocation {
            Some(pb::call_request::Invocation::WaveCall(text)) => CallText::Wave(text),
            Some(pb::call_request::Invocation::JsonCall(json)) => {
                let args = serde_json::from_str(&json.args_json).map_err(|e| {
                    Status::invalid_argument(format!("arguments are not valid JSON: {e}"))
                })?;
                CallText::Json {
                    function: json.function,
                    args,
                }
            }
            None => return Err(Status::invalid_argument("no function to call was given")),
        };
        let options = CallOptions {
            timeout: (req.timeout_ms > 0).then(|| Duration::from_millis(req.timeout_ms)),
            memory_limit: (req.memory_limit_bytes > 0).then_some(req.memory_limit_bytes),
            json: pb::ValueFormat::try_from(req.result_format) == Ok(pb::ValueFormat::Json),
        };
        let reply = self.controller.call(&req.component, text, options).await?;
        Ok(Response::new(pb::CallResponse {
            has_result: reply.result.is_some(),
            result: reply.result.unwrap_or_default(),
            instantiate_micros: reply.instantiate.as_micros() as u64,
            call_micros: reply.call.as_micros() as u64,
            guest_output: reply.output,
        }))
    }

    async fn status(
        &self,
        _: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        let components = self
            .controller
            .state()
            .components()
            .map_err(Status::from)?
            .len() as u64;
        let group = self.controller.group();
        Ok(Response::new(pb::StatusResponse {
            version: env!("CARGO_PKG_VERSION").to_string(),
            data_dir: self.controller.config().data_dir.display().to_string(),
            components,
            node_id: group.id,
            role: group.role.to_string(),
            leader_id: group.leader.unwrap_or(0),
            has_leader: group.leader.is_some(),
            term: group.term,
            last_log_index: group.last_log_index,
            commit_index: group.commit_index,
            applied_index: group.applied_index,
            snapshot_index: group.snapshot_index,
            purged_index: group.purged_index,
            members: members(group.members),
            millis_since_quorum_ack: group.millis_since_quorum_ack.unwrap_or(0),
            nodes: self.controller.tasks().nodes(),
            dashboard: self.controller.config().dashboard.clone(),
        }))
    }

    async fn kv_increment(
        &self,
        request: Request<pb::KvIncrementRequest>,
    ) -> Result<Response<pb::KvIncrementResponse>, Status> {
        let session = session_of(&request);
        let req = request.into_inner();
        let value = self
            .controller
            .kv_increment(
                &writable_namespace(req.namespace)?,
                &req.key,
                req.delta,
                session,
            )
            .await?;
        Ok(Response::new(pb::KvIncrementResponse { value }))
    }

    async fn kv_put(
        &self,
        request: Request<pb::KvPutRequest>,
    ) -> Result<Response<pb::KvPutResponse>, Status> {
        let session = session_of(&request);
        let req = request.into_inner();
        let log_index = self
            .controller
            .kv_put(
                &writable_namespace(req.namespace)?,
                &req.key,
                req.value,
                session,
            )
            .await?;
        Ok(Response::new(pb::KvPutResponse { log_index }))
    }

    async fn kv_get(
        &self,
        request: Request<pb::KvGetRequest>,
    ) -> Result<Response<pb::KvGetResponse>, Status> {
        let req = request.into_inner();
        let value = self
            .controller
            .kv_get(&namespace(req.namespace), &req.key, req.linearizable)
            .await?;
        Ok(Response::new(pb::KvGetResponse {
            found: value.is_some(),
            value: value.unwrap_or_default(),
            served_by: self.controller.config().id,
            linearizable: req.linearizable,
        }))
    }

    async fn kv_list(
        &self,
        request: Request<pb::KvListRequest>,
    ) -> Result<Response<pb::KvListResponse>, Status> {
        let req = request.into_inner();
        let entries = self
            .controller
            .kv_list(&namespace(req.namespace), &req.prefix, req.linearizable)
            .await?;
        Ok(Response::new(pb::KvListResponse {
            entries: entries
                .into_iter()
                .map(|(key, value)| pb::KvEntry { key, value })
                .collect(),
            served_by: self.controller.config().id,
            linearizable: req.linearizable,
        }))
    }

    async fn kv_delete(
        &self,
        request: Request<pb::KvDeleteRequest>,
    ) -> Result<Response<pb::KvDeleteResponse>, Status> {
        let session = session_of(&request);
        let req = request.into_inner();
        let existed = self
            .controller
            .kv_delete(&writable_namespace(req.namespace)?, &req.key, session)
            .await?;
        Ok(Response::new(pb::KvDeleteResponse { existed }))
    }

    async fn add_member(
        &self,
        request: Request<pb::AddMemberRequest>,
    ) -> Result<Response<pb::MembershipResponse>, Status> {
        let req = request.into_inner();
        let list = self.controller.add_member(req.id, req.address).await?;
        Ok(Response::new(pb::MembershipResponse {
            members: members(list),
        }))
    }

    async fn add_route(
        &self,
        request: Request<pb::AddRouteRequest>,
    ) -> Result<Response<pb::AddRouteResponse>, Status> {
        let route = request
            .into_inner()
            .route
            .ok_or_else(|| Status::invalid_argument("no route given"))?;
        let replaced = self.controller.add_route(RouteRecord::from(route)).await?;
        Ok(Response::new(pb::AddRouteResponse { replaced }))
    }

    async fn list_routes(
        &self,
        _: Request<pb::ListRoutesRequest>,
    ) -> Result<Response<pb::ListRoutesResponse>, Status> {
        let routes = self.controller.state().routes().map_err(Status::from)?;
        Ok(Response::new(pb::ListRoutesResponse {
            routes: routes.into_iter().map(pb::Route::from).collect(),
        }))
    }

    async fn remove_route(
        &self,
        request: Request<pb::RemoveRouteRequest>,
    ) -> Result<Response<pb::RemoveRouteResponse>, Status> {
        self.controller
            .remove_route(&request.into_inner().path)
            .await?;
        Ok(Response::new(pb::RemoveRouteResponse {}))
    }

    async fn remove_member(
        &self,
        request: Request<pb::RemoveMemberRequest>,
    ) -> Result<Response<pb::MembershipResponse>, Status> {
        let list = self
            .controller
            .remove_member(request.into_inner().id)
            .await?;
        Ok(Response::new(pb::MembershipResponse {
            members: members(list),
        }))
    }
}
