//! Where a long operation reports how far it got. The library's verbs (collect, evaluate,
//! train-sae, explain, score, train-lm) take a `&dyn Progress`; the command line passes a
//! terminal progress bar, the window its status line, tests [`Silent`].

/// A sink for progress: a position out of an optional length, a short message, and notes for
/// the user. Every method has a do-nothing default.
pub trait Progress: Sync {
    /// The amount of work, in the operation's unit (tokens, steps, latents).
    fn set_len(&self, _len: u64) {}
    /// How much is done.
    fn set_pos(&self, _pos: u64) {}
    /// One more unit done.
    fn inc(&self) {}
    /// A short status beside the position (e.g. each candidate's loss).
    fn message(&self, _msg: &str) {}
    /// A note for the user that is not a result (a resume, a skipped input, a warning): stderr
    /// in the terminal.
    fn note(&self, _msg: &str) {}
    /// A line of results as they come (what was loaded, what was written): stdout in the
    /// terminal.
    fn report(&self, _line: &str) {}
}

/// Reports nothing.
pub struct Silent;

impl Progress for Silent {}

/// Passes everything on to another sink, with a prefix before each message.
pub struct Prefixed<'a> {
    inner: &'a dyn Progress,
    prefix: String,
}

impl<'a> Prefixed<'a> {
    pub fn new(inner: &'a dyn Progress, prefix: &str) -> Self {
        Self {
            inner,
            prefix: prefix.to_string(),
        }
    }
}

impl Progress for Prefixed<'_> {
    fn set_len(&self, len: u64) {
        self.inner.set_len(len)
    }
    fn set_pos(&self, pos: u64) {
        self.inner.set_pos(pos)
    }
    fn inc(&self) {
        self.inner.inc()
    }
    fn message(&self, msg: &str) {
        self.inner.message(&format!("{}{msg}", self.prefix))
    }
    fn note(&self, msg: &str) {
        self.inner.note(msg)
    }
    fn report(&self, line: &str) {
        self.inner.report(line)
    }
}
