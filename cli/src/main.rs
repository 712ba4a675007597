//! `fsmstore`: look inside, copy and check fsmstore stores of every compiled-in engine.
//!
//! ```text
//! fsmstore inspect <path> [--json] [--group ID]
//! fsmstore export <path> <file|-> [--group ID]
//! fsmstore import <file|-> <path> --engine NAME [--sync-mode sync|nosync] [--force] [--group ID]
//! fsmstore migrate <from-path> <to-path> --engine NAME [--force]
//! fsmstore verify <file|->
//! fsmstore verify --deep <path> [--group ID]
//! ```
//!
//! The engine of an existing store comes from its directory marker, and so does its
//! layout: a store of one group, or a groups store, whose groups `--group` names. The
//! exit codes are [`Exit`]'s, the README's table.

mod inspect;
mod pipe;
mod progress;

use std::fs::File;
use std::io::{BufReader, BufWriter, IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use fsmstore::{
    Backend, Config, Engine, Error, GroupInfo, GroupStore, Layout, Marker, SnapshotHeader,
    SyncMode, read_marker,
};

/// Look inside, copy and check fsmstore stores.
#[derive(Parser, Debug)]
#[command(name = "fsmstore", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print a store's engine, layout, applied index, meta keys and data size; of a
    /// groups store, its groups (or, with `--group`, what that group holds).
    Inspect {
        /// The store directory.
        path: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Inspect this group of a groups store.
        #[arg(long, value_name = "ID")]
        group: Option<u64>,
    },
    /// Write a store's snapshot stream (or a group's) to a file, or to stdout with `-`.
    Export {
        /// The store directory.
        path: PathBuf,
        /// The snapshot file, or `-` for stdout.
        output: String,
        /// Export this group of a groups store (required for a groups store).
        #[arg(long, value_name = "ID")]
        group: Option<u64>,
    },
    /// Create a store from a snapshot stream (a file, or stdin with `-`); with
    /// `--group`, fill a group of a groups store.
    Import {
        /// The snapshot file, or `-` for stdin.
        input: String,
        /// The store directory to create.
        path: PathBuf,
        /// The engine of the new store.
        #[arg(long, value_parser = parse_engine)]
        engine: Backend,
        /// The sync mode the new store is created with.
        #[arg(long, default_value = "sync", value_parser = parse_sync_mode)]
        sync_mode: SyncMode,
        /// Replace the contents of an existing store (with `--group`, of an existing
        /// group that holds something).
        #[arg(long)]
        force: bool,
        /// Import into this group of a groups store: the group is created when missing,
        /// and the groups store too (of `--engine`) when the directory does not exist or
        /// is empty.
        #[arg(long, value_name = "ID")]
        group: Option<u64>,
    },
    /// Copy a store into a new store of another engine, applied index included.
    Migrate {
        /// The store to copy.
        from: PathBuf,
        /// The store directory to create.
        to: PathBuf,
        /// The engine of the new store.
        #[arg(long, value_parser = parse_engine)]
        engine: Backend,
        /// Replace the contents of an existing store at the destination.
        #[arg(long)]
        force: bool,
    },
    /// Check a snapshot stream (framing, order, counts, CRC32C) and print its header;
    /// with `--deep`, read a whole store back and check it.
    Verify {
        /// The snapshot file, or `-` for stdin; with `--deep`, the store directory.
        input: String,
        /// Check the store directory `input`: the engine's own integrity check (redb:
        /// every page's checksum), then every entry (order, lengths, the applied
        /// index). Reads the whole store: its time grows with the data.
        #[arg(long)]
        deep: bool,
        /// With `--deep`, check only this group of a groups store. Without it, a groups
        /// store is checked whole: every group's entries.
        #[arg(long, value_name = "ID", requires = "deep")]
        group: Option<u64>,
    },
}

fn parse_engine(name: &str) -> Result<Backend, String> {
    name.parse().map_err(|error: Error| error.to_string())
}

