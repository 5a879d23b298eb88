//! The CPU and NIC model as the user sets it: the scenario file's
//! `[resources]` section, `--resources on|off` and `--resource KEY=VALUE`
//! for single runs; and what it measured, as a table and a per-process CSV.

use crate::error::UserError;
use serde::Deserialize;
use sim_core::resources::ProcessResourceReport;
use sim_core::{ResourceModel, RunReport};

/// `[resources]`: every constant of [`ResourceModel`], each defaulting to
/// [`ResourceModel::default`]; `enabled` (default false) turns the model
/// on.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourcesSection {
    /// Model finite CPUs and NICs (default off: infinite resources).
    pub enabled: Option<bool>,
    /// Cores per process (for protocols that can use several).
    pub cores: Option<u32>,
    /// CPU ns per input handled.
    pub per_input_ns: Option<u64>,
    /// CPU ns per message sent.
    pub per_message_sent_ns: Option<u64>,
    /// CPU ns per KiB received or sent.
    pub per_kib_ns: Option<u64>,
    /// CPU ns per command executed.
    pub per_command_executed_ns: Option<u64>,
    /// CPU ns per work unit a protocol reports.
    pub per_work_unit_ns: Option<u64>,
    /// Global multiplier of every CPU cost, percent.
    pub cpu_scale_percent: Option<u64>,
    /// Outbound NIC bandwidth, Mbit/s.
    pub nic_out_mbit_per_s: Option<u64>,
    /// Inbound NIC bandwidth, Mbit/s.
    pub nic_in_mbit_per_s: Option<u64>,
}

impl ResourcesSection {
    /// The section's values over the defaults; `None` unless enabled.
    pub fn model(&self) -> Result<Option<ResourceModel>, UserError> {
        if !self.enabled.unwrap_or(false) {
            return Ok(None);
        }
        let mut model = ResourceModel::default();
        let costs = &mut model.costs;
        let set = |target: &mut u64, value: Option<u64>| {
            if let Some(value) = value {
                *target = value;
            }
        };
        set(&mut costs.per_input_ns, self.per_input_ns);
        set(&mut costs.per_message_sent_ns, self.per_message_sent_ns);
        set(&mut costs.per_kib_ns, self.per_kib_ns);
        set(&mut costs.per_command_executed_ns, self.per_command_executed_ns);
        set(&mut costs.per_work_unit_ns, self.per_work_unit_ns);
        set(&mut costs.cpu_scale_percent, self.cpu_scale_percent);
        set(&mut model.nic_out_mbit_per_s, self.nic_out_mbit_per_s);
        set(&mut model.nic_in_mbit_per_s, self.nic_in_mbit_per_s);
        model.cores = self.cores.unwrap_or(model.cores);
        model.check().map_err(UserError::new)?;
        Ok(Some(model))
    }

    /// `--resource KEY=VALUE` flags on top of this section.
    pub fn with_flags(&self, flags: &[String]) -> Result<ResourcesSection, UserError> {
        if flags.is_empty() {
            return Ok(self.clone());
        }
        let mut table = toml::Table::new();
        for flag in flags {
            let (key, value) = flag.split_once('=').ok_or_else(|| {
                UserError::new(format!("--resource \"{flag}\": expected KEY=VALUE, e.g. --resource cores=16"))
            })?;
            let value: toml::Value = format!("v = {}", value.trim())
                .parse::<toml::Table>()
                .ok()
                .and_then(|mut t| t.remove("v"))
                .ok_or_else(|| UserError::new(format!("--resource \"{flag}\": the value is not a TOML value")))?;
            table.insert(key.trim().to_string(), value);
        }
        let given: ResourcesSection = table
            .try_into()
            .map_err(|e: toml::de::Error| UserError::new(format!("--resource: {}", e.message().trim_end())))?;
        let pick = |given: Option<u64>, base: Option<u64>| given.or(base);
        Ok(ResourcesSection {
            enabled: given.enabled.or(self.enabled),
            cores: given.cores.or(self.cores),
            per_input_ns: pick(given.per_input_ns, self.per_input_ns),
            per_message_sent_ns: pick(given.per_message_sent_ns, self.per_message_sent_ns),
            per_kib_ns: pick(given.per_kib_ns, self.per_kib_ns),
            per_command_executed_ns: pick(given.per_command_executed_ns, self.per_command_executed_ns),
            per_work_unit_ns: pick(given.per_work_unit_ns, self.per_work_unit_ns),
            cpu_scale_percent: pick(given.cpu_scale_percent, self.cpu_scale_percent),
            nic_out_mbit_per_s: pick(given.nic_out_mbit_per_s, self.nic_out_mbit_per_s),
            nic_in_mbit_per_s: pick(given.nic_in_mbit_per_s, self.nic_in_mbit_per_s),
        })
    }
}

