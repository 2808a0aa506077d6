//! Model-based search: the Tree-structured Parzen Estimator (TPE, as
//! hyperopt and Optuna run it), one parameter at a time.
//!
//! After a few random configs, each new one is chosen from what the ended
//! trials showed: they are split into the best quarter (`good`) and the
//! rest (`bad`); for every drawn parameter, candidates are sampled around
//! the good values and the one where good values are likeliest relative to
//! bad ones (`l(x) / g(x)`, each a mixture of Gaussians with a wide prior)
//! is taken. Choices are weighed by how often each appears among the good
//! and the bad, smoothed by one.

use serde_json::{Map, Value};

use super::space::{Space, SplitMix64, float};

/// Random configs before the model is used.
pub const STARTUP: usize = 10;
/// The share of ended trials counted as good.
const GAMMA: f64 = 0.25;
/// Candidates drawn per parameter.
const CANDIDATES: usize = 24;

/// An ended trial as the searcher sees it: its config and its best score
/// (oriented so larger is better).
pub struct Observed<'a> {
    /// The config it ran.
    pub config: &'a Value,
    /// Its best score.
    pub score: f64,
}

/// Why a space cannot be searched by TPE.
pub fn check(space: &Space) -> Result<(), String> {
    match space {
        Space::Grid(_) => {
            Err("tpe chooses among draws; grid_search belongs to the basic variant search".into())
        }
        Space::Object(fields) => fields.iter().try_for_each(|(_, s)| check(s)),
        _ => Ok(()),
    }
}

/// The next config from `space` given the ended trials: a random draw
/// until [`STARTUP`] have ended, then TPE's choice.
pub fn suggest(space: &Space, observed: &[Observed<'_>], seed: u64) -> Value {
    let mut rng = SplitMix64::new(seed);
    if observed.len() < STARTUP {
        return space.draw_with(&mut rng);
    }
    let mut ranked: Vec<&Observed<'_>> = observed.iter().collect();
    ranked.sort_by(|a, b| b.score.total_cmp(&a.score));
    let n_good = ((ranked.len() as f64 * GAMMA).ceil() as usize).max(1);
    let (good, bad) = ranked.split_at(n_good);
    let good: Vec<&Value> = good.iter().map(|o| o.config).collect();
    let bad: Vec<&Value> = bad.iter().map(|o| o.config).collect();
    choose(space, &good, &bad, &mut rng)
}

/// `space`'s value given the good and bad configs at the same place.
fn choose(space: &Space, good: &[&Value], bad: &[&Value], rng: &mut SplitMix64) -> Value {
    match space {
        Space::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, s)| {
                    let at = |configs: &[&Value]| -> Vec<Value> {
                        configs
                            .iter()
                            .map(|c| c.get(k).cloned().unwrap_or(Value::Null))
                            .collect()
                    };
                    let (g, b) = (at(good), at(bad));
                    let g: Vec<&Value> = g.iter().collect();
                    let b: Vec<&Value> = b.iter().collect();
                    (k.clone(), choose(s, &g, &b, rng))
                })
                .collect::<Map<_, _>>(),
        ),
        Space::Choice(values) => choose_category(values, good, bad, rng),
        Space::Const(v) => v.clone(),
        Space::Grid(_) => space.draw_with(rng),
        numeric => choose_number(numeric, good, bad, rng),
    }
}

fn choose_category(
    values: &[Value],
    good: &[&Value],
    bad: &[&Value],
    rng: &mut SplitMix64,
) -> Value {
    let weights = |seen: &[&Value]| -> Vec<f64> {
        values
            .iter()
            .map(|v| {
                (seen.iter().filter(|s| **s == v).count() as f64 + 1.0)
                    / (seen.len() + values.len()) as f64
            })
            .collect()
    };
    let (l, g) = (weights(good), weights(bad));
    let total: f64 = l.iter().sum();
    (0..CANDIDATES)
        .map(|_| {
            // A candidate drawn by the good weights.
            let mut at = rng.unit() * total;
            let mut pick = values.len() - 1;
            for (i, w) in l.iter().enumerate() {
                if at < *w {
                    pick = i;
                    break;
                }
                at -= w;
            }
            pick
        })
        .max_by(|a, b| (l[*a] / g[*a]).total_cmp(&(l[*b] / g[*b])))
        .map_or(Value::Null, |i| values[i].clone())
}

