#!/usr/bin/env bash
# test.sh: installs what is missing, builds with warnings as errors and runs
# the whole test suite (unit, property and end-to-end) through ctest; then
# builds it again with AddressSanitizer + UndefinedBehaviorSanitizer
# (build-debug/) and runs the whole suite once more, where a leak, an invalid
# access or undefined behaviour fails the test that caused it (the sanitizer
# options are test properties in CMakeLists.txt).
#
#   tools/test.sh          both builds
#   tools/test.sh release  only the -Werror release build
#   tools/test.sh debug    only the sanitizer build
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:-all}

if [ "$which" = all ] || [ "$which" = release ]; then
    tools/setup.sh ci
    ctest --preset ci -j "$(nproc)"
fi
if [ "$which" = all ] || [ "$which" = debug ]; then
    tools/setup.sh debug
    ctest --preset debug -j "$(nproc)"
fi
