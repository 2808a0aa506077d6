"""Tune: hyperparameter search over a component function, shaped like Ray
Tune's ``Tuner``.

    from weft import tune

    trainable = weft.component("trainable").train
    tuner = tune.Tuner(
        trainable,
        param_space={"rate": tune.loguniform(0.01, 1.0), "iterations": 10,
                     "work-ms": tune.grid_search([1, 5])},
        tune_config=tune.TuneConfig(
            metric="score", mode="max", num_samples=20,
            scheduler=tune.schedulers.ASHAScheduler(max_t=10)),
    )
    results = tuner.fit()
    print(results.get_best_result().config)

The trainable is a component's exported function ``train(config) ->
metrics`` that reports each iteration's metrics (Rust guests:
``weft_guest::tune::report``). The experiment runs on the cluster's
leader, not in this process: ``fit`` starts it and waits for it, and a
driver that dies can find it again with ``Tuner.restore(name)``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from ._api import RemoteFunction, _session
from ._errors import GetTimeoutError

__all__ = [
    "FailureConfig",
    "PlacementGroupFactory",
    "Result",
    "ResultGrid",
    "RunConfig",
    "TuneConfig",
    "Tuner",
    "choice",
    "grid_search",
    "list_experiments",
    "loguniform",
    "qrandint",
    "quniform",
    "randint",
    "randn",
    "schedulers",
    "status",
    "stop",
    "uniform",
    "with_resources",
]

# --- search spaces: the JSON the leader draws from -------------------------


def grid_search(values: Sequence[Any]) -> Dict[str, Any]:
    """Every one of ``values``, crossed with the other grids."""
    return {"grid_search": list(values)}


def choice(categories: Sequence[Any]) -> Dict[str, Any]:
    """One of ``categories``, uniformly."""
    return {"choice": list(categories)}


def uniform(lower: float, upper: float) -> Dict[str, Any]:
    """A float in ``[lower, upper)``."""
    return {"uniform": [lower, upper]}


def loguniform(lower: float, upper: float) -> Dict[str, Any]:
    """A float in ``[lower, upper)``, uniform in its logarithm."""
    return {"loguniform": [lower, upper]}


def quniform(lower: float, upper: float, q: float) -> Dict[str, Any]:
    """A float in ``[lower, upper]`` rounded to a multiple of ``q``."""
    return {"quniform": [lower, upper, q]}


def randint(lower: int, upper: int) -> Dict[str, Any]:
    """An integer in ``[lower, upper)``."""
    return {"randint": [lower, upper]}


def qrandint(lower: int, upper: int, q: int = 1) -> Dict[str, Any]:
    """An integer in ``[lower, upper]`` rounded to a multiple of ``q``."""
    return {"qrandint": [lower, upper, q]}


def randn(mean: float = 0.0, sd: float = 1.0) -> Dict[str, Any]:
    """A normally distributed float."""
    return {"randn": [mean, sd]}


# --- schedulers ------------------------------------------------------------


class _Schedulers:
    """Ray's scheduler names: each makes the spec the leader runs."""

    @staticmethod
    def FIFOScheduler() -> Dict[str, Any]:
        """Every trial runs to its end."""
        return {"type": "fifo"}

    @staticmethod
    def ASHAScheduler(
        max_t: int = 100, grace_period: int = 1, reduction_factor: float = 4, brackets: int = 1
    ) -> Dict[str, Any]:
        """Asynchronous successive halving: at each rung only the top
        ``1/reduction_factor`` of trials go on; ``max_t`` iterations at
        most; trials spread over ``brackets`` whose first rungs are ever
        later."""
        return {
            "type": "asha",
            "max_t": max_t,
            "grace_period": grace_period,
            "reduction_factor": reduction_factor,
            "brackets": brackets,
        }

    AsyncHyperBandScheduler = ASHAScheduler

    @staticmethod
    def HyperBandScheduler(
        max_t: int = 81, grace_period: int = 1, reduction_factor: float = 3
    ) -> Dict[str, Any]:
        """HyperBand, asynchronously: ASHA in every bracket below
        ``max_t`` (weft never pauses a trial to wait for a rung to fill)."""
        return {
            "type": "hyperband",
            "max_t": max_t,
            "grace_period": grace_period,
            "reduction_factor": reduction_factor,
        }

    @staticmethod
    def PopulationBasedTraining(
        perturbation_interval: int = 4,
        hyperparam_mutations: Optional[Dict[str, Any]] = None,
        quantile_fraction: float = 0.25,
        resample_probability: float = 0.25,
    ) -> Dict[str, Any]:
        """Every ``perturbation_interval`` iterations, a trial in the bottom
        ``quantile_fraction`` goes on from the checkpoint of one in the top
        with its config explored (``hyperparam_mutations``: each parameter
        a list of values or a draw). The trainable reports checkpoints
        (``weft_guest::tune::report_checkpoint``)."""
        return {
            "type": "pbt",
            "perturbation_interval": perturbation_interval,
            "hyperparam_mutations": hyperparam_mutations or {},
            "quantile_fraction": quantile_fraction,
            "resample_probability": resample_probability,
        }

    @staticmethod
    def MedianStoppingRule(grace_period: int = 1, min_samples_required: int = 3) -> Dict[str, Any]:
        """Stops a trial whose best is below the median of the others'
        running means at the same iteration."""
        return {
            "type": "median_stopping",
            "grace_period": grace_period,
            "min_samples_required": min_samples_required,
        }


