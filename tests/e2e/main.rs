//! End-to-end tests: each starts real `weft` processes on loopback ports
//! and drives them through the CLI, the way a user would.

mod actors;
mod auth;
mod autoscaler;
mod bad_input;
mod concurrent_actors;
mod controller_group;
mod dashboard;
mod foundation;
mod gpu;
mod guest_tasks;
mod http;
mod jobs;
mod kubernetes;
mod limits;
mod logs;
mod metrics;
mod objects;
mod placement_groups;
mod runtime_env;
mod sandbox;
mod serve;
mod streams;
mod tasks;
mod tls;
mod tune;
mod untrusted;
mod values;
mod wire_fuzz;

/// A finished result's value as WAVE text (empty for none), the way the
/// CLI prints it.
fn wave(result: &weft_client::TaskResult) -> String {
    assert!(result.ok, "{} failed: {}", result.id, result.error);
    weft_client::value_of(result.clone())
        .unwrap()
        .map(|v| weft_client::values::to_wave(&v))
        .unwrap_or_default()
}

/// Values from `get_values` as WAVE text.
fn waves(values: &[Option<weft_client::Value>]) -> Vec<String> {
    values
        .iter()
        .map(|v| {
            v.as_ref()
                .map(weft_client::values::to_wave)
                .unwrap_or_default()
        })
        .collect()
}
