//! Search spaces: what each trial's config is drawn from.
//!
//! A space is JSON, as Ray Tune's `param_space` is a dict: plain values
//! are constants, objects nest, and an object of one key naming a draw
//! (`{"uniform": [0, 1]}`, `{"grid_search": [1, 2, 3]}`) is drawn per
//! trial. The grid's points are crossed; `num_samples` repeats the whole
//! grid, each time with fresh random draws.
//!
//! Trial `i`'s config is a pure function of the space, the experiment's
//! seed and `i`: a new leader resuming an experiment draws the very
//! configs the old one did without any of them having been written down,
//! so the random source is a fixed algorithm (SplitMix64) rather than a
//! library generator whose stream may change between versions.

use serde_json::{Map, Value};

/// Most trials one experiment may have.
pub const MAX_TRIALS: u64 = 1_000_000;

/// Why a space is not one.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("param_space{path}: {problem}")]
pub struct SpaceError {
    /// Where, as `.a.b`.
    pub path: String,
    /// What is wrong there.
    pub problem: String,
}

/// A parsed search space.
#[derive(Debug, Clone, PartialEq)]
pub enum Space {
    /// The same value for every trial.
    Const(Value),
    /// Fields, each its own space (kept in the order given).
    Object(Vec<(String, Space)>),
    /// Every one of these, crossed with the other grids.
    Grid(Vec<Value>),
    /// One of these, uniformly.
    Choice(Vec<Value>),
    /// A float in `[lower, upper)`.
    Uniform(f64, f64),
    /// A float in `[lower, upper)`, uniform in its logarithm.
    LogUniform(f64, f64),
    /// A float in `[lower, upper]`, rounded to a multiple of `q`.
    QUniform(f64, f64, f64),
    /// An integer in `[lower, upper)`.
    RandInt(i64, i64),
    /// An integer in `[lower, upper]`, rounded to a multiple of `q`.
    QRandInt(i64, i64, i64),
    /// A normally distributed float.
    Randn(f64, f64),
}

impl Space {
    /// Parses a space from its JSON text.
    pub fn parse_text(text: &str) -> Result<Space, SpaceError> {
        let value: Value = serde_json::from_str(text).map_err(|e| SpaceError {
            path: String::new(),
            problem: format!("not JSON: {e}"),
        })?;
        if !value.is_object() {
            return Err(SpaceError {
                path: String::new(),
                problem: "must be a JSON object of parameters".into(),
            });
        }
        let space = Space::parse(&value, "")?;
        let size = space.grid_size();
        if size == 0 {
            return Err(SpaceError {
                path: String::new(),
                problem: "a grid_search has no values, so there is no trial to run".into(),
            });
        }
        Ok(space)
    }

    fn parse(value: &Value, path: &str) -> Result<Space, SpaceError> {
        let Value::Object(fields) = value else {
            return Ok(Space::Const(value.clone()));
        };
        if fields.len() == 1
            && let Some((key, args)) = fields.iter().next()
            && let Some(space) = draw(key, args, path)?
        {
            return Ok(space);
        }
        fields
            .iter()
            .map(|(k, v)| Ok((k.clone(), Space::parse(v, &format!("{path}.{k}"))?)))
            .collect::<Result<_, _>>()
            .map(Space::Object)
    }

    /// Points in the grid (1 without a `grid_search`), saturating.
    pub fn grid_size(&self) -> u64 {
        match self {
            Space::Grid(values) => values.len() as u64,
            Space::Object(fields) => fields
                .iter()
                .fold(1u64, |n, (_, s)| n.saturating_mul(s.grid_size())),
            _ => 1,
        }
    }

    /// Trial `index`'s config under `seed`: its grid point is `index`
    /// modulo the grid's size, its random draws its own.
    pub fn sample(&self, index: u64, seed: u64) -> Value {
        let mut rng = SplitMix64(seed ^ index.wrapping_mul(0xA24B_AED4_963E_E407));
        let mut point = index % self.grid_size().max(1);
        self.draw(&mut point, &mut rng)
    }

    /// A config drawn from `rng` (a grid gives its first point).
    pub(crate) fn draw_with(&self, rng: &mut SplitMix64) -> Value {
        self.draw(&mut 0, rng)
    }

