#!/usr/bin/env bash
# bench/bootstorm-compare.sh OUTDIR [--nodes N] [--quick] [--reps R] [--image-mb M]
#                                   [--link-gbps X] [--spread S] [--pattern warewulf|zstd]
#                                   [--servers "stormwulfd nginx1 nginxauto go"]
#                                   (also: stormwulfd-splice, its io_uring splice send path)
#                                   [--export auto|swctl|cpio] [--small-kb K [--small-gets G]]
#
# Side-by-side boot storm: the same N simulated iPXE nodes, the same sample image and per-node
# overlays, against stormwulfd (if built), nginx (1 worker and "auto" workers) and a Go net/http
# warewulfd stand-in (bench/gohttp). R repetitions each (servers interleaved), medians reported.
# Writes OUTDIR/summary.txt, OUTDIR/runs/*.{json,csv,ts}, OUTDIR/cdf.png, OUTDIR/throughput.png.
# The image files nginx and go serve come from `swctl image import` + `swctl image export` when
# swctl has them (--export auto), so every server sends the same initrd bytes; else cpio | pigz.
# --small-kb K puts a K KiB incompressible file in every node's runtime overlay (all servers), and
# after the storm each node GETs its runtime overlay G more times (default 20) unconditionally on
# its keep-alive connection: the small-body cost per request (server CPU-us per GET, GETs/s).
# Loopback only; every server and client run is bounded by a timeout. See docs/bench/bootstorm.md.
set -euo pipefail

usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; }
[[ $# -ge 1 && $1 != -* ]] || { usage >&2; exit 2; }
OUT=$(mkdir -p "$1" && cd "$1" && pwd); shift
NODES=1000; QUICK=0; REPS=3; IMAGE_MB=48; LINK=0; SPREAD=0; PATTERN=warewulf; EXPORT=auto
SERVERS="stormwulfd nginx1 nginxauto go"
SMALL_KB=0; SMALL_GETS=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --nodes) NODES=$2; shift 2;;
    --quick) QUICK=1; shift;;
    --reps) REPS=$2; shift 2;;
    --image-mb) IMAGE_MB=$2; shift 2;;
    --link-gbps) LINK=$2; shift 2;;
    --spread) SPREAD=$2; shift 2;;
    --pattern) PATTERN=$2; shift 2;;
    --servers) SERVERS=$2; shift 2;;
    --export) EXPORT=$2; shift 2;;
    --small-kb) SMALL_KB=$2; shift 2;;
    --small-gets) SMALL_GETS=$2; shift 2;;
    -h|--help) usage; exit 0;;
    *) echo "unknown option $1" >&2; usage >&2; exit 2;;
  esac
done
[[ -z $SMALL_GETS ]] && { [[ $SMALL_KB -gt 0 ]] && SMALL_GETS=20 || SMALL_GETS=0; }
[[ $SMALL_GETS -gt 0 && $SMALL_KB -eq 0 ]] && { echo "--small-gets needs --small-kb" >&2; exit 2; }
if [[ $QUICK == 1 ]]; then
  [[ $NODES == 1000 ]] && NODES=100
  [[ $IMAGE_MB == 48 ]] && IMAGE_MB=32
fi
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$SRC/build}
BOOTSTORM=${BOOTSTORM:-$BUILD/bench/bootstorm}
STORMWULFD=${STORMWULFD:-$BUILD/server/stormwulfd}
SWCTL=${SWCTL:-$BUILD/tools/swctl}
GOHTTP=${GOHTTP:-$BUILD/bench/gohttp}
KERNEL=${KERNEL:-$(ls /boot/vmlinuz-* 2>/dev/null | sort | tail -1)}
COMPRESS=gz; EXT=gz
[[ $PATTERN == zstd ]] && { COMPRESS=zstd; EXT=zst; }
RUN_TIMEOUT=$(( QUICK == 1 ? 40 : 300 ))
# Server ports below the ephemeral range, so thousands of client sockets in TIME_WAIT never
# hold the port the next server wants; a busy port is retried with another.
EPH_LO=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
BASEPORT=$(( EPH_LO > 12000 ? EPH_LO - 10000 : 20000 ))
# Servers and client hold one fd per node: use the hard limit (here 20000) for all of them.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
[[ -x $BOOTSTORM ]] || { echo "bootstorm not built: $BOOTSTORM (ninja -C $BUILD bootstorm)" >&2; exit 1; }
[[ -r $KERNEL ]] || { echo "no readable kernel (set KERNEL=)" >&2; exit 1; }

PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [[ -n $p ]] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

# --------------------------------------------------------------------------------------------
# 1. Sample image, per-node overlays, exported in Warewulf's provision layout.
DATA=$OUT/data
IMG=bench
swctl_usable() {
  [[ -x $SWCTL ]] && "$SWCTL" image import --help 2>&1 | grep -q -- --store &&
    "$SWCTL" image export --help 2>&1 | grep -q -- --format
}

prepare() {
  if [[ $EXPORT == auto ]]; then
    if swctl_usable; then EXPORT=swctl; else EXPORT=cpio; fi
  fi
  local stamp="$DATA/.prepared-$NODES-$IMAGE_MB-$EXT-$EXPORT-$SMALL_KB"
  if [[ -f $stamp ]]; then log "reusing $DATA"; return; fi
  log "preparing a ${IMAGE_MB} MB sample image and $NODES nodes in $DATA"
  rm -rf "$DATA"; mkdir -p "$DATA"
  local rootfs=$DATA/chroots/$IMG/rootfs
  mkdir -p "$rootfs"/{bin,sbin,etc,proc,sys,dev,tmp,boot,usr/lib/bench,usr/share/doc/bench,var/lib}
  cp /bin/busybox "$rootfs/bin/busybox"
  for a in sh ls cat mount switch_root cpio gzip; do ln -s busybox "$rootfs/bin/$a"; done
  printf '#!/bin/sh\nexec /bin/sh\n' > "$rootfs/init"; chmod 755 "$rootfs/init"
  echo bench > "$rootfs/etc/hostname"
  cp "$KERNEL" "$rootfs/boot/vmlinuz"
  # Half incompressible (libraries, firmware), half text-like (docs, scripts): gzip ~1.6x.
  python3 - "$rootfs" "$IMAGE_MB" <<'PY'
import os, random, sys, base64
root, mb = sys.argv[1], int(sys.argv[2])
rng = random.Random(42)
total = mb * 1024 * 1024 - os.path.getsize(os.path.join(root, "bin/busybox"))
i = 0
while total > 0:
    size = min(total, rng.choice([4096, 65536, 262144, 1 << 20, 3 << 20]))
    if i % 2 == 0:
        data = rng.randbytes(size)
        path = os.path.join(root, "usr/lib/bench", "lib%04d.so" % i)
    else:
        words = base64.b32encode(rng.randbytes(size // 2)).decode().lower()
        text = "\n".join(words[k:k + 72] for k in range(0, len(words), 72))
        data = text.encode()[:size]
        path = os.path.join(root, "usr/share/doc/bench", "doc%04d.txt" % i)
    with open(path, "wb") as f:
        f.write(data)
    total -= len(data)
    i += 1
PY
  mkdir -p "$DATA/provision/images"
  local img=$DATA/provision/images/$IMG.img
  # The MACs bootstorm uses by default (with node names and UUIDs).
  "$BOOTSTORM" --gen-macs "$NODES" > "$DATA/macs.txt"
  if [[ $EXPORT == swctl ]]; then
    # The servable initrd exactly as stormwulfd sends it (newc segments, one compressed member
    # each), written out as .img / .img.gz / .img.zst for nginx and go.
    prepare_store || { echo "swctl image import failed: see $DATA/swctl.log" >&2; exit 1; }
    for f in none:"$img" gzip:"$img.gz" zstd:"$img.zst"; do
      "$SWCTL" image export "$IMG" "${f#*:}" --format "${f%%:*}" --store "$STORE" \
        >> "$DATA/swctl.log" 2>&1 || { echo "swctl image export failed: see $DATA/swctl.log" >&2; exit 1; }
    done
  else
    # Warewulf: GNU cpio newc of the chroot (here /boot excluded, as Rocky's default excludes
    # do), then pigz/gzip -6 keeping the uncompressed .img as well.
    (cd "$rootfs" && find . -mindepth 1 ! -path './boot*' | sed 's|^\./||' |
       cpio --quiet -o -H newc --renumber-inodes > "$img")
    if command -v pigz >/dev/null; then pigz -p 2 -6 -k -f "$img"; else gzip -6 -k -f "$img"; fi
    zstd -q -3 -k -f "$img" -o "$img.zst"
  fi
  log "image: $(stat -c %s "$img") B, .gz $(stat -c %s "$img.gz") B, .zst $(stat -c %s "$img.zst") B ($EXPORT)"
  # Node list, nginx's MAC -> node map, per-node overlays.
  python3 - "$DATA" "$IMG" "$SMALL_KB" <<'PY'
import json, os, sys, io, random
data, img, small_kb = sys.argv[1], sys.argv[2], int(sys.argv[3])
nodes, mp = [], []
def newc(entries):
    out = io.BytesIO(); ino = 1
    def put(name, mode, body):
        nonlocal ino
        nb = name.encode() + b"\0"
        hdr = "070701" + "".join("%08X" % v for v in (
            ino, mode, 0, 0, 1, 0, len(body), 0, 0, 0, 0, len(nb), 0))
        out.write(hdr.encode() + nb); out.write(b"\0" * ((4 - (110 + len(nb)) % 4) % 4))
        out.write(body); out.write(b"\0" * ((4 - len(body) % 4) % 4)); ino += 1
    for name, mode, body in entries: put(name, mode, body)
    put("TRAILER!!!", 0, b"")
    return out.getvalue()
for line in open(os.path.join(data, "macs.txt")):
    mac, name, uuid = line.split()
    nodes.append({"name": name, "mac": mac, "image": img, "args": "quiet crashkernel=no"})
    mp.append('"%s" %s;\n"%s" %s;\n' % (mac, name, mac.replace(":", "-"), name))
    rng = random.Random(name)
    d = os.path.join(data, "provision/overlays", name); os.makedirs(d, exist_ok=True)
    cfg = ("WWHOSTNAME=%s\nWWIPADDR=10.0.%d.%d\nWWHWADDR=%s\nWWUUID=%s\n" %
           (name, len(nodes) // 250, len(nodes) % 250, mac, uuid)).encode()
    hosts = "".join("10.0.%d.%d n%05d\n" % (k // 250, k % 250, k) for k in range(64)).encode()
    system = newc([("etc", 0o40755, b""), ("etc/hostname", 0o100644, name.encode() + b"\n"),
                   ("warewulf", 0o40755, b""), ("warewulf/config", 0o100644, cfg),
                   ("warewulf/wwinit.blob", 0o100644, rng.randbytes(48 * 1024))])
    runtime = newc([("etc", 0o40755, b""), ("etc/hosts", 0o100644, hosts),
                    ("root", 0o40700, b""), ("root/.ssh", 0o40700, b""),
                    ("root/.ssh/authorized_keys", 0o100600, rng.randbytes(300).hex().encode())] +
                   ([("etc/bench-blob", 0o100644, rng.randbytes(small_kb * 1024))] if small_kb else []))
    open(os.path.join(d, "__SYSTEM__.img"), "wb").write(system)
    open(os.path.join(d, "__RUNTIME__.img"), "wb").write(runtime)
json.dump(nodes, open(os.path.join(data, "nodes.json"), "w"), indent=1)
open(os.path.join(data, "nodes.map"), "w").write("".join(mp))
PY
  find "$DATA/provision/overlays" -name '__*__.img' -print0 | xargs -0 -n 2000 gzip -6 -k -f
  find "$DATA/provision/overlays" -name '__*__.img' -print0 | xargs -0 -n 2000 zstd -q -3 -k -f
  touch "$stamp"
}

# --------------------------------------------------------------------------------------------
# 2. Servers. Each start_<kind> PORT RUNDIR sets SERVER_PIDS and returns once the port answers.
wait_port() {  # PORT PID
  for _ in $(seq 1 100); do
    kill -0 "$2" 2>/dev/null || return 1
    if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),0.2).close()" \
         2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

build_gohttp() {
  if [[ ! -x $GOHTTP || $SRC/bench/gohttp/main.go -nt $GOHTTP ]]; then
    log "building bench/gohttp with the Debian Go toolchain (offline)"
    (cd "$SRC/bench/gohttp" && GOPROXY=off GOFLAGS=-mod=mod CGO_ENABLED=0 \
       GOCACHE=${GOCACHE:-$OUT/.gocache} go build -p 1 -o "$GOHTTP" .)
  fi
}

start_go() {
  local port=$1 dir=$2
  timeout $((RUN_TIMEOUT + 60)) "$GOHTTP" -root "$DATA" -listen "127.0.0.1:$port" \
    -compress "$COMPRESS" 2> "$dir/server.log" &
  local tpid=$!
  PIDS+=("$tpid")
  sleep 0.05
  SERVER_PIDS=$(pgrep -P "$tpid" || echo "$tpid")
  wait_port "$port" "$tpid"
}

start_nginx() {  # PORT RUNDIR WORKERS
  local port=$1 dir=$2 workers=$3 prefix=$2/nginx
  mkdir -p "$prefix/tmp"
  "$GOHTTP" -root "$DATA" -render-to "$DATA/ipxe-rendered" -authority "127.0.0.1:$port" \
    -compress "$COMPRESS"
  local user_line=""
  [[ $(id -u) == 0 ]] && user_line="user root root;"
  sed -e "s|@USER_LINE@|$user_line|" -e "s|@WORKERS@|$workers|" -e "s|@NOFILE@|$NOFILE|" -e "s|@PREFIX@|$prefix|g" \
      -e "s|@PORT@|$port|" -e "s|@ROOT@|$DATA|" -e "s|@MAPFILE@|$DATA/nodes.map|" \
      -e "s|@IMAGE@|$IMG|g" "$SRC/bench/nginx-bootstorm.conf.in" > "$prefix/nginx.conf"
  timeout $((RUN_TIMEOUT + 60)) nginx -p "$prefix" -c "$prefix/nginx.conf" \
    2> "$dir/server.log" &
  local tpid=$!
  PIDS+=("$tpid")
  sleep 0.2
  SERVER_PIDS=$(pgrep -P "$tpid" -x nginx || echo "$tpid")
  wait_port "$port" "$tpid"
}

# stormwulfd serves from a chunk store: import the same rootfs (swctl image import) and describe
# the same nodes in a Warewulf nodes.conf. Command lines as in scripts/demo.sh.
STORMWULFD_NOTE=""
STORE=$DATA/swstore
# stormwulfd's default.ipxe asks for compress=zstd; warewulf-compat.ipxe for compress=gz, the
# pattern nginx and go get with --pattern warewulf.
write_nodes_conf() {
  local tmpl=warewulf-compat
  [[ $PATTERN == zstd ]] && tmpl=default
  local runtime=stormwulf-marker
  [[ $SMALL_KB -gt 0 ]] && runtime="stormwulf-marker, bench-blob-${SMALL_KB}k"
  python3 - "$DATA/macs.txt" "$DATA/nodes.conf" "$IMG" "$tmpl" "$runtime" <<'PY'
import sys
macs, out, img, tmpl, runtime = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
# Overlays small and O(1) per node, like the synthetic ones nginx and go send (Warewulf's
# "hosts" overlay lists every node: O(N) per node, O(N^2) to build for a 10k-node storm).
lines = ["nodeprofiles:", "  default:", "    image name: %s" % img, "    ipxe template: %s" % tmpl,
         "    kernel:", "      args: [quiet, crashkernel=no]",
         "    system overlay: [wwinit, hostname]", "    runtime overlay: [%s]" % runtime,
         "nodes:"]
for k, line in enumerate(open(macs)):
    mac, name, uuid = line.split()
    lines += ["  %s:" % name, "    profiles: [default]", "    network devices:",
              "      default: {device: eth0, hwaddr: \"%s\", ipaddr: 10.%d.%d.%d}" %
              (mac, 16 + (k >> 16), (k >> 8) & 255, (k & 255) or 1)]
open(out, "w").write("\n".join(lines) + "\n")
PY
}

prepare_store() {
  # Re-import whenever swctl was rebuilt (the store format may have changed with it).
  local stamp
  write_nodes_conf
  stamp="$(readlink -f "$SWCTL") $(stat -c %Y "$SWCTL") $(md5sum < "$DATA/nodes.conf")"
  [[ -f $STORE/.bootstorm-imported && $(cat "$STORE/.bootstorm-imported") == "$stamp" ]] && return 0
  rm -rf "$STORE"
  local kernel=$DATA/chroots/$IMG/rootfs/boot/vmlinuz
  log "importing the sample image into $STORE (swctl image import)"
  "$SWCTL" image import "$DATA/chroots/$IMG/rootfs" "$IMG" --store "$STORE" --kernel "$kernel" \
    --exclude 'boot/*' -q > "$DATA/swctl.log" 2>&1 || return 1
  local ovl=$SRC/overlays
  if [[ $SMALL_KB -gt 0 ]]; then
    # The shipped overlays plus one holding the same kind of incompressible file the peers'
    # runtime overlays carry.
    ovl=$DATA/overlays
    rm -rf "$ovl"; cp -r "$SRC/overlays" "$ovl"
    mkdir -p "$ovl/bench-blob-${SMALL_KB}k/rootfs/etc"
    head -c $((SMALL_KB * 1024)) /dev/urandom > "$ovl/bench-blob-${SMALL_KB}k/rootfs/etc/bench-blob"
  fi
  if "$SWCTL" overlay --help >/dev/null 2>&1 && [[ -d $ovl ]]; then
    "$SWCTL" overlay build --store "$STORE" --nodes "$DATA/nodes.conf" \
      --overlay-dir "$ovl" >> "$DATA/swctl.log" 2>&1 ||
      log "swctl overlay build failed (see $DATA/swctl.log); stormwulfd nodes get no overlays"
  fi
  echo "$stamp" > "$STORE/.bootstorm-imported"
}

stormwulfd_ready() {
  if [[ ! -x $STORMWULFD ]]; then STORMWULFD_NOTE="stormwulfd not built ($STORMWULFD)"; return 1; fi
  if ! "$STORMWULFD" --help 2>&1 | grep -q -- --listen; then
    STORMWULFD_NOTE="$STORMWULFD --help shows no --listen (placeholder?)"; return 1
  fi
  if [[ ! -x $SWCTL ]] || ! "$SWCTL" image import --help 2>&1 | grep -q -- --store; then
    STORMWULFD_NOTE="swctl image import not available ($SWCTL)"; return 1
  fi
  if ! prepare_store; then
    STORMWULFD_NOTE="swctl image import failed: $(tail -1 "$DATA/swctl.log")"; return 1
  fi
  # Warewulf's pattern asks for compress=gz. Peers serve .img.gz files that `wwctl image build`
  # wrote ahead of time; stormwulfd's gzip encodings are built ahead too (idempotent), not in the
  # first storm.
  if [[ $PATTERN == warewulf ]] && "$SWCTL" store --help 2>&1 | grep -q gzip; then
    "$SWCTL" store gzip --store "$STORE" -q >> "$DATA/swctl.log" 2>&1 ||
      log "swctl store gzip failed (see $DATA/swctl.log); stormwulfd builds gz during the storm"
  fi
  return 0
}

start_stormwulfd() {  # PORT RUNDIR [ZERO_COPY]
  local port=$1 dir=$2 cfg=()
  if [[ -n ${3:-} ]]; then
    echo "zero copy: $3" > "$dir/stormwulfd.yaml"
    cfg=(--config "$dir/stormwulfd.yaml")
  fi
  timeout $((RUN_TIMEOUT + 60)) "$STORMWULFD" "${cfg[@]}" --listen "127.0.0.1:$port" --store "$STORE" \
    --nodes "$DATA/nodes.conf" --ipxe-dir "$SRC/ipxe-scripts" > "$dir/server.log" 2>&1 &
  local tpid=$!
  PIDS+=("$tpid")
  sleep 0.1
  SERVER_PIDS=$(pgrep -P "$tpid" || echo "$tpid")
  wait_port "$port" "$tpid"
}

stop_server() {
  for p in $SERVER_PIDS; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  PIDS=()
}

# --------------------------------------------------------------------------------------------
prepare
build_gohttp
mkdir -p "$OUT/runs"
ACTIVE=""
for s in $SERVERS; do
  if [[ $s == stormwulfd* ]] && ! stormwulfd_ready; then
    log "skipping stormwulfd: $STORMWULFD_NOTE"
    continue
  fi
  ACTIVE+="$s "
done

start_server() {  # SERVER PORT DIR
  case $1 in
    go) start_go "$2" "$3";;
    nginx1) start_nginx "$2" "$3" 1;;
    nginxauto) start_nginx "$2" "$3" auto;;
    stormwulfd) start_stormwulfd "$2" "$3";;
    stormwulfd-splice) start_stormwulfd "$2" "$3" splice;;
  esac
}

