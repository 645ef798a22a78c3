//! Progress bars (with running losses, for the trainer), shared by training and extraction; hidden
//! automatically when stderr is not a terminal.

use indicatif::{ProgressBar, ProgressStyle};

pub fn bar(len: u64, stage: &str, enabled: bool) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {elapsed_precise} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_prefix(stage.to_string());
    pb
}
