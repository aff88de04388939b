#!/usr/bin/env bash
# Two-stage boot through an HTTP cache tier: N nodes run `wwclient provision --cache` at once
# against nginx with proxy_cache in front of stormwulfd, as a large site puts caches between its
# racks and the head node. Segments come from /chunks/<id> (content-addressed, "immutable"), so
# nginx keeps them; each node's manifest request (/image/<node>?manifest=1, "no-cache") goes to
# the origin every time, which is how a node learns of a new image version.
# Boots image v1 with empty node caches, then v2 (~2% of the files changed, re-imported) with the
# caches v1 left on the nodes, and prints for each: makespan, the bytes stormwulfd (the origin)
# sent, the bytes nginx sent to the nodes, and nginx's cache hits and misses. Every node's root is
# compared with the tree it should hold; the script fails if one differs or if v2 cost the origin
# as much as v1 (the smoke test, tests/bootstorm.cmake, relies on both).
#   bench/proxy_cache_provision.sh [gen:MB|TREE] [BUILD_DIR] [NODES]
set -euo pipefail
TREE=${1:-gen:64}
BUILD=$(cd "${2:-build}" && pwd)
N=${3:-16}
SRC=$(cd "$(dirname "$0")/.." && pwd)
. "$SRC/bench/common.sh"
SWCTL=$BUILD/tools/swctl
WWCLIENT=$BUILD/agent/wwclient
command -v nginx >/dev/null || { echo "nginx is not installed (scripts/install-deps.sh)" >&2; exit 2; }
# Store, sources and nginx's cache on disk; the nodes' roots and segment caches in RAM (tmpfs),
# as on a diskless node.
W=$(mktemp -d /tmp/sw-pcache.XXXXXX)
R=$(mktemp -d /dev/shm/sw-pcache.XXXXXX)
pid="" npid=""
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; [ -n "$npid" ] && kill $npid 2>/dev/null; rm -rf "$W" "$R"' EXIT
now() { date +%s.%N; }

if [[ $TREE == gen:* ]]; then
  python3 "$SRC/bench/gen_tree.py" "$W/tree" "${TREE#gen:}"
else
  cp -a "$TREE" "$W/tree"
fi
"$SWCTL" image import "$W/tree" img --store "$W/store" --no-kernel --no-default-excludes -q
python3 - "$W/nodes.conf" "$N" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
lines = ["nodes:"]
for i in range(n):
    lines += [f"  c{i:04d}:", "    image name: img", "    network devices:",
              f"      default: {{hwaddr: \"02:00:00:00:{i >> 8:02x}:{i & 255:02x}\"}}"]
open(path, "w").write("\n".join(lines) + "\n")
PY

port=$(free_port)
"$BUILD/server/stormwulfd" --listen 127.0.0.1:$port --store "$W/store" --nodes "$W/nodes.conf" \
  --ipxe-dir "$SRC/ipxe-scripts" --log-level warning > "$W/stormwulfd.log" 2>&1 &
pid=$!
wait_http "http://127.0.0.1:$port/status" "$pid" "$W/stormwulfd.log"

nport=$(free_port)
mkdir -p "$W/nginx/tmp" "$W/nginx/cache"
{ nginx_conf_head "$W/nginx" 4096; cat <<EOF
http {
  log_format cache '\$upstream_cache_status \$body_bytes_sent \$uri';
  access_log $W/nginx/access.log cache;
  client_body_temp_path $W/nginx/tmp/body;
  proxy_temp_path $W/nginx/tmp/proxy;
  fastcgi_temp_path $W/nginx/tmp/fastcgi;
  uwsgi_temp_path $W/nginx/tmp/uwsgi;
  scgi_temp_path $W/nginx/tmp/scgi;
  proxy_cache_path $W/nginx/cache levels=1:2 keys_zone=chunks:16m max_size=8g inactive=7d
                   use_temp_path=off;
  upstream head { server 127.0.0.1:$port; keepalive 32; }
  server {
    listen 127.0.0.1:$nport;
    location / {
      proxy_pass http://head;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache chunks;          # stormwulfd's Cache-Control decides what may be kept
      proxy_cache_lock on;         # N nodes missing the same chunk: one origin request
      proxy_cache_lock_timeout 120s;
      proxy_cache_lock_age 120s;
    }
  }
}
EOF
} > "$W/nginx/nginx.conf"
nginx -p "$W/nginx" -c "$W/nginx/nginx.conf" &
npid=$!
wait_http "http://127.0.0.1:$nport/status" "$npid" "$W/nginx/error.log"

