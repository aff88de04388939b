#!/usr/bin/env bash
# Stormwulf's test command (README, second command; .ci/run calls it).
#   1. installs the Debian packages the build and the tests need (scripts/install-deps.sh);
#   2. builds Release-with-debug-info and runs every ctest suite (unit, integration, slow: QEMU boots);
#   3. builds with ASan+UBSan and runs the unit tests again;
#   4. builds the libFuzzer targets with clang and runs their short smoke tests.
# Options: --no-deps (skip apt), --quick (unit + integration only, no sanitizer/fuzz builds).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
deps=1
quick=0
for a in "$@"; do
  case "$a" in
    --no-deps) deps=0 ;;
    --quick) quick=1 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "unknown option: $a" >&2; exit 2 ;;
  esac
done
JOBS=${JOBS:-$(nproc)}
step() { printf '\n=== %s (%s)\n' "$*" "$(date +%H:%M:%S)"; }

if [ $deps = 1 ]; then
  step "installing dependencies"
  ./scripts/install-deps.sh
fi

step "build (RelWithDebInfo)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
ninja -C build -j"$JOBS"

step "tests: unit + integration + slow"
labels='unit|integration|slow'
[ $quick = 1 ] && labels='unit|integration'
(cd build && ctest --output-on-failure -j"$JOBS" -L "$labels" --timeout 900)

if [ $quick = 0 ]; then
  step "build with ASan+UBSan"
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSW_SANITIZE=ON -DSW_BENCH=OFF
  ninja -C build-asan -j"$JOBS"
  step "unit tests under ASan+UBSan"
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j"$JOBS" -L unit --timeout 900)

  step "fuzz smoke (clang + libFuzzer)"
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSW_FUZZ=ON -DSW_BENCH=OFF
  # Only the fuzz targets: the rest of the tree is covered by the gcc builds above.
  mapfile -t fuzz_targets < <(ninja -C build-fuzz -t targets all | sed -n 's/^\([A-Za-z0-9_]*_fuzz\): .*/\1/p' | grep -v '^cmake_' | sort -u)
  if [ ${#fuzz_targets[@]} -gt 0 ]; then
    ninja -C build-fuzz -j"$JOBS" "${fuzz_targets[@]}"
    (cd build-fuzz && ctest --output-on-failure -R 'fuzz.*smoke' --timeout 600)
  else
    echo "no fuzz targets defined"
  fi
fi
step "all tests passed"
