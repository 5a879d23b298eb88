//! Tests of leased reads at the primary (vr.md §10), with the §15 E4
//! example and a planted backup that ignores its promise, caught by the
//! verdict's linearizability check as a stale read.

use super::*;
use crate::shared::test_net::TestNet;
use sim_core::CommandId;
use sim_core::verdict::{History, HistoryOp};
use sim_core::{ClientId, Op};

fn ms(ms: u64) -> Time {
    Time::from_ns(ms * NS_PER_MS)
}

fn command(client: u32, seq: u64, op: Op) -> Arc<Command> {
    Arc::new(Command { id: CommandId { client: ClientId(client), seq }, ops: vec![(1, op)].into(), payload_bytes: 0 })
}

fn leased() -> Options {
    Options { leased_reads: true, ..Options::default() }
}

/// The three replicas of vr.md §15: d(R0,R1)=10, d(R0,R2)=40, d(R1,R2)=35.
const E_DELAYS: [&[u64]; 3] = [&[0, 10, 40], &[10, 0, 35], &[40, 35, 0]];

/// vr.md §15 E4 with leases (L = 800 ms), the partition moved to t = 1 s
/// so the lease is established first. R0's last COMMIT that R1 echoed
/// left at 900 ms: R0 answers a read at 1500 ms from its lease with no
/// network time, orders a read at 1800 ms through the log instead (its
/// lease ended at 1700 ms; that read waits for the partition to heal),
/// and R1 does not start a view change before its promise expired. Once
/// the partition heals, that read returns view 1's write.
#[test]
fn vr_15_e4_leased_reads_stop_when_the_lease_ends() {
    let mut net = TestNet::<Vr>::new(&E_DELAYS, 1, 1, &leased());
    net.submit_at(0, 1, command(0, 1, Op::Put(1)));
    let r0 = ProcessId(1);
    net.drop_rule = Box::new(move |now, from, to, _| now >= ms(1000) && now < ms(5000) && (from == r0) != (to == r0));
    net.submit_at(500, 1, command(1, 1, Op::Get));
    net.submit_at(1500, 1, command(1, 2, Op::Get));
    net.submit_at(1800, 1, command(1, 3, Op::Get));
    net.run_until(1709);
    assert_eq!(net.processes[1].view(), 0, "R1's promise runs to 910 + 800 ms");
    net.submit_at(3500, 2, command(2, 1, Op::Put(2)));
    net.run_until(4900);
    assert_eq!(net.executed_at(1, command(1, 1, Op::Get).id), Some(500), "a lease read at the primary: 0 ms");
    assert_eq!(net.executed_at(1, command(1, 2, Op::Get).id), Some(1500), "still within the lease");
    assert_eq!(net.executed_at(1, command(1, 3, Op::Get).id), None, "after the lease: through the log");
    assert_eq!(net.processes[1].view(), 1, "R1 and R2 moved on once the promises expired");
    net.run_until(9000);
    let results: Vec<_> = net.results.iter().filter(|(_, p, c, _)| p.0 == 1 && c.client.0 == 1).collect();
    let observed: Vec<_> = results.iter().map(|(_, _, _, r)| r[0]).collect();
    assert_eq!(observed, vec![Some(1), Some(1), Some(2)], "the last read is ordered after view 1's write");
    // R0's uncommitted read of view 0 was dropped with its view-0 suffix;
    // R0 forwarded it again to R1, which answered it under its own lease.
    assert_eq!(net.processes[0].op(), 2, "only the writes are in the log");
}

