//! Progress bars for long copies, drawn only when a person watches a terminal.
//!
//! The copies report their bytes through indicatif's own wrappers
//! ([`ProgressBar::wrap_read`], [`ProgressBar::wrap_write`]).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar over `total` bytes (a spinner with a byte count when the total is unknown),
/// drawn on stderr, and hidden unless stdout and stderr are terminals.
pub fn bar(total: Option<u64>, verb: &str) -> ProgressBar {
    let bar = match total {
        Some(total) => ProgressBar::new(total).with_style(
            ProgressStyle::with_template(
                "{msg} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {msg} {bytes} ({bytes_per_sec})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    };
    bar.set_message(verb.to_owned());
    if !crate::interactive() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar
}
