#!/usr/bin/env bash
# Makes the three Debian trees of the ingest benchmark (issue 3), cached as tarballs so that
# later runs need no network:
#   minbase  `debootstrap --variant=minbase bookworm` from the mirror apt is configured with
#   pkgs     minbase + less, iproute2, procps installed in a chroot (a package update)
#   node     pkgs + linux-image-amd64, systemd, openssh-server, nfs-common (a node-like image)
#   upgrade  minbase after `apt-get upgrade` from bookworm-updates and bookworm-security (the
#            security upgrade an admin applies to an image; which packages it upgrades depends
#            on the day the tree is made: they are listed in CACHE/upgrade.packages)
#   bench/debian_trees.sh OUT_DIR      -> OUT_DIR/{minbase,pkgs,node,upgrade} (needs root)
set -euo pipefail
OUT=${1:?usage: debian_trees.sh OUT_DIR}
CACHE=${SW_BENCH_CACHE:-/var/cache/stormwulf-bench}
[ "$(id -u)" = 0 ] || { echo "debian_trees.sh needs root (debootstrap, chroot)" >&2; exit 2; }
command -v debootstrap >/dev/null || { echo "debootstrap is not installed" >&2; exit 2; }
mkdir -p "$CACHE" "$OUT"
# The first archive apt uses whose URL ends in /SUFFIX (deb822 "URIs:" or one-line "deb URL ...";
# comments skipped), else http://deb.debian.org/SUFFIX.
apt_archive() {  # SUFFIX
  local url
  url=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list \
          2>/dev/null | awk '$1 == "URIs:" || $1 == "deb" {print $2}' | grep -E "/$1/?\$" \
          | sed -n 1p || true)
  echo "${url:-http://deb.debian.org/$1}"
}
mirror=$(apt_archive debian)
security=$(apt_archive debian-security)

in_chroot() {  # DIR PACKAGE... | DIR --upgrade
  local d=$1; shift
  cp /etc/resolv.conf "$d/etc/resolv.conf"
  printf '#!/bin/sh\nexit 101\n' > "$d/usr/sbin/policy-rc.d"  # no services start in the chroot
  chmod 755 "$d/usr/sbin/policy-rc.d"
  mount -t proc proc "$d/proc"
  local rc=0
  if [ "$1" = --upgrade ]; then
    printf 'deb %s bookworm-updates main\ndeb %s bookworm-security main\n' "$mirror" "$security" \
      >> "$d/etc/apt/sources.list"
  fi
  chroot "$d" env DEBIAN_FRONTEND=noninteractive apt-get -qq update || rc=$?
  if [ $rc = 0 ] && [ "$1" = --upgrade ]; then
    chroot "$d" apt list --upgradable 2>/dev/null | sed -n 's,/.*,,p' > "$CACHE/upgrade.packages"
    [ -s "$CACHE/upgrade.packages" ] || { echo "nothing to upgrade" >&2; rc=1; }
    chroot "$d" env DEBIAN_FRONTEND=noninteractive apt-get -qq upgrade -y > /dev/null || rc=$?
  elif [ $rc = 0 ]; then
    chroot "$d" env DEBIAN_FRONTEND=noninteractive apt-get -qq install -y \
      --no-install-recommends "$@" > /dev/null || rc=$?
  fi
  chroot "$d" apt-get -qq clean || true
  umount "$d/proc"
  rm -f "$d/usr/sbin/policy-rc.d"
  rm -rf "$d/var/lib/apt/lists/"*
  return $rc
}

make_tree() {  # NAME BASE|"" PACKAGE...
  local name=$1 base=$2; shift 2
  local tarball="$CACHE/$name.tar"
  if [ ! -s "$tarball" ]; then
    local d; d=$(mktemp -d "$CACHE/tmp.XXXXXX")
    if [ -z "$base" ]; then
      echo "debootstrap --variant=minbase bookworm from $mirror ..." >&2
      debootstrap --variant=minbase bookworm "$d/root" "$mirror" > "$d/log" 2>&1 \
        || { tail -5 "$d/log" >&2; exit 1; }
      rm -rf "$d/root/var/cache/apt/archives/"*.deb "$d/root/var/lib/apt/lists/"*
    else
      mkdir -p "$d/root" && tar -C "$d/root" -xf "$CACHE/$base.tar"
      if [ "$1" = --upgrade ]; then echo "apt-get upgrade in a copy of $base ..." >&2
      else echo "installing $* into a copy of $base ..." >&2; fi
      in_chroot "$d/root" "$@" || { rm -rf "$d"; return 1; }
    fi
    tar -C "$d/root" --numeric-owner -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    rm -rf "$d"
  fi
  rm -rf "${OUT:?}/$name" && mkdir -p "$OUT/$name" && tar -C "$OUT/$name" --numeric-owner -xf "$tarball"
}

make_tree minbase ""
make_tree pkgs minbase less iproute2 procps
make_tree node pkgs linux-image-amd64 systemd openssh-server nfs-common
# Optional: the security archive may be out of reach (a local mirror without it).
make_tree upgrade minbase --upgrade \
  || echo "debian_trees.sh: no upgrade tree (bookworm-security unreachable?); skipped" >&2
