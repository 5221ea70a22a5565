#!/bin/sh
# Runs dtsim's network benchmark and the same patterns in SimGrid (3.32,
# Debian's libsimgrid-dev), side by side: simulated times must agree, wall
# times are what is compared. Not part of the main build.
#
# usage: tools/simgrid/compare.sh [K [PS_BYTES [RING_BYTES]]]
#        (defaults 1024, 1e6, 99999744 = 1024 * 97656, so that S/K is whole)
set -e
cd "$(dirname "$0")/../.."
K=${1:-1024}
PS=${2:-1e6}
RING=${3:-99999744}
BUILD=${BUILD:-build}

if ! pkg-config --exists simgrid; then
    echo "compare.sh: SimGrid not found (apt-get install libsimgrid-dev)" >&2
    exit 1
fi
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD" --target bench_net >/dev/null
cc -std=gnu11 -O2 -Wall -Wextra tools/simgrid/sg_net.c -o "$BUILD/sg_net" \
    $(pkg-config --cflags --libs simgrid)

echo "== dtsim (tools/bench_net.c) =="
"$BUILD/bench_net" "$K" "$PS" "$RING" | grep -E '^(links|ps|ring allreduce K=[0-9]+ S=[0-9]+ closed)'
echo "== SimGrid $(pkg-config --modversion simgrid) =="
"$BUILD/sg_net" ps "$K" "$PS"
"$BUILD/sg_net" spread "$K" "$PS"
"$BUILD/sg_net" ring "$K" "$RING"
