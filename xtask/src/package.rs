//! `cargo xtask package`: `cargo package` for every publishable crate, as crates.io would
//! receive them.
//!
//! Two cargo runs, because verifying a package builds it and RocksDB's C++ build is not
//! worth it here:
//! 1. every crate but `fsmstore-rocksdb`, verified (each `.crate` unpacked and built
//!    against the others, as if they came from crates.io). The facade names
//!    `fsmstore-rocksdb` as an optional dependency, which must resolve though it is never
//!    built: a `[patch]` points it at the workspace's copy for this run only.
//! 2. every crate, RocksDB's included, without verifying and without the patch: the
//!    `.crate` files left in `target/package` are the ones to publish.

use std::path::Path;

use serde_json::Value;

use crate::cargo;

/// The publishable crates, each after every crate it depends on: the order to publish.
pub const PUBLISH_ORDER: &[&str] = &[
    "engine-api",
    "fsmstore-memory",
    "fsmstore-redb",
    "fsmstore-fjall",
    "fsmstore-heed",
    "fsmstore-rocksdb",
    "fsmstore",
    "fsmstore-openraft",
    "fsmstore-cli",
];

/// The crate packaged without a verifying build (it would compile RocksDB's C++).
const NOT_VERIFIED: &str = "fsmstore-rocksdb";

/// Options of `cargo xtask package`.
#[derive(clap::Args, Debug)]
pub struct Options {
    /// Package uncommitted changes too (cargo's `--allow-dirty`)
    #[arg(long)]
    allow_dirty: bool,
}

/// Packages every publishable crate, verifying all but RocksDB's.
pub fn run(options: &Options) -> Result<(), String> {
    let metadata = cargo::metadata(&["--no-deps"])?;
    check_publish_order(&metadata, PUBLISH_ORDER)?;

    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("xtask has no parent directory")?;
    let rocksdb = workspace.join("backends").join("rocksdb");
    let patch = format!(
        "patch.crates-io.{NOT_VERIFIED}.path={:?}",
        rocksdb.to_str().ok_or("the workspace path is not UTF-8")?
    );
    let mut verified = vec!["package"];
    if options.allow_dirty {
        verified.push("--allow-dirty");
    }
    for name in PUBLISH_ORDER.iter().filter(|name| **name != NOT_VERIFIED) {
        verified.extend(["-p", name]);
    }
    verified.extend(["--config", &patch]);
    eprintln!(
        "(cargo warns that the {NOT_VERIFIED} patch is unused for each crate that does not \
         depend on it)"
    );
    cargo::run(&verified)?;

    let mut published = vec!["package", "--no-verify"];
    if options.allow_dirty {
        published.push("--allow-dirty");
    }
    for name in PUBLISH_ORDER {
        published.extend(["-p", name]);
    }
    cargo::run(&published)?;

    println!(
        "packaged (all verified by a build but {NOT_VERIFIED}); publish in this order: {}",
        PUBLISH_ORDER.join(", ")
    );
    Ok(())
}

/// Checks that `order` lists every publishable workspace member of `cargo metadata`'s
/// output, nothing else, and each after the workspace crates it depends on (a
/// dependency without a version, a path-only dev-dependency, is left out of a package).
pub fn check_publish_order(metadata: &Value, order: &[&str]) -> Result<(), String> {
    let packages = metadata["packages"]
        .as_array()
        .ok_or("cargo metadata lists no packages")?;
    let members: Vec<&str> = packages
        .iter()
        .filter_map(|package| package["name"].as_str())
        .collect();
    let publishable: Vec<&str> = packages
        .iter()
        // `publish = false` reads as an empty list of registries.
        .filter(|package| {
            package["publish"]
                .as_array()
                .is_none_or(|list| !list.is_empty())
        })
        .filter_map(|package| package["name"].as_str())
        .collect();
    let mut problems = Vec::new();
    for name in &publishable {
        if !order.contains(name) {
            problems.push(format!(
                "{name} is publishable but not in the publish order"
            ));
        }
    }
    for name in order {
        if !publishable.contains(name) {
            problems.push(format!(
                "{name} is in the publish order but not publishable"
            ));
        }
    }
    for package in packages {
        let Some(name) = package["name"].as_str() else {
            continue;
        };
        let Some(position) = order.iter().position(|listed| *listed == name) else {
            continue;
        };
        for dependency in package["dependencies"].as_array().into_iter().flatten() {
            let Some(dependency_name) = dependency["name"].as_str() else {
                continue;
            };
            let packaged = dependency["req"].as_str() != Some("*");
            if !packaged || !members.contains(&dependency_name) || dependency_name == name {
                continue;
            }
            match order.iter().position(|listed| *listed == dependency_name) {
                Some(before) if before < position => {}
                Some(_) => problems.push(format!(
                    "{name} depends on {dependency_name}, which comes after it"
                )),
                None => problems.push(format!(
                    "{name} depends on {dependency_name}, which is not published"
                )),
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the publish order in xtask/src/package.rs is out of date:\n  {}",
            problems.join("\n  ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn dependency(name: &str, req: &str) -> Value {
        json!({"name": name, "req": req, "kind": null})
    }

    fn workspace() -> Value {
        json!({"packages": [
            {"name": "api", "publish": null, "dependencies": []},
            {"name": "engine", "publish": null, "dependencies": [dependency("api", "^0.1.0")]},
            {"name": "facade", "publish": null, "dependencies": [
                dependency("api", "^0.1.0"),
                dependency("engine", "^0.1.0"),
                dependency("tests", "*"),
            ]},
            {"name": "tests", "publish": [], "dependencies": [dependency("facade", "^0.1.0")]},
        ]})
    }

    #[test]
    fn an_order_with_every_publishable_crate_after_its_dependencies_passes() {
        assert_eq!(
            check_publish_order(&workspace(), &["api", "engine", "facade"]),
            Ok(())
        );
    }

    #[test]
    fn a_missing_an_extra_or_a_misplaced_crate_is_named() {
        let error = check_publish_order(&workspace(), &["api", "facade"]).expect_err("missing");
        assert!(
            error.contains("engine is publishable but not in"),
            "{error}"
        );
        assert!(
            error.contains("facade depends on engine, which is not published"),
            "{error}"
        );
        let error = check_publish_order(&workspace(), &["api", "engine", "facade", "tests"])
            .expect_err("extra");
        assert!(
            error.contains("tests is in the publish order but not publishable"),
            "{error}"
        );
        let error =
            check_publish_order(&workspace(), &["engine", "api", "facade"]).expect_err("order");
        assert!(
            error.contains("engine depends on api, which comes after it"),
            "{error}"
        );
    }

    #[test]
    fn the_publish_order_matches_the_workspace() {
        let metadata = cargo::metadata(&["--no-deps"]).expect("cargo metadata");
        assert_eq!(check_publish_order(&metadata, PUBLISH_ORDER), Ok(()));
    }
}
