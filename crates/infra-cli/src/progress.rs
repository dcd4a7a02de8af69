//! Showing engine events while they happen: a spinner per running
//! operation on a terminal (indicatif), plain lines otherwise, JSON lines
//! with `--json`. Events are shown in `seq` order whatever thread emits them.

use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use infra_core::Address;
use infra_engine::{Event, EventKind, EventSink, Step};

use crate::json;
use crate::render;

/// How events are shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Spinners on a terminal, or plain lines, chosen by whether stdout is one.
    Human,
    /// Every event as a JSON line on stdout.
    JsonLines,
    /// Stdout belongs to a JSON document: only recoveries, as text on stderr.
    Quiet,
}

/// The event renderer. Share it as an `Arc`; hand [`Progress::sink`] to the
/// engine.
pub struct Progress {
    inner: Mutex<Inner>,
}

/// The renderer of the running command, for the signal handler to
/// finish before it exits (see [`crate::CtrlC`]).
static CURRENT: Mutex<Weak<Progress>> = Mutex::new(Weak::new());

struct Inner {
    mode: Mode,
    /// Present on a terminal in human mode.
    bars: Option<Bars>,
    next_seq: u64,
    pending: BTreeMap<u64, Event>,
}

struct Bars {
    multi: MultiProgress,
    running: HashMap<(Address, Step), ProgressBar>,
}

impl Progress {
    /// A renderer in this mode.
    pub fn new(mode: Mode) -> Arc<Self> {
        let bars = (mode == Mode::Human && std::io::stdout().is_terminal()).then(|| Bars {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stdout()),
            running: HashMap::new(),
        });
        let progress = Arc::new(Progress {
            inner: Mutex::new(Inner {
                mode,
                bars,
                next_seq: 1,
                pending: BTreeMap::new(),
            }),
        });
        progress.make_current();
        progress
    }

    /// Makes this the renderer a signal finishes before exiting (the
    /// newest one is, on creation).
    pub fn make_current(self: &Arc<Self>) {
        *CURRENT.lock().unwrap_or_else(PoisonError::into_inner) = Arc::downgrade(self);
    }

    /// The renderer of the running command, if it has one.
    pub fn current() -> Option<Arc<Progress>> {
        CURRENT
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .upgrade()
    }

    /// The sink to give [`infra_engine::Engine::with_events`].
    pub fn sink(self: &Arc<Self>) -> EventSink {
        let me = Arc::clone(self);
        Arc::new(move |e: &Event| me.event(e))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn event(&self, e: &Event) {
        let mut guard = self.lock();
        let inner = &mut *guard;
        if e.seq < inner.next_seq {
            // A new numbering (another engine): start over from it.
            inner.next_seq = e.seq;
        }
        inner.pending.insert(e.seq, e.clone());
        while let Some(next) = inner.pending.remove(&{ inner.next_seq }) {
            inner.next_seq += 1;
            inner.show(&next);
        }
    }

    /// A message for the user outside the event stream (on stderr).
    pub fn notice(&self, message: &str) {
        let inner = self.lock();
        let write = || {
            let _ = writeln!(std::io::stderr().lock(), "{message}");
        };
        match &inner.bars {
            Some(b) => b.multi.suspend(write),
            None => write(),
        }
    }

    /// Shows whatever is still buffered and removes the spinners.
    pub fn finish(&self) {
        let mut inner = self.lock();
        let rest = std::mem::take(&mut inner.pending);
        for e in rest.values() {
            inner.show(e);
        }
        if let Some(b) = &mut inner.bars {
            for (_, bar) in b.running.drain() {
                bar.finish_and_clear();
            }
            let _ = b.multi.clear();
        }
    }
}

impl Inner {
    fn show(&mut self, e: &Event) {
        match self.mode {
            Mode::JsonLines => out(&json::to_line(&json::EventLine::new(e))),
            Mode::Quiet => {
                if let EventKind::Recovered { .. } | EventKind::LockTakenOver { .. } = e.kind {
                    let line = render::event(e).unwrap_or_default();
                    let _ = writeln!(std::io::stderr().lock(), "{line}");
                }
            }
            Mode::Human => match &mut self.bars {
                None => {
                    if let Some(line) = render::event(e) {
                        out(&format!("{line}\n"));
                    }
                }
                Some(bars) => bars.show(e),
            },
        }
    }
}

impl Bars {
    fn show(&mut self, e: &Event) {
        match &e.kind {
            EventKind::OperationStarted { address, step } => {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_message(render::running(address, *step));
                bar.enable_steady_tick(Duration::from_millis(100));
                self.running.insert((address.clone(), *step), bar);
            }
            EventKind::OperationProgress { address, message } => {
                if let Some(bar) = self
                    .running
                    .iter()
                    .find(|((a, _), _)| a == address)
                    .map(|(_, b)| b)
                {
                    bar.set_message(format!("{address}: {message}"));
                }
            }
            EventKind::OperationFinished { address, step, .. }
            | EventKind::OperationFailed { address, step, .. } => {
                if let Some(bar) = self.running.remove(&(address.clone(), *step)) {
                    bar.finish_and_clear();
                    self.multi.remove(&bar);
                }
                self.println(e);
            }
            _ => self.println(e),
        }
    }

    fn println(&self, e: &Event) {
        if let Some(line) = render::event(e) {
            self.multi.suspend(|| out(&format!("{line}\n")));
        }
    }
}

fn out(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}