fn parse_sync_mode(name: &str) -> Result<SyncMode, String> {
    name.parse().map_err(|error: Error| error.to_string())
}

/// What the exit code says went wrong (0 is success). The README's table lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Exit {
    /// Anything not listed below: an I/O error, a store that stopped, ...
    Failed = 1,
    /// Bad usage: an unknown command or flag, a missing argument, a bad value (an
    /// unknown `--engine` name among them), or an invalid `FSMSTORE_SYNC_MODE`. clap
    /// exits with this code for what it refuses.
    Usage = 2,
    /// The engine is not compiled into this binary; the message names the feature.
    NotCompiled = 3,
    /// The store path is missing, not a directory or not a store (or another engine's,
    /// or of the other layout: `--group` on a store of one group, or a groups store
    /// without it); the group is missing; a snapshot file to read is missing; or the
    /// destination of an import or migrate (a store, or a group) already holds
    /// something and `--force` was not given.
    NotAStore = 4,
    /// A damaged snapshot stream or store: a bad checksum or framing, missing engine
    /// files, a damaged marker or one that names an engine this build does not know, a
    /// store format newer than this build reads.
    Damaged = 5,
    /// Another process (or handle) holds the store, or the group.
    InUse = 6,
}

/// A failure with the exit code that names its kind.
#[derive(Debug)]
struct Failure {
    exit: Exit,
    message: String,
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        let exit = match &error {
            // The configuration the command line can reach is the sync-mode override
            // in the environment: the user's input, like a flag.
            Error::Config(_) => Exit::Usage,
            Error::NotCompiled { .. } => Exit::NotCompiled,
            Error::BackendMismatch { .. }
            | Error::LayoutMismatch { .. }
            | Error::NotADirectory(_)
            | Error::NoSuchGroup(_)
            | Error::GroupExists(_) => Exit::NotAStore,
            Error::InvalidSnapshot(_)
            | Error::Corruption(_)
            | Error::UnsupportedFormat { .. }
            | Error::RolledBack { .. } => Exit::Damaged,
            Error::Locked(_) | Error::GroupInUse(_) | Error::StillShared { .. } => Exit::InUse,
            _ => Exit::Failed,
        };
        Failure {
            exit,
            message: error.to_string(),
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(error: std::io::Error) -> Self {
        Error::Io(error).into()
    }
}

fn failure(exit: Exit, message: impl Into<String>) -> Failure {
    Failure {
        exit,
        message: message.into(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure { exit, message }) => {
            eprintln!("fsmstore: {message}");
            ExitCode::from(exit as u8)
        }
    }
}

fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Inspect { path, json, group } => {
            let text = match open_source(&path, group, Whole::Allowed)? {
                Source::Groups(store) => {
                    let groups = store.groups()?;
                    store.close()?;
                    let report = inspect::inspect_groups(&path, groups)?;
                    if json {
                        report.to_json()
                    } else {
                        report.to_text()
                    }
                }
                source => {
                    let info = source.group_info()?;
                    let report = inspect::inspect(&path, source.engine(), info)?;
                    source.close()?;
                    if json {
                        report.to_json()
                    } else {
                        report.to_text()
                    }
                }
            };
            print!("{text}");
            Ok(())
        }
        Command::Export {
            path,
            output,
            group,
        } => {
            let source = open_source(&path, group, Whole::Refused(PICK_A_GROUP))?;
            let store = source.engine();
            let bar = progress::bar(None, "exporting");
            let header = if output == "-" {
                store.export(&mut bar.wrap_write(std::io::stdout().lock()))?
            } else {
                let mut file = BufWriter::new(File::create(&output)?);
                let header = store.export(&mut bar.wrap_write(&mut file))?;
                file.into_inner()
                    .map_err(|error| error.into_error())?
                    .sync_all()?;
                header
            };
            bar.finish_and_clear();
            source.close()?;
            eprintln!("exported {}{}", describe(&header), of_group(group));
            Ok(())
        }
        Command::Import {
            input,
            path,
            engine,
            sync_mode,
            force,
            group,
        } => match group {
            Some(id) => import_group(&input, &path, engine, sync_mode, force, id),
            None => import_store(&input, &path, engine, sync_mode, force),
        },
        Command::Migrate {
            from,
            to,
            engine,
            force,
        } => {
            let source = open_source(&from, None, Whole::Refused(MIGRATE_A_GROUP))?;
            let created = read_marker(&from)?
                .created_sync_mode
                .unwrap_or(SyncMode::Sync);
            check_destination(&to, force)?;
            let target = fsmstore::open(engine, &to, &Config::new(created))?;
            let bar = progress::bar(None, "migrating");
            let header = migrate(source.engine(), &*target, &bar)?;
            bar.finish_and_clear();
            source.close()?;
            target.close()?;
            eprintln!(
                "migrated {} from {} to {engine} at {}",
                describe(&header),
                from.display(),
                to.display()
            );
            Ok(())
        }
        Command::Verify {
            input,
            deep: true,
            group,
        } => {
            let path = PathBuf::from(&input);
            match open_source(&path, group, Whole::Allowed)? {
                Source::Groups(store) => {
                    let checked = store.verify_deep()?;
                    let groups = store.groups()?.len();
                    let engine = store.engine_name();
                    store.close()?;
                    println!("store passes the deep check");
                    println!("engine: {engine}");
                    println!("layout: {}", inspect::layout_name(Layout::Groups));
                    println!("groups: {groups}");
                    println!("data entries: {}", checked.data_entries);
                    println!("meta entries: {}", checked.meta_entries);
                }
                source => {
                    let checked = source.engine().verify_deep()?;
                    let engine = source.engine().engine_name();
                    let layout = source.layout();
                    source.close()?;
                    match group {
                        Some(id) => println!("group {id} passes the deep check"),
                        None => println!("store passes the deep check"),
                    }
                    println!("engine: {engine}");
                    println!("layout: {}", inspect::layout_name(layout));
                    if let Some(id) = group {
                        println!("group: {id}");
                    }
                    println!("applied index: {}", optional(checked.applied_index));
                    println!("data entries: {}", checked.data_entries);
                    println!("meta entries: {}", checked.meta_entries);
                }
            }
            Ok(())
        }
        Command::Verify {
            input, deep: false, ..
        } => {
            let (reader, _) = open_input(&input)?;
            let header = fsmstore::verify_snapshot(BufReader::new(reader))?;
            println!("valid fsmstore snapshot");
            println!("format version: {}", header.format_version);
            println!("applied index: {}", optional(header.applied_index));
            println!("data records: {}", header.data_records);
            println!("meta records: {}", header.meta_records);
            Ok(())
        }
    }
}

