//! The library's progress sink as a terminal progress bar (indicatif, on stderr; hidden when
//! stderr is not a terminal).

use indicatif::{ProgressBar, ProgressStyle};
use safe_sail::progress::Progress;

/// A progress bar drawn with `template` (indicatif's syntax).
pub struct Bar(ProgressBar);

impl Bar {
    pub fn new(template: &str) -> Self {
        Self::styled(template, None)
    }

    /// A bar filled with `=>` (the training commands' look).
    pub fn arrows(template: &str) -> Self {
        Self::styled(template, Some("=> "))
    }

    fn styled(template: &str, chars: Option<&str>) -> Self {
        let bar = ProgressBar::new(0);
        let mut style =
            ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar());
        if let Some(c) = chars {
            style = style.progress_chars(c);
        }
        bar.set_style(style);
        Self(bar)
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

impl Progress for Bar {
    fn set_len(&self, len: u64) {
        // A new length starts the rate afresh (a resumed run counts from where it resumed).
        if self.0.length() != Some(len) {
            self.0.set_length(len);
            self.0.reset_eta();
        }
    }
    fn set_pos(&self, pos: u64) {
        self.0.set_position(pos);
    }
    fn inc(&self) {
        self.0.inc(1);
    }
    fn message(&self, msg: &str) {
        self.0.set_message(msg.to_string());
    }
    fn note(&self, msg: &str) {
        self.0.suspend(|| eprintln!("{msg}"));
    }
    fn report(&self, line: &str) {
        self.0.suspend(|| println!("{line}"));
    }
}

/// No bar: notes to stderr, reports to stdout.
pub struct Plain;

impl Progress for Plain {
    fn note(&self, msg: &str) {
        eprintln!("{msg}");
    }
    fn report(&self, line: &str) {
        println!("{line}");
    }
}
