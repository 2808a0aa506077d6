//! The web dashboard in a real headless Chromium: a replicated cluster
//! with two hosts runs tasks, an actor and jobs, and the pages show what a
//! person would look for; the page follows the cluster when its leader is
//! killed; a cluster with tokens asks the browser for one. Screenshots of
//! every page land in `target/dashboard-screenshots/`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use weft_tests::browser::Browser;
use weft_tests::{Cluster, Group, guests, http_request};

const PATIENCE: Duration = Duration::from_secs(30);

/// Where the screenshots go: beside the binaries under test.
fn screenshots() -> PathBuf {
    weft_tests::weft_bin()
        .parent()
        .and_then(|debug| debug.parent())
        .map_or_else(std::env::temp_dir, PathBuf::from)
        .join("dashboard-screenshots")
}

fn job_id(out: &str) -> String {
    let id = out.lines().next().unwrap_or_default().trim().to_string();
    assert!(id.starts_with("job-"), "{out}");
    id
}

/// The text of the table row of `table` whose text contains `needle`, as
/// a JavaScript expression ('' when none).
fn row_with(table: &str, needle: &str) -> String {
    format!(
        "[...document.querySelectorAll('#{table} tbody tr')].map(r => r.innerText)\
         .find(t => t.includes({needle:?})) || ''"
    )
}

