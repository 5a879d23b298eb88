//! Quorum sizes, with the formula of each in its doc comment (specs README
//! §2). Every size includes the coordinator or leader itself.

/// Largest `f` a protocol parameterised by `f` accepts for `n` processes:
/// `floor(n/2)` (specs README §1.1).
pub fn max_f(n: usize) -> usize {
    n / 2
}

/// Flexible Paxos phase-2 (replication) quorum: `f + 1`.
pub fn fpaxos_phase2(f: usize) -> usize {
    f + 1
}

/// Flexible Paxos phase-1 (election) quorum: `n - f`. With
/// [`fpaxos_phase2`] it gives `|Q1| + |Q2| = n + 1 > n`, so every election
/// quorum meets every replication quorum.
pub fn fpaxos_phase1(n: usize, f: usize) -> usize {
    n - f
}

/// Atlas and Tempo fast quorum: `floor(n/2) + f`.
pub fn leaderless_fast(n: usize, f: usize) -> usize {
    n / 2 + f
}

/// Atlas and Tempo slow (consensus) quorum: `f + 1`.
pub fn leaderless_slow(f: usize) -> usize {
    f + 1
}

/// Atlas and Tempo recovery quorum: `n - f`.
pub fn leaderless_recovery(n: usize, f: usize) -> usize {
    n - f
}

/// Tempo's stability threshold: `floor(n/2) + 1` processes must report a
/// timestamp before it is stable.
pub fn tempo_stability(n: usize) -> usize {
    n / 2 + 1
}

/// Majority, `floor(n/2) + 1`: NFR reads' fast quorum, Caesar's classic
/// quorum.
pub fn majority(n: usize) -> usize {
    n / 2 + 1
}

/// Tempo's "tiny quorums" option: fast quorum `2f`.
pub fn tempo_tiny_fast(f: usize) -> usize {
    2 * f
}

/// Tempo's "tiny quorums" option: stability threshold `n - f`.
pub fn tempo_tiny_stability(n: usize, f: usize) -> usize {
    n - f
}

/// EPaxos always tolerates a minority: `F = floor(n/2)`.
pub fn epaxos_f(n: usize) -> usize {
    n / 2
}

/// EPaxos fast quorum: `F + floor((F + 1) / 2)` with `F = floor(n/2)`.
pub fn epaxos_fast(n: usize) -> usize {
    let f = epaxos_f(n);
    // floor((F + 1) / 2) = ceil(F / 2).
    f + f.div_ceil(2)
}

/// EPaxos slow and recovery quorum: `F + 1`.
pub fn epaxos_slow(n: usize) -> usize {
    epaxos_f(n) + 1
}

/// Caesar fast quorum: `floor(3n/4) + 1` (the paper's `ceil(3n/4)` for
/// odd n; they differ only when 4 divides n, see caesar.md).
pub fn caesar_fast(n: usize) -> usize {
    3 * n / 4 + 1
}

/// Checks `1 <= f <= floor(n/2)`, saying what would be valid otherwise.
pub fn check_f(n: usize, f: usize) -> Result<(), String> {
    if f == 0 || f > max_f(n) {
        return Err(format!(
            "f = {f} is not valid for n = {n} processes: f must be between 1 and floor(n/2) = {}",
            max_f(n)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// specs README §2, FPaxos columns, every row.
    #[test]
    fn fpaxos_quorum_table() {
        let table = [
            (3, 1, 2, 2),
            (5, 1, 2, 4),
            (5, 2, 3, 3),
            (7, 1, 2, 6),
            (7, 2, 3, 5),
            (7, 3, 4, 4),
            (9, 1, 2, 8),
            (9, 2, 3, 7),
            (9, 3, 4, 6),
            (11, 1, 2, 10),
            (11, 2, 3, 9),
            (11, 3, 4, 8),
            (13, 1, 2, 12),
            (13, 2, 3, 11),
            (13, 3, 4, 10),
        ];
        for (n, f, phase2, phase1) in table {
            assert_eq!(fpaxos_phase2(f), phase2, "n={n} f={f}");
            assert_eq!(fpaxos_phase1(n, f), phase1, "n={n} f={f}");
            assert!(fpaxos_phase1(n, f) + fpaxos_phase2(f) > n, "quorums intersect");
        }
    }

    /// specs README §2, Atlas/Tempo columns, every row.
    #[test]
    fn leaderless_quorum_table() {
        // (n, f, fast, slow, recovery, stability)
        let table = [
            (3, 1, 2, 2, 2, 2),
            (5, 1, 3, 2, 4, 3),
            (5, 2, 4, 3, 3, 3),
            (7, 1, 4, 2, 6, 4),
            (7, 2, 5, 3, 5, 4),
            (7, 3, 6, 4, 4, 4),
            (9, 1, 5, 2, 8, 5),
            (9, 2, 6, 3, 7, 5),
            (9, 3, 7, 4, 6, 5),
            (11, 1, 6, 2, 10, 6),
            (11, 2, 7, 3, 9, 6),
            (11, 3, 8, 4, 8, 6),
            (13, 1, 7, 2, 12, 7),
            (13, 2, 8, 3, 11, 7),
            (13, 3, 9, 4, 10, 7),
        ];
        for (n, f, fast, slow, recovery, stability) in table {
            let row = (leaderless_fast(n, f), leaderless_slow(f), leaderless_recovery(n, f), tempo_stability(n));
            assert_eq!(row, (fast, slow, recovery, stability), "n={n} f={f}");
        }
    }

    /// specs README §2, EPaxos and Caesar columns, every row.
    #[test]
    fn minority_quorum_table() {
        // (n, F, epaxos fast, epaxos slow = recovery, caesar fast, caesar classic)
        let table = [
            (3, 1, 2, 2, 3, 2),
            (5, 2, 3, 3, 4, 3),
            (7, 3, 5, 4, 6, 4),
            (9, 4, 6, 5, 7, 5),
            (11, 5, 8, 6, 9, 6),
            (13, 6, 9, 7, 10, 7),
        ];
        for (n, f, fast, slow, caesar, classic) in table {
            let row = (epaxos_f(n), epaxos_fast(n), epaxos_slow(n), caesar_fast(n), majority(n));
            assert_eq!(row, (f, fast, slow, caesar, classic), "n={n}");
        }
    }

    /// specs README §2: tiny quorums and NFR reads.
    #[test]
    fn options() {
        assert_eq!((tempo_tiny_fast(1), tempo_tiny_stability(5, 1)), (2, 4));
        assert_eq!((tempo_tiny_fast(2), tempo_tiny_stability(5, 2)), (4, 3));
        assert_eq!(majority(5), 3);
        // Caesar: floor(3n/4)+1 equals ceil(3n/4) for odd n only.
        for n in [3usize, 5, 7, 9, 11, 13] {
            assert_eq!(caesar_fast(n), (3 * n).div_ceil(4));
        }
        assert_ne!(caesar_fast(4), 3usize, "4 | n: floor(3n/4)+1 = 4, ceil(3n/4) = 3");
    }

    #[test]
    fn f_bounds() {
        assert!(check_f(3, 1).is_ok());
        assert!(check_f(5, 2).is_ok());
        assert!(check_f(3, 2).unwrap_err().contains("between 1 and floor(n/2) = 1"));
        assert!(check_f(5, 0).is_err());
    }
}
