//! `cargo xtask msrv`: no dependency may need a newer Rust than the workspace's
//! `rust-version` says is enough.
//!
//! Reads `cargo metadata` (which resolves but builds nothing) with every feature on, so
//! RocksDB's dependencies are checked too, and compares each package's declared
//! `rust-version` with the workspace's.

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

use crate::cargo;

/// A Rust version as `rust-version` spells it: `major.minor` or `major.minor.patch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RustVersion {
    major: u64,
    minor: u64,
    patch: u64,
}

impl FromStr for RustVersion {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("{text:?} is not a rust-version (major.minor[.patch])");
        let numbers = text
            .split('.')
            .map(|part| {
                // `u64::from_str` would take a `+`; a version has digits only.
                if part.is_empty() || !part.bytes().all(|byte| byte.is_ascii_digit()) {
                    Err(bad())
                } else {
                    part.parse::<u64>().map_err(|_| bad())
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        match numbers[..] {
            [major, minor] => Ok(Self {
                major,
                minor,
                patch: 0,
            }),
            [major, minor, patch] => Ok(Self {
                major,
                minor,
                patch,
            }),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for RustVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)?;
        if self.patch > 0 {
            write!(f, ".{}", self.patch)?;
        }
        Ok(())
    }
}

/// A package and the Rust it declares it needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Declared {
    name: String,
    version: String,
    rust_version: RustVersion,
}

impl fmt::Display for Declared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} (rust-version {})",
            self.name, self.version, self.rust_version
        )
    }
}

/// What the metadata says.
#[derive(Debug, PartialEq, Eq)]
pub struct Check {
    /// The workspace's `rust-version`: the lowest any member declares.
    workspace: RustVersion,
    /// Dependencies that declare a `rust-version`.
    checked: usize,
    /// Those that declare the highest one, for the report.
    highest: Vec<Declared>,
    /// Those that need a newer Rust than the workspace's.
    too_new: Vec<Declared>,
}

/// Runs `cargo metadata` and fails with the list of dependencies that need a newer Rust
/// than the workspace declares.
pub fn run() -> Result<(), String> {
    let check = check(&cargo::metadata(&["--all-features"])?)?;
    let highest: Vec<String> = check.highest.iter().map(ToString::to_string).collect();
    println!(
        "msrv: workspace rust-version {}; {} dependencies declare one, the highest: {}",
        check.workspace,
        check.checked,
        highest.join(", ")
    );
    if check.too_new.is_empty() {
        return Ok(());
    }
    let mut message = format!(
        "{} dependencies need a newer Rust than the workspace's rust-version {}:",
        check.too_new.len(),
        check.workspace
    );
    for declared in &check.too_new {
        message.push_str(&format!("\n  {declared}"));
    }
    message.push_str("\nraise `rust-version` in the workspace's Cargo.toml, or pin older releases");
    Err(message)
}

/// Compares every dependency's `rust-version` in `cargo metadata`'s output with the
/// workspace's.
pub fn check(metadata: &Value) -> Result<Check, String> {
    let members: Vec<&str> = metadata["workspace_members"]
        .as_array()
        .ok_or("cargo metadata lists no workspace members")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let packages = metadata["packages"]
        .as_array()
        .ok_or("cargo metadata lists no packages")?;
    let mut workspace: Option<RustVersion> = None;
    let mut dependencies = Vec::new();
    for package in packages {
        let name = package["name"].as_str().unwrap_or("?").to_owned();
        let declared = package["rust_version"]
            .as_str()
            .map(RustVersion::from_str)
            .transpose()
            .map_err(|error| format!("{name}: {error}"))?;
        if members.contains(&package["id"].as_str().unwrap_or_default()) {
            let declared = declared
                .ok_or_else(|| format!("workspace member {name} declares no rust-version"))?;
            workspace = Some(workspace.map_or(declared, |lowest| lowest.min(declared)));
        } else if let Some(rust_version) = declared {
            dependencies.push(Declared {
                name,
                version: package["version"].as_str().unwrap_or("?").to_owned(),
                rust_version,
            });
        }
    }
    let workspace = workspace.ok_or("cargo metadata lists no workspace member")?;
    dependencies.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
    let top = dependencies
        .iter()
        .map(|declared| declared.rust_version)
        .max();
    Ok(Check {
        workspace,
        checked: dependencies.len(),
        highest: dependencies
            .iter()
            .filter(|declared| Some(declared.rust_version) == top)
            .cloned()
            .collect(),
        too_new: dependencies
            .iter()
            .filter(|declared| declared.rust_version > workspace)
            .cloned()
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn version(text: &str) -> RustVersion {
        text.parse().expect("a version")
    }

    #[test]
    fn versions_compare_by_number_with_a_missing_patch_as_zero() {
        assert_eq!(version("1.90"), version("1.90.0"));
        assert!(version("1.85.1") < version("1.90"));
        assert!(version("1.90") < version("1.90.1"));
        assert!(version("1.90") < version("1.100"));
        assert!(version("1.9") < version("1.10"));
        assert!(version("2.0") > version("1.99.9"));
        assert_eq!(version("1.85.1").to_string(), "1.85.1");
        assert_eq!(version("1.90.0").to_string(), "1.90");
    }

    #[test]
    fn malformed_versions_are_errors() {
        for text in [
            "",
            "1",
            "1.",
            "1.x",
            "1.90.0.1",
            "1.90-beta",
            "+1.90",
            " 1.90",
        ] {
            assert!(text.parse::<RustVersion>().is_err(), "{text:?} parsed");
        }
    }

    fn package(id: &str, rust_version: Option<&str>) -> Value {
        json!({"id": id, "name": id, "version": "1.0.0", "rust_version": rust_version})
    }

    #[test]
    fn dependencies_newer_than_the_lowest_member_are_listed() {
        let metadata = json!({
            "workspace_members": ["app", "lib"],
            "packages": [
                package("app", Some("1.90")),
                package("lib", Some("1.88")),
                package("old", Some("1.85.1")),
                package("same", Some("1.88.0")),
                package("newer", Some("1.89")),
                package("newest", Some("1.90")),
                package("silent", None),
            ],
        });
        let check = check(&metadata).expect("check");
        assert_eq!(check.workspace, version("1.88"));
        assert_eq!(check.checked, 4);
        let names = |list: &[Declared]| -> Vec<String> {
            list.iter().map(|declared| declared.name.clone()).collect()
        };
        assert_eq!(names(&check.too_new), ["newer", "newest"]);
        assert_eq!(names(&check.highest), ["newest"]);
    }

    #[test]
    fn a_member_without_a_rust_version_is_an_error() {
        let metadata = json!({
            "workspace_members": ["app"],
            "packages": [package("app", None)],
        });
        assert!(check(&metadata).is_err());
    }
}