    fn draw(&self, point: &mut u64, rng: &mut SplitMix64) -> Value {
        match self {
            Space::Const(v) => v.clone(),
            Space::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, s)| (k.clone(), s.draw(point, rng)))
                    .collect::<Map<_, _>>(),
            ),
            Space::Grid(values) => {
                let n = values.len() as u64;
                let v = values[(*point % n) as usize].clone();
                *point /= n;
                v
            }
            Space::Choice(values) => values[(rng.next() % values.len() as u64) as usize].clone(),
            Space::Uniform(lo, hi) => float(lo + (hi - lo) * rng.unit()),
            Space::LogUniform(lo, hi) => float((lo.ln() + (hi.ln() - lo.ln()) * rng.unit()).exp()),
            Space::QUniform(lo, hi, q) => {
                let v = lo + (hi - lo) * rng.unit();
                float(((v / q).round() * q).clamp(*lo, *hi))
            }
            Space::RandInt(lo, hi) => {
                let span = (hi - lo) as u64;
                Value::from(lo + (rng.next() % span) as i64)
            }
            Space::QRandInt(lo, hi, q) => {
                let span = (hi - lo + 1) as u64;
                let v = lo + (rng.next() % span) as i64;
                let rounded = ((v as f64 / *q as f64).round() as i64) * q;
                Value::from(rounded.clamp(*lo, *hi))
            }
            Space::Randn(mean, sd) => float(mean + sd * rng.normal()),
        }
    }
}

