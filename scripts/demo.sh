#!/usr/bin/env bash
# Stormwulf demo (README, first command): installs dependencies, builds, creates a chunk store,
# builds a sample image from busybox-static and the Debian kernel, writes a sample nodes.conf
# (3 real nodes plus a 1,000-node simulated rack), starts stormwulfd on 127.0.0.1, runs a
# 1,000-node boot storm against it, boots one real QEMU VM when QEMU is there, prints a summary
# and stops everything it started.
#
#   ./scripts/demo.sh [--no-deps] [--nodes N] [--no-qemu] [--keep]
#   ./scripts/demo.sh --down        stop what a demo left running and remove its work directory
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=${STORMWULF_DEMO_DIR:-$ROOT/out/demo}
deps=1 nodes=1000 qemu=1 keep=0 down=0
while [ $# -gt 0 ]; do
  case "$1" in
    --no-deps) deps=0 ;;
    --nodes) nodes=$2; shift ;;
    --no-qemu) qemu=0 ;;
    --keep) keep=1 ;;
    --down) down=1 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "demo.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

stop_all() {
  if [ -f "$WORK/pids" ]; then
    while read -r pid; do kill "$pid" 2>/dev/null || true; done < "$WORK/pids"
    rm -f "$WORK/pids"
  fi
}
if [ $down = 1 ]; then
  stop_all
  rm -rf "$WORK"
  echo "demo stopped and $WORK removed"
  exit 0
fi

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
if [ $deps = 1 ]; then
  say "Installing dependencies (apt)"
  ./scripts/install-deps.sh
fi

say "Building (Release)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build -j"$(nproc)" swctl stormwulfd bootstorm wwclient >/dev/null

BIN=$ROOT/build
STORE=$WORK/store
stop_all
rm -rf "$WORK"
mkdir -p "$WORK"
trap 'stop_all; [ $keep = 1 ] || true' EXIT

say "Building a sample image tree (busybox-static + Debian kernel)"
./scripts/make-sample-image.sh "$WORK/rootfs" >/dev/null
KERNEL=$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -1 || true)

say "Importing it into a new chunk store: swctl image import"
kargs=(--no-kernel)
[ -n "$KERNEL" ] && kargs=(--kernel "$KERNEL")
"$BIN/tools/swctl" image import "$WORK/rootfs" sample --store "$STORE" "${kargs[@]}"
"$BIN/tools/swctl" image show sample --store "$STORE"

say "Writing nodes.conf: 3 real nodes + a ${nodes}-node simulated rack"
python3 - "$WORK/nodes.conf" "$WORK/macs.txt" "$nodes" <<'PY'
import sys
path, macs_path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
lines = ["nodeprofiles:", "  default:", "    image name: sample",
         "    kernel:", "      args: [console=ttyS0, quiet, panic=-1]",
         "    system overlay: [wwinit, hostname, hosts]",
         "    runtime overlay: [hosts, stormwulf-marker]", "nodes:"]
macs = []
for i in range(1, 4):
    mac = "52:54:00:12:34:%02x" % (0x55 + i)
    lines += ["  n%04d:" % i, "    profiles: [default]", "    network devices:",
              "      default: {device: eth0, hwaddr: \"%s\", ipaddr: 10.0.2.%d, netmask: 255.255.255.0}" % (mac, 14 + i)]
for i in range(n):
    mac = "02:00:00:%02x:%02x:%02x" % (i >> 16 & 255, i >> 8 & 255, i & 255)
    macs.append(mac)
    lines += ["  rack%05d:" % (i + 1), "    profiles: [default]", "    network devices:",
              "      default: {device: eth0, hwaddr: \"%s\", ipaddr: 10.%d.%d.%d}" % (mac, 16 + (i >> 16), (i >> 8) & 255, i & 255 or 1)]
open(path, "w").write("\n".join(lines) + "\n")
open(macs_path, "w").write("\n".join(macs) + "\n")
PY

say "Rendering system and runtime overlays for every node: swctl overlay build"
"$BIN/tools/swctl" overlay build --store "$STORE" --nodes "$WORK/nodes.conf" \
  --overlay-dir "$ROOT/overlays" --server-ip 127.0.0.1

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
say "Starting stormwulfd on 127.0.0.1:$PORT"
"$BIN/server/stormwulfd" --listen "127.0.0.1:$PORT" --store "$STORE" --nodes "$WORK/nodes.conf" \
  --ipxe-dir "$ROOT/ipxe-scripts" > "$WORK/stormwulfd.log" 2>&1 &
SPID=$!
echo $SPID >> "$WORK/pids"
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$PORT/status" >/dev/null && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$PORT/status" >/dev/null || { cat "$WORK/stormwulfd.log"; exit 1; }

say "Boot storm: $nodes nodes reboot at once (bootstorm)"
"$BIN/bench/bootstorm" --target "http://127.0.0.1:$PORT" --nodes "$nodes" --macs "$WORK/macs.txt" \
  --pattern zstd --server-pid "$SPID" --csv "$WORK/bootstorm.csv" --json "$WORK/bootstorm.json" \
  --timeseries "$WORK/bootstorm-timeseries.csv" 2>&1 | tee "$WORK/bootstorm.txt" | tail -12

if [ $qemu = 1 ] && command -v qemu-system-x86_64 >/dev/null && [ -f tests/qemu/boot_test.py ]; then
  say "Booting one real VM (QEMU + iPXE) through stormwulfd"
  python3 tests/qemu/boot_test.py --build "$BIN" --mode overlays | tee "$WORK/qemu.txt" | tail -3 \
    || echo "(QEMU boot failed: see above)"
fi

say "Summary"
"$BIN/tools/swctl" image show sample --store "$STORE" | sed -n '1,7p'
python3 - "$WORK/bootstorm.json" <<'PY' || true
import json, sys
d = json.load(open(sys.argv[1]))
def g(*keys):
    for k in keys:
        if k in d:
            return d[k]
    return "?"
print("boot storm: %s nodes, %s completed, %s errors, makespan %s s" % (
    g("nodes"), g("completed", "ok"), g("errors", "failed"), g("makespan_s", "makespan")))
PY
grep -h "STORMWULF-BOOT-OK" "$WORK/qemu.txt" 2>/dev/null | sed 's/^ *console: /real VM: /' || true
echo "boot storm report: $WORK/bootstorm.txt (per-node CSV: $WORK/bootstorm.csv)"
echo "server log:        $WORK/stormwulfd.log"
echo "Everything started by the demo is stopped now; ./scripts/demo.sh --down removes $WORK."
