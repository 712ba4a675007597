//! Running cargo from a task.

use std::process::Command;

/// Runs `cargo <args>` with inherited output, failing if cargo fails.
pub fn run(args: &[&str]) -> Result<(), String> {
    eprintln!("$ cargo {}", args.join(" "));
    let status = command()
        .args(args)
        .status()
        .map_err(|error| format!("cannot run cargo: {error}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`cargo {}` failed ({status})", args.join(" ")))
    }
}

/// A `cargo` command: the same cargo that runs this task.
pub fn command() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// `cargo metadata --format-version 1 <args>`, parsed. It resolves the dependency graph
/// (the lockfile's) and builds nothing.
pub fn metadata(args: &[&str]) -> Result<serde_json::Value, String> {
    let mut all = vec!["metadata", "--format-version", "1"];
    all.extend(args);
    let output = command()
        .args(&all)
        .output()
        .map_err(|error| format!("cannot run cargo: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "`cargo {}` failed: {}",
            all.join(" "),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    serde_json::from_slice(&output.stdout)
        .map_err(|error| format!("cannot read cargo metadata: {error}"))
}