pub(crate) fn float(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

/// The draw `key` names with `args`, or `None` when `key` names none
/// (the object is then a nested config).
fn draw(key: &str, args: &Value, path: &str) -> Result<Option<Space>, SpaceError> {
    let bad = |problem: String| SpaceError {
        path: path.to_string(),
        problem: format!("{key}: {problem}"),
    };
    let list = |min: usize| -> Result<&Vec<Value>, SpaceError> {
        match args {
            Value::Array(values) if values.len() >= min => Ok(values),
            _ => Err(bad(format!(
                "wants a list of at least {min} value(s), got {args}"
            ))),
        }
    };
    // The arguments named `names`, each read by `read` (`kind` names
    // what it must be).
    let numbers = |names: &[&str], kind: &str, read: &dyn Fn(&Value) -> Option<f64>| {
        let values = list(names.len())?;
        if values.len() != names.len() {
            return Err(bad(format!("wants [{}], got {args}", names.join(", "))));
        }
        values
            .iter()
            .zip(names)
            .map(|(v, name)| read(v).ok_or_else(|| bad(format!("{name} must be {kind}, got {v}"))))
            .collect::<Result<Vec<f64>, _>>()
    };
    let floats =
        |names: &[&str]| numbers(names, "a number", &|v| v.as_f64().filter(|f| f.is_finite()));
    let ints = |names: &[&str]| -> Result<Vec<i64>, SpaceError> {
        let read = |v: &Value| v.as_i64().map(|i| i as f64);
        Ok(numbers(names, "an integer", &read)?
            .into_iter()
            .map(|f| f as i64)
            .collect())
    };
    let ordered = |lo: f64, hi: f64| {
        if lo < hi {
            Ok(())
        } else {
            Err(bad(format!("lower ({lo}) must be below upper ({hi})")))
        }
    };
    Ok(Some(match key {
        "grid_search" => Space::Grid(list(0)?.clone()),
        "choice" => Space::Choice(list(1)?.clone()),
        "uniform" => {
            let v = floats(&["lower", "upper"])?;
            ordered(v[0], v[1])?;
            Space::Uniform(v[0], v[1])
        }
        "loguniform" => {
            let v = floats(&["lower", "upper"])?;
            ordered(v[0], v[1])?;
            if v[0] <= 0.0 {
                return Err(bad(format!("lower ({}) must be above 0", v[0])));
            }
            Space::LogUniform(v[0], v[1])
        }
        "quniform" => {
            let v = floats(&["lower", "upper", "q"])?;
            ordered(v[0], v[1])?;
            if v[2] <= 0.0 {
                return Err(bad(format!("q ({}) must be above 0", v[2])));
            }
            Space::QUniform(v[0], v[1], v[2])
        }
        "randint" => {
            let v = ints(&["lower", "upper"])?;
            ordered(v[0] as f64, v[1] as f64)?;
            Space::RandInt(v[0], v[1])
        }
        "qrandint" => {
            let v = ints(&["lower", "upper", "q"])?;
            ordered(v[0] as f64, v[1] as f64)?;
            if v[2] <= 0 {
                return Err(bad(format!("q ({}) must be above 0", v[2])));
            }
            Space::QRandInt(v[0], v[1], v[2])
        }
        "randn" => {
            let v = floats(&["mean", "sd"])?;
            if v[1] <= 0.0 {
                return Err(bad(format!("sd ({}) must be above 0", v[1])));
            }
            Space::Randn(v[0], v[1])
        }
        _ => return Ok(None),
    }))
}

/// Population-based training's explorations: which parameters of a
/// config change when a trial exploits another, and from what.
#[derive(Debug, Clone, PartialEq)]
pub struct Mutations(Vec<(String, Mutation)>);

#[derive(Debug, Clone, PartialEq)]
enum Mutation {
    /// One of these: a perturbation moves to a neighbour.
    Values(Vec<Value>),
    /// A draw: a perturbation scales the value by 0.8 or 1.2.
    Draw(Space),
}

impl Mutations {
    /// Reads `hyperparam_mutations`: each parameter a list of values or a
    /// draw.
    pub fn parse(map: &Map<String, Value>) -> Result<Mutations, SpaceError> {
        map.iter()
            .map(|(name, spec)| {
                let mutation = match spec {
                    Value::Array(values) if !values.is_empty() => Mutation::Values(values.clone()),
                    other => match Space::parse(other, &format!(".{name}"))? {
                        Space::Const(_) | Space::Object(_) | Space::Grid(_) => {
                            return Err(SpaceError {
                                path: format!(".{name}"),
                                problem: "a mutation is a list of values or a draw".into(),
                            });
                        }
                        draw => Mutation::Draw(draw),
                    },
                };
                Ok((name.clone(), mutation))
            })
            .collect::<Result<_, _>>()
            .map(Mutations)
    }

    /// `config` explored under `seed`: each parameter drawn anew with
    /// `resample_probability`, else perturbed.
    pub fn explore(&self, config: &Value, resample_probability: f64, seed: u64) -> Value {
        let mut rng = SplitMix64(seed);
        let mut out = config.clone();
        let Value::Object(fields) = &mut out else {
            return out;
        };
        for (name, mutation) in &self.0 {
            let resample = rng.unit() < resample_probability;
            let up = rng.next().is_multiple_of(2);
            let current = fields.get(name).cloned().unwrap_or(Value::Null);
            let next = match mutation {
                Mutation::Values(values) if resample || !values.contains(&current) => {
                    values[(rng.next() % values.len() as u64) as usize].clone()
                }
                Mutation::Values(values) => {
                    let at = values.iter().position(|v| *v == current).unwrap_or(0);
                    let to = if up {
                        (at + 1).min(values.len() - 1)
                    } else {
                        at.saturating_sub(1)
                    };
                    values[to].clone()
                }
                Mutation::Draw(space) if resample || !current.is_number() => {
                    space.draw(&mut 0, &mut rng)
                }
                Mutation::Draw(_) => {
                    let factor = if up { 1.2 } else { 0.8 };
                    match (current.as_i64(), current.as_f64()) {
                        (Some(i), _) if current.is_i64() || current.is_u64() => {
                            Value::from((i as f64 * factor).round() as i64)
                        }
                        (_, Some(f)) => float(f * factor),
                        _ => current,
                    }
                }
            };
            fields.insert(name.clone(), next);
        }
        out
    }
}

/// SplitMix64: small, fast, and the same stream on every machine.
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A float in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A standard normal draw (Box-Muller).
    pub(crate) fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit().max(f64::MIN_POSITIVE), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn grids_cross_and_repeat_with_fresh_draws() {
        let space = Space::parse_text(
            r#"{"a": {"grid_search": [1, 2]}, "nested": {"b": {"grid_search": ["x", "y", "z"]}, "c": 7}}"#,
        )
        .unwrap();
        assert_eq!(space.grid_size(), 6);
        let configs: Vec<Value> = (0..12).map(|i| space.sample(i, 42)).collect();
        for (i, config) in configs.iter().enumerate() {
            assert_eq!(config["nested"]["c"], json!(7));
            assert_eq!(config, &configs[i % 6], "the grid repeats per sample");
        }
        let points: std::collections::BTreeSet<String> =
            configs[..6].iter().map(|c| c.to_string()).collect();
        assert_eq!(points.len(), 6, "every grid point once per sample");
    }

    #[test]
    fn draws_stay_in_range_and_depend_only_on_seed_and_index() {
        let space = Space::parse_text(
            r#"{"u": {"uniform": [1, 2]}, "l": {"loguniform": [0.0001, 0.1]},
                "r": {"randint": [3, 6]}, "q": {"quniform": [0, 1, 0.25]},
                "qi": {"qrandint": [0, 100, 10]}, "c": {"choice": ["a", "b"]},
                "n": {"randn": [0, 1]}}"#,
        )
        .unwrap();
        let mut seen_r = std::collections::BTreeSet::new();
        for i in 0..500 {
            let c = space.sample(i, 7);
            assert_eq!(c, space.sample(i, 7));
            let u = c["u"].as_f64().unwrap();
            assert!((1.0..2.0).contains(&u));
            let l = c["l"].as_f64().unwrap();
            assert!((0.0001..0.1).contains(&l));
            let r = c["r"].as_i64().unwrap();
            assert!((3..6).contains(&r));
            seen_r.insert(r);
            let q = c["q"].as_f64().unwrap();
            assert_eq!((q * 4.0).fract(), 0.0);
            assert_eq!(c["qi"].as_i64().unwrap() % 10, 0);
            assert!(c["c"] == json!("a") || c["c"] == json!("b"));
            assert!(c["n"].as_f64().unwrap().is_finite());
        }
        assert_eq!(seen_r.len(), 3, "randint's upper bound is exclusive");
        assert_ne!(space.sample(0, 7), space.sample(0, 8));
    }

    #[test]
    fn mutations_resample_or_perturb_the_named_parameters() {
        let map = |text: &str| match serde_json::from_str::<Value>(text).unwrap() {
            Value::Object(m) => m,
            _ => unreachable!(),
        };
        let m =
            Mutations::parse(&map(r#"{"lr": {"uniform": [0, 1]}, "width": [8, 16, 32]}"#)).unwrap();
        let config = json!({"lr": 0.5, "width": 16, "fixed": "x"});
        for seed in 0..50 {
            // Never resampled: lr scaled by 0.8 or 1.2, width a neighbour.
            let e = m.explore(&config, 0.0, seed);
            assert!(
                [0.4, 0.6]
                    .iter()
                    .any(|v| (e["lr"].as_f64().unwrap() - v).abs() < 1e-9),
                "{e}"
            );
            assert!(e["width"] == 8 || e["width"] == 32, "{e}");
            assert_eq!(e["fixed"], "x");
            // Always resampled: lr anywhere in range, width any value.
            let r = m.explore(&config, 1.0, seed);
            assert!((0.0..1.0).contains(&r["lr"].as_f64().unwrap()), "{r}");
        }
        assert!(Mutations::parse(&map(r#"{"lr": 3}"#)).is_err());
    }

    #[test]
    fn bad_spaces_are_named_by_path() {
        let err = |text: &str| Space::parse_text(text).unwrap_err().to_string();
        assert_eq!(
            err(r#"{"opt": {"lr": {"uniform": [2, 1]}}}"#),
            "param_space.opt.lr: uniform: lower (2) must be below upper (1)"
        );
        assert!(err(r#"{"lr": {"loguniform": [0, 1]}}"#).contains("must be above 0"));
        assert!(err(r#"{"a": {"grid_search": []}}"#).contains("no trial to run"));
        assert!(err(r#"[1]"#).contains("JSON object"));
        assert!(err(r#"{"x": {"choice": 3}}"#).contains("choice: wants a list"));
    }
}