schedulers = _Schedulers()

# --- configs ---------------------------------------------------------------


@dataclass
class TuneConfig:
    """How trials are compared and how many run (Ray's names)."""

    metric: str
    mode: str = "max"
    num_samples: int = 1
    scheduler: Optional[Dict[str, Any]] = None
    max_concurrent_trials: int = 0
    seed: Optional[int] = None
    #: "random" (the grid crossed, random draws) or "tpe" (a Tree-structured
    #: Parzen Estimator, as hyperopt's and Optuna's default searcher).
    search_alg: str = "random"


@dataclass
class FailureConfig:
    """Times a failed trial runs again before it is recorded as ERROR."""

    max_failures: int = 0


@dataclass
class RunConfig:
    """The experiment's name, when its trials stop (``{"score": 0.9}``:
    once the metric reaches it; ``{"training_iteration": 5}``: after five
    results), its failure handling, and each trial's deadline."""

    name: Optional[str] = None
    stop: Dict[str, float] = field(default_factory=dict)
    failure_config: FailureConfig = field(default_factory=FailureConfig)
    timeout_s: float = 0.0


class PlacementGroupFactory:
    """Each trial reserves ``bundles`` as one placement group (Ray's
    names: ``[{"CPU": 1}, {"CPU": 2, "GPU": 1}]``): it runs in the first,
    and what it submits or creates goes into the group."""

    def __init__(self, bundles: List[Dict[str, float]], strategy: str = "PACK") -> None:
        names = {"CPU": "cpus", "GPU": "gpus", "memory": "memory"}
        self.bundles = [{names.get(k, k): v for k, v in b.items()} for b in bundles]
        self.strategy = strategy


class _WithResources:
    def __init__(self, trainable: Any, resources: Union[Dict[str, float], PlacementGroupFactory]) -> None:
        self.trainable = trainable
        self.group = resources if isinstance(resources, PlacementGroupFactory) else None
        plain = resources if isinstance(resources, dict) else {}
        self.cpus = float(plain.get("cpu", plain.get("CPU", plain.get("num_cpus", 0.0))))


def with_resources(
    trainable: Any, resources: Union[Dict[str, float], PlacementGroupFactory]
) -> Any:
    """The trainable with each trial reserving ``{"cpu": N}``, or a
    ``PlacementGroupFactory``'s bundles."""
    return _WithResources(trainable, resources)


