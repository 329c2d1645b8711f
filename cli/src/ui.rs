//! Progress on stderr for the library's long jobs: a bar on a terminal, notes as lines.

use std::cell::RefCell;
use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};
use mgr_core::progress::Progress;

/// A bar of `total` steps drawn with `template` when stderr is a terminal and there is more
/// than one step; otherwise `None`.
pub fn bar(total: usize, template: &str) -> Option<ProgressBar> {
    if total <= 1 {
        return None;
    }
    let pb = terminal_bar(template)?;
    pb.set_length(total as u64);
    Some(pb)
}

/// A bar drawn with `template` when stderr is a terminal, of no length until one is set.
pub fn terminal_bar(template: &str) -> Option<ProgressBar> {
    std::io::stderr().is_terminal().then(|| {
        let pb = ProgressBar::no_length();
        pb.set_style(
            ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        pb
    })
}

/// Draws [`Progress`] reports with indicatif (only when stderr is a terminal) and prints notes
/// above the bar.
#[derive(Debug, Default)]
pub struct Bar {
    bar: RefCell<Option<ProgressBar>>,
}

impl Progress for Bar {
    fn begin(&self, what: &str, total: usize) {
        if let Some(pb) = bar(
            total,
            "{bar:40} {pos}/{len} {elapsed_precise} eta {eta} {msg}",
        ) {
            pb.set_message(what.to_string());
            *self.bar.borrow_mut() = Some(pb);
        }
    }

    fn advance(&self, n: usize) {
        if let Some(pb) = self.bar.borrow().as_ref() {
            pb.inc(n as u64);
        }
    }

    fn note(&self, line: &str) {
        match self.bar.borrow().as_ref() {
            Some(pb) => pb.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    fn end(&self) {
        if let Some(pb) = self.bar.borrow_mut().take() {
            pb.finish_and_clear();
        }
    }
}
