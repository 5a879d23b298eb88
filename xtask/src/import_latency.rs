//! `cargo xtask import-latency FOLDER [--out FILE]`: converts the raw
//! fantoch `REGION.dat` measurements into the project's RTT matrix format.

use std::error::Error;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use latency_data::Matrix;

/// Imports `folder` and writes the matrix to `out` (default
/// `latency-data/data/<folder name>.csv` in the workspace).
pub(crate) fn run(folder: &Path, out: Option<&Path>) -> Result<(), Box<dyn Error>> {
    let matrix = Matrix::from_dat_folder(folder)?;
    let out = match out {
        Some(out) => out.to_owned(),
        None => default_out(matrix.name()),
    };
    let provenance = provenance(matrix.name(), matrix.len());
    let provenance: Vec<&str> = provenance.iter().map(String::as_str).collect();
    write_atomically(&out, &matrix.to_text(&provenance))?;
    println!(
        "wrote {}: {} regions, {} ordered pairs (from {})",
        out.display(),
        matrix.len(),
        matrix.len() * matrix.len(),
        folder.display()
    );
    Ok(())
}

/// `latency-data/data/<name>.csv` under the workspace root.
fn default_out(name: &str) -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest_dir.parent().unwrap_or(manifest_dir);
    root.join("latency-data").join("data").join(format!("{name}.csv"))
}

/// Where the measurements of a cloud come from, as header comment lines.
/// Deterministic: no dates or paths of the machine running the import.
fn provenance(cloud: &str, regions: usize) -> Vec<String> {
    let known = match cloud {
        "gcp" => Some((
            "latency_gcp",
            format!(
                "2019-2020, one-hour ping run between VMs in every pair of the {regions} \
                 Google Cloud Platform regions"
            ),
        )),
        "aws" => Some((
            "latency_aws/2020_06_05",
            format!(
                "June 2020, one-hour ping run between VMs in every pair of the {regions} \
                 Amazon Web Services regions"
            ),
        )),
        _ => None,
    };
    let mut lines = Vec::new();
    match known {
        Some((fantoch_folder, measured)) => {
            lines.push("source: public ping measurements published with the fantoch evaluation framework".to_owned());
            lines.push(format!("  (github.com/vitorenesduarte/fantoch, folder {fantoch_folder}),"));
            lines.push("  as used by the Atlas (EuroSys'20) and Tempo (EuroSys'21) papers".to_owned());
            lines.push(format!("measured: {measured}"));
        }
        None => lines.push(format!("source: ping measurements from a folder named {cloud} (provenance not recorded)")),
    }
    lines.push("values: ping round-trip time min/avg/max/mdev in milliseconds (mdev: mean deviation);".to_owned());
    lines.push("  direction matters: the row from=A,to=B was measured from A to B; A,A is intra-region".to_owned());
    lines.push(format!(
        "derived from the raw {cloud}/REGION.dat files by `cargo xtask import-latency`; \
         do not edit by hand"
    ));
    lines
}

/// Writes `<out>.tmp`, flushes it to disk, then renames it over `out`, so
/// readers never see a partial file.
fn write_atomically(out: &Path, text: &str) -> Result<(), String> {
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|e| format!("{}: cannot create folder: {e}", parent.display()))?;
    }
    let mut tmp = out.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let written = fs::File::create(&tmp).and_then(|mut file| {
        file.write_all(text.as_bytes())?;
        file.sync_all()
    });
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(format!("{}: cannot write: {e}", tmp.display()));
    }
    if let Err(e) = fs::rename(&tmp, out) {
        let _ = fs::remove_file(&tmp);
        return Err(format!("cannot rename {} to {}: {e}", tmp.display(), out.display()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_out_is_in_latency_data() {
        let out = default_out("gcp");
        assert!(out.ends_with("latency-data/data/gcp.csv"), "{}", out.display());
        assert!(out.parent().is_some_and(Path::is_dir), "{}", out.display());
    }

    #[test]
    fn provenance_names_the_source() {
        let lines = provenance("aws", 19).join("\n");
        assert!(lines.contains("github.com/vitorenesduarte/fantoch"));
        assert!(lines.contains("latency_aws/2020_06_05"));
        assert!(lines.contains("June 2020"));
        assert!(lines.contains("19 Amazon Web Services regions"));
        assert!(lines.contains("cargo xtask import-latency"));
        assert!(provenance("mine", 3).join("\n").contains("provenance not recorded"));
    }

    #[test]
    fn imports_a_folder_atomically() {
        let dir = std::env::temp_dir().join(format!("xtask-import-test-{}", std::process::id()));
        let raw = dir.join("tiny");
        fs::create_dir_all(&raw).unwrap();
        fs::write(raw.join("a.dat"), "0.1/0.2/0.3/0.01:a\n1/2/3/0.5:b\n").unwrap();
        fs::write(raw.join("b.dat"), "1.5/2.5/3.5/0.5:a\n0.1/0.2/0.3/0.01:b\n").unwrap();
        let out = dir.join("out").join("tiny.csv");
        run(&raw, Some(&out)).unwrap();
        let text = fs::read_to_string(&out).unwrap();
        assert!(!dir.join("out").join("tiny.csv.tmp").exists());
        assert!(text.starts_with("# planetsim RTT matrix, format 1\n# cloud: tiny\n"));
        let matrix = Matrix::parse("tiny", &text).unwrap();
        assert_eq!(matrix, Matrix::from_dat_folder(&raw).unwrap());
        let missing = run(&dir.join("nope"), Some(&out)).unwrap_err().to_string();
        assert!(missing.contains("nope: cannot read"), "{missing}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
