"""Tune from Python: a Tuner over the example trainable on a local cluster
(the leader's side, failover included, is tested end to end in
tests/e2e/tune.rs)."""

from __future__ import annotations

import pytest

import weft
from weft import tune

from .conftest import guest


def test_a_tuner_searches_stops_early_and_names_the_best(local: str) -> None:
    weft.deploy(guest("example_tune"), name="trainable")
    trainable = weft.component("trainable").train
    tuner = tune.Tuner(
        trainable,
        param_space={
            "rate": tune.grid_search([0.5, 0.9, 0.1, 0.6]),
            "iterations": 8,
            "work-ms": 0,
        },
        tune_config=tune.TuneConfig(
            metric="score",
            mode="max",
            scheduler=tune.schedulers.ASHAScheduler(max_t=8, reduction_factor=2),
            max_concurrent_trials=1,
        ),
        run_config=tune.RunConfig(name="py-asha"),
    )
    results = tuner.fit(timeout=60)
    assert results.state == "FINISHED"
    assert [r.config["rate"] for r in results] == [0.5, 0.9, 0.1, 0.6]
    # Rungs at 1, 2 and 4: 0.1 falls at the first, 0.6 at the second.
    assert [(r.state, len(r.metrics_history)) for r in results] == [
        ("TERMINATED", 8),
        ("TERMINATED", 8),
        ("STOPPED", 1),
        ("STOPPED", 2),
    ]
    best = results.get_best_result()
    assert best.config["rate"] == 0.9 and best.metrics["score"] == pytest.approx(7.2)
    assert results.num_terminated == 2 and results.num_errors == 0
    rows = results.get_dataframe()
    first = rows.iloc[0] if hasattr(rows, "iloc") else rows[0]
    assert first["config/rate"] == 0.5 and first["state"] == "TERMINATED"
    # The experiment is the cluster's: found again by name.
    again = tune.Tuner.restore("py-asha").fit(timeout=10)
    assert [r.trial_id for r in again] == [r.trial_id for r in results]
    assert tune.list_experiments()[0]["name"] == "py-asha"
    # Restored with more samples: the four trials kept, four more run.
    more = tune.Tuner.restore("py-asha", num_samples=2).fit(timeout=60)
    assert len(more) == 8
    assert [r.trial_id for r in more][:4] == [r.trial_id for r in results]
    assert [r.config["rate"] for r in more][4:] == [0.5, 0.9, 0.1, 0.6]


def test_stop_conditions_failures_and_bad_experiments(local: str) -> None:
    weft.deploy(guest("example_tune"), name="trainable")
    results = tune.Tuner(
        "trainable.train",
        param_space={"rate": tune.uniform(1, 2), "iterations": 5, "work-ms": 0,
                     "trap-at": tune.grid_search([None, 3])},
        tune_config=tune.TuneConfig(metric="score", seed=7),
        run_config=tune.RunConfig(
            stop={"training_iteration": 4}, failure_config=tune.FailureConfig(max_failures=1)
        ),
    ).fit(timeout=60)
    done, failed = list(results)
    assert done.state == "TERMINATED" and len(done.metrics_history) == 4
    assert 1 <= done.config["rate"] < 2
    assert failed.state == "ERROR" and "the trial failed at iteration 3" in (failed.error or "")
    assert results.num_errors == 1

    with pytest.raises(weft.WeftError, match="lower \\(2\\) must be below upper \\(1\\)"):
        tune.Tuner("trainable.train", param_space={"rate": tune.uniform(2, 1)},
                   tune_config=tune.TuneConfig(metric="score")).fit()
    with pytest.raises(ValueError, match="stop conditions"):
        tune.Tuner("trainable.train", param_space={},
                   tune_config=tune.TuneConfig(metric="score"),
                   run_config=tune.RunConfig(stop={"loss": 1}))
    # Each trial a gang of two bundles, placed and removed with it.
    gangs = tune.Tuner(
        tune.with_resources("trainable.train", tune.PlacementGroupFactory([{"CPU": 1}, {"CPU": 1}])),
        param_space={"rate": tune.grid_search([1, 2]), "iterations": 2, "work-ms": 0},
        tune_config=tune.TuneConfig(metric="score"),
    ).fit(timeout=60)
    assert [r.state for r in gangs] == ["TERMINATED", "TERMINATED"]
    with pytest.raises(TypeError, match="a trainable is a component's function"):
        tune.Tuner(42, tune_config=tune.TuneConfig(metric="score"))
