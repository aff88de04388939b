#!/usr/bin/env bash
# Ingest benchmark: our `swctl image import` against Warewulf's build (`find | cpio -o -H newc |
# pigz -6`), `cpio | zstd -3 -T0`, and `casync make`, on the same tree, in one run. Each tool runs
# REPS times (default 3) from a warm page cache; medians are reported with ratios to the anchors.
#   bench/ingest_compare.sh TREE [BUILD_DIR] [REPS]
# TREE may be gen:MB for a generated tree of about MB megabytes with a realistic size mix: file
# sizes log-uniform from 64 B to 4 MiB (most files small, most bytes in large ones), contents cut
# in sequence from the machine's own /usr files (real binaries, libraries and text, so the
# compressibility is realistic and no two files share content), 12 files per directory.
# For those, a second version of the tree is simulated by rewriting 2% of its files (in a copy).
# TREE `debian` is a real Debian: `debootstrap --variant=minbase bookworm`, then the same with
# less, iproute2 and procps installed (a package update), then a node-like third version with a
# kernel, systemd, openssh-server and nfs-common, and minbase after a security upgrade (`apt-get
# upgrade` from bookworm-updates and bookworm-security; bench/debian_trees.sh; root, network once).
# Each later version is imported into the same stores, and the bytes each tool adds are compared
# with what the version's new and changed files alone compress to (zstd -3).
set -euo pipefail
TREE=${1:?usage: ingest_compare.sh TREE [BUILD_DIR] [REPS]}
BUILD=${2:-build}
REPS=${3:-3}
SWCTL=$BUILD/tools/swctl
W=$(mktemp -d /tmp/sw-ingest.XXXXXX)
trap 'rm -rf "$W"' EXIT
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }
. "$(dirname "$0")/common.sh"
gen_tree() { python3 "$(dirname "$0")/gen_tree.py" "$1" "$2"; }  # DIR MB
if [[ $TREE == gen:* ]]; then
  gen_tree "$W/v1" "${TREE#gen:}"
elif [[ $TREE == debian ]]; then
  "$(dirname "$0")/debian_trees.sh" "$W/deb"
  mv "$W/deb/minbase" "$W/v1"
else
  tar -C "$TREE" -cf - . | tar -C "$W" --one-file-system -xf - 2>/dev/null || true
  mkdir -p "$W/v1" && (cd "$W" && find . -mindepth 1 -maxdepth 1 ! -name v1 -exec mv {} v1/ \;)
fi
find "$W/v1" -type f -print0 | xargs -0 cat > /dev/null  # warm the cache
declare -A T S
run() {  # name, command producing a size on stdout
  local name=$1; shift
  local ts=() sz=0
  for _ in $(seq "$REPS"); do
    rm -rf "$W/out" && mkdir -p "$W/out"
    local t0; t0=$(now)
    sz=$("$@")
    ts+=("$(echo "$(now) - $t0" | bc)")
  done
  T[$name]=$(printf '%s\n' "${ts[@]}" | median)
  S[$name]=$sz
}
cpio_pigz() { (cd "$W/v1" && find . -mindepth 1 | cpio -o -H newc --quiet | pigz -6 > "$W/out/img.gz"); stat -c %s "$W/out/img.gz"; }
cpio_zstd() { (cd "$W/v1" && find . -mindepth 1 | cpio -o -H newc --quiet | zstd -q -3 -T0 > "$W/out/img.zst"); stat -c %s "$W/out/img.zst"; }
casync_make() { casync make --store="$W/out/store" "$W/out/img.caidx" "$W/v1" > /dev/null 2>&1; du -sb "$W/out/store" | cut -f1; }
swctl_import() { "$SWCTL" image import "$W/v1" v1 --store "$W/out/store" --no-kernel --no-default-excludes -q; du -sb "$W/out/store/chunks" | cut -f1; }
run pigz cpio_pigz
run zstd cpio_zstd
run casync casync_make
run stormwulf swctl_import
raw=$(du -sb "$W/v1" | cut -f1)
printf '\ntree %s (%s bytes, %s files), %s runs each, median seconds\n' "$TREE" "$raw" "$(find "$W/v1" -type f | wc -l)" "$REPS"
printf '%-28s %10s %14s %12s %12s\n' tool seconds stored_bytes time/pigz bytes/pigz
for k in pigz zstd casync stormwulf; do
  printf '%-28s %10.3f %14d %12.2f %12.2f\n' "$k" "${T[$k]}" "${S[$k]}" \
    "$(echo "${T[$k]} / ${T[pigz]}" | bc -l)" "$(echo "${S[$k]} / ${S[pigz]}" | bc -l)"
done
printf 'stormwulf/casync: time %.2f, bytes %.2f\n' "$(echo "${T[stormwulf]} / ${T[casync]}" | bc -l)" \
  "$(echo "${S[stormwulf]} / ${S[casync]}" | bc -l)"

