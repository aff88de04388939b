#!/usr/bin/env bash
# tests/bootstorm/smoke.sh BOOTSTORM [GOHTTP]: bootstorm against real servers on 127.0.0.1.
#  1. python3 -m http.server (HTTP/1.0, a connection per request) with 50 nodes' static scripts;
#  2. bench/gohttp (keep-alive, Warewulf routes and template) with 50 nodes, then 1 refresh each;
#  3. refusals: a non-loopback --target, and a script naming a non-loopback URL.
# Checks exit codes, node counts, zero errors, and body bytes per node == sum of the file sizes.
set -euo pipefail
BS=$1; GOHTTP=${2:-}
N=50
T=$(mktemp -d /tmp/bootstorm-smoke.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do [[ -n $p ]] && kill "$p" 2>/dev/null || true; done
            wait 2>/dev/null || true; rm -rf "$T"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1',$1),0.2).close()" 2>/dev/null && return 0
    sleep 0.1; done; return 1; }
# check_csv CSV NODES EXPECTED_BYTES_FILE: every node ok, no errors, body bytes as expected.
check_csv() {
  python3 - "$@" <<'PY'
import sys
csv, n, exp = sys.argv[1], int(sys.argv[2]), sys.argv[3]
want = dict(l.split() for l in open(exp))
rows = [l.rstrip("\n").split(",") for l in open(csv)][1:]
assert len(rows) == n, "rows %d != %d" % (len(rows), n)
for r in rows:
    assert r[2] == "1", "node %s not ok: %s" % (r[0], r[-1])
    assert r[16] == "0" and float(r[20]) >= 0, "node %s errors %s" % (r[0], r[16])
    assert r[11] == want[r[1]], "node %s body bytes %s != %s" % (r[0], r[11], want[r[1]])
print("ok: %d nodes, bytes match" % n)
PY
}

"$BS" --gen-macs $N > "$T/macs.txt"
[[ $(wc -l < "$T/macs.txt") == "$N" ]] || fail "--gen-macs"

