//! `cargo xtask powerloss`: cut the power under writers on the power-cut filesystem, per
//! engine, sync mode and metadata mode.

use std::ffi::OsString;

use campaign_args::PowerlossArgs;

use crate::crash::{engines, run_campaign};

/// Builds the probe and the campaign binary with the chosen engines, then runs it with
/// `passed_on`, the arguments `options` was parsed from.
pub fn run(options: &PowerlossArgs, passed_on: &[OsString]) -> Result<(), String> {
    match run_campaign(
        &engines(&options.coverage)?,
        "fsmstore-powerloss",
        passed_on,
    )? {
        Some(0) => Ok(()),
        Some(3) => Err("the power-cut filesystem cannot be mounted here (see above)".to_owned()),
        _ => Err("a power cut broke a durability promise (see above)".to_owned()),
    }
}
