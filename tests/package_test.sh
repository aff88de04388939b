#!/usr/bin/env bash
# Builds the two .deb packages with CPack and checks them: metadata (dependencies computed from
# the binaries), contents, maintainer scripts, and that the installed server runs.
#   tests/package_test.sh BUILD_DIR
# Install step: when root, the packages are installed for real with apt-get (which must resolve
# their dependencies), stormwulfd is started under systemd when systemd runs, else directly on
# 127.0.0.1, /status is fetched, and the packages are purged again. A machine that already has
# stormwulf installed, or a non-root run, installs into a scratch root with `dpkg --root`
# instead. Exit 77 = skipped (no dpkg).
set -euo pipefail
build=$(cd "${1:?usage: package_test.sh BUILD_DIR}" && pwd)
command -v dpkg-deb >/dev/null || { echo "SKIP: no dpkg-deb"; exit 77; }
work=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

cd "$work"
cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work/out" >cpack.log 2>&1 || { cat cpack.log; fail "cpack"; }
server_deb=$(ls out/stormwulf_*.deb)
client_deb=$(ls out/stormwulf-client_*.deb)
echo "built $(basename "$server_deb") $(basename "$client_deb")"

# Metadata: shlibdeps found the real libraries.
info=$(dpkg-deb -I "$server_deb")
for dep in liburing libzstd libyaml-cpp libarchive libboost-program-options; do
  grep -q "Depends:.*$dep" <<<"$info" || fail "stormwulf does not depend on $dep: $info"
done
grep -q "Recommends: dnsmasq-base" <<<"$info" || fail "Recommends"
dpkg-deb -I "$server_deb" postinst >/dev/null || fail "no postinst"
# Contents.
contents=$(dpkg-deb -c "$server_deb")
for f in ./usr/sbin/stormwulfd ./usr/bin/swctl ./etc/stormwulf/stormwulfd.yaml ./etc/stormwulf/nodes.conf \
         ./lib/systemd/system/stormwulfd.service ./usr/share/stormwulf/ipxe/default.ipxe \
         ./usr/share/stormwulf/overlays/wwinit/rootfs/warewulf/init \
         ./usr/share/bash-completion/completions/swctl ./usr/share/doc/stormwulf/admin-guide.md; do
  grep -q " $f\$" <<<"$contents" || fail "stormwulf lacks $f"
done
ccontents=$(dpkg-deb -c "$client_deb")
for f in ./usr/sbin/wwclient ./lib/systemd/system/wwclient.service ./etc/stormwulf/wwclient.conf; do
  grep -q " $f\$" <<<"$ccontents" || fail "stormwulf-client lacks $f"
done
# /etc files are conffiles (an upgrade keeps the admin's edits).
dpkg-deb -I "$server_deb" conffiles | grep -q /etc/stormwulf/nodes.conf || fail "nodes.conf is not a conffile"

port=$((20000 + RANDOM % 20000))
run_server() {  # $1 = root prefix ("" for the real system)
  local root=$1
  "$root/usr/bin/swctl" store init --store "$work/store" >/dev/null
  "$root/usr/sbin/stormwulfd" --config "$root/etc/stormwulf/stormwulfd.yaml" --listen "127.0.0.1:$port" \
    --store "$work/store" --nodes "$root/etc/stormwulf/nodes.conf" --ipxe-dir "$root/usr/share/stormwulf/ipxe" \
    >"$work/stormwulfd.log" 2>&1 &
  pid=$!
}
fetch_status() {
  for _ in $(seq 50); do
    if out=$(curl -fsS "http://127.0.0.1:$port/status" 2>/dev/null); then echo "$out"; return 0; fi
    sleep 0.1
  done
  cat "$work/stormwulfd.log" >&2
  return 1
}

if [ "$(id -u)" = 0 ] && ! dpkg -s stormwulf >/dev/null 2>&1 && command -v apt-get >/dev/null; then
  echo "installing for real with apt-get"
  trap 'cleanup; apt-get purge -y stormwulf stormwulf-client >/dev/null 2>&1 || true' EXIT
  apt-get install -y -o DPkg::Lock::Timeout=300 "$work/$server_deb" "$work/$client_deb" >apt.log 2>&1 \
    || { cat apt.log; fail "apt-get install"; }
  [ -d /var/lib/stormwulf/overlays/wwinit ] || fail "postinst did not seed /var/lib/stormwulf/overlays"
  [ -f /var/lib/stormwulf/store/STORMWULF-STORE ] || fail "postinst did not create the store"
  swctl --help >/dev/null || fail "swctl not on PATH"
  wwclient --help >/dev/null 2>&1 || fail "wwclient not installed"
  if [ -d /run/systemd/system ]; then
    mkdir -p /etc/systemd/system/stormwulfd.service.d
    printf '[Service]\nExecStart=\nExecStart=/usr/sbin/stormwulfd --config /etc/stormwulf/stormwulfd.yaml --listen 127.0.0.1:%s\n' \
      "$port" >/etc/systemd/system/stormwulfd.service.d/test.conf
    systemctl daemon-reload
    systemctl start stormwulfd || { journalctl -u stormwulfd --no-pager | tail -20; fail "systemctl start"; }
    status=$(fetch_status) || fail "/status under systemd"
    systemctl stop stormwulfd
    rm -rf /etc/systemd/system/stormwulfd.service.d
    echo "stormwulfd ran under systemd (Type=notify) and answered /status"
  else
    run_server ""
    status=$(fetch_status) || fail "/status"
    echo "stormwulfd (installed, no systemd here) answered /status"
  fi
else
  echo "installing into a scratch root with dpkg --root"
  root="$work/root"
  mkdir -p "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/info"
  touch "$root/var/lib/dpkg/status"
  dpkg --root="$root" --force-depends --force-not-root --force-script-chrootless --no-triggers \
    -i "$server_deb" "$client_deb" >dpkg.log 2>&1 || { cat dpkg.log; fail "dpkg --root -i"; }
  run_server "$root"
  status=$(fetch_status) || fail "/status"
  echo "stormwulfd from the scratch root answered /status"
fi
grep -q '"nodes"' <<<"$status" || fail "unexpected /status: $status"
# The installed bash completion completes groups and commands.
comp=${root:-}/usr/share/bash-completion/completions/swctl
words=$(bash -c ". '$comp'; COMP_WORDS=(swctl kernel ''); COMP_CWORD=2; _swctl; echo \${COMPREPLY[*]}")
grep -q "import" <<<"$words" && grep -q "delete" <<<"$words" || fail "bash completion: '$words'"
words=$(bash -c ". '$comp'; COMP_WORDS=(swctl no); COMP_CWORD=1; _swctl; echo \${COMPREPLY[*]}")
[ "$words" = "node" ] || fail "bash completion of groups: '$words'"
echo "PASS"