# ---- 1. python3 -m http.server ----------------------------------------------------------------
P1=$(free_port)
W=$T/www; mkdir -p "$W"/{ipxe,kernel,image,system,runtime}
: > "$T/exp1"
i=0
while read -r mac name uuid; do
  h=${mac//:/-}
  head -c $((100000 + i * 1000)) /dev/urandom > "$W/kernel/$h"
  head -c $((300000 + i * 7)) /dev/urandom > "$W/image/$h"
  head -c $((5000 + i)) /dev/urandom > "$W/system/$h"
  head -c 1234 /dev/urandom > "$W/runtime/$h"
  cat > "$W/ipxe/$h" <<SCRIPT
#!ipxe
echo node $name
set base http://127.0.0.1:$P1
kernel --name kernel \${base}/kernel/\${mac:hexhyp} quiet || goto fail
initrd --name image \${base}/image/\${mac:hexhyp}?compress=gz
initrd --name system /system/$h
initrd --name runtime ../runtime/./$h
boot kernel || goto fail
:fail
reboot
SCRIPT
  sz=$(cat "$W/ipxe/$h" "$W/kernel/$h" "$W/image/$h" "$W/system/$h" "$W/runtime/$h" | wc -c)
  echo "$mac $sz" >> "$T/exp1"
  i=$((i + 1))
done < "$T/macs.txt"
python3 -m http.server "$P1" --bind 127.0.0.1 --directory "$W" > "$T/py.log" 2>&1 &
PY_PID=$!; PIDS+=("$PY_PID")
wait_port "$P1" || fail "python http.server did not start"
"$BS" --target "http://127.0.0.1:$P1" --nodes $N --csv "$T/py.csv" --server-pid "$PY_PID" \
  --timeout 60 --max-conns 20 > "$T/py.out" || { cat "$T/py.out"; fail "bootstorm vs python rc"; }
cat "$T/py.out"
check_csv "$T/py.csv" $N "$T/exp1"

# ---- 2. bench/gohttp ----------------------------------------------------------------------------
if [[ -n $GOHTTP && -x $GOHTTP ]]; then
  P2=$(free_port)
  G=$T/go; mkdir -p "$G/chroots/img/rootfs/boot" "$G/provision/images"
  head -c 200000 /dev/urandom > "$G/chroots/img/rootfs/boot/vmlinuz"
  head -c 600000 /dev/urandom > "$G/provision/images/img.img"
  gzip -k -1 "$G/provision/images/img.img"
  python3 - "$T/macs.txt" "$G" <<'PY'
import json, os, sys
nodes = []
for k, line in enumerate(open(sys.argv[1])):
    mac, name, uuid = line.split()
    nodes.append({"name": name, "mac": mac, "image": "img", "args": "quiet"})
    d = os.path.join(sys.argv[2], "provision/overlays", name); os.makedirs(d)
    open(os.path.join(d, "__SYSTEM__.img.gz"), "wb").write(os.urandom(3000 + k))
    open(os.path.join(d, "__RUNTIME__.img.gz"), "wb").write(os.urandom(700 + 2 * k))
json.dump(nodes, open(os.path.join(sys.argv[2], "nodes.json"), "w"))
PY
  "$GOHTTP" -root "$G" -render-to "$T/rendered" -authority "127.0.0.1:$P2"
  : > "$T/exp2"
  while read -r mac name uuid; do
    sz=$(cat "$T/rendered/$name.ipxe" "$G/chroots/img/rootfs/boot/vmlinuz" \
         "$G/provision/images/img.img.gz" "$G/provision/overlays/$name/__SYSTEM__.img.gz" \
         "$G/provision/overlays/$name/__RUNTIME__.img.gz" | wc -c)
    echo "$mac $sz" >> "$T/exp2"
  done < "$T/macs.txt"
  "$GOHTTP" -root "$G" -listen "127.0.0.1:$P2" 2> "$T/go.log" &
  GO_PID=$!; PIDS+=("$GO_PID")
  wait_port "$P2" || fail "gohttp did not start"
  "$BS" --target "http://127.0.0.1:$P2" --nodes $N --csv "$T/go.csv" --server-pid "$GO_PID" \
    --link-gbps 1 --spread 0.5 --timeout 60 > "$T/go.out" || { cat "$T/go.out"; fail "vs go rc"; }
  cat "$T/go.out"
  check_csv "$T/go.csv" $N "$T/exp2"
  grep -q "connections $N\$" "$T/go.out" || fail "expected one keep-alive connection per node"
  "$BS" --target "http://127.0.0.1:$P2" --nodes 10 --csv "$T/go2.csv" --refreshes 2 \
    --refresh-interval 0.2 --json --quiet > "$T/go2.json" || fail "refresh run rc"
  python3 -c "
import json,sys; j=json.load(open('$T/go2.json'))
assert j['ok']==10 and j['errors']==0 and j['refreshes']==20, j
print('ok: refreshes', j['refreshes'])"
  # "--json FILE" (scripts/demo.sh): JSON in the file, the table still on stdout.
  "$BS" --target "http://127.0.0.1:$P2" --nodes 5 --json "$T/go3.json" > "$T/go3.out" || fail "rc"
  grep -q "nodes ok 5 " "$T/go3.out" || fail "table missing with --json FILE"
  python3 -c "import json; assert json.load(open('$T/go3.json'))['ok'] == 5" || fail "json file"
else
  echo "gohttp not built; skipping the Go server part"
fi

# ---- 3. retries: refused connections, and a server that drops the first kernel transfer ------
set +e
"$BS" --target http://127.0.0.1:1 --nodes 3 --retries 2 --json --quiet > "$T/refused.json"; rc=$?
set -e
[[ $rc == 1 ]] || fail "refused target rc $rc"
python3 -c "
import json; j=json.load(open('$T/refused.json'))
assert j['failed']==3 and j['retries']==6 and j['connections']==9, j
print('ok: refused connections retried', j['retries'])"
P3=$(free_port)
cat > "$T/flaky.py" <<'PY'
import http.server, sys
seen = set()
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        path = self.path.split("?")[0]
        if path.startswith("/ipxe/"):
            mac = path.split("/")[2]
            body = ("#!ipxe\nkernel /kernel/%s\ninitrd /image/%s\nboot\n" % (mac, mac)).encode()
        else:
            body = bytes(range(256)) * 400
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if path.startswith("/kernel/") and self.path not in seen:
            seen.add(self.path)          # first try of each node: cut the body short
            self.wfile.write(body[:1000]); self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
python3 "$T/flaky.py" "$P3" & PIDS+=($!)
wait_port "$P3" || fail "flaky server did not start"
"$BS" --target "http://127.0.0.1:$P3" --nodes 5 --json --quiet > "$T/flaky.json" || fail "flaky rc"
python3 -c "
import json; j=json.load(open('$T/flaky.json'))
assert j['ok']==5 and j['retries']==5 and j['connections']==10, j
assert j['body_bytes_per_node'] == 77 + 2 * 102400, j
print('ok: cut transfers retried', j['retries'])"

# ---- 4. refusals ----------------------------------------------------------------------------------
set +e
"$BS" --target http://192.0.2.1:9873 --nodes 1 > "$T/r1.out" 2>&1; rc=$?
set -e
[[ $rc == 2 ]] && grep -q "non-loopback" "$T/r1.out" || { cat "$T/r1.out"; fail "non-loopback target"; }
"$BS" --target http://example.com/ --nodes 1 > /dev/null 2>&1 && fail "hostname target accepted"
h=$(head -1 "$T/macs.txt" | cut -d' ' -f1); h=${h//:/-}
printf '#!ipxe\nkernel http://192.0.2.1/kernel\nboot\n' > "$W/ipxe/$h"
set +e
"$BS" --target "http://127.0.0.1:$P1" --nodes 1 --csv "$T/r2.csv" > "$T/r2.out" 2>&1; rc=$?
set -e
[[ $rc == 1 ]] && grep -q "refused non-loopback URL" "$T/r2.csv" || { cat "$T/r2.out"; fail "script URL"; }
echo "PASS"
