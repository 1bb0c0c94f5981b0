//! Real Go servers nobody here wrote, as Debian ships them (go1.19.8,
//! cgo, external linker, -trimpath, stripped): fixtures/servers/, made by
//! fixtures/capture-server.sh. Their truth is the server's own MemStats read
//! through its pprof endpoint right before the dump, so it is approximate:
//! the tests allow the tolerance truth.json states.

use serde_json::Value;

use crate::util::{fixtures_in, json_num, overview, root};

#[test]
fn debian_servers_load_and_reach_their_own_live_heap() {
    let fx = fixtures_in(&root().join("fixtures/servers"));
    assert!(fx.len() >= 2, "fewer than two Debian server fixtures under fixtures/servers");
    crate::util::each(&fx, |f| {
        let m = overview(f)?;
        let tol = f.num("tolerance_percent") as f64 / 100.0;
        let near = |what: &str, got: u64, want: u64| {
            let d = (got as f64 - want as f64).abs() / want as f64;
            if d > tol {
                Err(format!("{what}: refgraph {got}, the server's MemStats {want} ({:.2}% apart, tolerance {:.0}%)", 100.0 * d, 100.0 * tol))
            } else {
                Ok(())
            }
        };
        // What is reachable in the core is what the server's GC found live,
        // give or take what it allocated between its reading and the dump.
        near("reached bytes", json_num(&m, "reached_bytes")?, f.num("heap_alloc"))?;
        near("reached objects", json_num(&m, "reached_objects")?, f.num("heap_objects"))?;
        // The walk also counts objects that died since that GC, never fewer.
        let heap = json_num(&m, "heap_bytes")?;
        if heap < json_num(&m, "reached_bytes")? {
            return Err(format!("heap {heap} bytes is less than what roots reach"));
        }
        if m.get("go_version").and_then(Value::as_str) != Some(f.str("go_version").as_str()) {
            return Err(format!("Go version {:?}, go version -m says {}", m.get("go_version"), f.str("go_version")));
        }
        Ok(())
    });
}