# Later versions, each imported into the same stores as the one before.
rm -rf "$W/out" && mkdir -p "$W/sw" "$W/ca"
"$SWCTL" image import "$W/v1" v1 --store "$W/sw" --no-kernel --no-default-excludes -q
casync make --store="$W/ca/store" "$W/ca/v1.caidx" "$W/v1" > /dev/null 2>&1
v1_stored=$(du -sb "$W/sw/chunks" | cut -f1)
# Regular files of NEW that OLD lacks or holds with other content, NUL-separated.
changed_files() {  # OLD NEW
  python3 - "$1" "$2" <<'PY'
import filecmp, os, sys
old, new = sys.argv[1], sys.argv[2]
for root, dirs, files in os.walk(new):
    for f in files:
        p = os.path.join(root, f)
        if os.path.islink(p) or not os.path.isfile(p):
            continue
        q = os.path.join(old, os.path.relpath(p, new))
        if not (os.path.isfile(q) and not os.path.islink(q) and filecmp.cmp(p, q, shallow=False)):
            sys.stdout.write(p + "\0")
PY
}
next_version() {  # LABEL OLD NEW
  local label=$1 old=$2 new=$3 n alone sw_before ca_before t0 t sw_new ca_new bytes
  changed_files "$old" "$new" > "$W/changed"
  n=$(tr -cd '\0' < "$W/changed" | wc -c)
  alone=$(xargs -0 cat < "$W/changed" | zstd -q -3 | wc -c)
  sw_before=$(du -sb "$W/sw/chunks" | cut -f1); ca_before=$(du -sb "$W/ca/store" | cut -f1)
  find "$new" -type f -print0 | xargs -0 cat > /dev/null  # warm the cache, as for v1
  # REPS timed imports, each into a copy of the store as the previous version left it; the median.
  local times=() r
  for r in $(seq "$REPS"); do
    rm -rf "$W/sw-rep" && cp -a "$W/sw" "$W/sw-rep" && sync  # the copy's writeback not in the timing
    t0=$(now); "$SWCTL" image import "$new" "$label" --store "$W/sw-rep" --no-kernel --no-default-excludes -q
    times+=("$(echo "$(now) - $t0" | bc)")
  done
  rm -rf "$W/sw" && mv "$W/sw-rep" "$W/sw"
  t=$(printf '%s\n' "${times[@]}" | median)
  casync make --store="$W/ca/store" "$W/ca/$label.caidx" "$new" > /dev/null 2>&1
  sw_new=$(( $(du -sb "$W/sw/chunks" | cut -f1) - sw_before ))
  ca_new=$(( $(du -sb "$W/ca/store" | cut -f1) - ca_before ))
  printf '\n%s (%d files new or changed): those files alone (zstd -3) %d bytes\n' "$label" "$n" "$alone"
  printf 'stormwulf stores %d new bytes (%.2fx changed-alone, %.1f%% of v1), import %.3fs (median, %.2fx first import)\n' \
    "$sw_new" "$(echo "$sw_new / $alone" | bc -l)" "$(echo "100 * $sw_new / $v1_stored" | bc -l)" "$t" \
    "$(echo "$t / ${T[stormwulf]}" | bc -l)"
  printf 'casync    stores %d new bytes (%.2fx changed-alone)\n' "$ca_new" "$(echo "$ca_new / $alone" | bc -l)"
  # A floor for any import of this version: its manifest's SHA-256 is defined over the whole
  # uncompressed stream, which starts with the directories (whose mtimes every package install
  # changes), so every byte is hashed again, in order, on one core.
  bytes=$(image_raw_bytes "$SWCTL" "$label" "$W/sw")
  t=$(sha256_floor_s "$bytes")
  printf 'floor: SHA-256 alone of its %d-byte stream takes %.3fs (%.2fx first import)\n' \
    "$bytes" "$t" "$(echo "$t / ${T[stormwulf]}" | bc -l)"
}
if [[ $TREE == debian ]]; then
  next_version pkgs "$W/v1" "$W/deb/pkgs"
  next_version node "$W/deb/pkgs" "$W/deb/node"
  if [ -d "$W/deb/upgrade" ]; then
    printf '\nupgrade: minbase after apt-get upgrade of %s\n' \
      "$(tr '\n' ' ' < "${SW_BENCH_CACHE:-/var/cache/stormwulf-bench}/upgrade.packages" 2>/dev/null)"
    next_version upgrade "$W/v1" "$W/deb/upgrade"
  fi
else
  # 2% of the files rewritten (content appended, mtime changed).
  cp -a "$W/v1" "$W/v2"
  find "$W/v2" -type f | awk 'NR % 50 == 0' | while read -r f; do echo "changed $RANDOM" >> "$f"; done
  next_version v2 "$W/v1" "$W/v2"
fi
