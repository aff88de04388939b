#!/usr/bin/env bash
# wwclient polling at scale: N simulated nodes (default 10,000, one bootstorm process holding a
# connection each) boot a tiny image, then each polls its runtime overlay K times with
# If-None-Match, jittered 0.5..1.5 x the interval, against one stormwulfd on 127.0.0.1. Prints
# conditional requests answered, how many were 304, the server's CPU seconds and peak RSS, and
# 304 answers per server CPU-second, over the whole run and over the refresh phase alone (from
# the last node's boot to the end). Goal (issue 6): >= 50,000 304/s per core, RSS <= 200 MB.
#   bench/refresh_load.sh [BUILD_DIR] [NODES] [REFRESHES] [INTERVAL_S]
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
N=${2:-10000}
K=${3:-20}
INTERVAL=${4:-1}
SRC=$(cd "$(dirname "$0")/.." && pwd)
. "$SRC/bench/common.sh"
W=$(mktemp -d /tmp/sw-refresh.XXXXXX)
pid=""
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; rm -rf "$W"' EXIT
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
need=$((N + 1000))
[ "$(ulimit -n)" -ge "$need" ] || { echo "open-file limit $(ulimit -n) < $need: raise it (ulimit -Hn)" >&2; exit 2; }

# A tiny image and kernel, so the run is about refreshes, not bulk transfer.
mkdir -p "$W/tree/etc"
echo tiny > "$W/tree/etc/hostname"
head -c 4096 /dev/urandom > "$W/vmlinuz"
"$BUILD/tools/swctl" image import "$W/tree" tiny --store "$W/store" --kernel "$W/vmlinuz" -q
python3 - "$W/nodes.conf" "$W/macs.txt" "$N" <<'PY'
import sys
path, macs_path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
lines = ["nodeprofiles:", "  default:", "    image name: tiny", "    runtime overlay: [stormwulf-marker]",
         "nodes:"]
macs = []
for i in range(n):
    mac = "02:00:00:%02x:%02x:%02x" % (i >> 16 & 255, i >> 8 & 255, i & 255)
    macs.append(mac)
    lines += ["  n%05d:" % i, "    profiles: [default]", "    network devices:",
              "      default: {hwaddr: \"%s\"}" % mac]
open(path, "w").write("\n".join(lines) + "\n")
open(macs_path, "w").write("\n".join(macs) + "\n")
PY
"$BUILD/tools/swctl" overlay build --store "$W/store" --nodes "$W/nodes.conf" --overlay-dir "$SRC/overlays" -q
port=$(free_port)
"$BUILD/server/stormwulfd" --listen 127.0.0.1:$port --store "$W/store" --nodes "$W/nodes.conf" \
  --ipxe-dir "$SRC/ipxe-scripts" --log-level warning > "$W/stormwulfd.log" 2>&1 &
pid=$!
wait_http "http://127.0.0.1:$port/status" "$pid" "$W/stormwulfd.log"
"$BUILD/bench/bootstorm" --target "http://127.0.0.1:$port" --nodes "$N" --macs "$W/macs.txt" \
  --pattern zstd --refreshes "$K" --refresh-interval "$INTERVAL" --spread 2 --server-pid "$pid" \
  --timeout 600 --json "$W/run.json" > "$W/run.txt" 2>&1 || { cat "$W/run.txt"; exit 1; }
python3 - "$W/run.json" "$N" "$K" "$INTERVAL" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
n, k, interval = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
cpu = j.get("server_cpu_s") or 0
r304 = j.get("refresh_304", 0)
print(f"{n} nodes, {k} conditional refreshes each every ~{interval:g} s (jittered), one stormwulfd")
print(f"  boots ok {j.get('ok')} / {n}, errors {j.get('errors')}")
print(f"  refreshes {j.get('refreshes')}, answered 304: {r304}, latency p50 {j.get('refresh_p50_s', 0)*1000:.2f} ms"
      f" p99 {j.get('refresh_p99_s', 0)*1000:.2f} ms")
print(f"  server CPU {cpu:.2f} s for the whole run (boots included), peak RSS {j.get('server_peak_rss_mb', 0):.1f} MB")
if cpu > 0:
    print(f"  304 answers per server CPU-second, whole run: {r304 / cpu:,.0f}")
a304, acpu = j.get("refresh_304_after_boots", 0), j.get("server_cpu_s_after_boots", 0)
if acpu > 0:
    print(f"  after the last boot (refreshes only): {a304} 304s in {j.get('wall_s_after_boots', 0):.1f} s,"
          f" server CPU {acpu:.2f} s = {a304 / acpu:,.0f} 304s per server CPU-second"
          f" (goal >= 50,000 per core)")
PY
