#!/usr/bin/env bash
# What TLS costs stormwulfd: the same image downloaded over plain HTTP and over TLS 1.3 from one
# stormwulfd, in one run, by `curl --parallel` on 127.0.0.1. Prints, per mode, the median of
# REPS runs of wall GB/s and the server's CPU-seconds per GB (from /proc/<pid>/stat, since curl
# shares the cores), and the ratios TLS : plain.
#
#   bench/tls_cost.sh [BUILD_DIR] [--mb 64] [--transfers 16] [--parallel 8] [--reps 3]
#
# Loopback only; everything lives in a temporary directory removed at the end.
set -euo pipefail
SRC="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="$SRC/build"
MB=64 TRANSFERS=16 PARALLEL=8 REPS=3
while [[ $# -gt 0 ]]; do
  case "$1" in
    --mb) MB="$2"; shift 2 ;;
    --transfers) TRANSFERS="$2"; shift 2 ;;
    --parallel) PARALLEL="$2"; shift 2 ;;
    --reps) REPS="$2"; shift 2 ;;
    -h|--help) sed -n 2,9p "$0"; exit 0 ;;
    *) BUILD="$1"; shift ;;
  esac
done
SWCTL="$BUILD/tools/swctl" STORMWULFD="$BUILD/server/stormwulfd"
W="$(mktemp -d /tmp/sw-tlscost.XXXXXX)"
PID=""
cleanup() { [[ -n "$PID" ]] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT

# Certificates: a CA and a server certificate for 127.0.0.1.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/ca.key" \
  -out "$W/ca.pem" -days 2 -subj "/CN=bench CA" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/srv.key" \
  -out "$W/srv.csr" -subj "/CN=head" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' > "$W/san.ext"
openssl x509 -req -in "$W/srv.csr" -CA "$W/ca.pem" -CAkey "$W/ca.key" -CAcreateserial \
  -out "$W/srv.crt" -days 2 -extfile "$W/san.ext" 2>/dev/null

# An image of MB MiB of incompressible data (stored raw: the cost measured is the server's).
mkdir -p "$W/tree"
head -c "$((MB << 20))" /dev/urandom > "$W/tree/data"
"$SWCTL" image import "$W/tree" img --store "$W/store" --no-kernel -q
MAC=52:54:00:77:00:01
cat > "$W/nodes.conf" <<EOF
nodes:
  n1:
    image name: img
    network devices:
      default: {hwaddr: "$MAC"}
EOF
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P="$(port)" T="$(port)"
"$STORMWULFD" --listen "127.0.0.1:$P" --store "$W/store" --nodes "$W/nodes.conf" --tls true \
  --tls-listen "127.0.0.1:$T" --tls-cert "$W/srv.crt" --tls-key "$W/srv.key" \
  --log-level warning 2>"$W/server.log" &
PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$P/status" >/dev/null && break; sleep 0.05; done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
HZ="$(getconf CLK_TCK)"
run_once() {  # $1 = base URL; prints "gbps cpu_per_gb"
  local urls=() i
  for ((i = 0; i < TRANSFERS; i++)); do urls+=("$1/image/$MAC?compress=zstd" -o /dev/null); done
  local c0 t0 t1 c1
  c0="$(cpu_ticks)"; t0="$(date +%s.%N)"
  curl -sf --cacert "$W/ca.pem" -Z --parallel-max "$PARALLEL" "${urls[@]}" 2>/dev/null
  t1="$(date +%s.%N)"; c1="$(cpu_ticks)"
  python3 - "$t0" "$t1" "$c0" "$c1" "$HZ" "$TRANSFERS" "$MB" <<'EOF'
import sys
t0, t1, c0, c1, hz, n, mb = map(float, sys.argv[1:])
gb = n * mb * (1 << 20) / 1e9
print(f"{gb / (t1 - t0):.3f} {(c1 - c0) / hz / gb:.4f}")
EOF
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
declare -A GBPS CPU
for mode in plain tls; do
  base="http://127.0.0.1:$P"; [[ $mode == tls ]] && base="https://127.0.0.1:$T"
  : > "$W/$mode.txt"
  for ((r = 0; r < REPS; r++)); do run_once "$base" >> "$W/$mode.txt"; done
  GBPS[$mode]="$(cut -d' ' -f1 "$W/$mode.txt" | median)"
  CPU[$mode]="$(cut -d' ' -f2 "$W/$mode.txt" | median)"
done
echo "TLS cost: $TRANSFERS x $MB MiB image downloads, $PARALLEL in parallel, median of $REPS"
printf '%-8s %10s %16s\n' mode "GB/s" "server cpu-s/GB"
for mode in plain tls; do printf '%-8s %10s %16s\n' "$mode" "${GBPS[$mode]}" "${CPU[$mode]}"; done
python3 - "${GBPS[plain]}" "${GBPS[tls]}" "${CPU[plain]}" "${CPU[tls]}" <<'EOF'
import sys
gp, gt, cp, ct = map(float, sys.argv[1:])
print(f"ratio TLS : plain   throughput {gt / gp:.2f}x   server CPU per GB {ct / max(cp, 1e-9):.1f}x")
EOF
if grep -q tls /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null; then
  echo "kernel TLS ULP: available (not used yet)"
else
  echo "kernel TLS ULP: not available on this kernel (modprobe tls fails), so TLS bodies are encrypted in user space"
fi
