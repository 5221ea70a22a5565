#!/usr/bin/env bash
# setup.sh: installs the Debian packages dtsim needs (only those missing),
# then configures and builds it in build/ (release) or in the preset given.
#
#   tools/setup.sh            release build in build/
#   tools/setup.sh debug      ASan+UBSan build in build-debug/
#   tools/setup.sh ci         release build with warnings as errors
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:-release}

packages=(gcc make cmake pkg-config git sqlite3
          libgsl-dev libsqlite3-dev libcjson-dev libcriterion-dev zlib1g-dev
          python3-matplotlib chromium libopenmpi-dev openmpi-bin
          dataset-fashion-mnist)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j "$(nproc)"