#[test]
fn the_dashboard_shows_a_cluster_of_two_hosts_and_follows_a_new_leader() {
    let mut group = Group::start(3, &["--host-timeout", "2", "--dashboard-port", "0"]).unwrap();
    let leader = group.wait_for_leader(Duration::from_secs(20)).unwrap();
    group.start_host("a", 2, &["--http-port", "0"]).unwrap();
    group.start_host("b", 2, &[]).unwrap();
    for (file, name) in [
        (guests::HELLO, "hello"),
        (guests::COUNTER, "counter"),
        (guests::JOB, "job"),
        (guests::HTTP_HELLO, "web"),
        (guests::TUNE, "trainable"),
    ] {
        group.weft_ok(&["deploy", file, "--name", name]).unwrap();
    }
    for i in 0..6 {
        group
            .weft_ok(&["submit", "hello", &format!("greet(\"n{i}\")")])
            .unwrap();
    }
    group
        .weft_ok(&[
            "actor", "create", "counter", "counter", "new(0)", "--name", "hits",
        ])
        .unwrap();
    assert_eq!(
        group
            .weft_ok(&["actor", "call", "hits", "incr()"])
            .unwrap()
            .trim(),
        "1"
    );
    group
        .weft_ok(&["pg", "create", "--bundle", "cpus=1", "--name", "gang"])
        .unwrap();
    group
        .weft_ok(&[
            "pg",
            "create",
            "--bundle",
            "cpus=1000",
            "--name",
            "toobig",
            "--wait",
            "0",
        ])
        .unwrap();
    group
        .weft_ok(&["route", "add", "/hello/...", "web"])
        .unwrap();
    let gateway = group.host_http_address("a").expect("host a serves HTTP");
    // The route reaches the host with the next catalog: wait for it.
    weft_tests::eventually(PATIENCE, || {
        let (status, body) = http_request(&gateway, "GET", "/hello/weft", b"").unwrap();
        weft_tests::fact(status == 200, || {
            format!("/hello/... never served: {status} {body}")
        })
    })
    .unwrap();
    for _ in 0..4 {
        let (status, body) = http_request(&gateway, "GET", "/hello/weft", b"").unwrap();
        assert_eq!(status, 200, "{body}");
    }
    let env = ["--runtime-env", "JOB_COMPONENT=job"];
    let squares = job_id(
        &group
            .weft_ok(
                &[
                    &[
                        "job",
                        "submit",
                        "job",
                        "run(4, 50)",
                        "--name",
                        "squares",
                        "--wait",
                    ][..],
                    &env,
                ]
                .concat(),
            )
            .unwrap(),
    );
    let endless = job_id(
        &group
            .weft_ok(
                &[
                    &[
                        "job",
                        "submit",
                        "job",
                        "forever(1, 1000)",
                        "--name",
                        "endless",
                    ][..],
                    &env,
                ]
                .concat(),
            )
            .unwrap(),
    );

    let shots = screenshots();
    let url = group
        .dashboard(leader)
        .expect("the leader serves a dashboard");
    let mut browser = Browser::launch(1400, 1000).unwrap();

    // Cluster: both hosts alive, the finished tasks counted, data charted.
    browser.navigate(&format!("{url}#/cluster")).unwrap();
    browser
        .wait_for(
            "both hosts alive",
            "[...document.querySelectorAll('#hosts tbody tr')].filter(r => r.innerText.includes('alive'))\
             .map(r => r.cells[0].innerText).sort().join(',') === 'a,b'",
            PATIENCE,
        )
        .unwrap();
    let finished = browser
        .wait_for(
            "six finished tasks",
            "(n => n >= 6 && n)(Number(document.querySelector('[data-tile=finished] .value').innerText))",
            PATIENCE,
        )
        .unwrap();
    browser
        .wait_for(
            "a chart with data",
            "[...document.querySelectorAll('#task-chart path[data-series]')]\
             .some(p => p.getAttribute('d').split('L').length > 2)",
            PATIENCE,
        )
        .unwrap();
    let controllers = browser
        .eval("[...document.querySelectorAll('#controllers tbody tr')].map(r => r.innerText)")
        .unwrap();
    let controllers = controllers.as_array().unwrap();
    assert_eq!(controllers.len(), 3, "{controllers:?}");
    assert_eq!(
        controllers
            .iter()
            .filter(|r| r.as_str().unwrap().contains("leader"))
            .count(),
        1,
        "{controllers:?}"
    );
    println!("cluster page: {finished} finished tasks shown");
    browser.screenshot(&shots.join("cluster.png")).unwrap();

    // Tasks: the table, filtered by text, and one task's history.
    browser.navigate(&format!("{url}#/tasks")).unwrap();
    browser
        .wait_for("greet tasks", &row_with("tasks", "greet"), PATIENCE)
        .unwrap();
    browser
        .eval(
            "(() => { const i = document.getElementById('task-filter'); i.value = 'square'; \
             i.dispatchEvent(new Event('input')); return true; })()",
        )
        .unwrap();
    browser
        .wait_for(
            "only the job's square tasks",
            "(rows => rows.length > 0 && rows.every(r => r.cells[2].innerText === 'square'))\
             ([...document.querySelectorAll('#tasks tbody tr')])",
            PATIENCE,
        )
        .unwrap();
    browser.screenshot(&shots.join("tasks.png")).unwrap();
    browser
        .eval("document.querySelector('#tasks tbody tr').click(), true")
        .unwrap();
    browser
        .wait_for(
            "a task's events",
            "[...document.querySelectorAll('#events tbody tr')].some(r => r.innerText.includes('finished'))",
            PATIENCE,
        )
        .unwrap();
    browser.screenshot(&shots.join("task.png")).unwrap();

    // Actors: alive, with its calls.
    browser.navigate(&format!("{url}#/actors")).unwrap();
    let actor = browser
        .wait_for("the actor alive", &row_with("actors", "hits"), PATIENCE)
        .unwrap();
    assert!(actor.as_str().unwrap().contains("alive"), "{actor}");
    browser.screenshot(&shots.join("actors.png")).unwrap();

    // Placement groups: one created with its bundle's host, one that waits
    // and says why.
    browser.navigate(&format!("{url}#/groups")).unwrap();
    let created = browser
        .wait_for("the created group", &row_with("groups", "gang"), PATIENCE)
        .unwrap();
    assert!(created.as_str().unwrap().contains("created"), "{created}");
    let waiting = browser
        .wait_for("the waiting group", &row_with("groups", "toobig"), PATIENCE)
        .unwrap();
    assert!(
        waiting.as_str().unwrap().contains("fits no live host"),
        "{waiting}"
    );
    browser.screenshot(&shots.join("groups.png")).unwrap();

    // Serve: a deployment with its replica, by host and state.
    let app_dir = tempfile::tempdir().unwrap();
    let app = app_dir.path().join("app.yaml");
    std::fs::write(
        &app,
        "applications:\n  - name: site\n    deployments:\n      - name: greet\n        \
         component: web\n        route: /greet/...\n",
    )
    .unwrap();
    group
        .weft_ok(&["serve", "deploy", &app.display().to_string()])
        .unwrap();
    browser.navigate(&format!("{url}#/serve")).unwrap();
    let deployment = browser
        .wait_for("the deployment", &row_with("serve", "site/greet"), PATIENCE)
        .unwrap();
    let deployment = deployment.as_str().unwrap();
    assert!(
        deployment.contains("/greet/...")
            && deployment.contains("1/1")
            && deployment.contains("running"),
        "{deployment}"
    );
    browser.screenshot(&shots.join("serve.png")).unwrap();

    // Jobs: the finished one's logs, then a running one stopped from the page.
    browser.navigate(&format!("{url}#/jobs")).unwrap();
    let row = browser
        .wait_for("the finished job", &row_with("jobs", "squares"), PATIENCE)
        .unwrap();
    assert!(row.as_str().unwrap().contains("SUCCEEDED"), "{row}");
    browser.navigate(&format!("{url}#/job/{squares}")).unwrap();
    browser
        .wait_for(
            "the job's log lines",
            "(document.getElementById('logs')?.innerText || '').includes('sum of squares')",
            PATIENCE,
        )
        .unwrap();
    browser.screenshot(&shots.join("job.png")).unwrap();

    // A job's log followed as it writes: opened before its tasks finish.
    let slow = job_id(
        &group
            .weft_ok(
                &[
                    &["job", "submit", "job", "run(8, 3000)", "--name", "slow"][..],
                    &env,
                ]
                .concat(),
            )
            .unwrap(),
    );
    browser.navigate(&format!("{url}#/job/{slow}")).unwrap();
    browser
        .wait_for(
            "the slow job's first line",
            "(document.getElementById('logs')?.innerText || '').includes('submitted 8 tasks')",
            PATIENCE,
        )
        .unwrap();
    let early = browser
        .eval("document.getElementById('logs').innerText")
        .unwrap();
    assert!(
        !early.as_str().unwrap().contains("sum of squares"),
        "the job ended before its page opened: {early}"
    );
    browser
        .wait_for(
            "the slow job's last line, without a reload",
            "(document.getElementById('logs')?.innerText || '').includes('sum of squares')",
            PATIENCE,
        )
        .unwrap();

    browser.navigate(&format!("{url}#/jobs")).unwrap();
    browser
        .wait_for(
            "the running job's stop button",
            &format!("document.querySelector('[data-stop={endless:?}]')"),
            PATIENCE,
        )
        .unwrap();
    browser
        .eval(&format!(
            "document.querySelector('[data-stop={endless:?}]').click(), true"
        ))
        .unwrap();
    browser
        .wait_for(
            "the job stopped",
            &format!("({}).includes('STOPPED')", row_with("jobs", &endless)),
            PATIENCE,
        )
        .unwrap();
    assert!(
        group
            .weft_ok(&["job", "status", &endless])
            .unwrap()
            .contains("STOPPED")
    );
    browser.screenshot(&shots.join("jobs.png")).unwrap();

    // Tune: an experiment in the list, and its trials with how each ended.
    let experiment = group
        .weft_ok(&[
            "tune",
            "run",
            "trainable",
            "train",
            "--metric",
            "score",
            "--name",
            "sweep",
            "--space",
            r#"{"rate": {"grid_search": [0.1, 0.9]}, "iterations": 3, "work-ms": 0}"#,
            "--stop-iterations",
            "2",
            "--json",
        ])
        .unwrap();
    let experiment: serde_json::Value = serde_json::from_str(&experiment).unwrap();
    let id = experiment["id"].as_str().unwrap();
    browser.navigate(&format!("{url}#/tune")).unwrap();
    let row = browser
        .wait_for("the experiment", &row_with("tune", "sweep"), PATIENCE)
        .unwrap();
    assert!(row.as_str().unwrap().contains("FINISHED"), "{row}");
    browser
        .navigate(&format!("{url}#/experiment/{id}"))
        .unwrap();
    let trial = browser
        .wait_for(
            "a trial",
            &row_with("trials", &format!("{id}_00001")),
            PATIENCE,
        )
        .unwrap();
    let trial = trial.as_str().unwrap();
    assert!(
        trial.contains("TERMINATED")
            && trial.contains("1.8")
            && trial.contains("stop: 2 iterations"),
        "{trial}"
    );
    browser.screenshot(&shots.join("tune.png")).unwrap();

    // Objects and components.
    browser.navigate(&format!("{url}#/objects")).unwrap();
    browser
        .wait_for(
            "both hosts' stores",
            "document.body.innerText.includes('Host a') && document.body.innerText.includes('Host b')",
            PATIENCE,
        )
        .unwrap();
    browser.screenshot(&shots.join("objects.png")).unwrap();
    browser.navigate(&format!("{url}#/components")).unwrap();
    browser
        .wait_for(
            "hello's export",
            "document.body.innerText.includes('greet: func(name: string) -> string')",
            PATIENCE,
        )
        .unwrap();
    browser
        .wait_for(
            "the route's five answers",
            &format!("({}).includes('200: 5')", row_with("routes", "/hello/...")),
            PATIENCE,
        )
        .unwrap();
    browser.screenshot(&shots.join("components.png")).unwrap();

    // The leader dies: the page moves to another replica's dashboard and
    // shows the new leader.
    browser.navigate(&format!("{url}#/cluster")).unwrap();
    browser
        .wait_for(
            "the cluster page",
            "document.getElementById('hosts')",
            PATIENCE,
        )
        .unwrap();
    group.kill(leader);
    let killed = Instant::now();
    let origin = url.trim_end_matches('/').to_string();
    browser
        .wait_for(
            "another replica's dashboard",
            &format!(
                "!location.href.startsWith({origin:?}) && document.getElementById('controllers')"
            ),
            Duration::from_secs(60),
        )
        .unwrap();
    let new_leader = browser
        .wait_for(
            "a new leader",
            &format!(
                "(r => r && r.cells[0].innerText)([...document.querySelectorAll('#controllers tbody tr')]\
                 .find(r => r.innerText.includes('leader') && r.cells[0].innerText !== '{leader}'))"
            ),
            Duration::from_secs(60),
        )
        .unwrap();
    let moved_to = browser.url().unwrap();
    println!(
        "leader {leader} killed: the page moved to {moved_to} and showed leader {new_leader} after {:.1} s",
        killed.elapsed().as_secs_f64()
    );
    browser
        .wait_for(
            "the killed replica unreachable",
            &format!(
                "({}).includes('unreachable')",
                row_with(
                    "controllers",
                    &format!("127.0.0.1:{}", port_of(&group, leader))
                )
            ),
            PATIENCE,
        )
        .unwrap();
    browser
        .wait_for(
            "hosts still listed",
            "[...document.querySelectorAll('#hosts tbody tr')].filter(r => r.innerText.includes('alive')).length === 2",
            PATIENCE,
        )
        .unwrap();
    browser
        .screenshot(&shots.join("after-leader-killed.png"))
        .unwrap();
}

