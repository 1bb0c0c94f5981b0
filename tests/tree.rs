//! The reference tree and its renderings, through the command line: the
//! roots reach the whole heap, the .bt and folded outputs agree with each
//! other and with the totals, and each pattern the retain program built is
//! found under the root that holds it.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use refgraph::render::{collapse_bt, read_folded};

use crate::util::{each, fixtures, goroutine_frame, json_num as num, overview, run_refgraph as run, Fixture};

#[test]
fn roots_reach_at_least_999_per_mille_of_the_heap() {
    let fx = fixtures();
    each(&fx, |f| {
        let o = overview(f)?;
        let (reached, heap) = (num(&o, "reached_bytes")?, num(&o, "heap_bytes")?);
        // heap_bytes itself equals MemStats.HeapAlloc (tests/heap.rs).
        if heap != f.num("heap_alloc") {
            return Err(format!("heap_bytes {heap} != HeapAlloc {}", f.num("heap_alloc")));
        }
        println!("{}: reached {reached} of {heap} bytes ({:.3}%)", f.name, 100.0 * reached as f64 / heap as f64);
        if (reached as f64) < 0.999 * heap as f64 || reached > heap {
            return Err(format!("reached {reached} of {heap} bytes"));
        }
        Ok(())
    });
}

#[test]
fn bt_and_folded_outputs_agree_and_sum_to_the_reached_total() {
    let fx = fixtures();
    let dir = tempfile::tempdir().unwrap();
    each(&fx, |f| {
        let reached = num(&overview(f)?, "reached_bytes")?;
        let bt_path = dir.path().join(format!("{}.bt", f.name));
        let folded_path = dir.path().join(format!("{}.folded", f.name));
        run(f, &["objref", bt_path.to_str().unwrap()])?;
        run(f, &["objref", "--folded", folded_path.to_str().unwrap()])?;
        let bt = std::fs::read_to_string(&bt_path).map_err(|e| e.to_string())?;
        let folded = std::fs::read_to_string(&folded_path).map_err(|e| e.to_string())?;
        // Every count line is a TAB and digits, as stackcollapse-stap.pl
        // expects, and no frame line is all digits.
        let mut bt_sum = 0u64;
        for line in bt.lines() {
            if let Some(c) = line.strip_prefix('\t') {
                bt_sum += c.parse::<u64>().map_err(|_| format!("bad count line {line:?}"))?;
            } else if line.trim().bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("frame line {line:?} would read as a count"));
            }
        }
        let (from_folded, bad) = read_folded(&folded);
        if bad > 0 {
            return Err(format!("{bad} malformed folded lines"));
        }
        let folded_sum: u64 = from_folded.values().sum();
        if bt_sum != reached || folded_sum != reached {
            return Err(format!(".bt sums to {bt_sum}, folded to {folded_sum}, reached is {reached}"));
        }
        let collapsed: BTreeMap<String, u64> = collapse_bt(&bt);
        if collapsed != from_folded {
            return Err("the .bt collapsed as stackcollapse-stap.pl would differs from the folded output".into());
        }
        Ok(())
    });
}

/// Bytes under each stack prefix of the folded output (root first).
pub(crate) fn under(folded: &BTreeMap<String, u64>, prefix: &str) -> u64 {
    folded.iter().filter(|(s, _)| *s == prefix || s.starts_with(&format!("{prefix};"))).map(|(_, c)| c).sum()
}

/// An upper bound on what `objects` allocations totalling `bytes` occupy
/// once rounded up to Go's size classes (runtime/sizeclasses.go: classes
/// step by at most 16 bytes up to 128 B and by at most 12.5% above), plus
/// an 8-byte malloc header each (Go 1.22+, objects over 512 B).
pub(crate) fn rounded_max(bytes: u64, objects: u64) -> u64 {
    bytes + bytes / 8 + objects * (16 + 8)
}

