//! The virtual WAN: one-way delays between regions, built from a measured
//! RTT matrix.
//!
//! For each ordered region pair `(a, b)` the one-way delay is half the
//! measured RTT from `a`'s row (direction matters: `d(a,b)` and `d(b,a)`
//! were measured separately). Without jitter it is `base/2` exactly, in
//! integer nanoseconds (the matrix has microsecond precision, so halving
//! never rounds). With jitter a delay is `min/2 + X/2`, where `X` is drawn
//! from a log-normal distribution fitted so that its mean is `avg - min`
//! and its mean absolute deviation is the measured `mdev`, and capped at
//! `max - min`: delays never go below the measured floor, average the
//! measured mean, and have the measured spread with a right tail. A draw
//! reads the fitted quantile function from a table of 1,024 intervals
//! (linear in between), built once per link: one random `u64` and no
//! floating-point library call per message, which matters at millions of
//! messages per run. The last interval (probability 1/1024) is computed
//! exactly, so the tail up to the cap is the fitted one.

use crate::id::RegionId;
use crate::rng::StreamRng;
use crate::time::NS_PER_MS;
use latency_data::{Matrix, RttStats};
use rand::Rng;

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
#[derive(Clone, Debug)]
struct LinkModel {
    base_ns: u64,
    jitter: Option<Box<Jitter>>,
}

/// Intervals of the quantile table: 2^10 (4 KiB per link, so the tables of
/// a 13-site run stay in cache).
const QUANTILE_BITS: u32 = 10;
const QUANTILE_INTERVALS: usize = 1 << QUANTILE_BITS;

#[derive(Clone, Debug)]
struct Jitter {
    floor_ns: u64,
    /// `excess_ns[i]`: the fitted excess at quantile `i / 1024`, capped.
    excess_ns: Vec<f32>,
    /// The log-normal's parameters and the cap, for the exact tail.
    mu: f64,
    sigma: f64,
    cap_ns: f64,
}

impl Jitter {
    fn sample_excess_ns(&self, rng: &mut StreamRng) -> f64 {
        let draw = rng.next_u64();
        let index = (draw >> (u64::BITS - QUANTILE_BITS)) as usize;
        // The next 32 bits place the draw inside the interval.
        let within = ((draw >> (u64::BITS - QUANTILE_BITS - 32)) & 0xFFFF_FFFF) as f64 / 4_294_967_296.0;
        if index == QUANTILE_INTERVALS - 1 {
            let quantile = (index as f64 + within) / QUANTILE_INTERVALS as f64;
            return self.excess_at(quantile);
        }
        let (low, high) = (f64::from(self.excess_ns[index]), f64::from(self.excess_ns[index + 1]));
        low + (high - low) * within
    }

    /// The capped excess at quantile `p` (0 <= p < 1).
    fn excess_at(&self, p: f64) -> f64 {
        if p <= 0.0 {
            return 0.0;
        }
        (self.mu + self.sigma * standard_normal_quantile(p)).exp().min(self.cap_ns)
    }
}

/// One-way delays between every ordered pair of the matrix's regions.
#[derive(Clone, Debug)]
pub struct Wan {
    regions: usize,
    links: Vec<LinkModel>,
}

impl Wan {
    /// Builds the delay model of every ordered pair of `matrix`; jitter
    /// tables only for pairs among `regions_in_use` (others are never
    /// sampled: [`Wan::sample_delay_ns`] asserts it).
    pub fn new(matrix: &Matrix, options: DelayOptions, regions_in_use: &[RegionId]) -> Wan {
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
                let in_use = |r: usize| regions_in_use.iter().any(|used| used.index() == r);
                let link = if from == to && options.intra_region == IntraRegionDelay::Zero {
                    LinkModel { base_ns: 0, jitter: None }
                } else {
                    let jitter = options.jitter && in_use(from) && in_use(to);
                    link_model(matrix.rtt(from, to), options.base, jitter)
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
            // Rounded to the nearest nanosecond (the excess is not
            // negative; `round` is a libm call); the cast saturates.
            Some(jitter) => jitter.floor_ns + (jitter.sample_excess_ns(rng) + 0.5) as u64,
        }
    }

    fn link(&self, from: RegionId, to: RegionId) -> &LinkModel {
        &self.links[from.index() * self.regions + to.index()]
    }
}

fn link_model(rtt: RttStats, base: BaseDelay, jitter: bool) -> LinkModel {
    let base_ns = match base {
        BaseDelay::Avg => rtt.avg_ns / 2,
        BaseDelay::Min => rtt.min_ns / 2,
        BaseDelay::FantochMs => (rtt.avg_ns / NS_PER_MS) / 2 * NS_PER_MS,
    };
    let jitter = if jitter { fit_jitter(rtt).map(Box::new) } else { None };
    LinkModel { base_ns, jitter }
}

/// Fits the one-way excess over the floor: a log-normal with mean
/// `(avg - min) / 2` whose mean absolute deviation over mean equals
/// `mdev / (avg - min)`. `None` when the pair shows no spread.
fn fit_jitter(rtt: RttStats) -> Option<Jitter> {
    let mean_excess_ns = rtt.avg_ns.checked_sub(rtt.min_ns)? as f64 / 2.0;
    if mean_excess_ns <= 0.0 || rtt.mdev_ns == 0 {
        return None;
    }
    let ratio = rtt.mdev_ns as f64 / (2.0 * mean_excess_ns);
    let sigma = lognormal_sigma_for_mad_ratio(ratio);
    // E[X] = exp(mu + sigma^2 / 2).
    let mu = mean_excess_ns.ln() - sigma * sigma / 2.0;
    let cap_ns = rtt.max_ns.saturating_sub(rtt.min_ns) as f64 / 2.0;
    let mut jitter = Jitter { floor_ns: rtt.min_ns / 2, excess_ns: Vec::new(), mu, sigma, cap_ns };
    // Entries 0..=1023; the last interval is sampled exactly.
    jitter.excess_ns =
        (0..QUANTILE_INTERVALS).map(|i| jitter.excess_at(i as f64 / QUANTILE_INTERVALS as f64) as f32).collect();
    Some(jitter)
}