run_one() {  # SERVER REP
  local s=$1 rep=$2 port started=0
  local dir=$OUT/runs/$s-$rep
  rm -rf "$dir"; mkdir -p "$dir"
  for attempt in 1 2 3 4 5; do
    port=$((BASEPORT + RANDOM % 9000))
    if start_server "$s" "$port" "$dir"; then started=1; break; fi
    stop_server
    log "$s failed to start on port $port (attempt $attempt): $(tail -1 "$dir/server.log")"
  done
  [[ $started == 1 ]] || { log "$s did not start (see $dir/server.log)"; return 1; }
  local pidargs=() getargs=()
  [[ $SMALL_GETS -gt 0 ]] && getargs=(--refreshes "$SMALL_GETS" --refresh-interval 0 --unconditional)
  for p in $SERVER_PIDS; do pidargs+=(--server-pid "$p"); done
  log "run $rep: $s (pids $SERVER_PIDS) port $port, $NODES nodes"
  "$BOOTSTORM" --target "http://127.0.0.1:$port" --nodes "$NODES" --pattern "$PATTERN" \
      --link-gbps "$LINK" --spread "$SPREAD" --timeout "$RUN_TIMEOUT" --label "$s" \
      "${pidargs[@]}" "${getargs[@]}" --csv "$dir/nodes.csv" --timeseries "$dir/ts.txt" --json \
      > "$dir/summary.json" 2> "$dir/table.txt" || log "$s rep $rep: bootstorm exit $? (errors)"
  stop_server
  sed -n '1,3p' "$dir/table.txt" | sed 's/^/    /' >&2
}

