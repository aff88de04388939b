#!/usr/bin/env bash
# Two-stage boot, measured: materialize the same image into a tmpfs root with
#   ours:   wwclient provision (parallel segment fetch, verify, cache)
#   anchor: curl .../image.img.gz | gzip -d | cpio -idm   (Warewulf's dracut two-stage: one cpio
#           archive, gzip, as `wwctl image build` writes it, served by nginx with sendfile)
# ours from stormwulfd, the anchor from nginx, both on 127.0.0.1; cold (empty cache) and warm
# (after 2% of the files changed and the image was rebuilt/re-imported; ours keeps its segment
# cache, the anchor has none: that is the point). The anchor's image is built outside the timing.
# Prints medians and the anchor/ours ratios of the same run.
#   bench/provision_compare.sh [gen:MB|TREE] [BUILD_DIR] [REPS]
set -euo pipefail
TREE=${1:-gen:1024}
BUILD=$(cd "${2:-build}" && pwd)
REPS=${3:-3}
SRC=$(cd "$(dirname "$0")/.." && pwd)
. "$SRC/bench/common.sh"
SWCTL=$BUILD/tools/swctl
WWCLIENT=$BUILD/agent/wwclient
STORMWULFD=$BUILD/server/stormwulfd
MAC=52:54:00:cc:00:01
# Roots and caches in RAM (a diskless node provisions into tmpfs); sources and store on disk.
W=$(mktemp -d /tmp/sw-prov.XXXXXX)
R=$(mktemp -d /dev/shm/sw-prov.XXXXXX)
# The roots (and our cache) go to a tmpfs mounted as stage 1 mounts a node's root
# (scripts/make-stage1.sh: huge=within_size), the same for ours and the anchor; without root, or
# with SW_PROV_ROOTFS=plain, to /dev/shm as it is.
ROOTFS="/dev/shm, a plain tmpfs"
if [ "${SW_PROV_ROOTFS:-stage1}" = stage1 ] && [ "$(id -u)" = 0 ] &&
   mount -t tmpfs -o mode=0755,huge=within_size,size=75% tmpfs "$R" 2>/dev/null; then
  ROOTFS="a tmpfs mounted huge=within_size, as stage 1 mounts a node's root"
fi
pid=""
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; umount "$R" 2>/dev/null; rm -rf "$W" "$R"' EXIT
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }

if [[ $TREE == gen:* ]]; then
  echo "generating a ${TREE#gen:} MB tree ..." >&2
  python3 "$SRC/bench/gen_tree.py" "$W/tree" "${TREE#gen:}"
else
  cp -a "$TREE" "$W/tree"
fi
"$SWCTL" image import "$W/tree" img --store "$W/store" --no-kernel --no-default-excludes -q
printf 'nodes:\n  p1:\n    image name: img\n    network devices:\n      default: {hwaddr: "%s"}\n' "$MAC" > "$W/nodes.conf"
port=$(free_port)
"$STORMWULFD" --listen 127.0.0.1:$port --store "$W/store" --nodes "$W/nodes.conf" \
  --ipxe-dir "$SRC/ipxe-scripts" --log-level warning > "$W/stormwulfd.log" 2>&1 &
pid=$!
wait_http "http://127.0.0.1:$port/status" "$pid" "$W/stormwulfd.log"
URL=http://127.0.0.1:$port
# The anchor's server: nginx serving the Warewulf-style image file.
mkdir -p "$W/www" "$W/nginx"
warewulf_image() { (cd "$W/tree" && find . -mindepth 1 | cpio -o -H newc --quiet | pigz -6 > "$W/www/image.img.gz"); }
warewulf_image
nport=$(free_port)
{ nginx_conf_head "$W/nginx" 64; cat <<EOF
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  server { listen 127.0.0.1:$nport; root $W/www; }
}
EOF
} > "$W/nginx/nginx.conf"
nginx -p "$W/nginx" -c "$W/nginx/nginx.conf" &
npid=$!
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; kill $npid 2>/dev/null; umount "$R" 2>/dev/null; rm -rf "$W" "$R"' EXIT
for _ in $(seq 100); do curl -fs -o /dev/null "http://127.0.0.1:$nport/image.img.gz" && break; sleep 0.05; done

