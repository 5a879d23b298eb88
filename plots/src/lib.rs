//! Figures drawn from planetsim's result CSVs (latency bars, CDFs, tail
//! latency versus load, RTT heat maps), so a figure can be redrawn without
//! re-running a simulation. Arrives with the scenario-file issue; the crate
//! exists now so the workspace shows the architecture.