T0=$(date +%s)
for rep in $(seq 1 "$REPS"); do
  for s in $ACTIVE; do run_one "$s" "$rep" || true; done
done
log "runs took $(( $(date +%s) - T0 )) s"

# --------------------------------------------------------------------------------------------
# 3. Medians, ratios, plots.
SMALL_GETS=$SMALL_GETS python3 - "$OUT" "$NODES" "$REPS" "$STORMWULFD_NOTE" $ACTIVE <<'PY'
import json, os, sys, statistics, platform, subprocess
out, nodes, reps, note, servers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5:]
keys = [("makespan_s", "makespan s"), ("completion_p50_s", "p50 s"), ("completion_p99_s", "p99 s"),
        ("completion_max_s", "max s"), ("goodput_mb_s", "goodput MB/s"),
        ("server_cpu_s_per_gb", "cpu-s/GB"), ("total_cpu_s_per_gb", "+client/GB"),
        ("server_peak_rss_mb", "RSS MB"),
        ("wire_bytes_per_node", "wire B/node"), ("errors", "errors"), ("retries", "retries"),
        ("client_core_fraction", "client core")]
ratio_keys = keys[:9]
if os.environ.get("SMALL_GETS", "0") != "0":
    # The small-body GET phase after the storm (bootstorm --unconditional).
    small = [("get_kib", "KiB/GET"), ("refresh_req_s_after_boots", "GET/s"),
             ("server_cpu_us_per_refresh_after_boots", "cpu-us/GET"),
             ("server_cpu_s_per_gb_after_boots", "GET cpu-s/GB")]
    keys += small
    ratio_keys += small