/// Three replicas: R0 (the primary of view 0) sits 200 ms from R1 and R2,
/// which are 5 ms apart. From 500 ms R0 and R2 cannot talk: R2 suspects
/// R0 and asks for view 1, whose primary is R1, while R1 still hears R0.
/// A client writes x = 2 at R1 as soon as R1 leads view 1 (or at 6 s if
/// it never does), then a client at R0 reads x. Returns the clients'
/// history and whether view 1 started.
fn promise_partition(options: &Options) -> (History, bool) {
    let row = |i: usize| -> Vec<u64> {
        (0..3)
            .map(|j| {
                if i == j {
                    0
                } else if i == 0 || j == 0 {
                    200
                } else {
                    5
                }
            })
            .collect()
    };
    let rows: Vec<Vec<u64>> = (0..3).map(row).collect();
    let delays: Vec<&[u64]> = rows.iter().map(|r| r.as_slice()).collect();
    let mut net = TestNet::<Vr>::new(&delays, 1, 1, options);
    let (r0, r2) = (ProcessId(1), ProcessId(3));
    net.drop_rule =
        Box::new(move |now, from, to, _| now >= ms(500) && ((from == r0 && to == r2) || (from == r2 && to == r0)));
    let write1 = command(1, 1, Op::Put(1));
    net.submit_at(0, 1, write1.clone());
    let mut t = 500;
    let started = loop {
        net.run_until(t);
        if net.processes[1].view() == 1 && net.processes[1].status() == Status::Normal {
            break true;
        }
        if t >= 6000 {
            break false;
        }
        t += 5;
    };
    let write2 = command(2, 1, Op::Put(2));
    net.submit_at(t + 10, 2, write2.clone());
    net.run_until(t + 50);
    let read = command(3, 1, Op::Get);
    net.submit_at(t + 60, 1, read.clone());
    net.run_until(t + 2000);

    let answered = |process: u32, id: CommandId| {
        net.results.iter().find(|(_, p, c, _)| p.0 == process && *c == id).map(|(at, _, _, r)| (*at, r[0]))
    };
    assert!(answered(1, read.id).is_some(), "R0 answered the read");
    let mut history = History::new();
    for (cmd, at, process, written) in
        [(&write1, 0, 1, Some(1)), (&write2, t + 10, 2, Some(2)), (&read, t + 60, 1, None)]
    {
        let (responded, observed) = answered(process, cmd.id).map_or((None, None), |(at, r)| (Some(at), r));
        history.push(HistoryOp { key: 1, cmd: cmd.id, written, observed, invoked: ms(at), responded });
    }
    (history, started)
}

/// vr.md §10b and §10e: a backup that ignores its promise (planted) lets
/// view 1 start and commit x = 2 while R0 still holds its lease and
/// answers x = 1: the linearizability check reports the stale read. With
/// the promise kept, R1 defers the view change, and the history is
/// linearizable.
#[test]
fn vr_10_b_the_backup_promise_keeps_leased_reads_linearizable() {
    let planted = Options { plant_lease_without_promise: true, ..leased() };
    let (history, started) = promise_partition(&planted);
    assert!(started, "view 1 started while R0's lease was live");
    assert_eq!(history.check().total(), 1, "the stale read is caught");

    let (history, started) = promise_partition(&leased());
    assert!(!started, "R1 keeps its promise while it hears R0");
    assert_eq!(history.check().total(), 0);
}

/// vr.md §10d: a new primary uses its lease only once its whole start log
/// committed; before that, reads go through the log.
#[test]
fn vr_10_d_a_new_primary_commits_its_start_log_before_using_a_lease() {
    let mut primary = Vr::new(crate::shared::test_net::setup(2, 3, 1, 1), &leased()).0;
    primary.log.push(Entry { cmd: command(0, 1, Op::Put(1)), origin: ProcessId(1) });
    primary.view = 1;
    primary.become_normal(ms(0));
    primary.reset_lease(1); // START_VIEW log ends at op 1, commit 0
    primary.on_lease_echo(ProcessId(3), ms(10));
    let mut out = Outbox::new();
    let read = command(5, 1, Op::Get);
    primary.handle(ProcessId(3), Message::Request { cmd: read.clone(), origin: ProcessId(3) }, ms(20), &mut out);
    assert_eq!(primary.op(), 2, "ordered: op 1 is not committed yet");
    primary.handle(ProcessId(3), Message::PrepareOk { view: 1, op: 2, executed: 0, echo: ms(20) }, ms(30), &mut out);
    assert_eq!(primary.commit_number(), 2);
    let mut out = Outbox::new();
    let read2 = command(5, 2, Op::Get);
    primary.handle(ProcessId(3), Message::Request { cmd: read2.clone(), origin: ProcessId(3) }, ms(40), &mut out);
    assert_eq!(out.sent(), vec![(ProcessId(3), Message::LeaseRead { id: read2.id, commit: 2 })]);
    assert_eq!(primary.op(), 2, "answered under the lease, not ordered");
}
