#!/usr/bin/env bash
# Builds the tree of Stormwulf's stage-1 initramfs for two-stage boot: busybox-static, the static
# wwclient and an /init that brings up the network (modules from sw.modprobe=, DHCP), provisions
# the node's image into a tmpfs with `wwclient provision`, adds the system overlay
# (`gzip -d | cpio -i`, Warewulf's way) and the runtime overlay (`wwclient --once`), and
# switch_roots into it. Import it as the image `stage1`; stormwulfd serves it at /initramfs/<id>
# to nodes whose iPXE template is two-stage (docs/agent.md, "Two-stage boot").
#   scripts/make-stage1.sh DIR WWCLIENT_STATIC
set -euo pipefail
dir=${1:?usage: make-stage1.sh DIR WWCLIENT_STATIC}
wwclient=${2:?usage: make-stage1.sh DIR WWCLIENT_STATIC}
is_static() { [ -x "$1" ] && ! ldd "$1" >/dev/null 2>&1; }  # ldd fails on static binaries
bb=/bin/busybox
is_static "$bb" || { echo "busybox-static is needed (apt-get install busybox-static)" >&2; exit 1; }
is_static "$wwclient" || { echo "$wwclient is not a static binary (build wwclient-static)" >&2; exit 1; }
rm -rf "$dir"
mkdir -p "$dir"/{bin,sbin,etc,proc,sys,dev,tmp,run,newroot,usr/bin,usr/sbin,usr/lib}
ln -s usr/lib "$dir/lib"
cp "$bb" "$dir/bin/busybox"
for app in sh cat echo mount umount mkdir ln sleep ip udhcpc wget gzip cpio switch_root modprobe \
           tr grep sed poweroff reboot uname; do
  ln -sf busybox "$dir/bin/$app"
done
cp "$wwclient" "$dir/bin/wwclient"
cat > "$dir/etc/udhcpc.script" <<'SCRIPT'
#!/bin/sh
# udhcpc event script: configure the lease on the interface.
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/${mask:-24}" dev "$interface"
    [ -n "$router" ] && ip route add default via "${router%% *}" dev "$interface"
    echo "stage1: $interface $ip/${mask:-24} router ${router:-none}"
    ;;
esac
SCRIPT
chmod 0755 "$dir/etc/udhcpc.script"
cat > "$dir/init" <<'INIT'
#!/bin/sh
# Stormwulf stage 1: provision the node's image into a tmpfs and switch_root into it.
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
fail() { echo "STORMWULF-STAGE1-FAIL $*"; sleep 30; reboot -f; }
arg() { for a in $(cat /proc/cmdline); do case "$a" in "$1"=*) echo "${a#*=}"; return;; esac; done; }
server=$(arg sw.server)
wwid=$(arg wwid)
[ -n "$server" ] || fail "no sw.server= on the kernel command line"
for m in $(arg sw.modprobe | tr ',:' '  '); do modprobe "$m" || echo "stage1: modprobe $m failed"; done
ip link set lo up
dev=$(arg sw.netdev); dev=${dev:-eth0}
ip link set "$dev" up || fail "no network device $dev"
udhcpc -i "$dev" -q -n -t 10 -T 2 -s /etc/udhcpc.script || fail "no DHCP lease on $dev"
# huge=within_size: the root's big files in large folios (Linux tmpfs with transparent huge
# pages), only within each file's size, so small files cost no more memory; unpacking writes
# several times faster (docs/agent.md). Kernels without it refuse the option: then a plain tmpfs.
mount -t tmpfs -o mode=0755,huge=within_size tmpfs /newroot 2>/dev/null \
  || mount -t tmpfs -o mode=0755 tmpfs /newroot || fail "tmpfs"
echo "stage1: root $(grep ' /newroot ' /proc/mounts)"
wwclient provision --server "$server" --root /newroot --cache "" --parallel 4 || fail "provision"
wget -q -O - "$server/system/$wwid?compress=gz" | gzip -d | (cd /newroot && cpio -idmu 2>/dev/null) \
  || echo "stage1: no system overlay"
wwclient --once --server "$server" --root /newroot --config /dev/null || echo "stage1: no runtime overlay"
echo "STORMWULF-STAGE1-OK image, system and runtime overlays from $server"
umount /sys /proc
umount /dev 2>/dev/null
exec switch_root /newroot /init
INIT
chmod 0755 "$dir/init"
if [ "$(id -u)" = 0 ]; then
  mknod -m 600 "$dir/dev/console" c 5 1
  mknod -m 666 "$dir/dev/null" c 1 3
fi
