//! The command lines of fsmstore's long durability campaigns, defined once.
//!
//! `fsmstore-crash` and `fsmstore-powerloss` (binaries of the conformance crate) parse
//! [`CrashCommand`] and [`PowerlossCommand`]. `cargo xtask crash | powerloss` parses the
//! same [`CrashArgs`] and [`PowerlossArgs`] to learn which engines to compile, then hands
//! its arguments to the binary unchanged, so every flag has one definition and one
//! parser. This crate compiles no engine: engine names are parsed by
//! [`fsmstore::Backend`], which knows every engine whether it is compiled in or not.

use std::path::PathBuf;

use clap::{Args, Parser, ValueEnum};
use fsmstore::{Backend, SyncMode};

/// Which engines and sync modes a campaign covers.
#[derive(Args, Debug, Clone, PartialEq, Eq)]
pub struct Coverage {
    /// One engine (`lmdb` is heed) [default: every durable engine the campaign binary
    /// is built with; cargo xtask builds it with every one this machine can build]
    #[arg(long, value_name = "NAME", value_parser = parse_backend)]
    pub backend: Option<Backend>,
    /// One sync mode [default: both]
    #[arg(long, value_name = "sync|nosync", value_parser = parse_sync_mode)]
    pub mode: Option<SyncMode>,
}

impl Coverage {
    /// The engines to run: the one asked for, else every durable engine compiled into
    /// the running binary.
    pub fn backends(&self) -> Vec<Backend> {
        match self.backend {
            Some(backend) => vec![backend],
            None => Backend::compiled()
                .into_iter()
                .filter(|backend| backend.is_durable() == Some(true))
                .collect(),
        }
    }

    /// The sync modes to run: the one asked for, else both.
    pub fn modes(&self) -> Vec<SyncMode> {
        match self.mode {
            Some(mode) => vec![mode],
            None => vec![SyncMode::Sync, SyncMode::NoSync],
        }
    }
}

/// `cargo xtask crash`'s and `fsmstore-crash`'s options.
#[derive(Args, Debug, Clone, PartialEq, Eq)]
pub struct CrashArgs {
    /// The engines and sync modes.
    #[command(flatten)]
    pub coverage: Coverage,
    /// Kills per engine and sync mode
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub kills: u64,
    /// The large history: 48 KiB values, earlier ones deleted by key, range and prefix,
    /// a close and reopen after every 64 MB; each kill lands after such a close
    #[arg(long, conflicts_with = "groups")]
    pub large: bool,
    /// The groups history: eight groups of one groups store (ids 0, 1, 2, 255, 256 and
    /// the three highest) applying and checkpointing at once, one more restoring a
    /// snapshot again and again; every group checked on its own after each kill
    #[arg(long)]
    pub groups: bool,
}

/// `cargo xtask powerloss`'s and `fsmstore-powerloss`'s options.
#[derive(Args, Debug, Clone, PartialEq, Eq)]
pub struct PowerlossArgs {
    /// The engines and sync modes.
    #[command(flatten)]
    pub coverage: Coverage,
    /// One metadata model [default: both]
    #[arg(long, value_enum, value_name = "posix|journal")]
    pub meta: Option<Meta>,
    /// One model of the data written and not fsynced [default: the cuts cycle through all three]
    #[arg(long, value_enum, value_name = "drop|keep-random|tear")]
    pub data: Option<Data>,
    /// Cuts per engine, sync mode and metadata model
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub cuts: u64,
    /// Seed of the cuts' random choices; every run prints its seed [default: from the clock]
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// The large history: 48 KiB values, earlier ones deleted by key, range and prefix,
    /// a close and reopen after 64 MB; each cut lands in or after that close
    #[arg(long, conflicts_with = "groups")]
    pub large: bool,
    /// The groups history: eight groups of one groups store applying and checkpointing
    /// at once, with and (every other cut) without one more group restoring a snapshot
    /// again and again; every group checked on its own after each cut
    #[arg(long)]
    pub groups: bool,
    /// The sync mode each store is reopened in after its cut: the writer's (`same`),
    /// the other one (`other`: with both modes, the whole matrix), or one for all
    #[arg(long, value_enum, value_name = "same|other|sync|nosync", default_value_t = ReopenMode::Same)]
    pub reopen_mode: ReopenMode,
}

