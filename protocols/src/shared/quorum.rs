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

    #[test]
    fn f_bounds() {
        assert!(check_f(3, 1).is_ok());
        assert!(check_f(5, 2).is_ok());
        assert!(check_f(3, 2).unwrap_err().contains("between 1 and floor(n/2) = 1"));
        assert!(check_f(5, 0).is_err());
    }
}
