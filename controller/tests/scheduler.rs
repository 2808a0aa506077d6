//! Table-driven scheduler cases: every `scheduler/*.txt` file holds cases
//! of hosts, objects, tasks and the placement expected for each. A case is
//! a few lines to add:
//!
//! ```text
//! case locality beats packing
//! host a cpus=4 used-cpus=1
//! host b cpus=4
//! object x on=b size=100MiB
//! task cpus=1 args=x
//! expect b
//! ```
//!
//! `host ID [dead] cpus= memory= gpus= res.NAME= used-cpus= used-memory=
//! used-gpus= used.NAME=`; `object ID on=H1,H2 size=`; `task cpus= memory=
//! gpus= res.NAME= args=O1,O2 strategy=default|spread|affinity:H|soft-affinity:H
//! group=G bundle=N`; `expect HOST`, `expect HOST bundle N`, `expect queue`
//! or `expect error: TEXT` (a substring).
//!
//! Placement groups: `bundle GROUP INDEX on=HOST cpus= ... used-cpus= ...`
//! reserves a bundle on a host (add its amounts to the host's `used-`
//! yourself, as the leader does); `group strategy=pack|spread|strict-pack|
//! strict-spread bundles=cpus=1,gpus=1;cpus=1 placed=a,-` is a group to
//! place (`placed`: hosts of bundles already placed, `-` for none), then
//! `expect-group a,b` or `expect-group pending: TEXT`.

use weft_controller::scheduler::{
    BundleView, ClusterView, GroupDemand, GroupPlacement, GroupStrategy, HostView, ObjectLocation,
    Placement, Resources, Strategy, TaskDemand, place, place_group,
};

fn size(text: &str) -> u64 {
    let (digits, unit) = text.split_at(
        text.find(|c: char| c.is_ascii_alphabetic())
            .unwrap_or(text.len()),
    );
    let n: f64 = digits
        .parse()
        .unwrap_or_else(|_| panic!("bad size `{text}`"));
    let scale = match unit {
        "" | "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        other => panic!("unknown unit `{other}`"),
    };
    (n * scale) as u64
}

fn set(resources: &mut Resources, key: &str, value: &str) -> bool {
    match key {
        "cpus" => resources.cpus = value.parse().expect("cpus"),
        "memory" => resources.memory = size(value),
        "gpus" => resources.gpus = value.parse().expect("gpus"),
        k if k.starts_with("res.") => {
            resources
                .custom
                .insert(k[4..].to_string(), value.parse().expect("custom amount"));
        }
        _ => return false,
    }
    true
}

