//! Tune from the terminal: `weft tune run|status|list|stop`.
//!
//! An experiment runs on the leader, not in this command: `run` starts it
//! and (unless `--detach`) follows it to its end, and a command that goes
//! away leaves it running, to be followed again with `weft tune status`.

use std::io::Write;

use anyhow::{Context, bail};
use weft_client::{TrialState, TuneExperiment, TuneSpec, TuneStatus, TuneTrial};

use crate::client::connect;

#[derive(clap::Subcommand)]
pub enum TuneCommand {
    /// Start an experiment: trials of FUNCTION over a search space, judged
    /// by a metric, stopped early by a scheduler. Follows it to its end
    /// and prints the results table unless `--detach`.
    Run(Box<RunArgs>),
    /// Show an experiment's results table, best trial and config.
    Status {
        /// The experiment's id or name.
        experiment: String,
        /// Print the experiment and its trials as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Go on with an ended or stopped experiment: the trials its stop cut
    /// short run again, with more samples or a new space if given; follows
    /// it to its end unless `--detach`.
    Resume(ResumeArgs),
    /// List experiments: id, name, state, trials, best.
    List,
    /// Stop an experiment: its running trials are canceled and no more
    /// start.
    Stop {
        /// The experiment's id or name.
        experiment: String,
    },
}

#[derive(clap::Args)]
pub struct RunArgs {
    /// The trainable's component: a name, `name@version`, or a digest.
    component: String,
    /// Its function, `train(config) -> metrics`; the results it reports
    /// are the items it emits (`weft_guest::tune::report`).
    function: String,
    /// The search space as JSON, or `@FILE`: `{"lr": {"loguniform":
    /// [0.0001, 0.1]}, "layers": {"grid_search": [1, 2, 3]}}`. Draws:
    /// grid_search, choice, uniform, loguniform, quniform, randint,
    /// qrandint, randn.
    #[arg(long)]
    space: String,
    /// The metric to compare trials by (a field of their results).
    #[arg(long)]
    metric: String,
    /// Whether a larger ("max") or smaller ("min") metric is better.
    #[arg(long, default_value = "max")]
    mode: String,
    /// Times the grid is repeated, each time with fresh random draws.
    #[arg(long, default_value_t = 1)]
    num_samples: u32,
    /// Trials running at once (default: as many as the cluster's cpus).
    #[arg(long, default_value_t = 0)]
    max_concurrent_trials: u32,
    /// fifo, asha, hyperband (asynchronous: ASHA in every bracket below
    /// max_t), median_stopping, pbt, or a scheduler as JSON.
    #[arg(long, default_value = "fifo")]
    scheduler: String,
    /// ASHA and HyperBand: iterations after which a trial stops in any
    /// case.
    #[arg(long, default_value_t = 100)]
    max_t: u32,
    /// ASHA and median stopping: iterations before a trial can be stopped.
    #[arg(long, default_value_t = 1)]
    grace_period: u32,
    /// ASHA and HyperBand: keep 1 in this many trials at each rung.
    #[arg(long, default_value_t = 4.0)]
    reduction_factor: f64,
    /// Median stopping: other trials needed before comparing.
    #[arg(long, default_value_t = 3)]
    min_samples_required: u32,
    /// PBT: iterations between perturbations.
    #[arg(long, default_value_t = 4)]
    perturbation_interval: u32,
    /// PBT: the parameters to explore, as JSON: each a list of values or a
    /// draw (`{"lr": {"loguniform": [0.0001, 0.1]}, "width": [8, 16, 32]}`).
    #[arg(long, default_value = "{}")]
    hyperparam_mutations: String,
    /// PBT: the share of trials at the top and at the bottom.
    #[arg(long, default_value_t = 0.25)]
    quantile_fraction: f64,
    /// PBT: the chance a parameter is drawn anew rather than perturbed.
    #[arg(long, default_value_t = 0.25)]
    resample_probability: f64,
    /// Stop a trial once its metric reaches this value.
    #[arg(long)]
    stop_at: Option<f64>,
    /// Stop a trial after this many results.
    #[arg(long, default_value_t = 0)]
    stop_iterations: u32,
    /// Cpus each trial reserves (default 1).
    #[arg(long, default_value_t = 0.0)]
    cpus: f64,
    /// Each trial reserves these bundles as one placement group, runs in
    /// the first, and what it makes goes into the group (repeat:
    /// `--bundle cpus=1 --bundle cpus=2,gpus=1`).
    #[arg(long = "bundle", value_name = "RESOURCES")]
    bundles: Vec<String>,
    /// How a trial's bundles are placed: pack, spread, strict-pack,
    /// strict-spread.
    #[arg(long, default_value = "pack")]
    strategy: String,
    /// Each trial's deadline in seconds (default: the cluster's).
    #[arg(long)]
    timeout: Option<f64>,
    /// Times a failed trial runs again before it is recorded as ERROR.
    #[arg(long, default_value_t = 0)]
    max_failures: u32,
    /// How configs are chosen: random (the grid crossed, random draws) or
    /// tpe (after 10 random ones, by a Tree-structured Parzen Estimator
    /// from the trials ended so far).
    #[arg(long, default_value = "random")]
    search_alg: String,
    /// The random draws' seed (default: one is chosen and recorded).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// A name to find the experiment by.
    #[arg(long)]
    name: Option<String>,
    /// The experiment's id: running the same id again answers with that
    /// experiment instead of starting another.
    #[arg(long)]
    id: Option<String>,
    /// Print the id and return; the experiment runs on.
    #[arg(long)]
    detach: bool,
    /// Print the final status as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct ResumeArgs {
    /// The experiment's id or name.
    experiment: String,
    /// Samples in all (more than it had).
    #[arg(long, default_value_t = 0)]
    num_samples: u32,
    /// A new search space (JSON or `@FILE`) for the trials not yet ended.
    #[arg(long)]
    space: Option<String>,
    /// Run the trials that ended in ERROR again too.
    #[arg(long)]
    restart_errored: bool,
    /// Print the id and return.
    #[arg(long)]
    detach: bool,
    /// Print the final status as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// A space given as JSON or `@FILE`.
fn space_text(space: &str) -> anyhow::Result<String> {
    match space.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the search space from {path}")),
        None => Ok(space.to_string()),
    }
}

impl RunArgs {
    fn spec(&self) -> anyhow::Result<TuneSpec> {
        let param_space = space_text(&self.space)?;
        let scheduler = match self.scheduler.as_str() {
            text if text.trim_start().starts_with('{') => text.to_string(),
            "fifo" => String::new(),
            "asha" => serde_json::json!({
                "type": "asha",
                "max_t": self.max_t,
                "grace_period": self.grace_period,
                "reduction_factor": self.reduction_factor,
            })
            .to_string(),
            "hyperband" => serde_json::json!({
                "type": "hyperband",
                "max_t": self.max_t,
                "grace_period": self.grace_period,
                "reduction_factor": self.reduction_factor,
            })
            .to_string(),
            "median_stopping" => serde_json::json!({
                "type": "median_stopping",
                "grace_period": self.grace_period,
                "min_samples_required": self.min_samples_required,
            })
            .to_string(),
            "pbt" => {
                let mutations: serde_json::Value = serde_json::from_str(&self.hyperparam_mutations)
                    .context("--hyperparam-mutations is not JSON")?;
                serde_json::json!({
                    "type": "pbt",
                    "perturbation_interval": self.perturbation_interval,
                    "hyperparam_mutations": mutations,
                    "quantile_fraction": self.quantile_fraction,
                    "resample_probability": self.resample_probability,
                })
                .to_string()
            }
            other => {
                bail!(
                    "unknown scheduler `{other}`: use fifo, asha, hyperband, median_stopping, pbt or JSON"
                )
            }
        };
        let placement_group_bundles = self
            .bundles
            .iter()
            .map(|b| crate::client::groups::parse_bundle(b))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let placement_group_strategy = weft_proto::v1::PlacementStrategy::parse(&self.strategy)?;
        Ok(TuneSpec {
            placement_group_bundles,
            placement_group_strategy: placement_group_strategy.into(),
            name: self.name.clone().unwrap_or_default(),
            component: self.component.clone(),
            function: self.function.clone(),
            param_space,
            metric: self.metric.clone(),
            mode: self.mode.clone(),
            num_samples: self.num_samples,
            max_concurrent_trials: self.max_concurrent_trials,
            scheduler,
            seed: self.seed,
            cpus: self.cpus,
            timeout_ms: self.timeout.map_or(0, |t| (t * 1000.0) as u64),
            max_failures: self.max_failures,
            stop_at: self.stop_at,
            stop_iterations: self.stop_iterations,
            search_alg: self.search_alg.clone(),
        })
    }
}

pub async fn tune(address: &str, command: TuneCommand) -> anyhow::Result<()> {
    let mut client = connect(address).await?;
    match command {
        TuneCommand::Run(args) => {
            let experiment = client.run_tune(args.spec()?, args.id.clone()).await?;
            follow(&mut client, &experiment, args.detach, args.json).await?;
        }
        TuneCommand::Resume(args) => {
            let space = args.space.as_deref().map(space_text).transpose()?;
            let experiment = client
                .resume_tune(
                    &args.experiment,
                    args.num_samples,
                    space.as_deref().unwrap_or(""),
                    args.restart_errored,
                )
                .await?;
            follow(&mut client, &experiment, args.detach, args.json).await?;
        }
        TuneCommand::Status { experiment, json } => {
            show(&client.tune_status(&experiment).await?, json)?;
        }
        TuneCommand::List => {
            crate::client::print_lines(&client.tune_experiments().await?, "no experiments", line);
        }
        TuneCommand::Stop { experiment } => {
            let record = client.stop_tune(&experiment).await?;
            println!("{} {}", record.id, record.state());
        }
    }
    Ok(())
}

/// Prints the experiment's id (`detach`), or follows it to its end with a
/// line of counts and prints its results.
async fn follow(
    client: &mut weft_client::Client,
    experiment: &TuneExperiment,
    detach: bool,
    json: bool,
) -> anyhow::Result<()> {
    if detach {
        println!("{}", experiment.id);
        return Ok(());
    }
    eprintln!(
        "experiment {}: {} trials",
        experiment.id, experiment.total_trials
    );
    let mut last = String::new();
    let status = client
        .wait_tune(&experiment.id, |s| {
            let line = progress(s);
            if line != last {
                eprint!("\r{line}");
                let _ = std::io::stderr().flush();
                last = line;
            }
        })
        .await?;
    eprintln!();
    show(&status, json)
}

/// One line of counts while an experiment runs.
fn progress(status: &TuneStatus) -> String {
    let count = |state| status.trials.iter().filter(|t| t.state() == state).count();
    let total = status.experiment.as_ref().map_or(0, |e| e.total_trials);
    format!(
        "trials: {} running, {} terminated, {} stopped, {} error, of {total}",
        count(TrialState::Running),
        count(TrialState::Terminated),
        count(TrialState::Stopped),
        count(TrialState::Error),
    )
}

fn show(status: &TuneStatus, json: bool) -> anyhow::Result<()> {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&weft_client::tune::status_json(status))?
        );
        return Ok(());
    }
    print!("{}", table(status));
    Ok(())
}

