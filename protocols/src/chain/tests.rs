//! Chain replication transcript tests: the worked examples of
//! chain-replication.md §10 on
//! `shared::test_net` (E4 with `reads = "craq"`), plus the §4 invariants
//! and duplicates.

use super::*;
use crate::shared::test_net::{TestNet, setup};
use sim_core::{ClientId, Op};

fn cmd(client: u32, seq: u64) -> Arc<Command> {
    let id = CommandId { client: ClientId(client), seq };
    Arc::new(Command { id, ops: vec![(1, Op::Put(seq))].into(), payload_bytes: 0 })
}

fn ms(ms: u64) -> Time {
    Time::from_ns(ms * NS_PER_MS)
}

/// §10: S1 (head, A) → S2 (B) → S3 (tail, C), d(A,B) = 10, d(B,C) = 20,
/// d(A,C) = 25.
const DELAYS: [&[u64]; 3] = [&[0, 10, 25], &[10, 0, 20], &[25, 20, 0]];

fn net() -> TestNet<Chain> {
    let options = Options { fd_timeout_ns: Some(1000 * NS_PER_MS), ..Options::default() };
    TestNet::new(&DELAYS, 1, 1, &options)
}

fn hist(net: &TestNet<Chain>) -> Vec<u64> {
    net.processes.iter().map(Chain::hist_upto).collect()
}

fn is_forward(msg: &Message, wanted: u64) -> bool {
    matches!(msg, Message::Forward { seq, .. } if *seq == wanted)
}

/// §10 E1: FORWARD reaches S2 at 10 and S3 at 30; the REPLY reaches the
/// client's process S1 at 55; ACKs reach S2 at 50 and S1 at 60, after
/// which nothing is pending anywhere. §4 invariants along the way.
#[test]
fn chain_10_e1_update_latency() {
    let mut net = net();
    let u = cmd(1, 1);
    net.submit_at(0, 1, u.clone());
    net.run_until(10);
    assert_eq!(hist(&net), vec![1, 1, 0], "update propagation: hist_upto falls along the chain");
    net.run_until(30);
    assert_eq!(hist(&net), vec![1, 1, 1]);
    assert_eq!(net.executed_at(3, u.id), Some(30), "the tail commits on FORWARD");
    net.run_until(60);
    assert_eq!(net.executed_at(1, u.id), Some(55), "REPLY from the tail");
    assert_eq!(net.executed_at(2, u.id), Some(50), "ACK from the tail");
    for p in &net.processes {
        assert_eq!(p.sent_len(), 0, "sent is empty once no ACK is in flight");
    }
}

/// §10 E2: u1-u3 at S1; S2 got u1 and u2 but forwarded only u1, then
/// crashed; S3 has u1. The master (on S1) removes S2, S3 reports
/// LAST_SEQ = 1, S1 re-forwards u2 and u3. S3 answers them, every server
/// ends with hist_upto = 3, and nothing is applied twice.
#[test]
fn chain_10_e2_middle_failure() {
    let mut net = net();
    net.drop_rule = Box::new(|_, from, to, msg| {
        (from == ProcessId(2) && to == ProcessId(3) && is_forward(msg, 2))
            || (from == ProcessId(1) && to == ProcessId(2) && is_forward(msg, 3))
    });
    let updates = [cmd(1, 1), cmd(1, 2), cmd(1, 3)];
    for (i, u) in updates.iter().enumerate() {
        net.submit_at(i as u64, 1, u.clone());
    }
    net.run_until(15);
    net.crashed[1] = true;
    net.run_until(999);
    assert_eq!(hist(&net), vec![3, 2, 1]);
    assert_eq!(net.processes[0].sent_len(), 3, "S1 never got an ACK: S2 crashed");
    net.run_until(1000);
    assert_eq!(net.processes[0].chain(), &[ProcessId(1), ProcessId(3)]);
    net.run_until(2000);
    assert_eq!(net.processes[2].chain(), &[ProcessId(1), ProcessId(3)]);
    assert_eq!((net.processes[0].hist_upto(), net.processes[2].hist_upto()), (3, 3));
    let ids: Vec<CommandId> = updates.iter().map(|u| u.id).collect();
    assert_eq!(net.executed_by(3), ids, "S3 applies each once, in order");
    assert_eq!(net.executed_by(1), ids, "every client answered");
    // LAST_SEQ_REQ at 1025, LAST_SEQ at 1050, RESEND_FROM at 1050 (S1 is
    // the master), u2 and u3 at S3 at 1075, the REPLY at S1 at 1100.
    assert_eq!(net.executed_at(3, updates[1].id), Some(1075));
    assert_eq!(net.executed_at(1, updates[2].id), Some(1100));
    assert_eq!(net.processes[0].sent_len(), 0);
}

