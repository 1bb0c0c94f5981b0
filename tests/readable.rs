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
