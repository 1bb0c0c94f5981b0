//! Peak anonymous memory of each phase, for `--timings`: a thread reads
//! RssAnon from /proc/self/status every few milliseconds and keeps the
//! highest value since the phase began (the kernel keeps only a whole-run
//! peak, and that one counts the mapped core's pages too).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the sampler reads /proc/self/status.
const PERIOD: Duration = Duration::from_millis(5);

/// A running sampler; stops when dropped.
pub struct AnonPeak {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl AnonPeak {
    /// Starts sampling, or None where /proc/self/status has no RssAnon.
    pub fn start() -> Option<AnonPeak> {
        let now = rss_anon()?;
        let peak = Arc::new(AtomicU64::new(now));
        let stop = Arc::new(AtomicBool::new(false));
        let (p, s) = (peak.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("anon-peak".into())
            .spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    if let Some(v) = rss_anon() {
                        p.fetch_max(v, Ordering::Relaxed);
                    }
                    std::thread::sleep(PERIOD);
                }
            })
            .ok()?;
        Some(AnonPeak { peak, stop, thread: Some(thread) })
    }

    /// The highest RssAnon (bytes) seen since the last call, or since the
    /// start; the next period starts at the current value.
    pub fn take(&self) -> u64 {
        let now = rss_anon().unwrap_or(0);
        self.peak.swap(now, Ordering::Relaxed).max(now)
    }
}

impl Drop for AnonPeak {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The process's resident anonymous memory in bytes, from
/// /proc/self/status (`RssAnon:   1234 kB`).
fn rss_anon() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("RssAnon:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_a_buffer_it_did_not_allocate_itself() {
        let Some(s) = AnonPeak::start() else { return };
        let before = s.take();
        let mut v = vec![1u8; 64 << 20];
        // Touch every page so it is resident.
        for i in (0..v.len()).step_by(4096) {
            v[i] = i as u8;
        }
        // The sampler thread, not take(), must see it: wait for it (up to
        // 10 s on a loaded machine).
        let seen = (0..2000).any(|_| {
            std::thread::sleep(PERIOD);
            s.peak.load(Ordering::Relaxed) >= before + (60 << 20)
        });
        drop(std::hint::black_box(v));
        assert!(seen, "sampler never saw the buffer");
        let peak = s.take();
        assert!(peak >= before + (60 << 20), "peak {peak} before {before}");
    }
}
