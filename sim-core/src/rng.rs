//! Seeded randomness: one root seed, one independent stream per purpose.
//!
//! Every random draw of a run comes from a stream derived from
//! `(root seed, purpose, index)`, so adding a client does not change the
//! network's jitter draws, and the same seed replays a run exactly. The
//! generator, PCG64-MCG (`rand_pcg`), has specified output, portable across
//! platforms and versions (unlike `StdRng`), 16 bytes of state (thousands
//! of per-client streams stay in cache) and costs one 128-bit multiply a
//! draw: the network draws once per message, and ChaCha8 there cost 6% of
//! the FPaxos benchmark's instructions. Statistical quality, not
//! unpredictability, is what a simulation needs.

use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;

/// The generator of the network's and each process's stream.
pub type StreamRng = Pcg64Mcg;

/// The generator of each client's workload stream.
pub type ClientRng = Pcg64Mcg;

/// What a stream is used for; part of the stream's derivation, so two
/// purposes never share draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Purpose {
    /// Jitter draws of the virtual WAN.
    Network = 1,
    /// A client's workload (index: the client id).
    Workload = 2,
    /// A protocol process's own randomness (index: the process id).
    Protocol = 3,
    /// Fault schedules.
    Faults = 4,
    /// Open-loop arrivals (index: the client region's position).
    Arrivals = 5,
}

/// Derives the per-purpose streams of one run from its root seed.
#[derive(Clone, Copy, Debug)]
pub struct RngStreams {
    root_seed: u64,
}

impl RngStreams {
    /// Streams for a run with this root seed.
    pub fn new(root_seed: u64) -> RngStreams {
        RngStreams { root_seed }
    }

    /// The root seed.
    pub fn root_seed(&self) -> u64 {
        self.root_seed
    }

    /// The stream for `purpose` and `index` (a process number, or 0).
    pub fn stream(&self, purpose: Purpose, index: u64) -> StreamRng {
        StreamRng::seed_from_u64(self.seed_of(purpose, index))
    }

    /// The workload stream of client `index`.
    pub fn client_stream(&self, index: u64) -> ClientRng {
        ClientRng::seed_from_u64(self.seed_of(Purpose::Workload, index))
    }

    fn seed_of(&self, purpose: Purpose, index: u64) -> u64 {
        let mut state = self.root_seed;
        let mut seed = splitmix64(&mut state);
        state ^= (purpose as u64).wrapping_mul(0xA076_1D64_78BD_642F);
        seed ^= splitmix64(&mut state);
        state ^= index.wrapping_mul(0xE703_7ED1_A0B4_28DB);
        seed ^= splitmix64(&mut state);
        seed
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, well-mixed step used only
/// to derive stream seeds.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    fn first_draws(mut rng: StreamRng) -> [u64; 4] {
        [rng.next_u64(), rng.next_u64(), rng.next_u64(), rng.next_u64()]
    }

    #[test]
    fn same_seed_same_stream() {
        let a = RngStreams::new(7).stream(Purpose::Network, 0);
        let b = RngStreams::new(7).stream(Purpose::Network, 0);
        assert_eq!(first_draws(a), first_draws(b));
    }

    #[test]
    fn streams_differ_by_seed_purpose_and_index() {
        let base = first_draws(RngStreams::new(7).stream(Purpose::Workload, 3));
        assert_ne!(base, first_draws(RngStreams::new(8).stream(Purpose::Workload, 3)));
        assert_ne!(base, first_draws(RngStreams::new(7).stream(Purpose::Network, 3)));
        assert_ne!(base, first_draws(RngStreams::new(7).stream(Purpose::Workload, 4)));
    }

    #[test]
    fn client_streams_differ_and_are_pinned() {
        let mut a = RngStreams::new(1).client_stream(0);
        let mut b = RngStreams::new(1).client_stream(1);
        let (x, y) = (a.next_u64(), b.next_u64());
        assert_ne!(x, y);
        assert_eq!(x, PINNED_CLIENT);
    }

    const PINNED_CLIENT: u64 = 18_307_961_645_788_199_777;

    #[test]
    fn generator_is_pinned() {
        // PCG64-MCG is specified: these values may never change, or every
        // published result would stop replaying.
        let draws = first_draws(RngStreams::new(1).stream(Purpose::Network, 0));
        assert_eq!(draws, PINNED);
    }

    const PINNED: [u64; 4] =
        [876_117_555_110_230_554, 13_519_350_405_980_193_198, 3_664_973_923_870_389_313, 3_607_967_336_058_766_119];
}