fn table(status: &TuneStatus) -> String {
    let Some(e) = &status.experiment else {
        return String::new();
    };
    let metric = e.spec.as_ref().map_or("", |s| s.metric.as_str());
    let mut out = format!(
        "experiment {}  {}  {} of {} trials{}\n",
        e.id,
        e.state(),
        status
            .trials
            .iter()
            .filter(|t| t.state().is_finished())
            .count(),
        e.total_trials,
        if e.reason.is_empty() {
            String::new()
        } else {
            format!("  ({})", e.reason)
        },
    );
    out += &format!(
        "{:<24} {:<10} {:>5} {:>12} {:>12}  config\n",
        "trial",
        "state",
        "iter",
        format!("last {metric}"),
        "best"
    );
    for t in &status.trials {
        let last = t
            .results
            .last()
            .and_then(|r| serde_json::from_str::<serde_json::Value>(r).ok())
            .and_then(|r| r.get(metric).and_then(|v| v.as_f64()));
        out += &format!(
            "{:<24} {:<10} {:>5} {:>12} {:>12}  {}{}\n",
            t.id,
            t.state(),
            t.results.len(),
            last.map_or("-".into(), number),
            t.best.map_or("-".into(), number),
            t.config,
            note(t),
        );
    }
    if let Some(best) = weft_client::tune::best_trial(status) {
        out += &format!(
            "best trial: {} ({metric} {} at iteration {})\nbest config: {}\n",
            best.id,
            best.best.map_or("-".into(), number),
            best.best_iteration,
            best.config
        );
    }
    out
}

fn note(t: &TuneTrial) -> String {
    match (t.error.is_empty(), t.stopped_by.is_empty()) {
        (false, _) => format!("  error: {}", t.error),
        (_, false) => format!("  ({})", t.stopped_by),
        _ => String::new(),
    }
}

fn number(v: f64) -> String {
    format!("{v:.6}")
        .trim_end_matches('0')
        .trim_end_matches('.')
        .to_string()
}

fn line(e: &TuneExperiment) -> String {
    let spec = e.spec.clone().unwrap_or_default();
    let name = if spec.name.is_empty() {
        "-".into()
    } else {
        spec.name
    };
    format!(
        "{}  {name}  {}  {} {}  {} trials  {} {}",
        e.id,
        e.state(),
        spec.component,
        spec.function,
        e.total_trials,
        spec.mode,
        spec.metric
    )
}