fn run_file(name: &str, text: &str) -> usize {
    let mut view = ClusterView::default();
    let mut case = String::new();
    let mut task: Option<TaskDemand> = None;
    let mut group: Option<GroupDemand> = None;
    let mut checked = 0;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = format!("{name}:{} ({case})", n + 1);
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        match word {
            "case" => {
                case = rest.to_string();
                view = ClusterView::default();
                task = None;
                group = None;
            }
            "host" => {
                let mut parts = rest.split_whitespace();
                let id = parts.next().expect("host id").to_string();
                let mut host = HostView {
                    id,
                    alive: true,
                    total: Resources::default(),
                    used: Resources::default(),
                    bundles: Vec::new(),
                };
                for part in parts {
                    if part == "dead" {
                        host.alive = false;
                        continue;
                    }
                    let (k, v) = part
                        .split_once('=')
                        .unwrap_or_else(|| panic!("{at}: `{part}`"));
                    let handled = if let Some(name) = k.strip_prefix("used.") {
                        set(&mut host.used, &format!("res.{name}"), v)
                    } else if let Some(name) = k.strip_prefix("used-") {
                        set(&mut host.used, name, v)
                    } else {
                        set(&mut host.total, k, v)
                    };
                    assert!(handled, "{at}: unknown host key `{k}`");
                }
                view.hosts.push(host);
            }
            "object" => {
                let mut parts = rest.split_whitespace();
                let id = parts.next().expect("object id").to_string();
                let mut location = ObjectLocation {
                    hosts: vec![],
                    size: 0,
                };
                for part in parts {
                    match part.split_once('=') {
                        Some(("on", hosts)) => {
                            location.hosts = hosts.split(',').map(str::to_string).collect()
                        }
                        Some(("size", s)) => location.size = size(s),
                        _ => panic!("{at}: `{part}`"),
                    }
                }
                view.objects.insert(id, location);
            }
            "bundle" => {
                let mut parts = rest.split_whitespace();
                let group = parts.next().expect("bundle's group").to_string();
                let index = parts
                    .next()
                    .expect("bundle's index")
                    .parse()
                    .expect("index");
                let mut bundle = BundleView {
                    group,
                    index,
                    total: Resources::default(),
                    used: Resources::default(),
                };
                let mut on = String::new();
                for part in parts {
                    let (k, v) = part
                        .split_once('=')
                        .unwrap_or_else(|| panic!("{at}: `{part}`"));
                    let handled = match k {
                        "on" => {
                            on = v.to_string();
                            true
                        }
                        k => match k.strip_prefix("used-") {
                            Some(name) => set(&mut bundle.used, name, v),
                            None => set(&mut bundle.total, k, v),
                        },
                    };
                    assert!(handled, "{at}: unknown bundle key `{k}`");
                }
                view.hosts
                    .iter_mut()
                    .find(|h| h.id == on)
                    .unwrap_or_else(|| panic!("{at}: no host `{on}` declared"))
                    .bundles
                    .push(bundle);
            }
            "group" => {
                let mut demand = GroupDemand::default();
                for part in rest.split_whitespace() {
                    let (k, v) = part
                        .split_once('=')
                        .unwrap_or_else(|| panic!("{at}: `{part}`"));
                    match k {
                        "strategy" => {
                            demand.strategy = match v {
                                "pack" => GroupStrategy::Pack,
                                "spread" => GroupStrategy::Spread,
                                "strict-pack" => GroupStrategy::StrictPack,
                                "strict-spread" => GroupStrategy::StrictSpread,
                                _ => panic!("{at}: unknown group strategy `{v}`"),
                            }
                        }
                        "bundles" => {
                            for b in v.split(';') {
                                let mut r = Resources::default();
                                for kv in b.split(',') {
                                    let (k, v) = kv
                                        .split_once(':')
                                        .or_else(|| kv.split_once('='))
                                        .unwrap_or_else(|| panic!("{at}: `{kv}`"));
                                    assert!(set(&mut r, k, v), "{at}: unknown resource `{k}`");
                                }
                                demand.bundles.push(r);
                            }
                        }
                        "placed" => {
                            demand.placed = v
                                .split(',')
                                .map(|h| (h != "-").then(|| h.to_string()))
                                .collect()
                        }
                        _ => panic!("{at}: unknown group key `{k}`"),
                    }
                }
                group = Some(demand);
            }
            "expect-group" => {
                let demand = group
                    .as_ref()
                    .unwrap_or_else(|| panic!("{at}: expect-group before group"));
                let got = place_group(&view, demand);
                match rest.strip_prefix("pending: ") {
                    Some(text) => match &got {
                        GroupPlacement::Pending(reason) => assert!(
                            reason.contains(text),
                            "{at}: reason `{reason}` lacks `{text}`"
                        ),
                        other => panic!("{at}: expected pending, got {other:?}"),
                    },
                    None => assert_eq!(
                        got,
                        GroupPlacement::Hosts(rest.split(',').map(str::to_string).collect()),
                        "{at}"
                    ),
                }
                checked += 1;
            }
            "task" => {
                let mut demand = TaskDemand::default();
                let mut bundle_group: Option<String> = None;
                let mut bundle_index: Option<u32> = None;
                for part in rest.split_whitespace() {
                    let (k, v) = part
                        .split_once('=')
                        .unwrap_or_else(|| panic!("{at}: `{part}`"));
                    match k {
                        "group" => bundle_group = Some(v.to_string()),
                        "bundle" => bundle_index = Some(v.parse().expect("bundle index")),
                        "args" => demand.args = v.split(',').map(str::to_string).collect(),
                        "strategy" => {
                            demand.strategy = match v.split_once(':') {
                                None if v == "spread" => Strategy::Spread,
                                None if v == "default" => Strategy::Default,
                                Some(("affinity", h)) => Strategy::NodeAffinity {
                                    host: h.into(),
                                    soft: false,
                                },
                                Some(("soft-affinity", h)) => Strategy::NodeAffinity {
                                    host: h.into(),
                                    soft: true,
                                },
                                _ => panic!("{at}: unknown strategy `{v}`"),
                            }
                        }
                        k => assert!(
                            set(&mut demand.resources, k, v),
                            "{at}: unknown task key `{k}`"
                        ),
                    }
                }
                if let Some(group) = bundle_group {
                    demand.strategy = Strategy::Bundle {
                        group,
                        index: bundle_index,
                    };
                }
                task = Some(demand);
            }
            "expect" => {
                let demand = task
                    .as_ref()
                    .unwrap_or_else(|| panic!("{at}: expect before task"));
                let got = place(&view, demand);
                match rest.strip_prefix("error: ") {
                    Some(text) => match &got {
                        Err(e) => assert!(
                            e.to_string().contains(text),
                            "{at}: error `{e}` lacks `{text}`"
                        ),
                        Ok(p) => panic!("{at}: expected an error, got {p:?}"),
                    },
                    None => {
                        let expected = match rest.split_once(" bundle ") {
                            _ if rest == "queue" => Placement::Queue,
                            Some((host, index)) => Placement::InBundle {
                                host: host.to_string(),
                                index: index.parse().expect("bundle index"),
                            },
                            None => Placement::Host(rest.to_string()),
                        };
                        assert_eq!(got, Ok(expected), "{at}");
                    }
                }
                checked += 1;
            }
            other => panic!("{at}: unknown directive `{other}`"),
        }
    }
    checked
}

#[test]
fn scheduler_cases() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scheduler");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("cases dir")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    let mut total = 0;
    for path in files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
    {
        let text = std::fs::read_to_string(path).expect("case file");
        total += run_file(
            &path.file_name().unwrap_or_default().to_string_lossy(),
            &text,
        );
    }
    assert!(total > 10, "only {total} placements checked");
    println!("{total} placements checked");
}
