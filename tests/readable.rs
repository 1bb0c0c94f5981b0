//! What a person reads: frame names that hold no heap address unless asked
//! (so two cores of one program compare), and the command line's traps.

use std::collections::BTreeSet;

use crate::util::{each, fixtures, run_refgraph as run, Fixture};

/// Lowest and highest heap address the retain program printed for its
/// objects.
fn heap_span(f: &Fixture) -> (u64, u64) {
    let addrs: Vec<u64> =
        ["list_addr", "chan_addr", "iface_addr", "closure_addr", "stack_local_addr", "finalizer_addr"].iter().map(|k| f.num(k)).collect();
    (*addrs.iter().min().unwrap(), *addrs.iter().max().unwrap())
}

/// Every `0x…` number in `text`.
fn hex_numbers(text: &str) -> BTreeSet<u64> {
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices("0x") {
        let digits: String = text[i + 2..].chars().take_while(|c| c.is_ascii_hexdigit()).collect();
        if let Ok(v) = u64::from_str_radix(&digits, 16) {
            out.insert(v);
        }
    }
    out
}

#[test]
fn no_frame_names_a_heap_address_unless_printaddr_asks() {
    let fx: Vec<Fixture> = fixtures().into_iter().filter(|f| f.program() == "retain").collect();
    each(&fx, |f| {
        let (lo, hi) = heap_span(f);
        // Within 64 MiB of the objects the program printed: the heap arena.
        let near = |v: u64| v + (64 << 20) >= lo && v <= hi + (64 << 20);
        let plain = run(f, &["objref", "--folded", "--minwidth", "0", "-"])?;
        if let Some(v) = hex_numbers(&plain).into_iter().find(|&v| near(v)) {
            let line = plain.lines().find(|l| l.contains(&format!("{v:#x}"))).unwrap_or_default();
            return Err(format!("heap address {v:#x} in {:?}", &line[..line.len().min(200)]));
        }
        // The check can fail: with --printaddr the addresses are there.
        let tagged = run(f, &["objref", "--folded", "--printaddr", "-"])?;
        if !hex_numbers(&tagged).contains(&f.num("list_addr")) {
            return Err("--printaddr output lacks the list head's address".into());
        }
        Ok(())
    });
}

