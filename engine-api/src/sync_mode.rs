//! `SyncMode` and its environment override.

use std::ffi::OsStr;
use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// The environment variable that overrides the configured [`SyncMode`] at open.
pub const SYNC_MODE_ENV: &str = "FSMSTORE_SYNC_MODE";

/// Whether [`Engine::apply`](crate::Engine::apply) fsyncs.
///
/// [`Engine::write`](crate::Engine::write), [`Engine::sync`](crate::Engine::sync),
/// the checkpoint ([`Engine::set_durable_applied_index`](crate::Engine::set_durable_applied_index))
/// and close are durable in both modes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SyncMode {
    /// Every `apply` is durable when it returns.
    #[default]
    Sync,
    /// `apply` is atomic and visible but not fsynced; durability comes from the raft
    /// log replay and from checkpoints. What survives a process kill differs by engine
    /// (see the README's fsync table).
    NoSync,
}

impl SyncMode {
    /// The mode in force: `configured`, unless the environment value `env` (the content
    /// of [`SYNC_MODE_ENV`], if set) overrides it.
    ///
    /// The value is trimmed and compared case-insensitively with `sync` and `nosync`.
    /// Anything else — including an empty or non-UTF-8 value — is [`Error::Config`]:
    /// a typo must not silently change durability.
    pub fn resolve(configured: SyncMode, env: Option<&OsStr>) -> Result<SyncMode> {
        match env {
            None => Ok(configured),
            Some(value) => {
                let text = value.to_str().ok_or_else(|| {
                    Error::Config(format!("{SYNC_MODE_ENV} is not valid UTF-8: {value:?}"))
                })?;
                text.parse().map_err(|_| {
                    Error::Config(format!(
                        "{SYNC_MODE_ENV}={text:?} is not a sync mode; expected `sync` or `nosync`"
                    ))
                })
            }
        }
    }

    /// The mode's name as the environment variable spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncMode::Sync => "sync",
            SyncMode::NoSync => "nosync",
        }
    }
}

impl FromStr for SyncMode {
    type Err = Error;

    /// Parses `sync` or `nosync`, trimmed and case-insensitive.
    fn from_str(text: &str) -> Result<Self> {
        let trimmed = text.trim();
        if trimmed.eq_ignore_ascii_case("sync") {
            Ok(SyncMode::Sync)
        } else if trimmed.eq_ignore_ascii_case("nosync") {
            Ok(SyncMode::NoSync)
        } else {
            Err(Error::Config(format!(
                "{text:?} is not a sync mode; expected `sync` or `nosync`"
            )))
        }
    }
}

impl fmt::Display for SyncMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(configured: SyncMode, env: &str) -> Result<SyncMode> {
        SyncMode::resolve(configured, Some(OsStr::new(env)))
    }

    #[test]
    fn unset_env_keeps_the_configured_mode() {
        assert_eq!(
            SyncMode::resolve(SyncMode::NoSync, None).ok(),
            Some(SyncMode::NoSync)
        );
        assert_eq!(
            SyncMode::resolve(SyncMode::Sync, None).ok(),
            Some(SyncMode::Sync)
        );
    }

    #[test]
    fn env_overrides_trimmed_and_case_insensitive() {
        assert_eq!(
            resolve(SyncMode::Sync, " NoSync\n").ok(),
            Some(SyncMode::NoSync)
        );
        assert_eq!(resolve(SyncMode::NoSync, "SYNC").ok(), Some(SyncMode::Sync));
        assert_eq!(
            resolve(SyncMode::Sync, "nosync").ok(),
            Some(SyncMode::NoSync)
        );
    }

    #[test]
    fn unknown_env_values_are_config_errors() {
        for bad in ["", "  ", "async", "no-sync", "0", "true", "syncc"] {
            assert!(
                matches!(resolve(SyncMode::Sync, bad), Err(Error::Config(_))),
                "{bad:?} must be rejected"
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_env_value_is_a_config_error() {
        use std::os::unix::ffi::OsStrExt;
        let value = OsStr::from_bytes(&[0x6e, 0xff]);
        assert!(matches!(
            SyncMode::resolve(SyncMode::Sync, Some(value)),
            Err(Error::Config(_))
        ));
    }

    #[test]
    fn display_round_trips_through_from_str() {
        for mode in [SyncMode::Sync, SyncMode::NoSync] {
            assert_eq!(mode.to_string().parse::<SyncMode>().ok(), Some(mode));
        }
    }
}
