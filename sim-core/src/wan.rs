//! The virtual WAN: one-way delays between regions, built from a measured
//! RTT matrix.
//!
//! For each ordered region pair `(a, b)` the one-way delay is half the
//! measured RTT from `a`'s row (direction matters: `d(a,b)` and `d(b,a)`
//! were measured separately). Without jitter it is `base/2` exactly, in
//! integer nanoseconds (the matrix has microsecond precision, so halving
//! never rounds). With jitter a delay is `min/2 + X/2`, where `X` is drawn
//! from a gamma distribution fitted so that its mean is `avg - min` and its
//! mean absolute deviation is the measured `mdev`, and capped at
//! `max - min`: delays never go below the measured floor, average the
//! measured mean, and have the measured spread.

use crate::id::RegionId;
use crate::rng::StreamRng;
use crate::time::NS_PER_MS;
use latency_data::{Matrix, RttStats};
use rand_distr::{Distribution, Gamma};

/// Which RTT statistic gives the one-way delay when jitter is off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BaseDelay {
    /// `avg / 2`: the measured mean (default, specs README §1.8).
    #[default]
    Avg,
    /// `min / 2`: the propagation floor.
    Min,
    /// fantoch's integer model, `floor(floor(avg_ms) / 2)` milliseconds, to
    /// compare with results of that simulator.
    FantochMs,
}

/// Delay inside one region (client to its process, or two processes placed
/// in the same region).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IntraRegionDelay {
    /// Half the measured intra-region RTT (default).
    #[default]
    Measured,
    /// Zero, as in the specs' latency formulas.
    Zero,
}

/// How the WAN turns the matrix into delays.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DelayOptions {
    /// Statistic used without jitter.
    pub base: BaseDelay,
    /// Draw each delay from the fitted distribution instead of the base.
    pub jitter: bool,
    /// Delay within a region.
    pub intra_region: IntraRegionDelay,
    /// Let messages on a directed link overtake each other; off by default,
    /// as links behave like TCP connections (FIFO).
    pub reorder: bool,
    /// Use the mean of both directions for every pair.
    pub symmetric: bool,
}

/// The one-way delay model of one ordered region pair.
#[derive(Clone, Copy, Debug)]
struct LinkModel {
    base_ns: u64,
    jitter: Option<Jitter>,
}

#[derive(Clone, Copy, Debug)]
struct Jitter {
    floor_ns: u64,
    excess: Gamma<f64>,
    excess_cap_ns: f64,
}

/// One-way delays between every ordered pair of the matrix's regions.
#[derive(Clone, Debug)]
pub struct Wan {
    regions: usize,
    links: Vec<LinkModel>,
}

impl Wan {
    /// Builds the delay model of every ordered pair of `matrix`.
    pub fn new(matrix: &Matrix, options: DelayOptions) -> Wan {
        let symmetrized;
        let matrix = if options.symmetric {
            symmetrized = matrix.symmetrized();
            &symmetrized
        } else {
            matrix
        };
        let regions = matrix.len();
        let mut links = Vec::with_capacity(regions * regions);
        for from in 0..regions {
            for to in 0..regions {
                let link = if from == to && options.intra_region == IntraRegionDelay::Zero {
                    LinkModel { base_ns: 0, jitter: None }
                } else {
                    link_model(matrix.rtt(from, to), options)
                };
                links.push(link);
            }
        }
        Wan { regions, links }
    }

    /// The delay without jitter, used to rank processes by distance
    /// (specs README §1.5) and by latency formulas.
    pub fn base_delay_ns(&self, from: RegionId, to: RegionId) -> u64 {
        self.link(from, to).base_ns
    }

    /// A delay for one message: the base delay, or a jittered draw.
    pub fn sample_delay_ns(&self, from: RegionId, to: RegionId, rng: &mut StreamRng) -> u64 {
        let link = self.link(from, to);
        match &link.jitter {
            None => link.base_ns,
            Some(jitter) => {
                let excess_ns = jitter.excess.sample(rng).min(jitter.excess_cap_ns);
                // Rounded to the nearest nanosecond; the cast saturates.
                jitter.floor_ns + excess_ns.round() as u64
            }
        }
    }

    fn link(&self, from: RegionId, to: RegionId) -> &LinkModel {
        &self.links[from.index() * self.regions + to.index()]
    }
}

fn link_model(rtt: RttStats, options: DelayOptions) -> LinkModel {
    let base_ns = match options.base {
        BaseDelay::Avg => rtt.avg_ns / 2,
        BaseDelay::Min => rtt.min_ns / 2,
        BaseDelay::FantochMs => (rtt.avg_ns / NS_PER_MS) / 2 * NS_PER_MS,
    };
    let jitter = if options.jitter { fit_jitter(rtt) } else { None };
    LinkModel { base_ns, jitter }
}

/// Fits the one-way excess over the floor: a gamma distribution with mean
/// `(avg - min) / 2` whose mean absolute deviation over mean equals
/// `mdev / (avg - min)`. `None` when the pair shows no spread.
fn fit_jitter(rtt: RttStats) -> Option<Jitter> {
    let mean_excess_ns = rtt.avg_ns.checked_sub(rtt.min_ns)? as f64 / 2.0;
    if mean_excess_ns <= 0.0 || rtt.mdev_ns == 0 {
        return None;
    }
    let ratio = rtt.mdev_ns as f64 / (2.0 * mean_excess_ns);
    let shape = gamma_shape_for_mad_ratio(ratio);
    let scale = mean_excess_ns / shape;
    let excess = Gamma::new(shape, scale).ok()?;
    let excess_cap_ns = rtt.max_ns.saturating_sub(rtt.min_ns) as f64 / 2.0;
    Some(Jitter { floor_ns: rtt.min_ns / 2, excess, excess_cap_ns })
}