med, runs = {}, {}
for s in servers:
    rs = []
    for r in range(1, reps + 1):
        p = os.path.join(out, "runs", "%s-%d" % (s, r), "summary.json")
        try:
            x = json.load(open(p))
            n = x.get("refreshes_after_boots", 0)
            x["get_kib"] = x.get("refresh_body_bytes_after_boots", 0) / n / 1024 if n else 0
            rs.append(x)
        except Exception:
            pass
    if not rs:
        continue
    runs[s] = rs
    med[s] = {k: statistics.median(x[k] for x in rs) for k, _ in keys}
    # The representative run (median makespan) feeds the plots.
    rs_sorted = sorted(range(len(rs)), key=lambda i: rs[i]["makespan_s"])
    rep = rs_sorted[len(rs_sorted) // 2]
    med[s]["rep"] = rep + 1 if len(rs) == reps else rep + 1
lines = []
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                     capture_output=True, text=True).stdout.strip()
lines.append("bootstorm comparison: %d nodes, %d repetitions (medians), %s" % (nodes, reps,
             " ".join(servers)))
lines.append("machine: %s, %d CPUs, kernel %s" % (cpu, os.cpu_count(), platform.release()))
if note:
    lines.append("stormwulfd skipped: " + note)
hdr = "%-18s" % "server" + "".join("%14s" % h for _, h in keys)
lines.append(hdr)
for s in med:
    row = "%-18s" % s
    for k, _ in keys:
        v = med[s][k]
        row += "%14.0f" % v if abs(v) >= 1e6 or k in ("errors", "retries") else "%14.3f" % v
    lines.append(row)