impl PowerlossArgs {
    /// The metadata models to run: the one asked for, else both.
    pub fn metas(&self) -> Vec<Meta> {
        match self.meta {
            Some(meta) => vec![meta],
            None => vec![Meta::Posix, Meta::Journal],
        }
    }
}

/// The sync mode a store is reopened in after a power cut, given the writer's.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReopenMode {
    /// The writer's mode.
    Same,
    /// The mode the writer did not run in.
    Other,
    /// Sync.
    Sync,
    /// NoSync.
    Nosync,
}

impl ReopenMode {
    /// The mode to reopen a store in that a writer wrote in `written`.
    pub fn resolve(self, written: SyncMode) -> SyncMode {
        match (self, written) {
            (ReopenMode::Same, mode) => mode,
            (ReopenMode::Other, SyncMode::Sync) | (ReopenMode::Nosync, _) => SyncMode::NoSync,
            (ReopenMode::Other, SyncMode::NoSync) | (ReopenMode::Sync, _) => SyncMode::Sync,
        }
    }
}

/// When a created, renamed or removed name becomes durable on the power-cut filesystem.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meta {
    /// Only after an fsync of its directory.
    Posix,
    /// With any later successful fsync, as ext4 and xfs journal it.
    Journal,
}

/// What a power cut leaves of data that was written and not fsynced.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Data {
    /// Nothing.
    Drop,
    /// A random half of its pages.
    KeepRandom,
    /// All of it, but the last write of each file torn at a 512-byte boundary.
    Tear,
}

/// The `fsmstore-probe` binary a campaign starts its writers from.
#[derive(Args, Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The `fsmstore-probe` binary that runs the writers (`cargo xtask` passes it)
    #[arg(long = "probe", value_name = "PATH")]
    pub path: PathBuf,
}

/// Kills writer processes at random points and prints what survived, one Markdown row
/// per engine and sync mode. Exits 1 if any promise was broken.
#[derive(Parser, Debug, Clone, PartialEq, Eq)]
#[command(name = "fsmstore-crash")]
pub struct CrashCommand {
    /// The probe binary.
    #[command(flatten)]
    pub probe: Probe,
    /// What to cover.
    #[command(flatten)]
    pub campaign: CrashArgs,
}

/// Cuts the power under writers on the power-cut filesystem and prints what survived,
/// one Markdown row per engine, sync mode and metadata model. Exits 1 if any promise was
/// broken, 3 when the filesystem cannot be mounted (it needs Linux, FUSE and root).
#[derive(Parser, Debug, Clone, PartialEq, Eq)]
#[command(name = "fsmstore-powerloss")]
pub struct PowerlossCommand {
    /// The probe binary.
    #[command(flatten)]
    pub probe: Probe,
    /// What to cover.
    #[command(flatten)]
    pub campaign: PowerlossArgs,
}

fn parse_backend(name: &str) -> Result<Backend, String> {
    name.parse()
        .map_err(|error: fsmstore::Error| error.to_string())
}