def _function(trainable: Any) -> Tuple[str, str, Dict[str, Any]]:
    resources: Dict[str, Any] = {"cpus": 0.0}
    if isinstance(trainable, _WithResources):
        resources["cpus"] = trainable.cpus
        if trainable.group is not None:
            resources["placement_group_bundles"] = trainable.group.bundles
            resources["placement_group_strategy"] = trainable.group.strategy
        trainable = trainable.trainable
    if isinstance(trainable, RemoteFunction):
        return trainable._component, trainable._function, resources
    if isinstance(trainable, str) and "." in trainable:
        component, function = trainable.split(".", 1)
        return component, function, resources
    raise TypeError(
        "a trainable is a component's function: weft.component(NAME).FUNCTION or 'NAME.FUNCTION'"
    )


# --- results ---------------------------------------------------------------


@dataclass
class Result:
    """One trial: its config, last result (``metrics``), every result
    (``metrics_history``), state and error."""

    trial_id: str
    config: Dict[str, Any]
    metrics: Dict[str, Any]
    metrics_history: List[Dict[str, Any]]
    state: str
    error: Optional[str]
    best: Optional[float]
    stopped_by: str
    exploited: List[str]

    @classmethod
    def _from(cls, trial: Dict[str, Any]) -> "Result":
        results = trial.get("results") or []
        return cls(
            trial_id=trial["id"],
            config=trial.get("config") or {},
            metrics=results[-1] if results else {},
            metrics_history=results,
            state=trial["state"],
            error=trial.get("error") or None,
            best=trial.get("best"),
            stopped_by=trial.get("stopped_by") or "",
            exploited=list(trial.get("exploited") or []),
        )


class ResultGrid:
    """An experiment's trials, in order."""

    def __init__(self, status: Dict[str, Any]) -> None:
        self.experiment_id: str = status["id"]
        self.state: str = status["state"]
        self._metric: str = status["metric"]
        self._mode: str = status["mode"]
        self._results = [Result._from(t) for t in status["trials"]]

    def __len__(self) -> int:
        return len(self._results)

    def __getitem__(self, i: int) -> Result:
        return self._results[i]

    def __iter__(self) -> Iterator[Result]:
        return iter(self._results)

    @property
    def errors(self) -> List[str]:
        return [r.error for r in self._results if r.error]

    @property
    def num_errors(self) -> int:
        return len(self.errors)

    @property
    def num_terminated(self) -> int:
        return sum(1 for r in self._results if r.state == "TERMINATED")

    def get_best_result(
        self, metric: Optional[str] = None, mode: Optional[str] = None, scope: str = "all"
    ) -> Result:
        """The trial with the best ``metric`` (``scope="all"``: over every
        result it reported; ``"last"``: its last)."""
        metric, mode = metric or self._metric, mode or self._mode
        sign = 1.0 if mode == "max" else -1.0

        def value(r: Result) -> Optional[float]:
            values = [h.get(metric) for h in (r.metrics_history if scope == "all" else [r.metrics])]
            numbers = [float(v) for v in values if isinstance(v, (int, float))]
            return max(sign * v for v in numbers) if numbers else None

        scored = [(v, r) for r in self._results if (v := value(r)) is not None]
        if not scored:
            raise ValueError(f"no trial reported `{metric}`")
        return max(scored, key=lambda pair: pair[0])[1]

    def get_dataframe(self) -> Any:
        """One row per trial: its last result, ``config/...`` columns, state
        and id; a pandas DataFrame where pandas is installed, else a list of
        dicts."""
        rows = []
        for r in self._results:
            row: Dict[str, Any] = dict(r.metrics)
            row.update({f"config/{k}": v for k, v in _flat(r.config).items()})
            row.update({"trial_id": r.trial_id, "state": r.state, "error": r.error})
            rows.append(row)
        try:
            import pandas  # type: ignore[import-not-found, import-untyped, unused-ignore]
        except ImportError:
            return rows
        return pandas.DataFrame(rows)


def _flat(config: Dict[str, Any], prefix: str = "") -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for k, v in config.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}/"))
        else:
            out[f"{prefix}{k}"] = v
    return out