/// A numeric draw: its bounds in the space TPE models it in (the
/// logarithm for `loguniform`), and how a modelled value maps back.
fn choose_number(space: &Space, good: &[&Value], bad: &[&Value], rng: &mut SplitMix64) -> Value {
    let (lo, hi, log) = match space {
        Space::Uniform(lo, hi) | Space::QUniform(lo, hi, _) => (*lo, *hi, false),
        Space::LogUniform(lo, hi) => (lo.ln(), hi.ln(), true),
        Space::RandInt(lo, hi) => (*lo as f64, (*hi - 1) as f64, false),
        Space::QRandInt(lo, hi, _) => (*lo as f64, *hi as f64, false),
        Space::Randn(mean, sd) => (mean - 3.0 * sd, mean + 3.0 * sd, false),
        _ => return space.draw_with(rng),
    };
    let modelled = |values: &[&Value]| -> Vec<f64> {
        values
            .iter()
            .filter_map(|v| v.as_f64())
            .map(|v| {
                if log {
                    v.max(f64::MIN_POSITIVE).ln()
                } else {
                    v
                }
            })
            .collect()
    };
    let (g, b) = (modelled(good), modelled(bad));
    let span = (hi - lo).max(f64::EPSILON);
    let l = Parzen::new(&g, lo, span);
    let gb = Parzen::new(&b, lo, span);
    let best = (0..CANDIDATES)
        .map(|_| l.sample(rng).clamp(lo, hi))
        .max_by(|x, y| {
            (l.density(*x) / gb.density(*x)).total_cmp(&(l.density(*y) / gb.density(*y)))
        })
        .unwrap_or(lo);
    let x = if log { best.exp() } else { best };
    match space {
        Space::QUniform(lo, hi, q) => float(((x / q).round() * q).clamp(*lo, *hi)),
        Space::RandInt(lo, hi) => Value::from((x.round() as i64).clamp(*lo, hi - 1)),
        Space::QRandInt(lo, hi, q) => {
            Value::from((((x / *q as f64).round() as i64) * q).clamp(*lo, *hi))
        }
        _ => float(x),
    }
}

/// A mixture of Gaussians at the observations, each as wide as the space
/// over the square root of their count, plus a prior as wide as the space
/// at its middle.
struct Parzen {
    centers: Vec<f64>,
    widths: Vec<f64>,
}

impl Parzen {
    fn new(points: &[f64], lo: f64, span: f64) -> Parzen {
        let width = span / (points.len() as f64 + 1.0).sqrt();
        let mut centers = vec![lo + span / 2.0];
        let mut widths = vec![span];
        centers.extend_from_slice(points);
        widths.extend(points.iter().map(|_| width));
        Parzen { centers, widths }
    }

    fn sample(&self, rng: &mut SplitMix64) -> f64 {
        let i = (rng.next() % self.centers.len() as u64) as usize;
        self.centers[i] + self.widths[i] * rng.normal()
    }

    fn density(&self, x: f64) -> f64 {
        let sum: f64 = self
            .centers
            .iter()
            .zip(&self.widths)
            .map(|(c, w)| (-0.5 * ((x - c) / w).powi(2)).exp() / w)
            .sum();
        sum / self.centers.len() as f64 + f64::MIN_POSITIVE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sequential search of `space` for the `rate` closest to 0.8: TPE's
    /// last ten configs against random search's.
    fn search(tpe: bool) -> f64 {
        let space = Space::parse_text(
            r#"{"rate": {"uniform": [0, 1]}, "kind": {"choice": ["a", "b", "c"]}}"#,
        )
        .unwrap();
        let mut ended: Vec<(Value, f64)> = Vec::new();
        for i in 0..60u64 {
            let config = if tpe {
                let observed: Vec<Observed<'_>> = ended
                    .iter()
                    .map(|(c, s)| Observed {
                        config: c,
                        score: *s,
                    })
                    .collect();
                suggest(&space, &observed, 7 ^ i)
            } else {
                space.sample(i, 7)
            };
            let rate = config["rate"].as_f64().unwrap();
            let bonus = if config["kind"] == "b" { 0.0 } else { -0.3 };
            ended.push((config, -(rate - 0.8).abs() + bonus));
        }
        ended[50..].iter().map(|(_, s)| s).sum::<f64>() / 10.0
    }

    #[test]
    fn tpe_finds_better_configs_than_random_search() {
        let (tpe, random) = (search(true), search(false));
        assert!(tpe > random + 0.1, "tpe {tpe}, random {random}");
    }

    #[test]
    fn tpe_refuses_grids_and_starts_at_random() {
        let grid = Space::parse_text(r#"{"a": {"grid_search": [1, 2]}}"#).unwrap();
        assert!(check(&grid).unwrap_err().contains("grid_search"));
        let space =
            Space::parse_text(r#"{"lr": {"loguniform": [0.001, 1]}, "n": {"randint": [1, 5]}}"#)
                .unwrap();
        assert!(check(&space).is_ok());
        let config = suggest(&space, &[], 3);
        assert!((0.001..1.0).contains(&config["lr"].as_f64().unwrap()));
        assert!((1..5).contains(&config["n"].as_i64().unwrap()));
    }
}