anchor = "nginx1" if "nginx1" in med else (list(med)[0] if med else None)
order = [s for s in ("stormwulfd", "stormwulfd-splice", "nginx1", "nginxauto", "go") if s in med]
if anchor:
    lines.append("")
    lines.append("ratios (%s), anchor %s = 1.00:" % (" : ".join(order), anchor))
    for k, h in ratio_keys:
        a = med[anchor][k]
        if a:
            lines.append("  %-14s %s" % (h, " : ".join("%.2f" % (med[s][k] / a) for s in order)))
text = "\n".join(lines) + "\n"
open(os.path.join(out, "summary.txt"), "w").write(text)
print(text)
# Plot inputs: CDF of completion times and throughput over time, from each representative run.
pl = os.path.join(out, "plot"); os.makedirs(pl, exist_ok=True)
for s in med:
    d = os.path.join(out, "runs", "%s-%d" % (s, med[s]["rep"]))
    comp = []
    for line in open(os.path.join(d, "nodes.csv")).readlines()[1:]:
        f = line.split(",")
        if f[2] == "1":
            comp.append(float(f[10]))
    comp.sort()
    with open(os.path.join(pl, s + ".cdf"), "w") as f:
        for i, c in enumerate(comp):
            f.write("%.6f %.6f\n" % (c, (i + 1) / len(comp)))
    os.system("cp '%s' '%s'" % (os.path.join(d, "ts.txt"), os.path.join(pl, s + ".ts")))
PY
if command -v gnuplot >/dev/null && ls "$OUT"/plot/*.cdf >/dev/null 2>&1; then
  gnuplot -e "dir='$OUT/plot'; servers='$ACTIVE'; title='$NODES nodes'" \
    "$SRC/bench/plot_bootstorm.gp" && log "plots: $OUT/cdf.png $OUT/throughput.png"
  mv -f "$OUT/plot/cdf.png" "$OUT/plot/throughput.png" "$OUT/" 2>/dev/null || true
fi
