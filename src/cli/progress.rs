//! Progress on stderr, only when stderr is a terminal: from [`begin`] to
//! [`end`] one line shows the phase (n of m), what it is doing and the time
//! so far, with no blank gap between phases; without [`begin`], a spinner
//! for any phase that runs longer than a second.

use std::io::IsTerminal;
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
