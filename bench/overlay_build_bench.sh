#!/usr/bin/env bash
# Overlay build at scale: `swctl overlay build` of every node's system overlay (wwinit, hostname,
# hosts, resolv, fstab, chrony, slurm) and runtime overlay (hosts, users) for 1,000 and 10,000
# nodes, then, on the 10,000-node store, the incremental cases: nothing changed, one node's kernel
# arguments changed (no other node's files show them), and a change every node's hosts file sees
# (a new node). hosts and slurm read .AllNodes, so this also shows whether the build stays linear.
#   bench/overlay_build_bench.sh [BUILD_DIR] [REPS]
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
REPS=${2:-3}
SRC=$(cd "$(dirname "$0")/.." && pwd)
W=$(mktemp -d /tmp/sw-ovbench.XXXXXX)
trap 'rm -rf "$W"' EXIT
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }
gen() {  # FILE N [NODE-WITH-KERNEL-ARGS]
  python3 - "$1" "$2" "${3:--1}" <<'PY'
import sys
path, n, special = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
lines = ["nodeprofiles:", "  default:", "    cluster name: bench",
         "    system overlay: [wwinit, hostname, hosts, resolv, fstab, chrony, slurm]",
         "    runtime overlay: [hosts, users]", "nodes:"]
for i in range(n):
    lines += ["  n%05d:" % i, "    profiles: [default]", "    tags: {slurm: \"64\"}", "    network devices:",
              "      default: {device: eth0, hwaddr: \"02:00:00:%02x:%02x:%02x\", ipaddr: 10.%d.%d.%d, netmask: 255.0.0.0}"
              % (i >> 16 & 255, i >> 8 & 255, i & 255, 16 + (i >> 16), (i >> 8) & 255, i & 255)]
    if i == special:
        lines += ["    kernel: {args: [quiet, splash]}"]
open(path, "w").write("\n".join(lines) + "\n")
PY
}
build() {  # NODES.CONF [NODE...]
  local conf=$1; shift
  "$BUILD/tools/swctl" overlay build --store "$STORE" --nodes "$conf" --overlay-dir "$SRC/overlays" \
    --server-ip 10.0.0.1 --quiet "$@" 2>/dev/null
}
declare -A T
for n in 1000 10000; do
  gen "$W/nodes-$n.conf" "$n"
  ts=()
  for _ in $(seq "$REPS"); do
    # A new store per run, all removed at exit: deleting the previous run's ~40,000 files just
    # before would measure ext4's scan past recently deleted inodes (it skips them for 60 s).
    STORE=$(mktemp -d "$W/store.XXXXXX")
    t0=$(now); build "$W/nodes-$n.conf"; ts+=("$(echo "$(now) - $t0" | bc)")
  done
  T[$n]=$(printf '%s\n' "${ts[@]}" | median)
done
# On the 10,000-node store: nothing changed, one node changed, a change every node sees.
t0=$(now); build "$W/nodes-10000.conf"; same=$(echo "$(now) - $t0" | bc)
gen "$W/nodes-10000-one.conf" 10000 42
t0=$(now); build "$W/nodes-10000-one.conf"; one=$(echo "$(now) - $t0" | bc)
gen "$W/nodes-10001.conf" 10001
t0=$(now); build "$W/nodes-10001.conf"; hosts=$(echo "$(now) - $t0" | bc)
printf 'overlay build, system [wwinit hostname hosts resolv fstab chrony slurm] + runtime [hosts users]\n'
printf '  1,000 nodes   %6.2f s\n' "${T[1000]}"
printf '  10,000 nodes  %6.2f s   (ratio 10k/1k %.1f; linear = 10; goal <= 10 s)\n' "${T[10000]}" \
  "$(echo "${T[10000]} / ${T[1000]}" | bc -l)"
printf '  10,000 nodes, nothing changed          %6.2f s\n' "$same"
printf '  one node of 10,000 changed             %6.2f s\n' "$one"
printf '  hosts-affecting change (10,001 nodes) %6.2f s\n' "$hosts"