/// The standard normal quantile function Φ⁻¹(p) for 0 < p < 1 (Acklam's
/// rational approximation; relative error below 1.2e-9).
fn standard_normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] =
        [7.784_695_709_041_462e-3, 3.224_671_290_700_398e-1, 2.445_134_137_142_996, 3.754_408_661_907_416];
    const P_LOW: f64 = 0.024_25;
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < P_LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - P_LOW {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// Mean absolute deviation over mean of a log-normal with shape `sigma`:
/// `2 erf(sigma / (2 sqrt 2))`, increasing from 0 (sigma → 0) to 2.
fn lognormal_mad_ratio(sigma: f64) -> f64 {
    2.0 * erf(sigma / (2.0 * std::f64::consts::SQRT_2))
}

/// The `sigma` whose MAD/mean ratio is `ratio`, by bisection, clamped to
/// [0.001, 8].
fn lognormal_sigma_for_mad_ratio(ratio: f64) -> f64 {
    let (mut low, mut high) = (0.001f64, 8.0f64);
    if ratio <= lognormal_mad_ratio(low) {
        return low;
    }
    if ratio >= lognormal_mad_ratio(high) {
        return high;
    }
    for _ in 0..60 {
        let mid = 0.5 * (low + high);
        if lognormal_mad_ratio(mid) < ratio {
            low = mid;
        } else {
            high = mid;
        }
    }
    0.5 * (low + high)
}

/// The error function (Abramowitz and Stegun 7.1.26; absolute error below
/// 1.5e-7, far below what a delay fit needs).
fn erf(x: f64) -> f64 {
    let sign = if x < 0.0 { -1.0 } else { 1.0 };
    let x = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let polynomial =
        t * (0.254_829_592 + t * (-0.284_496_736 + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    sign * (1.0 - polynomial * (-x * x).exp())
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
    fn erf_matches_known_values() {
        for (x, expected) in [(0.0, 0.0), (0.5, 0.520_499_877_8), (1.0, 0.842_700_792_9), (-1.0, -0.842_700_792_9)] {
            assert!((erf(x) - expected).abs() < 2e-7, "erf({x})");
        }
    }

    #[test]
    fn normal_quantiles() {
        for (p, z) in [(0.5, 0.0), (0.975, 1.959_963_985), (0.01, -2.326_347_874), (0.999, 3.090_232_306)] {
            assert!((standard_normal_quantile(p) - z).abs() < 1e-8, "p {p}");
        }
    }

    #[test]
    fn sigma_fit_inverts_the_mad_ratio() {
        for ratio in [0.05, 0.4, 0.94, 1.5] {
            let sigma = lognormal_sigma_for_mad_ratio(ratio);
            assert!((lognormal_mad_ratio(sigma) - ratio).abs() < 1e-9, "ratio {ratio}");
        }
    }

    #[test]
    fn jittered_delays_have_the_measured_spread() {
        // Uncapped pair: the sample's mean absolute deviation matches mdev/2.
        let rtt = RttStats { min_ns: 100_000_000, avg_ns: 102_000_000, max_ns: 400_000_000, mdev_ns: 1_500_000 };
        let jitter = fit_jitter(rtt).expect("spread");
        let mut rng = RngStreams::new(2).stream(Purpose::Network, 0);
        let draws: Vec<f64> = (0..200_000).map(|_| jitter.sample_excess_ns(&mut rng)).collect();
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        let mad = draws.iter().map(|d| (d - mean).abs()).sum::<f64>() / draws.len() as f64;
        assert!((mean - 1_000_000.0).abs() < 10_000.0, "mean {mean}");
        assert!((mad - 750_000.0).abs() < 15_000.0, "mad {mad}");
    }

    #[test]
    fn base_delay_is_half_the_directed_avg_rtt() {
        let matrix = gcp();
        let (ew1, uc1) = (region(&matrix, "europe-west1"), region(&matrix, "us-central1"));
        let wan = Wan::new(&matrix, DelayOptions::default(), &[ew1, uc1]);
        assert_eq!(wan.base_delay_ns(ew1, uc1), matrix.rtt(ew1.index(), uc1.index()).avg_ns / 2);
        assert_eq!(wan.base_delay_ns(ew1, uc1), 52_459_500);
        let intra = wan.base_delay_ns(ew1, ew1);
        assert!(intra > 0, "measured intra-region delay is the default");
        let zero =
            Wan::new(&matrix, DelayOptions { intra_region: IntraRegionDelay::Zero, ..Default::default() }, &[ew1]);
        assert_eq!(zero.base_delay_ns(ew1, ew1), 0);
        let fantoch = Wan::new(&matrix, DelayOptions { base: BaseDelay::FantochMs, ..Default::default() }, &[]);
        assert_eq!(fantoch.base_delay_ns(ew1, uc1), 52 * NS_PER_MS);
    }

    #[test]
    fn jittered_delays_respect_floor_cap_and_mean() {
        let matrix = gcp();
        let options = DelayOptions { jitter: true, ..Default::default() };
        let (from, to) = (region(&matrix, "europe-west1"), region(&matrix, "us-west1"));
        let wan = Wan::new(&matrix, options, &[from, to]);
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