# Each run starts from an empty root; removing the previous root is not timed (for either side).
ours() {  # cache kept or not is the caller's business
  "$WWCLIENT" provision --server "$URL" --wwid "$MAC" --root "$R/root" --cache "$R/cache" --quiet
}
anchor() {
  mkdir -p "$R/root2"
  curl -fsS "http://127.0.0.1:$nport/image.img.gz" | gzip -d | (cd "$R/root2" && cpio -idm --quiet 2>/dev/null)
}
timed() {  # timed ROOT CMD: CMD's seconds, starting from an empty ROOT
  local t0; rm -rf "$1"; shift; t0=$(now); "$@"; echo "$(now) - $t0" | bc; }

size=$(du -sb "$W/tree" | cut -f1)
timed "$R/root2" anchor > /dev/null  # warm-up (page cache)
declare -a oc ac ow aw
for rep in $(seq "$REPS"); do
  rm -rf "$R/cache"
  oc+=("$(timed "$R/root" ours)")
  ac+=("$(timed "$R/root2" anchor)")
done
# Same content check: both roots hold the tree.
diff -r "$W/tree" "$R/root" >/dev/null || { echo "ours differs from the tree" >&2; exit 1; }
diff -r "$W/tree" "$R/root2" >/dev/null || { echo "anchor differs from the tree" >&2; exit 1; }

cp -a "$R/cache" "$R/cache-v1"  # what a node has after booting v1
# 2% of the files change; a new version is imported; ours provisions again with its cache.
find "$W/tree" -type f | sort | awk 'NR % 50 == 0' | while read -r f; do echo "update $RANDOM" >> "$f"; done
"$SWCTL" image import "$W/tree" img --store "$W/store" --no-kernel --no-default-excludes -q
warewulf_image
sleep 1.2  # stormwulfd re-reads refs at most once a second
timed "$R/root2" anchor > /dev/null  # warm-up (page cache)
for rep in $(seq "$REPS"); do
  rm -rf "$R/cache" && cp -a "$R/cache-v1" "$R/cache"  # every warm run starts from the v1 cache
  ow+=("$(timed "$R/root" ours)")
  aw+=("$(timed "$R/root2" anchor)")
done
diff -r "$W/tree" "$R/root" >/dev/null || { echo "ours (warm) differs from the new tree" >&2; exit 1; }

# The floor of ours: the whole image's SHA-256 (defined over the uncompressed stream) is checked
# on every provision, in order, on one core; nothing else on the critical path has to be.
SH=$(sha256_floor_s "$(image_raw_bytes "$SWCTL" img "$W/store")")

OC=$(printf '%s\n' "${oc[@]}" | median); AC=$(printf '%s\n' "${ac[@]}" | median)
OW=$(printf '%s\n' "${ow[@]}" | median); AW=$(printf '%s\n' "${aw[@]}" | median)
printf 'image: %.0f MB in %s files; %s reps; roots in %s; stormwulfd and nginx on 127.0.0.1\n' \
  "$(echo "$size / 1000000" | bc -l)" "$(find "$W/tree" -type f | wc -l)" "$REPS" "$ROOTFS"
printf '%-34s %10s %10s %8s\n' "" "ours (s)" "anchor (s)" "ratio"
printf '%-34s %10.2f %10.2f %7.2fx\n' "cold (empty cache)" "$OC" "$AC" "$(echo "$AC / $OC" | bc -l)"
printf '%-34s %10.2f %10.2f %7.2fx\n' "warm (after a 2% update)" "$OW" "$AW" "$(echo "$AW / $OW" | bc -l)"
echo "ratio = anchor time / ours (goal: >= 2x cold, >= 10x warm)"
printf 'floor: SHA-256 alone of the image stream takes %.2f s on one core (OpenSSL speed, no I/O):\n' "$SH"
printf '  no provision that checks it can beat %.2fx the warm anchor, %.2fx the cold one\n' "$(echo "$AW / $SH" | bc -l)" \
  "$(echo "$AC / $SH" | bc -l)"
