//! How the log store encodes its entries, vote and log ids, and which encoding a store
//! holds.
//!
//! A log store records its format's version in its meta ([`META_LOG_FORMAT`]) when it is
//! made, so a later build reads today's stores with the encoding they were written in,
//! and refuses, with [`UnknownLogFormat`], a version it does not know. Stores written
//! before the version was recorded hold no version and are JSON ([`LogFormat::Json`]):
//! they stay JSON, and a new store is [`LogFormat::CURRENT`].

use std::fmt;
use std::io;

use fsmstore::{Engine, RangeQuery, WriteBatch};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::io_error;

/// The meta name of the log store's format version: 4 bytes, big-endian.
pub const META_LOG_FORMAT: &[u8] = b"openraft_log_format";

/// The meta names a log store writes besides its format: any of them present means the
/// store was used as a log store.
const LOG_META: [&[u8]; 4] = [
    b"openraft_vote",
    b"openraft_last_purged",
    b"openraft_last_log",
    b"openraft_committed",
];

/// The encoding of the values a log store keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Version 1: JSON (`serde_json`). Stores made before the format was recorded.
    Json,
    /// Version 2: postcard, a compact binary serde format (varint integers, no field
    /// names).
    Postcard,
}

impl LogFormat {
    /// The format of every new log store.
    pub const CURRENT: LogFormat = LogFormat::Postcard;

    /// The version recorded in the store's meta.
    pub const fn version(self) -> u32 {
        match self {
            LogFormat::Json => 1,
            LogFormat::Postcard => 2,
        }
    }

    fn from_version(version: u32) -> Option<Self> {
        match version {
            1 => Some(LogFormat::Json),
            2 => Some(LogFormat::Postcard),
            _ => None,
        }
    }

    /// The format of the log store on `engine`. A store that was never used as a log
    /// store gets [`CURRENT`](Self::CURRENT), recorded with a commit that the first sync
    /// makes durable (a crash before it leaves an empty store, which is new again).
    pub(crate) fn of_store(engine: &dyn Engine) -> io::Result<Self> {
        if let Some(recorded) = engine.get_meta(META_LOG_FORMAT).map_err(io_error)? {
            let version = <[u8; 4]>::try_from(&recorded[..])
                .map(u32::from_be_bytes)
                .map_err(|_| UnknownLogFormat::Unreadable(recorded.to_vec()).into_io())?;
            return Self::from_version(version)
                .ok_or_else(|| UnknownLogFormat::Version(version).into_io());
        }
        for name in LOG_META {
            if engine.get_meta(name).map_err(io_error)?.is_some() {
                return Ok(LogFormat::Json);
            }
        }
        let holds_data = !engine
            .range(&RangeQuery::all().limit(1))
            .map_err(io_error)?
            .is_empty();
        if holds_data {
            return Err(UnknownLogFormat::NotALogStore.into_io());
        }
        let mut batch = WriteBatch::new();
        batch.put_meta(
            META_LOG_FORMAT,
            Self::CURRENT.version().to_be_bytes().to_vec(),
        );
        engine.apply(&batch, None).map_err(io_error)?;
        Ok(Self::CURRENT)
    }

    /// `value` in this format.
    pub(crate) fn encode<T: Serialize>(self, value: &T) -> io::Result<Vec<u8>> {
        match self {
            LogFormat::Json => serde_json::to_vec(value).map_err(io::Error::other),
            LogFormat::Postcard => postcard::to_stdvec(value).map_err(io::Error::other),
        }
    }

    /// The value `bytes` holds in this format; `what` names it in the error.
    pub(crate) fn decode<T: DeserializeOwned>(self, bytes: &[u8], what: &str) -> io::Result<T> {
        let invalid = |error: &dyn fmt::Display| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{what} ({self:?} log format): {error}"),
            )
        };
        match self {
            LogFormat::Json => serde_json::from_slice(bytes).map_err(|error| invalid(&error)),
            LogFormat::Postcard => postcard::from_bytes(bytes).map_err(|error| invalid(&error)),
        }
    }
}

/// A store this build cannot use as a log store. Returned inside an
/// [`io::Error`] of kind [`InvalidData`](io::ErrorKind::InvalidData) (openraft's storage
/// traits speak `io::Error`); find it with
/// [`get_ref`](io::Error::get_ref)`().and_then(|e| e.downcast_ref::<UnknownLogFormat>())`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnknownLogFormat {
    /// The store records a format version this build does not know (a newer build
    /// wrote it).
    Version(u32),
    /// The recorded format is not 4 bytes: damaged meta.
    Unreadable(Vec<u8>),
    /// The store holds data but nothing a log store writes: another store (a state
    /// machine's, say) was given as the log store.
    NotALogStore,
}

impl UnknownLogFormat {
    fn into_io(self) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, self)
    }
}

impl fmt::Display for UnknownLogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let known = format!(
            "this build reads versions {} (JSON) and {} (postcard)",
            LogFormat::Json.version(),
            LogFormat::Postcard.version()
        );
        match self {
            UnknownLogFormat::Version(version) => {
                write!(f, "the log store's format is version {version}: {known}")
            }
            UnknownLogFormat::Unreadable(bytes) => {
                write!(
                    f,
                    "the log store's format version {bytes:02x?} is not 4 bytes: {known}"
                )
            }
            UnknownLogFormat::NotALogStore => write!(
                f,
                "the store holds data but no log store meta: it is not a log store"
            ),
        }
    }
}

impl std::error::Error for UnknownLogFormat {}
