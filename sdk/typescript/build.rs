//! Links the addon the way Node.js loads it (symbols resolved at load).

fn main() {
    napi_build::setup();
}
