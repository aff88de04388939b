#!/usr/bin/env bash
# Fails when a module includes a header of a module above it (shared/STYLE.md 7.1).
# Allowed dependencies, lowest first:
#   common     -> (std, libc)
#   chunkstore -> common          uring -> common          tmpl -> common      cluster -> tmpl common
#   server     -> uring chunkstore tmpl cluster common
#   agent      -> uring chunkstore common
#   tools      -> chunkstore tmpl cluster agent common   (swctl node status uses the agent's HTTP client)
#   bench, tests may include anything; nothing includes them.
set -u
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
declare -A allowed=(
  [common]=""
  [chunkstore]="common"
  [uring]="common"
  [tmpl]="common"
  [cluster]="tmpl common"
  [server]="uring chunkstore tmpl cluster common"
  [agent]="uring chunkstore common"
  [tools]="chunkstore tmpl cluster agent common"
)
modules="common chunkstore uring tmpl cluster server agent tools bench tests"
fail=0
for mod in "${!allowed[@]}"; do
  [ -d "$root/$mod" ] || continue
  while IFS= read -r line; do
    file=${line%%:*}
    inc=$(sed -E 's/.*#include "([^"]+)".*/\1/' <<<"${line#*:}")
    dep=${inc%%/*}
    [ "$dep" = "$inc" ] && continue            # same-directory or system-style include
    [[ " $modules " == *" $dep "* ]] || continue  # not one of our modules
    [ "$dep" = "$mod" ] && continue
    if [[ " ${allowed[$mod]} " != *" $dep "* ]]; then
      echo "layering violation: $file includes \"$inc\" ($mod must not depend on $dep)"
      fail=1
    fi
  done < <(grep -rHE '^[[:space:]]*#[[:space:]]*include[[:space:]]+"' "$root/$mod" --include='*.h' --include='*.cc' --include='*.cpp' 2>/dev/null)
done
if [ $fail = 0 ]; then echo "layering OK"; fi
exit $fail