origin_bytes() {
  curl -fs "http://127.0.0.1:$port/metrics" | awk '$1 == "stormwulf_bytes_sent_total" {print $2}'
}

# One boot of every node at once through the cache; prints "makespan origin_bytes nginx_bytes
# hits misses" and checks every root against the tree.
boot_all() {
  : > "$W/nginx/access.log"
  local o0 t0 t1 o1 i fails=0
  o0=$(origin_bytes)
  t0=$(now)
  for i in $(seq 0 $((N - 1))); do
    rm -rf "$R/root$i"
    "$WWCLIENT" provision --server "http://127.0.0.1:$nport" \
      --wwid "$(printf '02:00:00:00:%02x:%02x' $((i >> 8)) $((i & 255)))" --root "$R/root$i" \
      --cache "$R/cache$i" --no-chown --quiet --config /nonexistent > "$W/node$i.log" 2>&1 &
  done
  for job in $(jobs -p); do
    [ "$job" = "$pid" ] || [ "$job" = "$npid" ] || wait "$job" || fails=$((fails + 1))
  done
  t1=$(now)
  o1=$(origin_bytes)
  [ "$fails" = 0 ] || { echo "$fails nodes failed to provision; e.g.:" >&2; cat "$W/node0.log" >&2; exit 1; }
  for i in $(seq 0 $((N - 1))); do
    diff -r "$W/tree" "$R/root$i" > /dev/null || { echo "node $i's root differs from the image" >&2; exit 1; }
  done
  local stats
  stats=$(awk '{b += $2; if ($1 == "HIT") h++; else if ($1 == "MISS") m++}
               END {printf "%d %d %d", b, h, m}' "$W/nginx/access.log")
  echo "$(echo "$t1 - $t0" | bc) $((o1 - o0)) $stats"
}

size=$(du -sb "$W/tree" | cut -f1)
r1=$(boot_all)  # (an assignment, so that a failed boot stops the script)
read -r m1 o1 n1 h1 x1 <<< "$r1"
# ~2% of the files change (at least one); the image is re-imported under the same name.
find "$W/tree" -type f | sort | awk 'NR % 50 == 1' | while read -r f; do echo "update $RANDOM" >> "$f"; done
"$SWCTL" image import "$W/tree" img --store "$W/store" --no-kernel --no-default-excludes -q
sleep 1.2  # stormwulfd re-reads a ref at most once a second
r2=$(boot_all)
read -r m2 o2 n2 h2 x2 <<< "$r2"

printf 'image %.1f MB, %d nodes provisioning at once through nginx proxy_cache; roots in tmpfs\n' \
  "$(echo "$size / 1000000" | bc -l)" "$N"
printf '%-28s %10s %14s %14s %8s %8s\n' "" "makespan s" "origin bytes" "nginx->nodes" "hits" "misses"
printf '%-28s %10.2f %14d %14d %8d %8d\n' "v1, empty node caches" "$m1" "$o1" "$n1" "$h1" "$x1"
printf '%-28s %10.2f %14d %14d %8d %8d\n' "v2 (2% changed), v1 caches" "$m2" "$o2" "$n2" "$h2" "$x2"
printf 'origin bytes: v1 = %.2f x one image (without the cache: %d x); v2 = %.1f%% of v1\n' \
  "$(echo "$o1 / $size" | bc -l)" "$N" "$(echo "100 * $o2 / $o1" | bc -l)"
[ "$((o2 * 2))" -lt "$o1" ] || { echo "v2 cost the origin as much as v1: caching is not working" >&2; exit 1; }