#[test]
fn spinning_goroutines_buffer_sits_under_its_frames() {
    // busy: main.spin was stopped by asynchronous preemption, so its buffer
    // is held by the registers runtime.asyncPreempt saved in its frame, or
    // by main.spin's own frame (both scanned conservatively). stuck:
    // main.spinForever was running when the crash came; its frames start
    // from the registers the signal frame saved.
    let fx: Vec<Fixture> = fixtures().into_iter().filter(|f| matches!(f.program().as_str(), "busy" | "stuck")).collect();
    for program in ["busy", "stuck"] {
        assert!(fx.iter().any(|f| f.program() == program), "no {program} fixtures");
    }
    let dir = tempfile::tempdir().unwrap();
    each(&fx, |f| {
        let path = dir.path().join("out.folded");
        run(f, &["objref", "--folded", "--minwidth", "0", path.to_str().unwrap()])?;
        let (folded, _) = read_folded(&std::fs::read_to_string(&path).map_err(|e| e.to_string())?);
        let spin = f.str("spin_func");
        let got: u64 = folded
            .iter()
            .filter(|(s, _)| {
                // goroutines; the goroutine (its start function); the
                // frame or variable; the buffer.
                let frames: Vec<&str> = s.split(';').collect();
                frames.len() == 4
                    && frames[0] == "goroutines"
                    && frames[1].starts_with("main.spin ")
                    && (frames[2] == "runtime.asyncPreempt" || frames[2] == spin || frames[2].starts_with(&format!("{spin}.")))
                    && frames[3] == "[]uint8"
            })
            .map(|(_, c)| c)
            .sum();
        let built = f.num("spin_bytes");
        let max = rounded_max(built, f.num("spin_objects"));
        if got < built || got > max {
            return Err(format!("spin: {got} bytes of []uint8 under the preempted frames, built {built} (allowed up to {max})"));
        }
        Ok(())
    });
}

#[test]
fn retain_patterns_sit_under_the_roots_that_hold_them() {
    let fx: Vec<Fixture> = fixtures().into_iter().filter(|f| f.program() == "retain").collect();
    let dir = tempfile::tempdir().unwrap();
    each(&fx, |f| {
        let path = dir.path().join("out.folded");
        // Bytes folded away by width or depth stay in an ancestor record,
        // so the bytes under a root prefix do not depend on them.
        run(f, &["objref", "--folded", "--minwidth", "0", path.to_str().unwrap()])?;
        let (folded, _) = read_folded(&std::fs::read_to_string(&path).map_err(|e| e.to_string())?);
        let stripped = f.stripped();
        // The goroutine frame names the function it runs; with DWARF the
        // root below it names the variable too. Stripped executables' layout
        // tables do not say where the creating pc is.
        let func = f.str("stack_local_func");
        let keys: String = folded.keys().map(|k| format!("{k}\n")).collect();
        let worker =
            if stripped { format!("{func};{func}") } else { format!("{};{func}.buf", goroutine_frame(&keys, &func, "main.buildStackLocal")?) };
        let checks: Vec<(&str, String, bool)> = vec![
            ("list", "globals;main.listHead".to_string(), true),
            ("chan", "globals;main.queue".to_string(), true),
            ("iface", "globals;main.held".to_string(), true),
            ("closure", "globals;main.hook".to_string(), true),
            ("stack_local", format!("goroutines;{worker}"), true),
            ("map_big", "globals;main.registry".to_string(), false),
            ("map_small", "globals;main.small".to_string(), false),
        ];
        for (pattern, prefix, tight) in checks {
            // Stripped binaries have no DWARF names for globals.
            if stripped && prefix.starts_with("globals;") {
                continue;
            }
            let got = under(&folded, &prefix);
            let built = f.num(&format!("{pattern}_bytes"));
            // Map internals (header, groups, buckets) are not in the
            // program's count: only a lower bound and a loose upper one.
            let max = if tight { rounded_max(built, f.num(&format!("{pattern}_objects"))) } else { 4 * built };
            if got < built || got > max {
                return Err(format!("{pattern}: {got} bytes under {prefix:?}, built {built} (allowed up to {max})"));
            }
        }
        // The finalizer keeps nothing the global finKeep keeps: the FinObj's
        // 64 KiB payload is under the global, not under the finalizer.
        let payload = f.num("finalizer_bytes") - 24;
        let fin = under(&folded, "finalizers");
        if fin >= payload {
            return Err(format!("finalizers hold {fin} bytes, the finalized object's payload is {payload}"));
        }
        if !stripped {
            let got = under(&folded, "globals;main.finKeep");
            if got < f.num("finalizer_bytes") || got > rounded_max(f.num("finalizer_bytes"), 2) {
                return Err(format!("finalizer: {got} bytes under main.finKeep, built {}", f.num("finalizer_bytes")));
            }
        }
        Ok(())
    });
}

