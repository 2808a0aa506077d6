//! Tune on real processes: experiments of the example trainable run by
//! the leader with `weft tune`, searched over grids and random draws,
//! stopped early by ASHA, failing trials retried, and an experiment
//! carried through the death of its driver and of the leader.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use weft_tests::{Group, eventually, fact, guests};

/// `replicas` controllers and worker hosts of 2 cpus, the trainable
/// deployed as `trainable`.
fn cluster(replicas: usize, hosts: &[&str]) -> Group {
    let hosts: Vec<(&str, &[&str])> = hosts.iter().map(|h| (*h, &[][..])).collect();
    Group::with_hosts(replicas, &hosts, &[(guests::TUNE, "trainable")])
}

/// `weft tune run trainable train --metric score ...` to its end, its
/// status as JSON.
fn run(group: &Group, space: &str, extra: &[&str]) -> Value {
    run_function(group, "train", space, extra)
}

/// [`run`] of another function of the trainable.
fn run_function(group: &Group, function: &str, space: &str, extra: &[&str]) -> Value {
    let out = tune_run(group, function, "--json", space, extra);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// `weft tune run trainable FUNCTION --metric score OUTPUT --space SPACE
/// ...`: what it printed.
fn tune_run(group: &Group, function: &str, output: &str, space: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "tune",
        "run",
        "trainable",
        function,
        "--metric",
        "score",
        output,
        "--space",
        space,
    ];
    args.extend_from_slice(extra);
    group
        .weft_ok(&args)
        .unwrap_or_else(|e| panic!("{e}\n{}", group.diagnosis()))
}

fn status(group: &Group, experiment: &str) -> Option<Value> {
    let out = group
        .weft_ok(&["tune", "status", experiment, "--json"])
        .ok()?;
    serde_json::from_str(&out).ok()
}

/// `weft tune run trainable train --metric score --space SPACE ...
/// --detach`: the experiment's id, at once.
fn start(group: &Group, space: &str, extra: &[&str]) -> String {
    tune_run(group, "train", "--detach", space, extra)
        .trim()
        .to_string()
}

/// `weft tune run trainable train --metric score ...`, which must be
/// refused: its error.
fn refused(group: &Group, extra: &[&str]) -> String {
    let mut args = vec!["tune", "run", "trainable", "train", "--metric", "score"];
    args.extend_from_slice(extra);
    group.weft_err(&args).unwrap()
}

/// Waits until experiment `id` has finished; its status.
fn finished(group: &Group, id: &str) -> Value {
    let done = eventually(Duration::from_secs(60), || {
        let now = status(group, id);
        let state = now.as_ref().map(|s| s["state"].clone());
        fact(state == Some(Value::from("FINISHED")), || {
            format!("{now:?}")
        })
    });
    done.unwrap_or_else(|e| panic!("never finished: {e}\n{}", group.diagnosis()));
    status(group, id).expect("a status")
}

fn trials(status: &Value) -> &Vec<Value> {
    status["trials"].as_array().expect("trials")
}