/// The model in one line, for run descriptions (and so a resumed sweep
/// refuses a changed model).
pub fn describe(model: &ResourceModel) -> String {
    let c = &model.costs;
    format!(
        "resources cores={} per_input={}ns per_message_sent={}ns per_kib={}ns per_command_executed={}ns \
         per_work_unit={}ns scale={}% nic_out={}Mbit/s nic_in={}Mbit/s",
        model.cores,
        c.per_input_ns,
        c.per_message_sent_ns,
        c.per_kib_ns,
        c.per_command_executed_ns,
        c.per_work_unit_ns,
        c.cpu_scale_percent,
        model.nic_out_mbit_per_s,
        model.nic_in_mbit_per_s
    )
}

/// Parts per million as a percentage with two decimals.
fn percent(ppm: u64) -> String {
    format!("{}.{:02}", ppm / 10_000, ppm % 10_000 / 100)
}

/// Columns of the per-process resources CSV, units last.
pub const CSV_HEADER: [&str; 8] = [
    "process",
    "cores",
    "cpu_utilisation_percent",
    "nic_out_utilisation_percent",
    "nic_in_utilisation_percent",
    "inputs",
    "queueing_ms_mean",
    "queueing_ms_p99",
];

/// One row per process (columns of [`CSV_HEADER`]); empty without the
/// model.
pub fn csv_records(report: &RunReport) -> Vec<Vec<String>> {
    let Some(processes) = &report.resources else { return Vec::new() };
    processes
        .iter()
        .enumerate()
        .map(|(index, p)| {
            vec![
                format!("p{}", index + 1),
                p.cores.to_string(),
                percent(p.cpu_utilisation_ppm),
                percent(p.nic_out_utilisation_ppm),
                percent(p.nic_in_utilisation_ppm),
                p.inputs.to_string(),
                sim_core::time::format_ns_as_ms(p.queueing.mean_ns),
                sim_core::time::format_ns_as_ms(p.queueing.p99_ns),
            ]
        })
        .collect()
}

/// Where a single run's per-process CSV goes: beside its CSV,
/// `NAME-resources.csv`.
pub fn csv_path(out: &std::path::Path) -> std::path::PathBuf {
    let stem = out.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "latency".into());
    out.with_file_name(format!("{stem}-resources.csv"))
}

/// A single run's per-process CSV.
pub fn csv_text(report: &RunReport) -> Result<Vec<u8>, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(CSV_HEADER)?;
    for record in csv_records(report) {
        writer.write_record(&record)?;
    }
    writer.into_inner().map_err(|e| csv::Error::from(e.into_error()))
}

/// The per-process table printed after a run; empty without the model.
pub fn table(report: &RunReport) -> String {
    let Some(processes) = &report.resources else { return String::new() };
    let mut text = format!(
        "{:<8} {:>5} {:>7} {:>9} {:>8} {:>9} {:>12} {:>12}\n",
        "process", "cores", "cpu %", "nic out %", "nic in %", "inputs", "queue mean ms", "queue p99 ms"
    );
    for (index, p) in processes.iter().enumerate() {
        text.push_str(&row(index, p));
    }
    text
}

fn row(index: usize, p: &ProcessResourceReport) -> String {
    format!(
        "{:<8} {:>5} {:>7} {:>9} {:>8} {:>9} {:>12} {:>12}\n",
        format!("p{}", index + 1),
        p.cores,
        percent(p.cpu_utilisation_ppm),
        percent(p.nic_out_utilisation_ppm),
        percent(p.nic_in_utilisation_ppm),
        p.inputs,
        crate::output::ms3(p.queueing.mean_ns),
        crate::output::ms3(p.queueing.p99_ns)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_by_default_and_values_override_the_defaults() {
        assert_eq!(ResourcesSection::default().model().unwrap(), None);
        let section = ResourcesSection { enabled: Some(true), cores: Some(16), ..Default::default() };
        let model = section.model().unwrap().expect("enabled");
        assert_eq!(model.cores, 16);
        assert_eq!(model.costs, ResourceModel::default().costs);
        let flagged = section.with_flags(&["per_input_ns = 5".into(), "cores=2".into()]).unwrap();
        let model = flagged.model().unwrap().expect("enabled");
        assert_eq!((model.cores, model.costs.per_input_ns), (2, 5));
    }

    #[test]
    fn bad_values_say_what_is_valid() {
        let section = ResourcesSection { enabled: Some(true), cores: Some(0), ..Default::default() };
        assert!(section.model().unwrap_err().0.contains("cores is 0"));
        let error = ResourcesSection::default().with_flags(&["coers=2".into()]).unwrap_err();
        assert!(error.0.contains("coers") && error.0.contains("cores"), "{error}");
        let error = ResourcesSection::default().with_flags(&["cores".into()]).unwrap_err();
        assert!(error.0.contains("KEY=VALUE"), "{error}");
    }
}