/// Replica `id`'s client port.
fn port_of(group: &Group, id: u64) -> String {
    group
        .address(id)
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// CPU seconds `pid` has used (user and system).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command name, which is in parentheses.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

#[test]
fn a_cluster_with_tokens_asks_the_browser_for_one_and_polling_costs_little() {
    let cluster = Cluster::start().unwrap();
    let url = cluster
        .dashboard()
        .expect("weft up serves a dashboard")
        .to_string();
    let token = std::fs::read_to_string(cluster.data_dir().join("auth-token")).unwrap();
    let token = token.trim();
    let addr = url.trim_start_matches("http://").trim_end_matches('/');

    // Without a token the views refuse; the page itself is public.
    let (status, body) = http_request(addr, "GET", "/api/overview", b"").unwrap();
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("needs a token"), "{body}");
    let (status, _) = http_request(addr, "GET", "/", b"").unwrap();
    assert_eq!(status, 200);
    let (status, body) = http_request(addr, "GET", "/login?token=wrong", b"").unwrap();
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("wrong token"), "{body}");

    // `weft dashboard` prints a link that signs in.
    let link = cluster.weft_ok(&["dashboard"]).unwrap();
    let link = link.trim();
    assert_eq!(link, format!("{url}login?token={token}"));
    let (status, body) = http_request(addr, "GET", &link[url.len() - 1..], b"").unwrap();
    assert_eq!(status, 303, "{body}");

    // What the page costs: the process's CPU with no page open (the
    // overview is read every 10 s), then with the cluster page polling.
    let pid = cluster.pid().unwrap();
    let window = Duration::from_secs(10);
    let before = cpu_seconds(pid);
    std::thread::sleep(window);
    let idle = (cpu_seconds(pid) - before) / window.as_secs_f64();

    let mut browser = Browser::launch(1400, 900).unwrap();
    browser.navigate(&url).unwrap();
    browser
        .wait_for(
            "the sign-in form",
            "document.querySelector('form[action=\"/login\"]')",
            PATIENCE,
        )
        .unwrap();
    browser
        .screenshot(&screenshots().join("sign-in.png"))
        .unwrap();
    browser
        .eval(&format!(
            "(() => {{ document.querySelector('input[name=token]').value = {token:?}; \
             document.querySelector('form').submit(); return true; }})()"
        ))
        .unwrap();
    browser
        .wait_for(
            "the embedded host, signed in",
            &row_with("hosts", "embedded"),
            PATIENCE,
        )
        .unwrap();
    // A fresh load, timed: first paint, and the first data drawn.
    browser.navigate(&format!("{url}?fresh#/cluster")).unwrap();
    let data_ms = browser
        .wait_for("the first data drawn", "window.weftFirstData", PATIENCE)
        .unwrap();
    let paint_ms = browser
        .eval("performance.getEntriesByName('first-contentful-paint')[0]?.startTime")
        .unwrap();
    let before = cpu_seconds(pid);
    let updated = browser
        .eval("document.getElementById('live').innerText")
        .unwrap();
    std::thread::sleep(window);
    let watched = (cpu_seconds(pid) - before) / window.as_secs_f64();
    let later = browser
        .eval("document.getElementById('live').innerText")
        .unwrap();
    assert_ne!(updated, later, "the page stopped updating");
    println!(
        "dashboard on weft up: first contentful paint {paint_ms} ms, first data drawn {data_ms:.0} ms; \
         weft up used {:.2}% of a core with no page open and {:.2}% with the cluster page polling every second \
         (the polling's own cost: {:.2} points)",
        idle * 100.0,
        watched * 100.0,
        (watched - idle) * 100.0
    );

    // A stop needs the page's own header: another site's form cannot send it.
    let (status, body) =
        weft_tests::http_request_as(addr, "POST", "/api/jobs/stop?id=job-x", b"", Some(token))
            .unwrap();
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("x-weft-dashboard"), "{body}");
}
