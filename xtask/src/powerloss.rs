//! `cargo xtask powerloss`: cut the power under writers on the power-cut filesystem, per
//! engine, sync mode and metadata mode.

use crate::crash::run_campaign;
use crate::engines::Engines;

/// Options of `cargo xtask powerloss`.
#[derive(Debug)]
pub struct Options {
    engines: Engines,
    /// Flags passed on to `fsmstore-powerloss` as they are (`--mode`, `--meta`, `--data`,
    /// `--cuts`, `--seed`).
    passed_on: Vec<String>,
}

/// Parses `[--backend NAME] [--mode sync|nosync] [--meta posix|journal]
/// [--data drop|keep-random|tear] [--cuts N] [--seed N]`.
pub fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        engines: Engines::all_available(),
        passed_on: Vec::new(),
    };
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let value = rest.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--backend" => options.engines = Engines::one(value)?,
            "--mode" | "--meta" | "--data" | "--cuts" | "--seed" => {
                options.passed_on.extend([flag.clone(), value.clone()]);
            }
            _ => return Err(format!("unknown option {flag} {value}")),
        }
    }
    Ok(options)
}

/// Builds the probe and the campaign binary with the chosen engines, then runs it.
pub fn run(options: &Options) -> Result<(), String> {
    match run_campaign(&options.engines, "fsmstore-powerloss", &options.passed_on)? {
        Some(0) => Ok(()),
        Some(3) => Err("the power-cut filesystem cannot be mounted here (see above)".to_owned()),
        _ => Err("a power cut broke a durability promise (see above)".to_owned()),
    }
}