/// §10 E3: the tail S3 crashes while u1 is applied at S2 only. After
/// reconfiguration S2 is the tail, replies for u1 and ACKs it to S1; a
/// later update commits at S2.
#[test]
fn chain_10_e3_tail_failure() {
    let mut net = net();
    net.drop_rule = Box::new(|_, from, to, msg| from == ProcessId(2) && to == ProcessId(3) && is_forward(msg, 1));
    let u1 = cmd(1, 1);
    net.submit_at(0, 1, u1.clone());
    net.run_until(5);
    net.crashed[2] = true;
    net.run_until(999);
    assert_eq!(net.executed_by(1), vec![]);
    net.run_until(1010);
    assert_eq!(net.processes[1].chain(), &[ProcessId(1), ProcessId(2)]);
    assert_eq!(net.executed_at(2, u1.id), Some(1010), "the new tail commits what it holds");
    net.run_until(1020);
    assert_eq!(net.executed_at(1, u1.id), Some(1020), "REPLY and ACK from S2");
    let u2 = cmd(1, 2);
    net.submit_at(1100, 1, u2.clone());
    net.run_until(1200);
    assert_eq!(net.executed_at(1, u2.id), Some(1120));
    assert_eq!(net.executed_at(2, u2.id), Some(1110));
}

/// §4 step 1: a retried request already applied is answered, not
/// re-appended; messages from an older chain version are ignored (§1).
#[test]
fn chain_duplicate_request_and_fencing() {
    let mut net = net();
    let u = cmd(2, 1);
    net.submit_at(0, 2, u.clone());
    net.run_until(200);
    assert_eq!(net.executed_at(2, u.id), Some(10 + 30 + 20));
    let mut out = Outbox::new();
    net.processes[0].handle(ProcessId(2), Message::Request { cmd: u.clone(), origin: ProcessId(2) }, ms(200), &mut out);
    assert_eq!(out.sent(), vec![(ProcessId(2), Message::Reply { version: 0, seq: 1 })]);
    assert_eq!(net.processes[0].hist_upto(), 1);

    let (mut s2, _) = Chain::new(setup(2, 3, 1, 1), &Options::default());
    s2.version = 2;
    let mut out = Outbox::new();
    let entry = Entry { cmd: cmd(1, 1), origin: ProcessId(1) };
    s2.handle(ProcessId(1), Message::Forward { version: 1, seq: 1, entry }, ms(1), &mut out);
    assert_eq!(s2.hist_upto(), 0);
    assert!(out.sent().is_empty());
}

#[test]
fn chain_check() {
    assert!(Chain::check(3, 2).is_ok());
    assert!(Chain::check(3, 3).unwrap_err().contains("1 <= f <= n - 1 = 2"));
    assert!(Chain::check(1, 1).unwrap_err().contains("2 to 64"));
}

fn get(client: u32, seq: u64) -> Arc<Command> {
    let id = CommandId { client: ClientId(client), seq };
    Arc::new(Command { id, ops: vec![(1, Op::Get)].into(), payload_bytes: 0 })
}

/// What process `id` answered for `cmd`: (when, the value read).
fn read_result(net: &TestNet<Chain>, id: u32, cmd: CommandId) -> Option<(u64, Option<u64>)> {
    net.results
        .iter()
        .find(|(_, p, c, _)| p.0 == id && *c == cmd)
        .map(|(t, _, _, r)| (t.as_ns() / NS_PER_MS, r.as_slice()[0]))
}

/// §10 E4 (CRAQ): the client at B reads k at S2. Clean (u1 committed and
/// ACKed): served at once, 0 ms. Dirty (u2 at S2, its FORWARD to S3 lost):
/// S2 asks S3, whose committed version is u1's, and returns that value
/// after `2·d(B,C) = 40` ms. No read goes down the chain.
#[test]
fn chain_10_e4_craq_dirty_read() {
    let options = Options { reads: ReadMode::Craq, fd_timeout_ns: Some(10_000 * NS_PER_MS), ..Options::default() };
    let mut net = TestNet::<Chain>::new(&DELAYS, 1, 1, &options);
    net.drop_rule = Box::new(|_, from, to, msg| from == ProcessId(2) && to == ProcessId(3) && is_forward(msg, 2));
    let (u1, u2) = (cmd(1, 1), cmd(1, 2));
    net.submit_at(0, 1, u1.clone());
    net.run_until(100);
    assert_eq!(net.executed_at(2, u1.id), Some(50), "ACKed at S2: version 1 clean");
    let clean = get(2, 1);
    net.submit_at(100, 2, clean.clone());
    net.run_until(100);
    assert_eq!(read_result(&net, 2, clean.id), Some((100, Some(1))), "clean: 0 ms");
    net.submit_at(200, 1, u2.clone());
    net.run_until(300);
    assert_eq!(net.processes[1].hist_upto(), 2, "version 2 dirty at S2");
    assert_eq!(net.processes[2].hist_upto(), 1);
    let dirty = get(2, 2);
    net.submit_at(300, 2, dirty.clone());
    net.run_until(500);
    assert_eq!(read_result(&net, 2, dirty.id), Some((340, Some(1))), "dirty: the tail's committed version, 40 ms");
    assert_eq!(net.count_delivered(|m| matches!(m, Message::VersionQuery { .. })), 1);
    assert!(
        net.delivered
            .iter()
            .all(|(_, _, _, m)| !matches!(m, Message::Forward { entry, .. } if entry.cmd.is_read_only()))
    );
}

