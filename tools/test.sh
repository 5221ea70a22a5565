#!/usr/bin/env bash
# test.sh: installs what is missing, builds with warnings as errors and runs
# the whole test suite (unit, property and end-to-end) through ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh ci
ctest --preset ci -j "$(nproc)"
