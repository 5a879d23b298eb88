//! Reads at backups (vr.md §10 last bullet, `backup_reads.rs`).

use super::*;
use crate::shared::test_net::TestNet;
use sim_core::CommandId;
use sim_core::{ClientId, Op};

fn command(client: u32, seq: u64, op: Op) -> Arc<Command> {
    let id = CommandId { client: ClientId(client), seq };
    Arc::new(Command { id, ops: vec![(1, op)].into(), payload_bytes: 0 })
}

/// vr.md §15's three replicas: d(R0,R1)=10, d(R0,R2)=40, d(R1,R2)=35.
const DELAYS: [&[u64]; 3] = [&[0, 10, 40], &[10, 0, 35], &[40, 35, 0]];

fn backup_reads() -> Options {
    Options { backup_reads: true, ..Options::default() }
}

/// What read `id` returned, and when.
fn read_result(net: &TestNet<Vr>, id: CommandId) -> Option<(u64, Option<u64>)> {
    net.results.iter().find(|(_, _, c, _)| *c == id).map(|(at, _, _, results)| (at.as_ns() / NS_PER_MS, results[0]))
}

fn requests_from(net: &TestNet<Vr>, from: u32) -> usize {
    net.delivered.iter().filter(|(_, f, _, m)| f.0 == from && matches!(m, Message::Request { .. })).count()
}

/// A client at the far backup R2 writes x=1 (answered at 80: REQUEST
/// 40, commit at 20 after PREPARE/PREPARE_OK, COMMIT back 40), then reads
/// at once: R2 answers from its own state with no message (the client's
/// session is known there), and the read sees the client's write.
#[test]
fn vr_10_backup_read_sees_the_clients_own_write_without_messages() {
    let mut net = TestNet::<Vr>::new(&DELAYS, 1, 1, &backup_reads());
    net.submit_at(0, 3, command(0, 1, Op::Put(1)));
    net.run_until(100);
    let write = read_result(&net, command(0, 1, Op::Put(1)).id).expect("write answered");
    let requests = requests_from(&net, 3);
    net.submit_at(write.0, 3, command(0, 2, Op::Get));
    net.run_until(200);
    assert_eq!(read_result(&net, command(0, 2, Op::Get).id), Some((write.0, Some(1))), "read-your-writes, at once");
    assert_eq!(requests_from(&net, 3), requests, "the read sent nothing");
}

/// The stale read the option allows (§14): R2's client wrote x=1; then
/// R0's client writes x=2, acknowledged at 20; R2 learns that commit only
/// with the next COMMIT (sent at 100, arriving at 140), so R2's client
/// reading at 30 still gets 1 although x=2 was acknowledged before.
/// Without the option the read goes through the log and sees 2.
#[test]
fn vr_10_backup_read_may_be_stale() {
    for (options, expected) in [(backup_reads(), 1), (Options::default(), 2)] {
        let mut net = TestNet::<Vr>::new(&DELAYS, 1, 1, &options);
        net.submit_at(0, 3, command(0, 1, Op::Put(1)));
        net.run_until(1000);
        net.submit_at(1000, 1, command(1, 1, Op::Put(2)));
        net.submit_at(1030, 3, command(0, 2, Op::Get));
        net.run_until(1500);
        let (acked, _) = read_result(&net, command(1, 1, Op::Put(2)).id).expect("x=2 answered");
        assert_eq!(acked, 1020);
        let (_, value) = read_result(&net, command(0, 2, Op::Get).id).expect("read answered");
        assert_eq!(value, Some(expected), "backup reads {}", options.backup_reads);
    }
}

/// A read whose client's previous request this replica does not know (a
/// first command, or a client moved here by a retry) goes through the
/// log; its execution starts the session, and the next read is local.
#[test]
fn vr_10_backup_read_without_a_session_goes_through_the_log() {
    let mut net = TestNet::<Vr>::new(&DELAYS, 1, 1, &backup_reads());
    net.submit_at(0, 1, command(1, 1, Op::Put(7)));
    net.submit_at(0, 3, command(0, 5, Op::Get));
    net.run_until(500);
    assert_eq!(requests_from(&net, 3), 1, "forwarded to the primary");
    assert_eq!(read_result(&net, command(0, 5, Op::Get).id).map(|(_, v)| v), Some(Some(7)));
    net.submit_at(500, 3, command(0, 6, Op::Get));
    net.run_until(600);
    assert_eq!(read_result(&net, command(0, 6, Op::Get).id), Some((500, Some(7))));
    assert_eq!(requests_from(&net, 3), 1, "the second read is local");
}
