#!/bin/bash
# Compares the outputs of two refgraph builds, byte for byte: on every
# fixture core (objref --folded --minwidth 0, objref .bt, --printaddr,
# --pprof, flame SVG) and, if given, on a larger core (those and
# --minwidth 0 .bt, histogram, top, paths).
#
#   scripts/compare.sh OLD NEW [CORE EXE]
#
# Prints one line per difference and a count; exits non-zero if any.
# Outputs go to a temporary directory, removed at the end.
set -u
if [ $# -ne 2 ] && [ $# -ne 4 ]; then
    echo "usage: $0 OLD NEW [CORE EXE]" >&2
    exit 2
fi
old=$1 new=$2
here=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
diffs=0 runs=0

# run NAME CORE EXE ARGS...: runs both builds (output file OUT in ARGS
# becomes each build's own), compares files and stdout.
run() {
    local name=$1 core=$2 exe=$3
    shift 3
    local b
    for b in old new; do
        local bin=${!b} args=()
        local a
        for a in "$@"; do args+=("${a//OUT/$tmp/$b.out}"); done
        rm -f "$tmp/$b.out"
        "$bin" "$core" --exe "$exe" "${args[@]}" >"$tmp/$b.stdout" 2>"$tmp/$b.stderr"
        echo "exit $?" >>"$tmp/$b.stdout"
    done
    runs=$((runs + 1))
    if ! cmp -s "$tmp/old.stdout" "$tmp/new.stdout"; then
        echo "DIFFERS (stdout): $name $*"
        diffs=$((diffs + 1))
    elif [ -e "$tmp/old.out" ] || [ -e "$tmp/new.out" ]; then
        if ! cmp -s "$tmp/old.out" "$tmp/new.out"; then
            echo "DIFFERS: $name $*"
            diffs=$((diffs + 1))
        fi
    fi
}

for dir in "$here"/fixtures/cores/*/; do
    name=$(basename "$dir")
    core=$dir/core.zst exe=$dir/exe.zst
    run "$name" "$core" "$exe" objref --folded --minwidth 0 OUT.folded
    run "$name" "$core" "$exe" objref OUT.bt
    run "$name" "$core" "$exe" objref --printaddr OUT.bt
    run "$name" "$core" "$exe" objref --pprof OUT.pb.gz
    run "$name" "$core" "$exe" flame OUT.svg
done
if [ $# -eq 4 ]; then
    core=$3 exe=$4
    name=$(basename "$core")
    run "$name" "$core" "$exe" objref OUT.bt
    run "$name" "$core" "$exe" objref --folded OUT.folded
    run "$name" "$core" "$exe" objref --minwidth 0 OUT.bt
    run "$name" "$core" "$exe" objref --printaddr OUT.bt
    run "$name" "$core" "$exe" objref --pprof OUT.pb.gz
    run "$name" "$core" "$exe" flame OUT.svg
    run "$name" "$core" "$exe" histogram
    run "$name" "$core" "$exe" top
    # The paths of one object the tree reaches: the first address the .bt
    # with addresses names.
    "$new" "$core" --exe "$exe" objref --printaddr "$tmp/addr.bt" 2>/dev/null
    addr=$(grep -o ' 0x[0-9a-f]*$' "$tmp/addr.bt" | head -1 | tr -d ' ')
    run "$name" "$core" "$exe" paths "${addr:-0x0}"
fi
echo "$runs runs, $diffs differ"
[ "$diffs" -eq 0 ]