/// Export from `source` in a thread, restore into `target` from the other end of a
/// pipe: nothing is staged on disk, and memory stays bounded.
fn migrate(
    source: &dyn Engine,
    target: &dyn Engine,
    bar: &indicatif::ProgressBar,
) -> Result<SnapshotHeader, Failure> {
    let (writer, reader) = pipe::pipe();
    std::thread::scope(|scope| {
        let exporter = scope.spawn(move || {
            let mut writer = writer;
            source.export(&mut writer)
        });
        let restored = target.restore(&mut bar.wrap_read(reader));
        let exported = exporter
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        // A failed export makes the restore fail too; the export's error says why.
        exported?;
        Ok(restored?)
    })
}

/// What a command reads: a store of one group, one group of a groups store, or a
/// groups store as a whole.
enum Source {
    /// A store of one group.
    Single(Box<dyn Engine>),
    /// One group of a groups store: the group's handle and the store's.
    Group {
        /// The group's id.
        id: u64,
        /// The group.
        group: Box<dyn Engine>,
        /// The groups store it belongs to.
        store: Box<dyn GroupStore>,
    },
    /// A groups store as a whole (no `--group`, on a command that takes one).
    Groups(Box<dyn GroupStore>),
}

impl Source {
    /// The store, or the group, the command reads.
    fn engine(&self) -> &dyn Engine {
        match self {
            Source::Single(store) => &**store,
            Source::Group { group, .. } => &**group,
            Source::Groups(_) => unreachable!("a whole groups store is handled on its own"),
        }
    }

