//! What a Serve replica's instance keeps between its requests, as both
//! test guests (the function testkit and the HTTP one) expose it: the
//! config `reconfigure` gave it, how often it was reconfigured, and how
//! many state reads it served. It lives as long as the instance does.

use std::sync::Mutex;

struct InstanceState {
    config: String,
    reconfigured: u32,
    served: u32,
}

static INSTANCE: Mutex<InstanceState> = Mutex::new(InstanceState {
    config: String::new(),
    reconfigured: 0,
    served: 0,
});

/// Ray's `reconfigure`: keeps `user_config` and counts the calls.
pub fn reconfigure(user_config: String) {
    let mut state = INSTANCE.lock().expect("instance state");
    state.config = user_config;
    state.reconfigured += 1;
}

/// `config=C reconfigured=N served=M`, counting this read in M.
pub fn read() -> String {
    let mut state = INSTANCE.lock().expect("instance state");
    state.served += 1;
    format!(
        "config={} reconfigured={} served={}",
        state.config, state.reconfigured, state.served
    )
}
