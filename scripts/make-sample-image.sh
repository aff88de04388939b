#!/usr/bin/env bash
# Builds a tiny sample root tree for demos and boot tests: busybox-static, an /init that mounts
# proc/sys/dev, prints "STORMWULF-BOOT-OK hostname=<hostname> image=<name>" on the console and
# powers off, plus /dev/console and /dev/null (created when run as root; the kernel needs a
# console before devtmpfs is mounted).
#   scripts/make-sample-image.sh DIR [IMAGE-NAME]
set -euo pipefail
dir=${1:?usage: make-sample-image.sh DIR [IMAGE-NAME]}
name=${2:-sample}
bb=$(command -v busybox || true)
[ -x /bin/busybox ] && bb=/bin/busybox
if [ -z "$bb" ] || ! file -L "$bb" 2>/dev/null | grep -q 'statically linked'; then
  for c in /bin/busybox /usr/bin/busybox; do
    if [ -x "$c" ] && ldd "$c" 2>&1 | grep -q 'not a dynamic'; then bb=$c; fi
  done
fi
[ -n "$bb" ] || { echo "busybox-static is needed (apt-get install busybox-static)" >&2; exit 1; }
rm -rf "$dir"
mkdir -p "$dir"/{bin,sbin,etc,proc,sys,dev,tmp,run,root,usr/bin,usr/sbin,usr/lib,var/lib}
# usr-merged like current distributions: kernel-modules layers must unpack through this symlink.
ln -s usr/lib "$dir/lib"
cp "$bb" "$dir/bin/busybox"
for app in sh ash cat echo ls mount umount mkdir ln sleep poweroff reboot hostname ip uname dmesg \
           sed grep ps kill cp mv rm chmod modprobe insmod lsmod tr; do
  ln -sf busybox "$dir/bin/$app"
done
echo "$name-node" > "$dir/etc/hostname"
echo "$name" > "$dir/etc/stormwulf-image"
cat > "$dir/init" <<'INIT'
#!/bin/sh
# Sample image init: report and power off (the boot tests read the marker on ttyS0).
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
# sw.modprobe=a,b (or a:b) on the kernel command line: load those modules and report each.
for arg in $(cat /proc/cmdline); do
  case "$arg" in sw.modprobe=*)
    for m in $(echo "${arg#sw.modprobe=}" | tr ',:' '  '); do
      if grep -q "^$m " /proc/modules || { modprobe "$m" && grep -q "^$m " /proc/modules; }; then
        echo "STORMWULF-KMOD-OK $m"
      else
        echo "STORMWULF-KMOD-FAIL $m"
      fi
    done;;
  esac
done
[ -x /warewulf/init ] && exec /warewulf/init
echo "STORMWULF-BOOT-OK hostname=$(cat /etc/hostname) image=$(cat /etc/stormwulf-image) uptime=$(cut -d' ' -f1 /proc/uptime)"
[ -f /etc/stormwulf-runtime ] && echo "STORMWULF-RUNTIME $(cat /etc/stormwulf-runtime)"
poweroff -f
INIT
chmod 0755 "$dir/init"
# A small dpkg database, as Debian images have: `swctl image import` then stores the image in
# package order (docs/formats/image.md), and the boot tests run that order through a real kernel.
mkdir -p "$dir/var/lib/dpkg/info"
find "$dir/bin" -mindepth 1 | sed "s|^$dir||" | LC_ALL=C sort > "$dir/var/lib/dpkg/info/busybox-static.list"
printf '/init\n/etc/hostname\n/etc/stormwulf-image\n' > "$dir/var/lib/dpkg/info/stormwulf-sample.list"
if [ "$(id -u)" = 0 ]; then
  mknod -m 600 "$dir/dev/console" c 5 1
  mknod -m 666 "$dir/dev/null" c 1 3
fi