fn parse_sync_mode(name: &str) -> Result<SyncMode, String> {
    name.parse()
        .map_err(|error: fsmstore::Error| error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definitions_are_consistent() {
        CrashCommand::command().debug_assert();
        PowerlossCommand::command().debug_assert();
    }

    #[test]
    fn a_crash_campaign_defaults_to_200_kills_in_both_modes() {
        let command = CrashCommand::try_parse_from(["fsmstore-crash", "--probe", "/bin/probe"])
            .expect("parse");
        assert_eq!(command.probe.path, PathBuf::from("/bin/probe"));
        assert_eq!(
            command.campaign,
            CrashArgs {
                coverage: Coverage {
                    backend: None,
                    mode: None,
                },
                kills: 200,
                large: false,
                groups: false,
            }
        );
        assert_eq!(
            command.campaign.coverage.modes(),
            [SyncMode::Sync, SyncMode::NoSync]
        );
    }

    #[test]
    fn lmdb_means_heed_and_one_mode_is_one_mode() {
        let command = CrashCommand::try_parse_from([
            "fsmstore-crash",
            "--probe",
            "p",
            "--backend",
            "lmdb",
            "--mode",
            "nosync",
            "--kills",
            "7",
        ])
        .expect("parse");
        assert_eq!(command.campaign.coverage.backends(), [Backend::Heed]);
        assert_eq!(command.campaign.coverage.modes(), [SyncMode::NoSync]);
        assert_eq!(command.campaign.kills, 7);
    }

    #[test]
    fn the_probe_is_required_and_bad_values_are_refused() {
        assert!(CrashCommand::try_parse_from(["fsmstore-crash"]).is_err());
        for bad in [
            ["--backend", "sqlite"],
            ["--mode", "sometimes"],
            ["--kills", "many"],
            ["--cuts", "10"],
        ] {
            let parsed =
                CrashCommand::try_parse_from(["fsmstore-crash", "--probe", "p", bad[0], bad[1]]);
            assert!(parsed.is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn the_reopen_mode_is_the_writers_the_other_or_the_one_named() {
        for written in [SyncMode::Sync, SyncMode::NoSync] {
            let other = match written {
                SyncMode::Sync => SyncMode::NoSync,
                SyncMode::NoSync => SyncMode::Sync,
            };
            assert_eq!(ReopenMode::Same.resolve(written), written);
            assert_eq!(ReopenMode::Other.resolve(written), other);
            assert_eq!(ReopenMode::Sync.resolve(written), SyncMode::Sync);
            assert_eq!(ReopenMode::Nosync.resolve(written), SyncMode::NoSync);
        }
    }

    #[test]
    fn a_crash_campaign_takes_the_large_history() {
        let command = CrashCommand::try_parse_from(["fsmstore-crash", "--probe", "p", "--large"])
            .expect("parse");
        assert!(command.campaign.large);
    }

    #[test]
    fn both_campaigns_take_the_groups_history_but_not_with_the_large_one() {
        let command = CrashCommand::try_parse_from(["fsmstore-crash", "--probe", "p", "--groups"])
            .expect("parse");
        assert!(command.campaign.groups);
        let command =
            PowerlossCommand::try_parse_from(["fsmstore-powerloss", "--probe", "p", "--groups"])
                .expect("parse");
        assert!(command.campaign.groups);
        assert!(
            CrashCommand::try_parse_from(["fsmstore-crash", "--probe", "p", "--groups", "--large"])
                .is_err()
        );
        assert!(
            PowerlossCommand::try_parse_from([
                "fsmstore-powerloss",
                "--probe",
                "p",
                "--large",
                "--groups"
            ])
            .is_err()
        );
    }

    #[test]
    fn a_powerloss_campaign_takes_every_model_flag() {
        let command = PowerlossCommand::try_parse_from([
            "fsmstore-powerloss",
            "--probe",
            "p",
            "--backend",
            "redb",
            "--meta",
            "journal",
            "--data",
            "keep-random",
            "--cuts",
            "12",
            "--seed",
            "99",
            "--large",
            "--reopen-mode",
            "other",
        ])
        .expect("parse");
        assert_eq!(
            command.campaign,
            PowerlossArgs {
                coverage: Coverage {
                    backend: Some(Backend::Redb),
                    mode: None,
                },
                meta: Some(Meta::Journal),
                data: Some(Data::KeepRandom),
                cuts: 12,
                seed: Some(99),
                large: true,
                groups: false,
                reopen_mode: ReopenMode::Other,
            }
        );
        assert_eq!(command.campaign.metas(), [Meta::Journal]);
        let defaults = PowerlossCommand::try_parse_from(["fsmstore-powerloss", "--probe", "p"])
            .expect("parse");
        assert_eq!(defaults.campaign.cuts, 200);
        assert_eq!(defaults.campaign.seed, None);
        assert_eq!(defaults.campaign.data, None);
        assert_eq!(defaults.campaign.metas(), [Meta::Posix, Meta::Journal]);
        assert!(!defaults.campaign.large);
        assert_eq!(defaults.campaign.reopen_mode, ReopenMode::Same);
        assert!(
            PowerlossCommand::try_parse_from([
                "fsmstore-powerloss",
                "--probe",
                "p",
                "--meta",
                "ext4"
            ])
            .is_err()
        );
    }
}
