#!/usr/bin/env bash
# bench.sh [--both] [--keep] [--reuse] [--no-peers] [--runs K] [OBJECTS]
#
# Benchmarks refgraph on the core of a large, realistic Go heap and compares
# it with viewcore and goref on the same core:
#
#   1. builds benches/heapgen with the local `go` and refgraph with
#      `cargo build --release`;
#   2. runs `heapgen -objects OBJECTS` (default 5000000; 50000000 is a heap
#      of about 4 GB), waits for its "ready" line and takes a raw core with
#      gdb's `gcore` into target/bench/ (never under fixtures/), then kills
#      heapgen;
#   3. runs `refgraph CORE --exe BIN overview --json` (heap totals) and
#      `refgraph CORE --exe BIN objref --timings out.bt` (the per-phase wall
#      times) under `/usr/bin/time -v` (wall time, CPU time, peak RSS);
#   4. runs the peers on the same core, each under `/usr/bin/time -v` and a
#      timeout: `viewcore CORE --exe BIN histogram` and
#      `grf core BIN CORE -o OUT`;
#   5. prints a table with wall time, peak RSS and the ratio peer / refgraph.
#
# With --both it does all of that for 5000000 and for 50000000 objects and
# then prints how each tool scales (50M / 5M). The core (target/bench/core-N)
# and the executable it was dumped from (target/bench/heapgen-N) are deleted
# after the measurements unless --keep is given; --reuse measures a kept pair
# again instead of making a new one (e.g. to compare two refgraph builds on
# the same core).
#
# Options and environment:
#   --both          run 5M and 50M objects and print the scaling
#   --keep          keep target/bench/core-N and target/bench/heapgen-N
#   --reuse         use a kept core-N and heapgen-N if both are there
#   --no-peers      measure refgraph only
#   --runs K        run refgraph objref K times and report the fastest
#                   (default 1; each run starts with the core read
#                   into the page cache)
#   BENCH_DIR       where cores and outputs go (default target/bench)
#   REFGRAPH        a refgraph executable to measure instead of building
#                   the work tree with `cargo build --release`
#   PEER_TIMEOUT    seconds per peer run (default 1800)
#   VIEWCORE, GRF   paths of the peers' executables; otherwise they are
#                   looked up on PATH and in $(go env GOPATH)/bin, and
#                   installed with `go install ...@latest` if missing
#
# Peak RSS is the kernel's high-water mark of resident memory. refgraph
# maps the core file, so it counts the core's pages that were touched; the
# "anon" column is the peak of RssAnon sampled every 0.2 s from
# /proc/PID/status, i.e. memory beyond the mapped files. The "others s"
# column is the CPU time that other processes used during each run (from
# /proc/stat): times are only comparable when it is near 0, so run this on
# an otherwise idle machine.
#
# Needs: go, cargo, gdb (gcore), GNU time (/usr/bin/time; installed with
# apt-get if missing and running as root), timeout (coreutils).
set -euo pipefail

die() {
	echo "bench.sh: error: $*" >&2
	exit 1
}
say() { echo "bench.sh: $*" >&2; }

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BENCH_DIR=${BENCH_DIR:-$ROOT/target/bench}
PEER_TIMEOUT=${PEER_TIMEOUT:-1800}
READY_TIMEOUT=${READY_TIMEOUT:-1800}

WARM_FILES=()
BOTH=0
KEEP=0
REUSE=0
PEERS=1
RUNS=1
SIZES=()
while [ $# -gt 0 ]; do
	case $1 in
	--both) BOTH=1 ;;
	--keep) KEEP=1 ;;
	--reuse) REUSE=1 ;;
	--no-peers) PEERS=0 ;;
	--runs)
		shift
		RUNS=${1:-}
		[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "--runs needs a positive number"
		;;
	-h | --help)
		sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
		exit 0
		;;
	-*) die "unknown option $1 (see --help)" ;;
	*)
		[[ $1 =~ ^[1-9][0-9]*$ ]] || die "OBJECTS must be a positive number, not '$1'"
		SIZES+=("$1")
		;;
	esac
	shift