    /// The layout of the store read.
    fn layout(&self) -> Layout {
        match self {
            Source::Single(_) => Layout::Single,
            Source::Group { .. } | Source::Groups(_) => Layout::Groups,
        }
    }

    /// The group read, as its store lists it; `None` for a store of one group.
    fn group_info(&self) -> Result<Option<GroupInfo>, Failure> {
        match self {
            Source::Group { id, store, .. } => {
                Ok(store.groups()?.into_iter().find(|info| info.id == *id))
            }
            Source::Single(_) | Source::Groups(_) => Ok(None),
        }
    }

    /// Closes the group first, then its store.
    fn close(self) -> Result<(), Failure> {
        match self {
            Source::Single(store) => store.close()?,
            Source::Group { group, store, .. } => {
                group.close()?;
                store.close()?;
            }
            Source::Groups(store) => store.close()?,
        }
        Ok(())
    }
}

/// Whether a command may read a groups store as a whole when no `--group` is given.
enum Whole {
    /// It may (`inspect`, `verify --deep`).
    Allowed,
    /// It may not: the failure ends with this hint.
    Refused(&'static str),
}

/// The hint for a groups store given to a command that reads one group's stream.
const PICK_A_GROUP: &str =
    "pass --group ID to name one of its groups (`fsmstore inspect` lists them)";

/// The hint for a groups store given to `migrate`, which copies stores of one group.
const MIGRATE_A_GROUP: &str = "migrate copies a store of one group; copy a group with `fsmstore export --group ID` and `fsmstore import --group ID`";

/// The hint for `--group` given with a store of one group.
const NO_GROUPS: &str = "--group names a group of a groups store; leave it out for this store";

/// A [`Error::LayoutMismatch`] failure for `path`, with the hint that fits it.
fn layout_mismatch(path: &Path, expected: Layout, found: Layout) -> Failure {
    let hint = match found {
        Layout::Groups => PICK_A_GROUP,
        Layout::Single => NO_GROUPS,
    };
    with_hint(
        Error::LayoutMismatch {
            path: path.to_owned(),
            expected,
            found,
        },
        hint,
    )
}

/// The failure of `error`, its message followed by `hint`.
fn with_hint(error: Error, hint: &str) -> Failure {
    let mut failure = Failure::from(error);
    failure.message = format!("{}; {hint}", failure.message);
    failure
}

/// Opens the store at `path` read-only, with the engine and layout its marker names: it
/// creates, removes and writes nothing, and a store another process holds is refused as
/// in use. `group` names a group of a groups store; without it a groups store is opened
/// whole if `whole` allows it. `--group` on a store of one group, or a groups store
/// refused whole, is [`Error::LayoutMismatch`], refused before anything is opened.
fn open_source(path: &Path, group: Option<u64>, whole: Whole) -> Result<Source, Failure> {
    let (backend, marker) = existing_marker(path)?;
    // A read-only open commits nothing, so its mode matters little: the engine's
    // recovery follows what the marker records of the sessions that wrote the store.
    let mode = marker.created_sync_mode.unwrap_or(SyncMode::Sync);
    let config = Config::new(mode).with_read_only();
    match (marker.layout, group) {
        (Layout::Single, None) => Ok(Source::Single(fsmstore::open(backend, path, &config)?)),
        (Layout::Single, Some(_)) => Err(layout_mismatch(path, Layout::Groups, Layout::Single)),
        (Layout::Groups, Some(id)) => {
            let store = fsmstore::open_groups(backend, path, &config)?;
            let group = store.open_group(id)?;
            Ok(Source::Group { id, group, store })
        }
        (Layout::Groups, None) => match whole {
            Whole::Allowed => Ok(Source::Groups(fsmstore::open_groups(
                backend, path, &config,
            )?)),
            Whole::Refused(hint) => Err(with_hint(
                Error::LayoutMismatch {
                    path: path.to_owned(),
                    expected: Layout::Single,
                    found: Layout::Groups,
                },
                hint,
            )),
        },
    }
}

/// The engine and the marker of the existing store at `path`.
fn existing_marker(path: &Path) -> Result<(Backend, Marker), Failure> {
    if !path.exists() {
        return Err(failure(
            Exit::NotAStore,
            format!("{}: no such store", path.display()),
        ));
    }
    if !path.is_dir() {
        return Err(Error::NotADirectory(path.to_owned()).into());
    }
    let marker = read_marker(path).map_err(|error| match error {
        Error::Io(io) if io.kind() == std::io::ErrorKind::NotFound => failure(
            Exit::NotAStore,
            format!("{}: not an fsmstore store (no marker file)", path.display()),
        ),
        other => other.into(),
    })?;
    let backend: Backend = marker.engine.parse().map_err(|_| {
        failure(
            Exit::Damaged,
            format!(
                "{}: the marker names engine {:?}, which this build of fsmstore does not know",
                path.display(),
                marker.engine
            ),
        )
    })?;
    Ok((backend, marker))
}

/// `import` without `--group`: restores the stream of `input` into a store of one group
/// at `path` (of `engine`, in `sync_mode`), which must be missing or empty unless
/// `force`; a groups store at `path` is refused.
fn import_store(
    input: &str,
    path: &Path,
    engine: Backend,
    sync_mode: SyncMode,
    force: bool,
) -> Result<(), Failure> {
    if let Ok(marker) = read_marker(path)
        && marker.layout == Layout::Groups
    {
        return Err(layout_mismatch(path, Layout::Single, Layout::Groups));
    }
    check_destination(path, force)?;
    let store = fsmstore::open(engine, path, &Config::new(sync_mode))?;
    let (reader, total) = open_input(input)?;
    let bar = progress::bar(total, "importing");
    let header = store.restore(&mut bar.wrap_read(reader))?;
    bar.finish_and_clear();
    store.close()?;
    eprintln!(
        "imported {} into {engine} at {}",
        describe(&header),
        path.display()
    );
    Ok(())
}

/// `import --group id`: restores the stream of `input` into group `id` of the groups
/// store at `path`, creating the group when missing, and the store (of `engine`, in
/// `sync_mode`) when `path` does not exist or is empty. An existing group that holds
/// something is replaced only with `force`.
fn import_group(
    input: &str,
    path: &Path,
    engine: Backend,
    sync_mode: SyncMode,
    force: bool,
    id: u64,
) -> Result<(), Failure> {
    if let Ok(marker) = read_marker(path)
        && marker.layout == Layout::Single
    {
        return Err(layout_mismatch(path, Layout::Groups, Layout::Single));
    }
    let (reader, total) = open_input(input)?;
    let store = fsmstore::open_groups(engine, path, &Config::new(sync_mode))?;
    let created = match store.create_group(id) {
        Ok(()) => true,
        Err(Error::GroupExists(_)) => false,
        Err(error) => return Err(error.into()),
    };
    let group = store.open_group(id)?;
    if !created && !force && holds_something(&*group)? {
        return Err(failure(
            Exit::NotAStore,
            format!(
                "group {id} of {} already holds data; pass --force to replace its contents",
                path.display()
            ),
        ));
    }
    let bar = progress::bar(total, "importing");
    let restored = group.restore(&mut bar.wrap_read(reader));
    bar.finish_and_clear();
    let header = match restored {
        Ok(header) => header,
        Err(error) => {
            // A group this import created goes again: a failed import leaves no trace.
            drop(group);
            if created {
                let _ = store.drop_group(id);
            }
            let _ = store.close();
            return Err(error.into());
        }
    };
    group.close()?;
    store.close()?;
    eprintln!(
        "imported {} into group {id} of {engine} at {}",
        describe(&header),
        path.display()
    );
    Ok(())
}

/// Whether a group holds an applied index, a data key or a meta key.
fn holds_something(group: &dyn Engine) -> Result<bool, Failure> {
    if group.applied_index()?.is_some() {
        return Ok(true);
    }
    let mut data = false;
    group.scan(&fsmstore::RangeQuery::all().limit(1), &mut |_, _| {
        data = true;
        Ok(std::ops::ControlFlow::Break(()))
    })?;
    if data {
        return Ok(true);
    }
    // No data: counting the meta keys reads only them.
    let header = group.export(&mut std::io::sink())?;
    Ok(header.meta_records > 0)
}

/// Import and migrate create a store: refuse a non-empty destination unless `force`.
fn check_destination(path: &Path, force: bool) -> Result<(), Failure> {
    let occupied = std::fs::read_dir(path).is_ok_and(|mut entries| entries.next().is_some());
    if occupied && !force {
        return Err(failure(
            Exit::NotAStore,
            format!(
                "{} already exists and is not empty; pass --force to replace its contents",
                path.display()
            ),
        ));
    }
    Ok(())
}

/// A reader for `-` (stdin) or a file, with the file's size when known.
fn open_input(input: &str) -> Result<(Box<dyn Read + Send>, Option<u64>), Failure> {
    if input == "-" {
        return Ok((Box::new(std::io::stdin()), None));
    }
    let file = File::open(input).map_err(|error| {
        failure(
            Exit::NotAStore,
            format!("{input}: cannot open the snapshot: {error}"),
        )
    })?;
    let size = file.metadata().ok().map(|metadata| metadata.len());
    Ok((Box::new(file), size))
}

/// What a copy's summary says of the group it read, if any.
fn of_group(group: Option<u64>) -> String {
    group.map_or_else(String::new, |id| format!(" from group {id}"))
}

fn describe(header: &SnapshotHeader) -> String {
    format!(
        "{} data keys and {} meta keys at applied index {}",
        header.data_records,
        header.meta_records,
        optional(header.applied_index)
    )
}

fn optional(index: Option<u64>) -> String {
    index.map_or_else(|| "none".to_owned(), |index| index.to_string())
}

/// Whether progress bars are drawn: only for a person watching a terminal.
fn interactive() -> bool {
    std::io::stdout().is_terminal() && std::io::stderr().is_terminal()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn errors_map_to_their_exit_codes() {
        let code = |error: Error| Failure::from(error).exit as u8;
        assert_eq!(
            code(Error::NotCompiled {
                engine: "rocksdb".into(),
                feature: "rocksdb".into()
            }),
            3
        );
        assert_eq!(code(Error::InvalidSnapshot("bad".into())), 5);
        assert_eq!(code(Error::Corruption("bad".into())), 5);
        assert_eq!(
            code(Error::RolledBack {
                path: PathBuf::from("/x"),
                recovered: Some(3),
                pinned: 9,
            }),
            5
        );
        assert_eq!(code(Error::NotADirectory(PathBuf::from("/x"))), 4);
        assert_eq!(code(Error::Io(std::io::Error::other("disk"))), 1);
        assert_eq!(code(Error::Config("FSMSTORE_SYNC_MODE".into())), 2);
        assert_eq!(code(Error::Locked(PathBuf::from("/x"))), 6);
        assert_eq!(
            code(Error::LayoutMismatch {
                path: PathBuf::from("/x"),
                expected: Layout::Single,
                found: Layout::Groups,
            }),
            4
        );
        assert_eq!(code(Error::NoSuchGroup(7)), 4);
        assert_eq!(code(Error::GroupExists(7)), 4);
        assert_eq!(code(Error::GroupInUse(7)), 6);
    }
}