/// Swarm chain f=2 seed 577: S3 rejoined as the tail behind S2, holding
/// nothing yet, when S2 crashed; the new predecessor S1 re-sent only above
/// what it had seen acknowledged (seq 2 here), so S3 buffered it over a
/// hole nobody filled and every client waited for good. Under faults a
/// hole that stays asks the predecessor for everything above it.
#[test]
fn chain_a_lasting_hole_asks_the_predecessor_again() {
    let detecting = |id: u32| {
        let mut s = setup(id, 3, 1, 1);
        s.config.failure_detection = true;
        s
    };
    let options = Options::default();
    let (mut s1, _) = Chain::new(detecting(1), &options);
    let (mut s3, _) = Chain::new(detecting(3), &options);
    let chain = vec![ProcessId(1), ProcessId(3)];
    for server in [&mut s1, &mut s3] {
        server.version = 5;
        server.chain = chain.clone();
    }
    s1.log = vec![Entry { cmd: cmd(1, 1), origin: ProcessId(1) }, Entry { cmd: cmd(1, 2), origin: ProcessId(1) }];
    s1.acked = 1; // acknowledged by S1's old successor, which S3 never was
    let mut out = Outbox::new();
    let entry = s1.log[1].clone();
    s3.handle(ProcessId(1), Message::Forward { version: 5, seq: 2, entry }, ms(0), &mut out);
    assert_eq!(s3.hist_upto(), 0, "seq 2 waits over the hole");
    let mut out = Outbox::new();
    s3.handle_timer(Timer::Tick, ms(100), &mut out);
    assert!(out.sent().iter().all(|(_, m)| !matches!(m, Message::Join { .. })), "a reordered FORWARD may fill it");
    let mut out = Outbox::new();
    s3.handle_timer(Timer::Tick, ms(1000), &mut out);
    let join = Message::Join { version: 5, hist_upto: 0 };
    assert!(out.sent().contains(&(ProcessId(1), join.clone())), "{:?}", out.sent());
    let mut resent = Outbox::new();
    s1.handle(ProcessId(3), join, ms(1010), &mut resent);
    let seqs: Vec<u64> = resent
        .sent()
        .iter()
        .filter_map(|(_, m)| if let Message::Forward { seq, .. } = m { Some(*seq) } else { None })
        .collect();
    assert_eq!(seqs, vec![1, 2]);
    for (_, m) in resent.sent() {
        s3.handle(ProcessId(1), m, ms(1020), &mut Outbox::new());
    }
    assert_eq!(s3.hist_upto(), 2);
}

/// CRAQ under faults (`craq.rs`): an acceptor that granted S3 a lease
/// refuses a configuration without S3 until the lease runs out, and from
/// that refusal on grants S3 no more (else a live S3 renewing its lease
/// would keep a re-proposed removal from ever being chosen).
#[test]
fn chain_craq_lease_holds_back_a_removal_then_is_withheld() {
    let mut s = setup(2, 3, 1, 1);
    s.config.failure_detection = true;
    let options = Options { reads: ReadMode::Craq, ..Options::default() };
    let (mut s2, _) = Chain::new(s, &options);
    let lease_req = Message::LeaseReq { version: 0, at: ms(0) };
    let mut out = Outbox::new();
    s2.handle(ProcessId(3), lease_req.clone(), ms(0), &mut out);
    assert_eq!(out.sent(), vec![(ProcessId(3), Message::LeaseGrant { at: ms(0) })]);
    let ballot = Ballot { round: 0, id: 1 };
    let removal = Message::Accept { ballot, version: 1, chain: vec![ProcessId(1), ProcessId(2)] };
    let mut out = Outbox::new();
    s2.handle(ProcessId(1), removal.clone(), ms(100), &mut out);
    assert!(out.sent().is_empty(), "S3's lease (granted at 0) runs until 800");
    let mut out = Outbox::new();
    s2.handle(ProcessId(3), Message::LeaseReq { version: 0, at: ms(200) }, ms(200), &mut out);
    assert!(out.sent().is_empty(), "withheld while the removal waits");
    let mut out = Outbox::new();
    s2.handle(ProcessId(1), removal, ms(900), &mut out);
    assert_eq!(out.sent(), vec![(ProcessId(1), Message::Accepted { ballot, version: 1 })]);
}
