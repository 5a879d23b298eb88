//! A process's two halves share no memory (the executor talks to its
//! protocol through `Apply::notify` / `Protocol::handle_executed`), so every
//! protocol, its executor and a whole simulation of it can move to another
//! thread: independent runs can be spread over threads.

use protocols::{atlas, caesar, deferred_update, epaxos, fpaxos, tempo};
use sim_core::{Protocol, Simulation};

/// Compiles only if `P`, its executor and its simulation are `Send`.
fn process_is_send<P: Protocol + Send>()
where
    P::Executor: Send,
    Simulation<P>: Send,
{
}

#[test]
fn every_process_its_executor_and_its_simulation_are_send() {
    process_is_send::<fpaxos::FPaxos>();
    process_is_send::<tempo::Tempo>();
    process_is_send::<atlas::Atlas>();
    process_is_send::<epaxos::EPaxos>();
    process_is_send::<caesar::Caesar>();
    process_is_send::<deferred_update::DeferredUpdate>();
}
