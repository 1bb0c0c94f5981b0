//! Progress on stderr, only when stderr is a terminal: from [`begin`] to
//! [`end`] one line shows the phase (n of m), what it is doing and the time
//! so far, with no blank gap between phases; without [`begin`], a spinner
//! for any phase that runs longer than a second. A long phase run by
//! [`counted`] also shows how far it got (`41230/52118 spans`, with a bar
//! when the total is known): the layers below add to a plain
//! [`AtomicU64`] once per block of work, and the line reads it ten times a
//! second.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The line shown from [`begin`] to [`end`], and the phases running
/// (nested: "opening the core: reading the core").
struct Line {
    bar: ProgressBar,
    running: Vec<String>,
}

static LINE: Mutex<Option<Line>> = Mutex::new(None);

fn line() -> std::sync::MutexGuard<'static, Option<Line>> {
    LINE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Shows the progress line for a command of `phases` top-level phases.
pub fn begin(phases: u64) {
    if !std::io::stderr().is_terminal() {
        return;
    }
    let bar = ProgressBar::with_draw_target(Some(phases), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{pos}/{len}] {msg} ({elapsed})").unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    *line() = Some(Line { bar, running: Vec::new() });
}

/// Clears the progress line.
pub fn end() {
    if let Some(l) = line().take() {
        l.bar.finish_and_clear();
    }
}

/// Prints a line on stderr above the progress line.
pub fn note(text: &str) {
    match line().as_ref() {
        Some(l) => l.bar.suspend(|| eprintln!("{text}")),
        None => eprintln!("{text}"),
    }
}

/// Runs `f` as the phase `name`: on the progress line if there is one,
/// else with a spinner if it takes over a second.
pub fn phase<T>(name: &str, f: impl FnOnce() -> T) -> T {
    let shown = match line().as_mut() {
        Some(l) => {
            if l.running.is_empty() {
                l.bar.inc(1);
                if l.bar.position() > l.bar.length().unwrap_or(0) {
                    l.bar.set_length(l.bar.position());
                }
            }
            l.running.push(name.to_string());
            l.bar.set_message(l.running.join(": "));
            true
        }
        None => false,
    };
    if !shown {
        return spinner(name, f);
    }
    let out = f();
    if let Some(l) = line().as_mut() {
        l.running.pop();
        // Between two phases the last one stays on the line.
        if !l.running.is_empty() {
            l.bar.set_message(l.running.join(": "));
        }
    }
    out
}

/// How far a phase got: `done` of `total` (0: not known) units of work.
/// The phase's code adds to `done` (and may set `total` once known).
#[derive(Default)]
pub struct Tally {
    pub done: AtomicU64,
    pub total: AtomicU64,
}

/// What a [`Tally`] counts, for the progress line.
#[derive(Clone, Copy)]
pub enum Unit {
    /// A count of things, named (`spans`, `objects`).
    Things(&'static str),
    /// Bytes (shown in KiB, MiB, …).
    Bytes,
}

/// How often the progress line reads a phase's [`Tally`].
const TALLY_EVERY: Duration = Duration::from_millis(100);
/// Width of the bar drawn when a phase's total is known.
const BAR_WIDTH: u64 = 10;

/// [`phase`], with `f` counting its work in a [`Tally`] that the progress
/// line shows (only when there is one: elsewhere the counts cost an add
/// per block and are never read).
pub fn counted<T>(name: &str, unit: Unit, f: impl FnOnce(&Tally) -> T) -> T {
    let tally = Tally::default();
    let shown = line().as_ref().map(|l| l.bar.clone());
    let Some(bar) = shown else { return phase(name, || f(&tally)) };
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let reader = s.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                std::thread::park_timeout(TALLY_EVERY);
                let (done, total) = (tally.done.load(Ordering::Relaxed), tally.total.load(Ordering::Relaxed));
                if done > 0 && !stop.load(Ordering::Relaxed) {
                    let running = line().as_ref().map(|l| l.running.join(": ")).unwrap_or_default();
                    bar.set_message(format!("{running} {}", tally_text(done, total, unit)));
                }
            }
        });
        let out = phase(name, || f(&tally));
        stop.store(true, Ordering::Relaxed);
        reader.thread().unpark();
        let _ = reader.join();
        out
    })
}

/// `[=====     ] 41230/82118 spans`, `[==        ] 1.20M/4.87M objects`,
/// or without a total `12.5 MiB`: short enough for an 80-column terminal.
pub fn tally_text(done: u64, total: u64, unit: Unit) -> String {
    let amount = |n: u64| match unit {
        Unit::Things(_) if n >= 1_000_000 => format!("{:.2}M", n as f64 / 1e6),
        Unit::Things(_) => n.to_string(),
        Unit::Bytes => super::human_bytes(n),
    };
    let name = match unit {
        Unit::Things(what) => format!(" {what}"),
        Unit::Bytes => String::new(),
    };
    if total == 0 {
        return format!("{}{name}", amount(done));
    }
    let filled = (done.min(total) * BAR_WIDTH / total) as usize;
    let bar = format!("{}{}", "=".repeat(filled), " ".repeat(BAR_WIDTH as usize - filled));
    format!("[{bar}] {}/{}{name}", amount(done), amount(total))
}

/// Runs `f`, showing `name` with a spinner if it takes over a second.
fn spinner<T>(name: &str, f: impl FnOnce() -> T) -> T {
    if !std::io::stderr().is_terminal() {
        return f();
    }
    let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
    pb.set_style(ProgressStyle::with_template("{spinner} {msg} ({elapsed})").unwrap_or_else(|_| ProgressStyle::default_spinner()));
    pb.set_message(name.to_string());
    let shown = pb.clone();
    let waiter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(1));
        if !shown.is_finished() {
            shown.set_draw_target(ProgressDrawTarget::stderr());
            shown.enable_steady_tick(Duration::from_millis(120));
        }
    });
    let out = f();
    pb.finish_and_clear();
    drop(waiter);
    out
}

#[cfg(test)]
mod tests {
    use super::{tally_text, Unit};

    #[test]
    fn tallies_read_as_counts_and_bars() {
        assert_eq!(tally_text(5, 0, Unit::Things("objects")), "5 objects");
        assert_eq!(tally_text(10, 20, Unit::Things("spans")), "[=====     ] 10/20 spans");
        assert_eq!(tally_text(30, 20, Unit::Things("spans")), "[==========] 30/20 spans");
        assert_eq!(tally_text(1_200_000, 4_874_627, Unit::Things("objects")), "[==        ] 1.20M/4.87M objects");
        assert!(tally_text(3 << 20, 0, Unit::Bytes).contains("MiB"));
    }
}