fn scores(trial: &Value) -> Vec<f64> {
    trial["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["score"].as_f64().expect("a score"))
        .collect()
}

#[test]
fn grid_and_random_search_run_every_config_and_name_the_best() {
    let group = cluster(1, &["h1"]);
    let grid = r#"{"rate": {"grid_search": [0.1, 0.5, 0.9]}, "iterations": 3, "work-ms": 0}"#;
    let status = run(&group, grid, &["--num-samples", "2"]);
    assert_eq!(status["state"], "FINISHED", "{status}");
    assert_eq!(status["total_trials"], 6);
    let mut rates = Vec::new();
    for trial in trials(&status) {
        assert_eq!(trial["state"], "TERMINATED", "{trial}");
        let rate = trial["config"]["rate"].as_f64().unwrap();
        rates.push(rate);
        // Three reports; the return value repeats the last, so it adds
        // none.
        let s = scores(trial);
        assert_eq!(s.len(), 3, "{trial}");
        for (i, score) in s.iter().enumerate() {
            assert!((score - rate * (i + 1) as f64).abs() < 1e-9, "{trial}");
        }
    }
    // The grid in order, repeated per sample.
    assert_eq!(rates, vec![0.1, 0.5, 0.9, 0.1, 0.5, 0.9]);
    // The best is the first trial of the steepest rate.
    let best = status["best_trial"].as_str().unwrap();
    assert!(best.ends_with("_00002"), "{status}");

    // Random draws: in range, and the same seed draws the same configs.
    let random =
        r#"{"rate": {"uniform": [0.2, 0.4]}, "iterations": 1, "work-ms": {"choice": [0, 1]}}"#;
    let configs = |status: &Value| -> Vec<Value> {
        trials(status).iter().map(|t| t["config"].clone()).collect()
    };
    let first = run(&group, random, &["--num-samples", "5", "--seed", "11"]);
    let again = run(&group, random, &["--num-samples", "5", "--seed", "11"]);
    assert_eq!(configs(&first), configs(&again));
    for config in configs(&first) {
        let rate = config["rate"].as_f64().unwrap();
        assert!((0.2..0.4).contains(&rate), "{config}");
        assert!(config["work-ms"] == 0 || config["work-ms"] == 1, "{config}");
    }
    // Both are listed, newest first.
    let list = group.weft_ok(&["tune", "list"]).unwrap();
    assert_eq!(list.lines().count(), 3, "{list}");
    assert!(
        list.lines()
            .next()
            .unwrap()
            .starts_with(again["id"].as_str().unwrap()),
        "{list}"
    );
}

#[test]
fn asha_stops_the_trials_below_each_rung_of_known_curves() {
    let group = cluster(1, &["h1"]);
    // One trial at a time, in grid order, so the rungs fill in a known
    // order: rungs at 1, 2 and 4 iterations (reduction factor 2), and a
    // budget of 8 iterations of the 10 each trial would run.
    let space = r#"{"rate": {"grid_search": [0.5, 0.9, 0.1, 0.6, 0.3, 0.8]}, "iterations": 10, "work-ms": 1}"#;
    let status = run(
        &group,
        space,
        &[
            "--scheduler",
            "asha",
            "--max-t",
            "8",
            "--reduction-factor",
            "2",
            "--max-concurrent-trials",
            "1",
        ],
    );
    assert_eq!(status["state"], "FINISHED", "{status}");
    let outcome: Vec<(String, usize)> = trials(&status)
        .iter()
        .map(|t| (t["state"].as_str().unwrap().to_string(), scores(t).len()))
        .collect();
    // 0.5 and 0.9 set each rung; 0.1 is below the median at rung 1; 0.6
    // passes rung 1 (median 0.5) but not rung 2 (1.2 < 1.4); 0.3 falls at
    // rung 1 (median 0.55); 0.8 passes all three. The survivors end at
    // max_t, done rather than stopped.
    let expected: Vec<(String, usize)> = [
        ("TERMINATED", 8),
        ("TERMINATED", 8),
        ("STOPPED", 1),
        ("STOPPED", 2),
        ("STOPPED", 1),
        ("TERMINATED", 8),
    ]
    .iter()
    .map(|(s, n)| (s.to_string(), *n))
    .collect();
    assert_eq!(outcome, expected, "{status}");
    let stopped = &trials(&status)[3];
    assert!(
        stopped["stopped_by"]
            .as_str()
            .unwrap()
            .contains("iteration 2"),
        "{stopped}"
    );

    // HyperBand: two brackets below max_t 9 (rungs at 1 and 3, and at 3
    // alone); trials alternate between them, so the odd ones are never
    // judged at iteration 1.
    let status = run(
        &group,
        r#"{"rate": {"grid_search": [0.9, 0.8, 0.1, 0.2, 0.05, 0.7]}, "iterations": 10, "work-ms": 1}"#,
        &[
            "--scheduler",
            "hyperband",
            "--max-t",
            "9",
            "--reduction-factor",
            "3",
            "--max-concurrent-trials",
            "1",
        ],
    );
    let outcome: Vec<(String, usize)> = trials(&status)
        .iter()
        .map(|t| (t["state"].as_str().unwrap().to_string(), scores(t).len()))
        .collect();
    // Bracket 0 (0.9, 0.1, 0.05): 0.1 and 0.05 fall at rung 1. Bracket 1
    // (0.8, 0.2, 0.7): 0.2 falls at rung 3 (0.6 against 2.4), 0.7 passes
    // it (2.1 against a cutoff of 1.8, the top third of 2.4 and 0.6).
    let expected: Vec<(String, usize)> = [
        ("TERMINATED", 9),
        ("TERMINATED", 9),
        ("STOPPED", 1),
        ("STOPPED", 3),
        ("STOPPED", 1),
        ("TERMINATED", 9),
    ]
    .iter()
    .map(|(s, n)| (s.to_string(), *n))
    .collect();
    assert_eq!(outcome, expected, "{status}");
}

#[test]
fn a_failing_trial_is_retried_and_bad_experiments_are_named() {
    let group = cluster(1, &["h1"]);
    let space =
        r#"{"rate": 1.0, "iterations": 3, "work-ms": 0, "trap-at": {"grid_search": [null, 2]}}"#;
    let status = run(&group, space, &["--max-failures", "2"]);
    let ran = trials(&status);
    assert_eq!(ran[0]["state"], "TERMINATED", "{status}");
    assert_eq!(ran[0]["failures"], 0);
    // Three attempts (the first and two retries), each failing at
    // iteration 2, and the trap named.
    assert_eq!(ran[1]["state"], "ERROR", "{status}");
    assert_eq!(ran[1]["failures"], 3, "{status}");
    assert!(
        ran[1]["error"]
            .as_str()
            .unwrap()
            .contains("the trial failed at iteration 2"),
        "{status}"
    );
    // A retry starts over: only its own first result is kept.
    assert_eq!(scores(&ran[1]), vec![1.0], "{status}");

    // A result without the metric fails its trial, naming what it has.
    let out = group
        .weft_ok(&[
            "tune",
            "run",
            "trainable",
            "train",
            "--metric",
            "loss",
            "--mode",
            "min",
            "--json",
            "--space",
            r#"{"rate": 1.0, "iterations": 2, "work-ms": 0}"#,
        ])
        .unwrap();
    let missing: Value = serde_json::from_str(&out).unwrap();
    let error = missing["trials"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("no numeric `loss` (it has iteration, score)"),
        "{missing}"
    );

    // Refused before any trial runs: configs the trainable cannot take,
    // a space that is no space, an unknown scheduler or component.
    let err = refused(
        &group,
        &[
            "--space",
            r#"{"rate": "fast", "iterations": 1, "work-ms": 0}"#,
        ],
    );
    assert!(
        err.contains("cannot take the search space's configs"),
        "{err}"
    );
    assert!(err.contains("rate"), "{err}");
    let err = refused(&group, &["--space", r#"{"rate": {"uniform": [1, 0]}}"#]);
    assert!(
        err.contains("param_space.rate: uniform: lower (1) must be below upper (0)"),
        "{err}"
    );
    let err = refused(
        &group,
        &["--space", "{}", "--scheduler", r#"{"type": "hyperband9"}"#],
    );
    assert!(
        err.contains("types: fifo, asha, hyperband, median_stopping, pbt"),
        "{err}"
    );
    let err = group
        .weft_err(&[
            "tune",
            "run",
            "nothing-here",
            "train",
            "--metric",
            "score",
            "--space",
            "{}",
        ])
        .unwrap();
    assert!(err.contains("nothing-here"), "{err}");
    // Nothing refused was recorded.
    let list = group.weft_ok(&["tune", "list"]).unwrap();
    assert_eq!(list.lines().count(), 2, "{list}");
}

#[test]
fn an_experiment_outlives_its_driver_and_a_leader_kill_counting_each_trial_once() {
    let mut group = cluster(3, &["h1", "h2"]);
    let leader = group.wait_for_leader(Duration::from_secs(20)).unwrap();
    // Twelve trials of ten 40 ms iterations, two at a time: about 3 s.
    let space = r#"{"rate": {"grid_search": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]}, "iterations": 10, "work-ms": 40}"#;
    let args = [
        "tune",
        "run",
        "trainable",
        "train",
        "--metric",
        "score",
        "--name",
        "failover",
        "--max-concurrent-trials",
        "2",
        "--space",
        space,
    ];
    let mut driver = std::process::Command::new(weft_tests::weft_bin())
        .args(group.with_token(&args))
        .env("WEFT_ADDRESS", group.addresses())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let ended = |status: &Value| {
        trials(status)
            .iter()
            .filter(|t| t["state"] != "RUNNING")
            .count()
    };
    let waited = eventually(Duration::from_secs(30), || {
        let now = status(&group, "failover");
        let n = now.as_ref().map_or(0, ended);
        fact(n >= 2, || format!("{n} trials ended: {now:?}"))
    });
    waited.unwrap_or_else(|e| panic!("no trial ended: {e}\n{}", group.diagnosis()));
    // The driver goes, then the leader.
    driver.kill().unwrap();
    driver.wait().unwrap();
    group.kill(leader);
    let next = group.wait_for_leader(Duration::from_secs(20)).unwrap();
    assert_ne!(next, leader);
    let done = finished(&group, "failover");
    let by_index: BTreeMap<u64, &Value> = trials(&done)
        .iter()
        .map(|t| (t["index"].as_u64().unwrap(), t))
        .collect();
    assert_eq!(trials(&done).len(), 12, "{done}");
    assert_eq!(by_index.len(), 12, "each trial once: {done}");
    for (index, trial) in by_index {
        assert_eq!(trial["state"], "TERMINATED", "{trial}");
        let s = scores(trial);
        // Ten reports of this trial's rate.
        assert_eq!(s.len(), 10, "{trial}");
        assert_eq!(s[9], 10.0 * (index + 1) as f64, "{trial}");
    }
}

/// A checkpointed trial's results as (score, the score it was restored
/// from).
fn progress(trial: &Value) -> Vec<(f64, f64)> {
    trial["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                r["score"].as_f64().unwrap(),
                r["restored"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn pbt_trials_go_on_from_the_best_ones_checkpoints_and_a_failed_trial_from_its_own() {
    let group = cluster(1, &["h1"]);
    // A failed trial goes on from its latest checkpoint: two reports, a
    // trap at the third, then the rest from the score it had.
    let status = run_function(
        &group,
        "train-checkpointed",
        r#"{"rate": 1.5, "iterations": 3, "work-ms": 0, "trap-at": 3}"#,
        &["--max-failures", "1", "--stop-iterations", "4"],
    );
    let trial = &trials(&status)[0];
    assert_eq!(trial["state"], "TERMINATED", "{status}");
    assert_eq!(trial["failures"], 1, "{status}");
    assert_eq!(
        progress(trial),
        vec![(1.5, 0.0), (3.0, 0.0), (4.5, 3.0), (6.0, 3.0)],
        "{status}"
    );

    // PBT: four trials at once; every second iteration the poorest takes
    // the checkpoint of the best and a neighbouring rate of the best's.
    let rates = [0.1, 0.2, 1.0, 2.0];
    let status = run_function(
        &group,
        "train-checkpointed",
        r#"{"rate": {"grid_search": [0.1, 0.2, 1.0, 2.0]}, "iterations": 100, "work-ms": 20}"#,
        &[
            "--scheduler",
            "pbt",
            "--perturbation-interval",
            "2",
            "--hyperparam-mutations",
            r#"{"rate": [0.1, 0.2, 1.0, 2.0]}"#,
            "--resample-probability",
            "0",
            "--cpus",
            "0.5",
            "--stop-iterations",
            "8",
        ],
    );
    assert_eq!(status["state"], "FINISHED", "{status}");
    let all = trials(&status);
    let by_id: BTreeMap<&str, &Value> =
        all.iter().map(|t| (t["id"].as_str().unwrap(), t)).collect();
    let mut exploits = 0;
    for trial in all {
        assert_eq!(trial["state"], "TERMINATED", "{trial}");
        assert_eq!(scores(trial).len(), 8, "{trial}");
        for note in trial["exploited"].as_array().unwrap() {
            exploits += 1;
            let note = note.as_str().unwrap();
            // "at iteration N: took DONOR's checkpoint, config {...}"
            let donor = note
                .split("took ")
                .nth(1)
                .unwrap()
                .split('\'')
                .next()
                .unwrap();
            let donor = by_id[donor];
            let config: Value =
                serde_json::from_str(note.split("config ").nth(1).unwrap()).unwrap();
            // The config is the donor's, its rate moved to a neighbour.
            let from = rates
                .iter()
                .position(|r| *r == donor["config"]["rate"].as_f64().unwrap())
                .unwrap();
            let to = rates
                .iter()
                .position(|r| *r == config["rate"].as_f64().unwrap())
                .unwrap();
            assert!(to.abs_diff(from) <= 1, "{note} from {donor}");
        }
        // Each restore started from a score the trial it names reported:
        // the donor's checkpoint, not a fresh start.
        let restored: Vec<f64> = progress(trial)
            .iter()
            .map(|(_, r)| *r)
            .filter(|r| *r > 0.0)
            .collect();
        let donors: Vec<&Value> = trial["exploited"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                by_id[n
                    .as_str()
                    .unwrap()
                    .split("took ")
                    .nth(1)
                    .unwrap()
                    .split('\'')
                    .next()
                    .unwrap()]
            })
            .collect();
        for r in restored {
            assert!(
                donors
                    .iter()
                    .any(|d| progress(d).iter().any(|(s, _)| (s - r).abs() < 1e-9)),
                "restored from {r}, which no donor reported: {trial}"
            );
        }
    }
    assert!(exploits >= 1, "no trial exploited another: {status}");
}

#[test]
fn a_stopped_experiment_resumes_with_more_samples_and_a_new_space() {
    let group = cluster(1, &["h1"]);
    // Twelve trials of 100 ms, one at a time: stopped after two ended.
    let id = start(
        &group,
        r#"{"rate": {"uniform": [0, 1]}, "iterations": 5, "work-ms": 20}"#,
        &[
            "--name",
            "again",
            "--max-concurrent-trials",
            "1",
            "--num-samples",
            "12",
        ],
    );
    let waited = eventually(Duration::from_secs(30), || {
        let now = status(&group, &id);
        let n = now.as_ref().map_or(0, |s| {
            trials(s)
                .iter()
                .filter(|t| t["state"] == "TERMINATED")
                .count()
        });
        fact(n >= 2, || format!("{n} trials ended: {now:?}"))
    });
    waited.unwrap_or_else(|e| panic!("no trial ended: {e}\n{}", group.diagnosis()));
    // A running experiment is not resumed.
    let err = group.weft_err(&["tune", "resume", &id]).unwrap();
    assert!(err.contains("still running"), "{err}");
    group.weft_ok(&["tune", "stop", "again"]).unwrap();
    // Stopped: the trial it cut short (if one was running) is recorded as
    // such, and nothing runs.
    let stopped = eventually(Duration::from_secs(10), || {
        let now = status(&group, &id).unwrap();
        let running = trials(&now).iter().any(|t| t["state"] == "RUNNING");
        fact(now["state"] == "STOPPED" && !running, || format!("{now}"))
    });
    stopped.unwrap();
    let before = status(&group, &id).unwrap();
    let ended: BTreeMap<u64, Value> = trials(&before)
        .iter()
        .filter(|t| t["state"] == "TERMINATED")
        .map(|t| (t["index"].as_u64().unwrap(), t.clone()))
        .collect();

    // Fewer samples are refused; more run with a new space for the rest.
    let err = group
        .weft_err(&["tune", "resume", "again", "--num-samples", "5"])
        .unwrap();
    assert!(err.contains("can add samples, not remove them"), "{err}");
    let out = group
        .weft_ok(&[
            "tune",
            "resume",
            "again",
            "--num-samples",
            "14",
            "--space",
            r#"{"rate": {"uniform": [5, 6]}, "iterations": 2, "work-ms": 0}"#,
            "--json",
        ])
        .unwrap();
    let done: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(done["state"], "FINISHED", "{done}");
    assert_eq!(done["total_trials"], 14);
    let all = trials(&done);
    assert_eq!(all.len(), 14, "{done}");
    for trial in all {
        let index = trial["index"].as_u64().unwrap();
        assert_eq!(trial["state"], "TERMINATED", "{trial}");
        match ended.get(&index) {
            // What had ended is kept as it was.
            Some(before) => assert_eq!(trial, before),
            // The rest drew from the new space.
            None => {
                let rate = trial["config"]["rate"].as_f64().unwrap();
                assert!((5.0..6.0).contains(&rate), "{trial}");
                assert_eq!(scores(trial).len(), 2, "{trial}");
            }
        }
    }
}

#[test]
fn tpe_chooses_configs_from_the_trials_that_ended() {
    let group = cluster(1, &["h1"]);
    // One trial at a time, each scoring its rate: after ten random
    // configs, TPE's choices climb towards the top of the range.
    let status = run(
        &group,
        r#"{"rate": {"uniform": [0, 1]}, "iterations": 1, "work-ms": 0}"#,
        &[
            "--search-alg",
            "tpe",
            "--num-samples",
            "30",
            "--max-concurrent-trials",
            "1",
            "--seed",
            "5",
        ],
    );
    assert_eq!(status["state"], "FINISHED", "{status}");
    let rates: Vec<f64> = trials(&status)
        .iter()
        .map(|t| t["config"]["rate"].as_f64().unwrap())
        .collect();
    assert_eq!(rates.len(), 30);
    let mean = |r: &[f64]| r.iter().sum::<f64>() / r.len() as f64;
    let (first, last) = (mean(&rates[..10]), mean(&rates[20..]));
    assert!(
        last > 0.8 && last > first + 0.15,
        "random {first}, tpe {last}: {rates:?}"
    );
    // A grid is the basic variant's, not TPE's.
    let err = refused(
        &group,
        &[
            "--search-alg",
            "tpe",
            "--space",
            r#"{"rate": {"grid_search": [1, 2]}}"#,
        ],
    );
    assert!(
        err.contains("grid_search belongs to the basic variant"),
        "{err}"
    );
}

#[test]
fn each_trial_reserves_its_bundles_as_a_gang_removed_when_it_ends() {
    let group = cluster(1, &["h1", "h2"]);
    // Two trials of half a second, each a gang of a bundle on each host.
    let id = start(
        &group,
        r#"{"rate": {"grid_search": [1, 2]}, "iterations": 10, "work-ms": 50}"#,
        &[
            "--bundle",
            "cpus=1",
            "--bundle",
            "cpus=1",
            "--strategy",
            "strict-spread",
            "--max-concurrent-trials",
            "2",
        ],
    );
    let gangs = || {
        group
            .weft_ok(&["pg", "list"])
            .unwrap()
            .lines()
            .filter(|l| l.contains(&format!("{id}/")))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let placed = eventually(Duration::from_secs(30), || {
        let now = gangs();
        let both = now.len() == 2
            && now.iter().all(|l| {
                l.contains("STRICT_SPREAD") && (l.contains("on h1,h2") || l.contains("on h2,h1"))
            });
        fact(both, || format!("{now:?}"))
    });
    placed.unwrap_or_else(|e| {
        panic!(
            "the trials' gangs were never placed: {e}\n{}",
            group.diagnosis()
        )
    });
    let finished = finished(&group, &id);
    assert!(
        trials(&finished).iter().all(|t| t["state"] == "TERMINATED"),
        "{finished}"
    );
    // Each gang went with its trial.
    let removed = eventually(Duration::from_secs(10), || {
        let now = gangs();
        fact(now.iter().all(|l| l.contains("  removed  ")), || {
            format!("{now:?}")
        })
    });
    removed.unwrap();
    // A gang that can never be placed is refused before anything runs.
    let err = refused(&group, &["--space", "{}", "--bundle", "cpus=-1"]);
    assert!(err.contains("cpus"), "{err}");
}
