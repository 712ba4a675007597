//! `fsmstore-node`: one openraft node over fsmstore, as a process.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args = <fsmstore_node::Args as clap::Parser>::parse();
    // openraft's own warnings and errors (a refused vote, a conflicting log, a storage
    // failure) go to stderr with the time, next to the node's own lines.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    fsmstore_node::run(args)
}
