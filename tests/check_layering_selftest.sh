#!/usr/bin/env bash
# Plants a forbidden include in a copy of the tree's layout and expects check_layering to fail.
set -eu
src=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/common" "$tmp/server"
echo '#include "common/status.h"' > "$tmp/server/ok.cc"
"$src/tests/check_layering.sh" "$tmp" >/dev/null
echo '#include "server/http_types.h"' > "$tmp/common/bad.cc"
if "$src/tests/check_layering.sh" "$tmp" >/dev/null; then
  echo "planted violation was not detected"; exit 1
fi
echo "selftest OK"