#[test]
fn flame_svg_from_a_core_and_from_bt_input() {
    let f = fixtures().into_iter().find(|f| f.program() == "retain" && f.variant() == "plain").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("core.svg");
    run(&f, &["flame", svg.to_str().unwrap()]).unwrap();
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<?xml"), "not XML");
    // The title names the program's Go version (runtime.Version()).
    let title = text.split("id=\"title\"").nth(1).and_then(|t| t.split('<').next()).unwrap_or_default();
    assert!(title.contains(&format!("({})", f.str("go_version"))), "title {title:?} lacks the Go version");
    assert!(text.contains("bytes"), "no byte counts");
    for root in ["main.listHead", "main.worker", "main.registry"] {
        assert!(text.contains(root), "SVG lacks {root}");
    }
    assert!(text.trim_end().ends_with("</svg>"));
    assert_well_formed(&text);

    let bt = dir.path().join("out.bt");
    run(&f, &["objref", bt.to_str().unwrap()]).unwrap();
    let from_bt = dir.path().join("bt.svg");
    let status = Command::new(env!("CARGO_BIN_EXE_refgraph"))
        .args(["flame", from_bt.to_str().unwrap(), "--input", bt.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&from_bt).unwrap();
    assert!(text.contains("main.listHead"));
    assert_well_formed(&text);
    assert!(!Path::new(&dir.path().join("missing.svg")).exists());
}

/// Parses the whole document with an XML parser: every element closed,
/// every attribute well-formed, all text decodable.
fn assert_well_formed(svg: &str) {
    let mut reader = quick_xml::Reader::from_str(svg);
    reader.config_mut().check_end_names = true;
    let mut depth = 0i64;
    let mut elements = 0u64;
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Start(e)) => {
                depth += 1;
                elements += 1;
                for a in e.attributes() {
                    a.expect("malformed attribute");
                }
            }
            Ok(quick_xml::events::Event::End(_)) => depth -= 1,
            Ok(quick_xml::events::Event::Empty(_)) => elements += 1,
            Ok(quick_xml::events::Event::Text(t)) => {
                t.decode().expect("bad text");
            }
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("SVG is not well-formed XML at {}: {e}", reader.buffer_position()),
        }
    }
    assert_eq!(depth, 0, "unclosed elements");
    assert!(elements > 10, "only {elements} elements");
}

#[test]
fn printaddr_tags_objects_with_addresses_and_goroutine_roots_with_ids() {
    let f = fixtures().into_iter().find(|f| f.program() == "retain" && f.variant() == "plain").unwrap();
    let out = run(&f, &["objref", "--printaddr", "-"]).unwrap();
    let list_addr = format!("{:#x}", f.num("list_addr"));
    // The list's first node, under main.listHead, carries its address.
    assert!(out.lines().any(|l| l.ends_with(&list_addr)), "no frame ends with the list head's address {list_addr}");
    // The worker's buffer is under its goroutine, tagged with the id.
    let prefix = format!("{} (goroutine ", goroutine_frame(&out, &f.str("stack_local_func"), "main.buildStackLocal").unwrap());
    let worker = out.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("no tagged main.worker goroutine frame"));
    let id = worker[prefix.len()..].strip_suffix(')').unwrap_or_else(|| panic!("{worker:?}"));
    assert!(!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()), "{worker:?}");
    // Count lines stay pure: TAB and digits.
    assert!(out.lines().filter(|l| l.starts_with('\t')).all(|l| l[1..].bytes().all(|b| b.is_ascii_digit())));
}