done
if [ $BOTH = 1 ]; then
	SIZES=(5000000 50000000)
elif [ ${#SIZES[@]} -eq 0 ]; then
	SIZES=(5000000)
fi

# ---- tools ------------------------------------------------------------------
command -v go >/dev/null || die "go not found on PATH"
command -v cargo >/dev/null || die "cargo not found on PATH"
command -v gcore >/dev/null || die "gcore (from gdb) not found on PATH; apt-get install gdb"
command -v timeout >/dev/null || die "timeout (coreutils) not found"
if ! /usr/bin/time -v true >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
		say "installing GNU time"
		(apt-get update && apt-get install -y time) >/dev/null 2>&1 || die "apt-get install time failed"
	fi
	/usr/bin/time -v true >/dev/null 2>&1 || die "GNU time (/usr/bin/time -v) is needed: apt-get install time"
fi

mkdir -p "$BENCH_DIR"
BENCH_DIR=$(cd "$BENCH_DIR" && pwd)
case $BENCH_DIR/ in
"$ROOT"/fixtures/*) die "BENCH_DIR must not be under fixtures/" ;;
esac

if [ -n "${REFGRAPH:-}" ]; then
	[ -x "$REFGRAPH" ] || die "REFGRAPH=$REFGRAPH is not an executable"
	REFGRAPH=$(cd "$(dirname "$REFGRAPH")" && pwd)/$(basename "$REFGRAPH")
	REFGRAPH_BUILD="$REFGRAPH"
else
	say "building refgraph (cargo build --release)"
	(cd "$ROOT" && cargo build --release --quiet --bin refgraph) || die "cargo build failed"
	REFGRAPH=$ROOT/target/release/refgraph
	REFGRAPH_BUILD="work tree at $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?')"
fi

say "building heapgen with $(go version)"
HEAPGEN_BUILT=$BENCH_DIR/heapgen
(cd "$ROOT/benches/heapgen" && CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -trimpath -o "$HEAPGEN_BUILT" .) || die "building benches/heapgen failed"
GO_VERSION=$(go version | awk '{print $3}')

# find_peer NAME ENVVAR PACKAGE: prints the path of the peer, or "!reason".
find_peer() {
	local name=$1 var=$2 pkg=$3 p gobin log
	p=${!var:-}
	if [ -n "$p" ]; then
		if [ -x "$p" ]; then echo "$p"; else echo "!$var=$p is not an executable"; fi
		return
	fi
	gobin=$(go env GOBIN)
	[ -n "$gobin" ] || gobin=$(go env GOPATH | cut -d: -f1)/bin
	for p in "$(command -v "$name" 2>/dev/null || true)" "$gobin/$name"; do
		if [ -n "$p" ] && [ -x "$p" ]; then
			echo "$p"
			return
		fi
	done
	log=$BENCH_DIR/install-$name.log
	say "installing $name: go install $pkg@latest"
	if (cd "$BENCH_DIR" && GOFLAGS=-buildvcs=false go install "$pkg@latest") >"$log" 2>&1 && [ -x "$gobin/$name" ]; then
		echo "$gobin/$name"
	else
		echo "!go install $pkg@latest failed: $(grep -m1 . "$log" || echo 'no output')"
	fi
}

VIEWCORE_BIN=
GRF_BIN=
if [ $PEERS = 1 ]; then
	VIEWCORE_BIN=$(find_peer viewcore VIEWCORE golang.org/x/debug/cmd/viewcore)
	GRF_BIN=$(find_peer grf GRF github.com/cloudwego/goref/cmd/grf)
fi

# ---- helpers ------------------------------------------------------------------

HEAPGEN_PID=
SAMPLER_PID=
cleanup() {
	if [ -n "$HEAPGEN_PID" ]; then
		kill -KILL "$HEAPGEN_PID" 2>/dev/null || true
		wait "$HEAPGEN_PID" 2>/dev/null || true
	fi
	if [ -n "$SAMPLER_PID" ]; then kill "$SAMPLER_PID" 2>/dev/null || true; fi
}
trap cleanup EXIT

# sample_anon PID OUT: writes the peak RssAnon (kB) of PID's descendants to
# OUT, sampling every 0.2 s until PID exits.
sample_anon() {
	local root=$1 out=$2 peak=0 kids pid v
	while kill -0 "$root" 2>/dev/null; do
		kids=$(cat /proc/"$root"/task/*/children 2>/dev/null || true)
		for pid in $kids $(for k in $kids; do cat /proc/"$k"/task/*/children 2>/dev/null || true; done); do
			v=$(awk '/^RssAnon:/ {print $2}' /proc/"$pid"/status 2>/dev/null || true)
			if [ -n "$v" ] && [ "$v" -gt "$peak" ]; then peak=$v; fi
		done
		echo "$peak" >"$out"
		sleep 0.2
	done
}

# busy_cpu: CPU seconds the whole machine has spent busy since boot.
busy_cpu() { awk -v hz="$(getconf CLK_TCK)" '$1 == "cpu" {print ($2 + $3 + $4 + $7 + $8) / hz}' /proc/stat; }

# measure NAME LIMIT_SECONDS CMD...: runs CMD under /usr/bin/time -v and
# timeout; sets M_STATUS ("ok", "timeout" or "exit N"), M_WALL (s), M_USER,
# M_SYS (s), M_RSS (kB), M_ANON (kB, sampled), M_OTHER (CPU seconds that
# other processes used meanwhile: the machine was not idle if this is
# large), M_ERR (first line of stderr).
#
# Every run starts with the core and the executable read into the page
# cache (WARM_FILES; the reading is not timed): a machine short of memory,
# or one that reclaims pages it finds cold, may have evicted them since
# the last run, and the run would then time the disk.
measure() {
	local name=$1 limit=$2
	shift 2
	if [ ${#WARM_FILES[@]} -gt 0 ]; then
		cat "${WARM_FILES[@]}" >/dev/null
	fi
	local tv=$BENCH_DIR/$name.time err=$BENCH_DIR/$name.stderr anon=$BENCH_DIR/$name.anon rc=0
	: >"$anon"
	local b0
	b0=$(busy_cpu)
	/usr/bin/time -v -o "$tv" timeout --kill-after=30 "$limit" "$@" >"$BENCH_DIR/$name.stdout" 2>"$err" &
	local tpid=$!
	sample_anon "$tpid" "$anon" &
	SAMPLER_PID=$!
	wait "$tpid" || rc=$?
	wait "$SAMPLER_PID" 2>/dev/null || true
	SAMPLER_PID=
	local b1
	b1=$(busy_cpu)
	M_WALL=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; printf "%.2f", s}' "$tv")
	M_USER=$(awk -F': ' '/User time/ {print $2}' "$tv")
	M_SYS=$(awk -F': ' '/System time/ {print $2}' "$tv")
	M_RSS=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tv")
	M_ANON=$(cat "$anon" 2>/dev/null || echo 0)
	[ -n "$M_ANON" ] || M_ANON=0
	M_OTHER=$(awk -v a="$b0" -v b="$b1" -v u="${M_USER:-0}" -v s="${M_SYS:-0}" 'BEGIN {o = b - a - u - s; printf "%.1f", (o < 0 ? 0 : o)}')
	M_ERR=$(grep -v '^Command exited with non-zero status' "$err" | grep -m1 . || true)
	case $rc in
	0) M_STATUS=ok ;;
	124 | 137) M_STATUS="timeout after ${limit}s" ;;
	*) M_STATUS="exit $rc" ;;
	esac
}


# ---- one size -------------------------------------------------------------------

# Results per size, in $BENCH_DIR/results-N.tsv: tool status wall user sys rss_kb anon_kb others_s
bench_size() {
	local n=$1 core=$BENCH_DIR/core-$1 out=$BENCH_DIR/heapgen-$1.stdout res=$BENCH_DIR/results-$1.tsv
	HEAPGEN=$BENCH_DIR/heapgen-$n
	WARM_FILES=("$core" "$HEAPGEN")
	say "=== $n objects ==="
	if [ $REUSE = 1 ] && [ -f "$core" ] && [ -x "$HEAPGEN" ] && grep -qx ready "$out" 2>/dev/null; then
		say "reusing $core (made $(date -r "$core" '+%F %T'))"
	else
		make_core "$n"
	fi
	local go_objects go_alloc core_bytes
	go_objects=$(awk '$1 == "heap_objects" {print $2}' "$out")
	go_alloc=$(awk '$1 == "heap_alloc" {print $2}' "$out")
	core_bytes=$(stat -L -c %s "$core")
	measure_core "$n"
	{
		printf 'objects\t%s\n' "$n"
		printf 'go_version\t%s\n' "$GO_VERSION"
		printf 'refgraph\t%s\n' "$REFGRAPH_BUILD"
		printf 'memstats_heap_objects\t%s\n' "$go_objects"
		printf 'memstats_heap_alloc\t%s\n' "$go_alloc"
		printf 'core_bytes\t%s\n' "$core_bytes"
		printf 'overview\t%s\n' "$(cat "$BENCH_DIR/refgraph-overview-$n.stdout")"
	} >"$BENCH_DIR/info-$n.tsv"
	report_size "$n"
	if [ $KEEP = 0 ]; then
		rm -f "$core" "$HEAPGEN" "$BENCH_DIR"/grf-"$n".out
	fi
}

# make_core N: runs heapgen -objects N and dumps it to core-N; its executable
# is copied to heapgen-N.
make_core() {
	local n=$1 core=$BENCH_DIR/core-$1 out=$BENCH_DIR/heapgen-$1.stdout
	rm -f "$core" "$HEAPGEN"
	cp "$HEAPGEN_BUILT" "$HEAPGEN"
	# ---- heap -------------------------------------------------------------------
	: >"$out"
	"$HEAPGEN" -objects "$n" >"$out" 2>"$BENCH_DIR/heapgen-$n.stderr" </dev/null &
	HEAPGEN_PID=$!
	local deadline=$((SECONDS + READY_TIMEOUT))
	until grep -qx ready "$out"; do
		kill -0 "$HEAPGEN_PID" 2>/dev/null || die "heapgen exited before printing ready: $(tail -n 3 "$BENCH_DIR/heapgen-$n.stderr")"
		[ $SECONDS -lt $deadline ] || die "heapgen did not print ready within ${READY_TIMEOUT}s"
		sleep 0.5
	done
	say "heapgen ready: $(tail -n 1 "$BENCH_DIR/heapgen-$n.stderr" | sed 's/^heapgen: //'); MemStats HeapObjects $(awk '$1 == "heap_objects" {print $2}' "$out"), HeapAlloc $(awk '$1 == "heap_alloc" {print $2}' "$out")"

	# ---- core -------------------------------------------------------------------
	# gcore writes every readable mapping: the heap plus the Go runtime's
	# reservations, so ask for the process's whole mapped size plus 1 GiB.
	local need_kb avail_kb
	need_kb=$(awk '/^VmSize:/ {print $2 + 1048576}' /proc/"$HEAPGEN_PID"/status)
	avail_kb=$(df -Pk "$BENCH_DIR" | awk 'NR == 2 {print $4}')
	if [ "$avail_kb" -lt "$need_kb" ]; then
		die "not enough disk for the core under $BENCH_DIR: $((avail_kb / 1024)) MiB free, up to $((need_kb / 1024)) MiB needed"
	fi
	say "gcore of pid $HEAPGEN_PID -> $core"
	local t0=$SECONDS
	gcore -o "$BENCH_DIR/core" "$HEAPGEN_PID" >"$BENCH_DIR/gcore.log" 2>&1 || die "gcore failed: $(tail -n 3 "$BENCH_DIR/gcore.log")"
	mv "$BENCH_DIR/core.$HEAPGEN_PID" "$core"
	kill -KILL "$HEAPGEN_PID" 2>/dev/null || true
	wait "$HEAPGEN_PID" 2>/dev/null || true
	HEAPGEN_PID=
	# Flush the new core to disk now, so that the kernel's writeback does
	# not compete with the first measurement (it stays in the page cache).
	sync "$core" 2>/dev/null || sync
	say "core written in $((SECONDS - t0))s: $(($(stat -c %s "$core") >> 20)) MiB"
}

# measure_core N: measures refgraph and the peers on core-N.
measure_core() {
	local n=$1 core=$BENCH_DIR/core-$1 res=$BENCH_DIR/results-$1.tsv
	# ---- refgraph -----------------------------------------------------------------
	: >"$res"
	say "refgraph overview --json"
	measure refgraph-overview-$n 3600 "$REFGRAPH" "$core" --exe "$HEAPGEN" overview --json
	[ "$M_STATUS" = ok ] || die "refgraph overview failed ($M_STATUS): $M_ERR"
	printf 'refgraph-overview\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$M_STATUS" "$M_WALL" "$M_USER" "$M_SYS" "$M_RSS" "$M_ANON" "$M_OTHER" >>"$res"

	local best_wall= r
	for r in $(seq "$RUNS"); do
		say "refgraph objref (run $r of $RUNS)"
		measure refgraph-objref-$n-$r 3600 "$REFGRAPH" "$core" --exe "$HEAPGEN" objref --timings "$BENCH_DIR/refgraph-$n.bt"
		[ "$M_STATUS" = ok ] || die "refgraph objref failed ($M_STATUS): $M_ERR"
		if [ -z "$best_wall" ] || awk -v a="$M_WALL" -v b="$best_wall" 'BEGIN {exit !(a < b)}'; then
			best_wall=$M_WALL
			printf 'refgraph\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$M_STATUS" "$M_WALL" "$M_USER" "$M_SYS" "$M_RSS" "$M_ANON" "$M_OTHER" >"$res.objref"
			sed -n 's/^refgraph: time: //p' "$BENCH_DIR/refgraph-objref-$n-$r.stderr" >"$BENCH_DIR/timings-$n.txt"
		fi
	done
	cat "$res.objref" >>"$res"
	rm -f "$res.objref"

	# ---- peers ----------------------------------------------------------------------
	if [ $PEERS = 1 ]; then
		local peer bin
		for peer in viewcore grf; do
			if [ $peer = viewcore ]; then bin=$VIEWCORE_BIN; else bin=$GRF_BIN; fi
			if [ "${bin:0:1}" = '!' ]; then
				printf '%s\tnot run: %s\t\t\t\t\t\t\n' "$peer" "${bin:1}" >>"$res"
				continue
			fi
			say "$peer (timeout ${PEER_TIMEOUT}s)"
			if [ $peer = viewcore ]; then
				measure viewcore-$n "$PEER_TIMEOUT" "$bin" "$core" --exe "$HEAPGEN" histogram
			else
				measure grf-$n "$PEER_TIMEOUT" "$bin" core "$HEAPGEN" "$core" -o "$BENCH_DIR/grf-$n.out"
			fi
			if [ "$M_STATUS" != ok ]; then
				M_STATUS="failed ($M_STATUS): ${M_ERR:-no message}"
			elif [ $peer = viewcore ] && [ "$(grep -c . "$BENCH_DIR/viewcore-$n.stdout")" -lt 2 ]; then
				M_STATUS="failed (no histogram): ${M_ERR:-$(head -n 1 "$BENCH_DIR/viewcore-$n.stdout")}"
			elif [ $peer = grf ] && [ ! -s "$BENCH_DIR/grf-$n.out" ]; then
				M_STATUS="failed (no output file): ${M_ERR:-no message}"
			fi
			printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$peer" "$M_STATUS" "$M_WALL" "$M_USER" "$M_SYS" "$M_RSS" "$M_ANON" "$M_OTHER" >>"$res"
		done
	fi
}

# jget JSON KEY: a top-level number of the overview JSON.
jget() { grep -o "\"$2\":[0-9.e+-]*" <<<"$1" | head -n 1 | cut -d: -f2; }

report_size() {
	local n=$1 res=$BENCH_DIR/results-$1.tsv info=$BENCH_DIR/info-$1.tsv json
	json=$(awk -F'\t' '$1 == "overview" {print $2}' "$info")
	local objs bytes reached core_bytes
	objs=$(jget "$json" heap_objects)
	bytes=$(jget "$json" heap_bytes)
	reached=$(jget "$json" reached_objects)
	core_bytes=$(awk -F'\t' '$1 == "core_bytes" {print $2}' "$info")
	echo
	echo "== refgraph benchmark: heapgen -objects $n, $(awk -F'\t' '$1 == "go_version" {print $2}' "$info"), $(nproc) cores =="
	echo "refgraph: $(awk -F'\t' '$1 == "refgraph" {print $2}' "$info")"
	echo "core: $((core_bytes >> 20)) MiB (raw gcore); heap: $objs objects, $((bytes >> 20)) MiB; reached: $reached objects"
	echo "refgraph objref phases (fastest run, wall): $(cat "$BENCH_DIR/timings-$n.txt" 2>/dev/null)"
	awk -F'\t' -v objs="$objs" '
		{ tool[NR] = $1; st[NR] = $2; wall[NR] = $3; usr[NR] = $4; sys[NR] = $5; rss[NR] = $6; anon[NR] = $7; oth[NR] = $8; if ($1 == "refgraph") ref = NR }
		END {
			printf "%-18s %10s %10s %10s %10s %12s %10s %10s  %s\n", "tool", "wall s", "cpu s", "peak RSS", "peak anon", "anon B/obj", "time x", "others s", "status"
			for (i = 1; i <= NR; i++) {
				if (st[i] ~ /^not run/ || wall[i] == "") { printf "%-18s %10s %10s %10s %10s %12s %10s %10s  %s\n", tool[i], "-", "-", "-", "-", "-", "-", "-", st[i]; continue }
				ratio = (ref && wall[ref] > 0 && st[i] == "ok") ? sprintf("%.1fx", wall[i] / wall[ref]) : "-"
				if (tool[i] == "refgraph-overview") ratio = "-"
				printf "%-18s %10.2f %10.2f %9.0fM %9.0fM %12.1f %10s %10.1f  %s\n", tool[i], wall[i], usr[i] + sys[i], rss[i] / 1024, anon[i] / 1024, anon[i] * 1024 / objs, ratio, oth[i], st[i]
			}
		}' "$res"
	echo "(time x = wall time / refgraph objref wall time; peak RSS from /usr/bin/time -v, peak anon = RssAnon sampled every 0.2 s;"
	echo " others s = CPU seconds other processes used during the run: on $(nproc) cores, much above 0 means the numbers are disturbed)"
}

for n in "${SIZES[@]}"; do
	bench_size "$n"
done

if [ ${#SIZES[@]} -ge 2 ]; then
	a=${SIZES[0]}
	b=${SIZES[${#SIZES[@]} - 1]}
	echo
	echo "== scaling: $b / $a objects =="
	printf '%-18s %10s %10s %10s\n' tool "wall x" "RSS x" "anon x"
	awk -F'\t' -v a="$a" -v b="$b" '
		FNR == 1 { f++ }
		f == 1 { w1[$1] = $3; r1[$1] = $6; n1[$1] = $7; s1[$1] = $2 }
		f == 2 { w2[$1] = $3; r2[$1] = $6; n2[$1] = $7; s2[$1] = $2; order[++k] = $1 }
		END {
			for (i = 1; i <= k; i++) { t = order[i]
				if (s1[t] == "ok" && s2[t] == "ok" && w1[t] > 0 && r1[t] > 0)
					printf "%-18s %9.1fx %9.1fx %9.1fx\n", t, w2[t] / w1[t], r2[t] / r1[t], (n1[t] > 0 ? n2[t] / n1[t] : 0)
				else
					printf "%-18s %10s %10s %10s  (not measured at both sizes)\n", t, "-", "-", "-"
			}
		}' "$BENCH_DIR/results-$a.tsv" "$BENCH_DIR/results-$b.tsv"
fi
