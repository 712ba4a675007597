//! The record that `cargo xtask bench` leaves for `cargo xtask report`: how the last bench
//! run was made, and where both keep their files.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// The file, in the report directory, that records the last bench run.
const RUN_FILE: &str = "last-bench.json";

/// How one `cargo xtask bench` was run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BenchRun {
    /// When the run started.
    pub started: SystemTime,
    /// When the run finished.
    pub finished: SystemTime,
    /// Whether `--quick` shortened every case.
    pub quick: bool,
    /// Whether `--large` added the 10M-key cold-start cases.
    #[serde(default)]
    pub large: bool,
    /// The engines whose benches passed.
    pub engines: Vec<String>,
    /// The arguments passed on to criterion.
    pub criterion_args: Vec<String>,
}

impl BenchRun {
    /// Writes the record into `dir`, creating it if needed.
    pub fn save(&self, dir: &Path) -> Result<(), String> {
        std::fs::create_dir_all(dir)
            .map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
        let path = dir.join(RUN_FILE);
        let json = serde_json::to_string_pretty(self).map_err(|error| error.to_string())?;
        std::fs::write(&path, json + "\n")
            .map_err(|error| format!("cannot write {}: {error}", path.display()))
    }

    /// The record in `dir`, if there is a readable one.
    pub fn load(dir: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(dir.join(RUN_FILE)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Whether this run made every result written in `first..=last`.
    pub fn covers(&self, first: SystemTime, last: SystemTime) -> bool {
        // File times may lag or lead the clock readings of the run by a little.
        let slack = Duration::from_secs(5);
        first + slack >= self.started && last <= self.finished + slack
    }
}

/// Cargo's target directory (`CARGO_TARGET_DIR`, or `target` in the workspace).
pub fn target_dir() -> PathBuf {
    // xtask lives one directory below the workspace root.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest.parent().unwrap_or(manifest);
    root.join(std::env::var_os("CARGO_TARGET_DIR").unwrap_or_else(|| "target".into()))
}

/// Where the bench record and the report go.
pub fn report_dir() -> PathBuf {
    target_dir().join("fsmstore-report")
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    /// `seconds` after the Unix epoch.
    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn a_saved_run_loads_back_and_covers_only_the_results_it_made() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(BenchRun::load(dir.path()), None);
        let run = BenchRun {
            started: at(1000),
            finished: at(2000),
            quick: true,
            large: false,
            engines: vec!["redb".to_owned(), "heed".to_owned()],
            criterion_args: vec!["--measurement-time".to_owned(), "2".to_owned()],
        };
        run.save(&dir.path().join("new")).expect("save");
        assert_eq!(BenchRun::load(&dir.path().join("new")), Some(run.clone()));
        assert!(run.covers(at(1000), at(2000)));
        assert!(run.covers(at(998), at(2003)));
        assert!(!run.covers(at(900), at(1500)));
        assert!(!run.covers(at(1500), at(2100)));
    }
}