# --- the tuner -------------------------------------------------------------

#: States in which an experiment has ended for good.
FINISHED = ("FINISHED", "STOPPED", "FAILED")


class Tuner:
    """Runs an experiment: trials of ``trainable`` over ``param_space``."""

    def __init__(
        self,
        trainable: Any = None,
        *,
        param_space: Optional[Dict[str, Any]] = None,
        tune_config: Optional[TuneConfig] = None,
        run_config: Optional[RunConfig] = None,
        _experiment: Optional[str] = None,
    ) -> None:
        self._experiment = _experiment
        if _experiment is not None:
            return
        if tune_config is None:
            raise ValueError("a Tuner needs tune_config=TuneConfig(metric=...)")
        component, function, resources = _function(trainable)
        run_config = run_config or RunConfig()
        stop = dict(run_config.stop)
        stop_iterations = int(stop.pop("training_iteration", 0))
        stop_at = stop.pop(tune_config.metric, None)
        if stop:
            raise ValueError(
                f"stop conditions are on training_iteration or the metric `{tune_config.metric}`, not {sorted(stop)}"
            )
        self._spec = {
            "name": run_config.name or "",
            "component": component,
            "function": function,
            "param_space": param_space or {},
            "metric": tune_config.metric,
            "mode": tune_config.mode,
            "num_samples": tune_config.num_samples,
            "max_concurrent_trials": tune_config.max_concurrent_trials,
            "scheduler": tune_config.scheduler,
            "seed": tune_config.seed or 0,
            "timeout_s": run_config.timeout_s,
            "max_failures": run_config.failure_config.max_failures,
            "stop_at": stop_at,
            "stop_iterations": stop_iterations,
            "search_alg": tune_config.search_alg,
            **resources,
        }

    @classmethod
    def restore(
        cls,
        experiment: str,
        *,
        param_space: Optional[Dict[str, Any]] = None,
        num_samples: Optional[int] = None,
        restart_errored: bool = False,
    ) -> "Tuner":
        """The experiment with this id or name, to wait for again (its
        driver died, or another process started it). One that has ended
        goes on: the trials its stop cut short run again, with
        ``num_samples`` samples in all and ``param_space`` for the trials
        not yet ended when given, and its ERROR trials again with
        ``restart_errored``."""
        now = status(experiment)
        changed = param_space is not None or num_samples is not None or restart_errored
        if now["state"] in FINISHED and (changed or now["state"] == "STOPPED"):
            _session().tune_resume(
                now["id"],
                num_samples or 0,
                json.dumps(param_space) if param_space is not None else "",
                restart_errored,
            )
        return cls(_experiment=now["id"])

    def start(self) -> str:
        """Starts the experiment (once) and returns its id."""
        if self._experiment is None:
            self._experiment = _session().tune_run(json.dumps(self._spec))
        return self._experiment

    def fit(self, timeout: Optional[float] = None) -> ResultGrid:
        """Starts the experiment unless it runs, waits for its end, and
        returns its trials."""
        experiment = self.start()
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = 0.02
        while True:
            now = status(experiment)
            if now["state"] in FINISHED:
                return ResultGrid(now)
            if deadline is not None and time.monotonic() >= deadline:
                raise GetTimeoutError(f"experiment {experiment} is still {now['state']} after {timeout} s")
            time.sleep(pause)
            pause = min(pause * 2, 0.5)

    def get_results(self) -> ResultGrid:
        """The trials so far, without waiting."""
        return ResultGrid(status(self.start()))


def status(experiment: str) -> Dict[str, Any]:
    """An experiment (by id or name) and its trials, as a dict."""
    result: Dict[str, Any] = json.loads(_session().tune_status(experiment))
    return result


def list_experiments() -> List[Dict[str, Any]]:
    """Every experiment, newest first."""
    result: List[Dict[str, Any]] = json.loads(_session().tune_list())
    return result


def stop(experiment: str) -> str:
    """Stops an experiment; returns its state."""
    return _session().tune_stop(experiment)