/// Mean absolute deviation over mean of Gamma(k, θ):
/// `2 k^(k-1) e^(-k) / Γ(k)`, independent of θ and decreasing in `k`
/// (from 2 as k → 0 to 0 as k → ∞).
fn gamma_mad_ratio(shape: f64) -> f64 {
    (std::f64::consts::LN_2 + (shape - 1.0) * shape.ln() - shape - ln_gamma(shape)).exp()
}

/// The shape `k` whose MAD/mean ratio is `ratio`, by bisection on
/// `log k`, clamped to [0.05, 10_000].
fn gamma_shape_for_mad_ratio(ratio: f64) -> f64 {
    let (mut low, mut high) = (0.05f64.ln(), 10_000f64.ln());
    if ratio >= gamma_mad_ratio(low.exp()) {
        return low.exp();
    }
    if ratio <= gamma_mad_ratio(high.exp()) {
        return high.exp();
    }
    for _ in 0..60 {
        let mid = 0.5 * (low + high);
        if gamma_mad_ratio(mid.exp()) > ratio {
            low = mid;
        } else {
            high = mid;
        }
    }
    (0.5 * (low + high)).exp()
}

/// `ln Γ(x)` for `x > 0` (Lanczos approximation, g = 7, 9 terms; relative
/// error below 1e-13, far below what a delay fit needs).
fn ln_gamma(x: f64) -> f64 {
    const COEFFICIENTS: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1-x) = π / sin(πx).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut sum = COEFFICIENTS[0];
    for (i, coefficient) in COEFFICIENTS.iter().enumerate().skip(1) {
        sum += coefficient / (x + i as f64);
    }
    let t = x + 7.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Purpose, RngStreams};

    fn gcp() -> Matrix {
        Matrix::builtin("gcp").expect("built-in matrix")
    }

    fn region(matrix: &Matrix, name: &str) -> RegionId {
        RegionId(matrix.region_index(name).expect("known region") as u16)
    }

    #[test]
    fn ln_gamma_matches_known_values() {
        for (x, expected) in [(1.0, 0.0), (2.0, 0.0), (5.0, 24f64.ln()), (0.5, std::f64::consts::PI.sqrt().ln())] {
            assert!((ln_gamma(x) - expected).abs() < 1e-10, "ln_gamma({x})");
        }
    }

    #[test]
    fn exponential_has_mad_ratio_two_over_e() {
        assert!((gamma_mad_ratio(1.0) - 2.0 / std::f64::consts::E).abs() < 1e-12);
        let shape = gamma_shape_for_mad_ratio(2.0 / std::f64::consts::E);
        assert!((shape - 1.0).abs() < 1e-6, "shape {shape}");
    }

    #[test]
    fn base_delay_is_half_the_directed_avg_rtt() {
        let matrix = gcp();
        let wan = Wan::new(&matrix, DelayOptions::default());
        let (ew1, uc1) = (region(&matrix, "europe-west1"), region(&matrix, "us-central1"));
        assert_eq!(wan.base_delay_ns(ew1, uc1), matrix.rtt(ew1.index(), uc1.index()).avg_ns / 2);
        assert_eq!(wan.base_delay_ns(ew1, uc1), 52_459_500);
        let intra = wan.base_delay_ns(ew1, ew1);
        assert!(intra > 0, "measured intra-region delay is the default");
        let zero = Wan::new(&matrix, DelayOptions { intra_region: IntraRegionDelay::Zero, ..Default::default() });
        assert_eq!(zero.base_delay_ns(ew1, ew1), 0);
        let fantoch = Wan::new(&matrix, DelayOptions { base: BaseDelay::FantochMs, ..Default::default() });
        assert_eq!(fantoch.base_delay_ns(ew1, uc1), 52 * NS_PER_MS);
    }

    #[test]
    fn jittered_delays_respect_floor_cap_and_mean() {
        let matrix = gcp();
        let options = DelayOptions { jitter: true, ..Default::default() };
        let wan = Wan::new(&matrix, options);
        let (from, to) = (region(&matrix, "europe-west1"), region(&matrix, "us-west1"));
        let rtt = matrix.rtt(from.index(), to.index());
        let mut rng = RngStreams::new(1).stream(Purpose::Network, 0);
        let draws: Vec<u64> = (0..20_000).map(|_| wan.sample_delay_ns(from, to, &mut rng)).collect();
        assert!(draws.iter().all(|&d| d >= rtt.min_ns / 2 && d <= rtt.max_ns / 2 + 1));
        let mean = draws.iter().sum::<u64>() as f64 / draws.len() as f64;
        let expected = rtt.avg_ns as f64 / 2.0;
        assert!((mean - expected).abs() < 0.002 * expected, "mean {mean} vs {expected}");
        assert!(draws.windows(2).any(|w| w[0] != w[1]), "jitter varies");
    }
}