/// Runs refgraph with exactly `args`; (success, stdout, stderr).
fn raw(args: &[&std::ffi::OsStr]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_refgraph")).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn core_and_exe_go_before_or_after_the_subcommand() {
    let f = fixtures().into_iter().find(|f| f.program() == "retain" && f.variant() == "plain").unwrap();
    let (core, exe) = (f.core(), f.exe());
    let (core, exe) = (core.as_os_str(), exe.as_os_str());
    let dash = std::ffi::OsStr::new("-");
    let s = |x: &'static str| std::ffi::OsStr::new(x);
    let orders: [Vec<&std::ffi::OsStr>; 3] = [
        vec![core, s("--exe"), exe, s("objref"), s("--folded"), dash],
        vec![core, s("objref"), s("--folded"), dash, s("--exe"), exe],
        vec![s("objref"), s("--folded"), core, dash, s("--exe"), exe],
    ];
    let mut outputs = Vec::new();
    for args in &orders {
        let (ok, out, err) = raw(args);
        assert!(ok, "{args:?}: {err}");
        // One line of summary on stderr.
        assert_eq!(err.lines().filter(|l| l.starts_with("refgraph: wrote")).count(), 1, "{err}");
        outputs.push(out);
    }
    assert!(outputs.iter().all(|o| *o == outputs[0] && !o.is_empty()));
    // The subcommand's help shows where CORE and --exe go.
    let (ok, help, _) = raw(&[s("objref"), s("--help")]);
    assert!(ok && help.contains("CORE") && help.contains("--exe BIN"), "{help}");
    // Swapped core and executable: the error says so.
    let (ok, _, err) = raw(&[exe, s("--exe"), core, s("overview")]);
    assert!(!ok && err.contains("pass the core first"), "{err}");
    let (ok, _, err) = raw(&[core, s("--exe"), core, s("overview")]);
    assert!(!ok && err.contains("a core file"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn an_output_name_naming_another_format_warns() {
    let f = fixtures().into_iter().find(|f| f.program() == "retain" && f.variant() == "plain").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.folded");
    let (core, exe) = (f.core(), f.exe());
    let (ok, _, err) = raw(&[core.as_os_str(), "--exe".as_ref(), exe.as_os_str(), "objref".as_ref(), path.as_os_str()]);
    assert!(ok, "{err}");
    assert!(err.contains("warning") && err.contains("--folded"), "{err}");
    // What was written is .bt all the same: count lines of a TAB and digits.
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.lines().any(|l| l.starts_with('\t') && l[1..].bytes().all(|b| b.is_ascii_digit())));
}

/// The folded stacks of a fixture with every frame printed, names only.
fn stack_names(f: &Fixture) -> Result<BTreeSet<String>, String> {
    let text = run(f, &["objref", "--folded", "--minwidth", "0", "-"])?;
    Ok(text.lines().map(|l| l.rsplit_once(' ').map_or(l, |(s, _)| s).to_string()).collect())
}

/// The root of a stack: its group and root frame, and for goroutines the
/// goroutine frame between them.
fn root_of(stack: &str) -> String {
    let n = if stack.starts_with("goroutines;") { 3 } else { 2 };
    stack.split(';').take(n).collect::<Vec<_>>().join(";")
}

#[test]
fn two_cores_of_one_binary_name_roots_and_types_identically() {
    let fx = fixtures();
    let pairs: Vec<(&Fixture, &Fixture)> =
        fx.iter().filter_map(|b| Some((fx.iter().find(|a| Some(a.name.as_str()) == b.name.strip_suffix("-again"))?, b))).collect();
    assert!(!pairs.is_empty(), "no fixture pair NAME, NAME-again (fixtures/build.sh makes retain-go1.26.11-again)");
    for (a, b) in pairs {
        let exe = |f: &Fixture| std::fs::read(f.exe()).unwrap();
        assert!(exe(a) == exe(b), "{} and {} hold different executables", a.name, b.name);
        // Different moments: the heap moved.
        assert_ne!(a.num("list_addr"), b.num("list_addr"), "{} and {}: the same heap addresses", a.name, b.name);
        let (sa, sb) = (stack_names(a).unwrap(), stack_names(b).unwrap());
        // The same roots, named the same way (the runtime's own state,
        // such as its thread count, may differ below them).
        let ra: BTreeSet<String> = sa.iter().map(|s| root_of(s)).collect();
        let rb: BTreeSet<String> = sb.iter().map(|s| root_of(s)).collect();
        let only: Vec<&String> = ra.symmetric_difference(&rb).collect();
        assert!(only.is_empty(), "{} vs {}: roots in one only: {only:?}", a.name, b.name);
        // Everything the program built, with its types and links, alike.
        let mine = |s: &BTreeSet<String>| -> BTreeSet<String> {
            s.iter().filter(|s| s.starts_with("globals;main.") || s.starts_with("goroutines;main.")).cloned().collect()
        };
        let (ma, mb) = (mine(&sa), mine(&sb));
        assert!(ma.len() > 10, "{}: only {} stacks under main roots", a.name, ma.len());
        let only: Vec<&String> = ma.symmetric_difference(&mb).collect();
        assert!(only.is_empty(), "{} vs {}: stacks in one only: {only:?}", a.name, b.name);
    }
}

#[test]
fn overview_goroutine_counts_add_up() {
    let f = fixtures().into_iter().find(|f| f.program() == "retain" && f.variant() == "plain").unwrap();
    let text = run(&f, &["overview"]).unwrap();
    let line = text.lines().find(|l| l.starts_with("goroutines ")).expect("no goroutines line");
    // `goroutines      9 live (1 syscall, 8 waiting); not live: 8 dead`
    let rest = line["goroutines".len()..].trim_start();
    let (live, rest) = rest.split_once(" live (").unwrap_or_else(|| panic!("{line:?}"));
    let live: u64 = live.parse().unwrap();
    let (parts, not_live) = rest.split_once(')').unwrap();
    let sum =
        |s: &str| -> u64 { s.split(", ").filter(|p| !p.is_empty()).map(|p| p.split(' ').next().unwrap().parse::<u64>().unwrap()).sum() };
    assert_eq!(sum(parts), live, "{line:?}");
    let dead = not_live.strip_prefix("; not live: ").map_or(0, sum);
    // Against the JSON: live goroutines, and all of them by status.
    let json: serde_json::Value = serde_json::from_str(&run(&f, &["overview", "--json"]).unwrap()).unwrap();
    assert_eq!(json["goroutines"].as_u64(), Some(live));
    let all: u64 = json["goroutines_by_status"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(live + dead, all, "{line:?}");
    // The program's own goroutines (main and the worker) are among the live.
    assert!(live >= f.num("num_goroutine"), "{line:?}");
}

/// With stderr not a terminal (a pipe here, as under CI or `2>log`), no
/// progress line is drawn: stderr holds only the summary and the timings,
/// one plain line each, without carriage returns or escape sequences.
#[test]
fn no_progress_line_when_stderr_is_not_a_terminal() {
    let f = fixtures().into_iter().find(|f| f.name == "retain-go1.22.12").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.bt");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_refgraph"))
        .arg(f.core())
        .arg("--exe")
        .arg(f.exe())
        .args(["objref", "--timings"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(run.status.success());
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(!err.contains('\r') && !err.contains('\x1b'), "terminal control in {err:?}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err:?}");
    assert!(lines[0].starts_with("refgraph: wrote ") && lines[1].starts_with("refgraph: time: "), "{err:?}");
}
