use latency_data::Matrix;
use protocols::ProtocolName;
use sim_core::workload::{KeyDistribution, Workload};
use sim_core::{RegionId, RunConfig};

#[test]
fn scratch() {
    let matrix = Matrix::builtin("gcp").unwrap();
    let sites = ["asia-south1", "europe-north1", "southamerica-east1", "australia-southeast1", "europe-west1"]
        .map(|name| RegionId(matrix.region_index(name).unwrap() as u16))
        .to_vec();
    let clients: u32 = std::env::var("CLIENTS").map(|v| v.parse().unwrap()).unwrap_or(64);
    let conflict: f64 = std::env::var("CONFLICT").map(|v| v.parse().unwrap()).unwrap_or(0.02);
    let reads: f64 = std::env::var("READS").map(|v| v.parse().unwrap()).unwrap_or(0.0);
    let mut config = RunConfig::new(matrix.clone(), sites.clone());
    config.clients_per_region = clients;
    config.commands_per_client = 100;
    config.workload = Workload {
        keys: KeyDistribution::ConflictPool { conflict_rate: conflict, hot_keys: 1 },
        read_ratio: reads,
        ..Workload::default()
    };
    let report = ProtocolName::EPaxos.run(&config);
    println!("{}", report.verdict);
    println!("total {:?}", report.total);
    println!("protocol {:#?}", report.protocol);
}
