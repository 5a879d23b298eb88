//! Parts more than one protocol uses.

pub mod compact_log;
pub mod dot;
pub mod dot_window;
pub mod gc;
pub mod graph_executor;
pub mod key_deps;
pub mod payload;
pub mod pending;
pub mod pred_executor;
pub mod quorum;
pub mod read_executor;
pub mod slot_executor;
pub mod slot_log;
pub mod synod;
#[cfg(test)]
pub(crate) mod test_net;
