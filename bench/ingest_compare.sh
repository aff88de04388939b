#!/usr/bin/env bash
# Ingest benchmark: our `swctl image import` against Warewulf's build (`find | cpio -o -H newc |
# pigz -6`), `cpio | zstd -3 -T0`, and `casync make`, on the same tree, in one run. Each tool runs
# REPS times (default 3) from a warm page cache; medians are reported with ratios to the anchors.
#   bench/ingest_compare.sh TREE [BUILD_DIR] [REPS]
# TREE may be gen:MB for a generated tree of about MB megabytes with a realistic size mix: file
# sizes log-uniform from 64 B to 4 MiB (most files small, most bytes in large ones), contents cut
# in sequence from the machine's own /usr files (real binaries, libraries and text, so the
# compressibility is realistic and no two files share content), 12 files per directory.
# A second version of the tree is simulated by rewriting 2% of its files (in a copy), and the
# bytes each tool stores for it are compared with what the changed files alone compress to.
set -euo pipefail
TREE=${1:?usage: ingest_compare.sh TREE [BUILD_DIR] [REPS]}
BUILD=${2:-build}
REPS=${3:-3}
SWCTL=$BUILD/tools/swctl
W=$(mktemp -d /tmp/sw-ingest.XXXXXX)
trap 'rm -rf "$W"' EXIT
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }
gen_tree() { python3 "$(dirname "$0")/gen_tree.py" "$1" "$2"; }  # DIR MB
if [[ $TREE == gen:* ]]; then
  gen_tree "$W/v1" "${TREE#gen:}"
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

# Second version: 2% of the files rewritten (content appended, mtime changed).
rm -rf "$W/out" && mkdir -p "$W/sw" "$W/ca"
"$SWCTL" image import "$W/v1" v1 --store "$W/sw" --no-kernel --no-default-excludes -q
casync make --store="$W/ca/store" "$W/ca/v1.caidx" "$W/v1" > /dev/null 2>&1
cp -a "$W/v1" "$W/v2"
find "$W/v2" -type f | awk 'NR % 50 == 0' > "$W/changed"
while read -r f; do echo "changed $RANDOM" >> "$f"; done < "$W/changed"
changed_alone=$(tr '\n' '\0' < "$W/changed" | xargs -0 cat | zstd -q -3 | wc -c)
sw_before=$(du -sb "$W/sw/chunks" | cut -f1); ca_before=$(du -sb "$W/ca/store" | cut -f1)
t0=$(now); "$SWCTL" image import "$W/v2" v2 --store "$W/sw" --no-kernel --no-default-excludes -q; t_v2=$(echo "$(now) - $t0" | bc)
casync make --store="$W/ca/store" "$W/ca/v2.caidx" "$W/v2" > /dev/null 2>&1
sw_new=$(( $(du -sb "$W/sw/chunks" | cut -f1) - sw_before )); ca_new=$(( $(du -sb "$W/ca/store" | cut -f1) - ca_before ))
printf '\nv2 (%d of the files changed): changed files alone (zstd -3) %d bytes\n' "$(wc -l < "$W/changed")" "$changed_alone"
printf 'stormwulf stores %d new bytes (%.2fx changed-alone, %.1f%% of v1), import %.3fs (%.2fx first import)\n' \
  "$sw_new" "$(echo "$sw_new / $changed_alone" | bc -l)" "$(echo "100 * $sw_new / $sw_before" | bc -l)" "$t_v2" "$(echo "$t_v2 / ${T[stormwulf]}" | bc -l)"
printf 'casync    stores %d new bytes (%.2fx changed-alone)\n' "$ca_new" "$(echo "$ca_new / $changed_alone" | bc -l)"
