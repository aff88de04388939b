#!/usr/bin/env python3
"""Real network boot through stormwulfd: QEMU (TCG) + Debian's iPXE ROM.

Builds the sample image (scripts/make-sample-image.sh), imports it with `swctl image import`
together with the host's Debian kernel, writes a nodes.conf, starts stormwulfd on 127.0.0.1 and
boots a VM whose only way out is QEMU user networking with restrict=on: its TFTP server hands iPXE
a one-line script that chains to http://10.0.2.100/ipxe/${mac:hexhyp}, and guestfwd relays every
guest connection to 10.0.2.100:80 to stormwulfd on 127.0.0.1 (`busybox nc`). The test passes when
the serial console shows the marker printed by the image's /init.

Modes: zstd (our template), gz (Warewulf's request pattern), unknown (a MAC not in nodes.conf must
get the "not configured" script), overlays (zstd plus system and runtime overlays built by
`swctl overlay build` from overlays/: two VMs with different MACs and profiles boot at the same
time and each must come up with its own hostname from the wwinit/hostname overlays and print a
file of its own runtime overlay), kernel (the image is imported
without a kernel; the node names a kernel imported with `swctl kernel import` from the Debian kernel
and a modules directory holding only isofs and cdrom, without modules.dep so depmod makes it; the
image's /init must `modprobe isofs` from the modules layer served after the image), live (the
node boots with virtio_net from a modules layer, brings up its network from the wwinit overlay and
runs the real wwclient every 2 s; the test then changes the node's runtime overlay on the head node
and rebuilds it, and the running VM must show the changed file and the deleted one gone), twostage
(the two-stage template: kernel + the stage-1 initramfs of scripts/make-stage1.sh + virtio modules;
stage 1 gets a DHCP lease, runs `wwclient provision` into a tmpfs, adds both overlays and
switch_roots into the image, which must come up with its hostname and runtime file), midstorm
(a new version of the node's image is imported, and the old version's chunks garbage-collected,
while the VM is still downloading the image: the VM must boot the version it started with, whole).
Exit codes: 0 pass, 1 fail, 77 skip (no QEMU, ROM or kernel).
"""
import argparse
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "integration"))
from swtest import accepting, start_stormwulfd  # noqa: E402

SKIP = 77
MAC = "52:54:00:12:34:56"
MAC2 = "52:54:00:12:34:57"  # the second VM of the overlays mode


# Modules for the guest's virtio NIC (with their dependencies); depmod indexes them.
LIVE_MODULES = ["kernel/drivers/virtio/virtio.ko", "kernel/drivers/virtio/virtio_ring.ko",
                "kernel/drivers/virtio/virtio_pci.ko", "kernel/drivers/virtio/virtio_pci_modern_dev.ko",
                "kernel/drivers/virtio/virtio_pci_legacy_dev.ko", "kernel/drivers/net/virtio_net.ko",
                "kernel/drivers/net/net_failover.ko", "kernel/net/core/failover.ko"]

# System overlay script for the live mode: run wwclient every 2 s and report the runtime files
# on the console whenever they change.
LIVE_AGENT = """#!/bin/sh
/usr/bin/wwclient --server http://10.0.2.100 --interval 2 --log-level info >/dev/console 2>&1 &
echo "STORMWULF-WWCLIENT-STARTED pid=$!"
(
  last=""
  while true; do
    cur="$(cat /etc/stormwulf-live 2>/dev/null)"
    if [ -e /etc/stormwulf-doomed ]; then d=present; else d=gone; fi
    if [ "$cur $d" != "$last" ]; then echo "STORMWULF-LIVE $cur doomed=$d"; last="$cur $d"; fi
    sleep 1
  done
) &
"""


class Console:
    """Non-blocking reader of the VM's serial console."""

    def __init__(self, vm):
        self.vm = vm
        self.buf = b""
        os.set_blocking(vm.stdout.fileno(), False)

    def wait_for(self, want, deadline):
        while time.time() < deadline:
            try:
                chunk = self.vm.stdout.read()
            except BlockingIOError:
                chunk = None
            if chunk:
                self.buf += chunk
            elif self.vm.poll() is not None:
                return want in self.text()
            else:
                time.sleep(0.1)
            if want in self.text():
                return True
        return False

    def text(self):
        return self.buf.decode("utf-8", "replace")


def live_update(vm, live_etc, build_overlays, timeout, work):
    con = Console(vm)
    start = time.time()
    if not con.wait_for("STORMWULF-LIVE v1 doomed=present", start + timeout) or \
            "STORMWULF-WWCLIENT-STARTED" not in con.text():
        return live_fail(con, "the node did not come up with wwclient and runtime overlay v1", work)
    booted = time.time() - start
    # Let wwclient apply v1 once (it owns the files from then on), then change the overlay.
    if not con.wait_for("runtime overlay applied", time.time() + 30):
        return live_fail(con, "wwclient never applied the runtime overlay", work)
    with open(os.path.join(live_etc, "stormwulf-live"), "w") as f:
        f.write("v2\n")
    os.unlink(os.path.join(live_etc, "stormwulf-doomed"))
    t0 = time.time()
    build_overlays()
    if not con.wait_for("STORMWULF-LIVE v2 doomed=gone", t0 + 30):
        return live_fail(con, "the running node did not pick up the changed runtime overlay", work)
    print(f"PASS (live): booted in {booted:.1f}s; runtime overlay change visible in the running "
          f"VM {time.time() - t0:.1f}s after the rebuild (interval 2 s)")
    for l in con.text().replace("\r", "\n").split("\n"):
        if "STORMWULF" in l or "wwclient" in l:
            print("  console: " + l.strip()[:160])
    return 0


def node_stage(port, node):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=5) as r:
            return json.loads(r.read())["nodes"].get(node, {}).get("stage", "")
    except OSError:
        return ""


def mid_storm_update(vm, port, rootfs, swctl, store, kernel, timeout, work):
    con = Console(vm)
    start = time.time()
    while node_stage(port, "vm1") != "image":
        if time.time() - start > timeout or vm.poll() is not None:
            return live_fail(con, "the VM never started downloading its image", work)
        con.wait_for("\0", time.time() + 0.05)  # keep draining the console
    # v2: another marker; import it over the same name and delete v1's chunks from disk.
    with open(os.path.join(rootfs, "etc", "stormwulf-image"), "w") as f:
        f.write("sample-v2\n")
    with open(os.path.join(rootfs, "usr", "big.bin"), "r+b") as f:
        f.write(os.urandom(1 << 20))  # and some changed segments
    subprocess.run([swctl, "image", "import", rootfs, "sample", "--store", store, "--kernel", kernel,
                    "--quiet"], check=True)
    subprocess.run([swctl, "store", "gc", "--store", store], check=True, stdout=subprocess.DEVNULL)
    stage_after = node_stage(port, "vm1")
    if stage_after != "image":
        return live_fail(con, f"the download was over before the update landed (stage {stage_after!r});"
                              " the test image is too small for this machine", work)
    if not con.wait_for("STORMWULF-BOOT-OK", start + timeout):
        return live_fail(con, "no boot after the mid-download update", work)
    con.wait_for("\n", time.time() + 2)
    text = con.text()
    if "image=sample " not in text or "junk" in text or "Kernel panic" in text:
        return live_fail(con, "the node did not boot the version it started downloading, whole", work)
    print(f"PASS (midstorm): v2 imported and v1's chunks collected while the image was downloading; "
          f"the VM booted v1 whole after {time.time() - start:.1f}s")
    for l in text.replace("\r", "\n").split("\n"):
        if "STORMWULF" in l or "/image/" in l:
            print("  console: " + l.strip()[:160])
    return 0


def live_fail(con, why, work):
    print("FAIL: " + why + "; last console lines:")
    for l in [l for l in con.text().replace("\r", "\n").split("\n") if l.strip()][-60:]:
        print("  " + l[:200])
    print("--- stormwulfd log:")
    print(open(os.path.join(work, "stormwulfd.log")).read()[-3000:])
    return 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", required=True, help="CMake build directory")
    ap.add_argument("--mode", choices=["zstd", "gz", "unknown", "overlays", "kernel", "live", "twostage", "midstorm"], default="zstd")
    ap.add_argument("--timeout", type=float, default=180)
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()

    src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    qemu = shutil.which("qemu-system-x86_64")
    kernels = sorted(glob.glob("/boot/vmlinuz-*"))
    rom_dir = "/usr/lib/ipxe/qemu"
    busybox = "/bin/busybox"
    missing = [what for what, ok in [("qemu-system-x86_64", qemu), ("a kernel in /boot", kernels),
                                     ("ipxe-qemu ROMs", os.path.exists(rom_dir + "/pxe-virtio.rom")),
                                     ("busybox-static", os.path.exists(busybox))] if not ok]
    if missing:
        print("SKIP: missing " + ", ".join(missing))
        return SKIP
    if os.geteuid() != 0:
        print("SKIP: needs root (the sample image has device nodes)")
        return SKIP
    swctl = os.path.join(args.build, "tools", "swctl")

    work = tempfile.mkdtemp(prefix="sw-qemu-")
    procs = []
    try:
        store = os.path.join(work, "store")
        rootfs = os.path.join(work, "rootfs")
        subprocess.run([os.path.join(src, "scripts", "make-sample-image.sh"), rootfs, "sample"],
                       check=True)
        kernel_yaml = ""
        overlay_dir = os.path.join(src, "overlays")
        if args.mode == "midstorm":
            # Big enough that iPXE is still downloading when the new version lands.
            with open(os.path.join(rootfs, "usr", "big.bin"), "wb") as f:
                f.write(os.urandom(64 << 20))
        if args.mode == "live":
            # wwclient inside the image; test overlays next to a copy of the shipped ones.
            wwclient = os.path.join(args.build, "agent", "wwclient-static")
            if not os.path.exists(wwclient):
                print("SKIP: no wwclient-static (sanitizer build?)")
                return SKIP
            shutil.copy(wwclient, os.path.join(rootfs, "usr", "bin", "wwclient"))
            overlay_dir = os.path.join(work, "overlays")
            shutil.copytree(os.path.join(src, "overlays"), overlay_dir, symlinks=True)
            initd = os.path.join(overlay_dir, "live-agent", "rootfs", "warewulf", "init.d")
            os.makedirs(initd)
            with open(os.path.join(initd, "50-wwclient"), "w") as f:
                f.write(LIVE_AGENT)
            os.chmod(os.path.join(initd, "50-wwclient"), 0o755)
            live_etc = os.path.join(overlay_dir, "live-runtime", "rootfs", "etc")
            os.makedirs(live_etc)
            with open(os.path.join(live_etc, "stormwulf-live"), "w") as f:
                f.write("v1\n")
            with open(os.path.join(live_etc, "stormwulf-doomed"), "w") as f:
                f.write("delete me\n")
        if args.mode == "twostage":
            wwclient = os.path.join(args.build, "agent", "wwclient-static")
            if not os.path.exists(wwclient):
                print("SKIP: no wwclient-static (sanitizer build?)")
                return SKIP
            subprocess.run([swctl, "image", "stage1", "--store", store], check=True,
                           stdout=subprocess.DEVNULL)  # scripts/make-stage1.sh + import
        if args.mode in ("kernel", "live", "twostage"):
            # The image has no kernel; the node boots an imported one with a modules layer.
            subprocess.run([swctl, "image", "import", rootfs, "sample", "--store", store,
                            "--no-kernel", "--quiet"], check=True)
            version = os.path.basename(kernels[-1])[len("vmlinuz-"):]
            mods = os.path.join(work, "mods", version)
            for rel in LIVE_MODULES if args.mode in ("live", "twostage") else ["kernel/fs/isofs/isofs.ko",
                                                                 "kernel/drivers/cdrom/cdrom.ko"]:
                os.makedirs(os.path.dirname(os.path.join(mods, rel)), exist_ok=True)
                shutil.copy(os.path.join("/lib/modules", version, rel), os.path.join(mods, rel))
            subprocess.run([swctl, "kernel", "import", kernels[-1], "debian-test", "--modules", mods,
                            "--store", store, "--quiet"], check=True)
            kernel_yaml = "      version: debian-test\n"
        else:
            subprocess.run([swctl, "image", "import", rootfs, "sample", "--store", store,
                            "--kernel", kernels[-1], "--quiet"], check=True)
        template = {"gz": "warewulf-compat", "twostage": "two-stage"}.get(args.mode, "default")
        modprobe = {"kernel": ", sw.modprobe=isofs",
                    "live": ", sw.modprobe=virtio_pci:virtio_net",
                    "twostage": ", sw.modprobe=virtio_pci:virtio_net"}.get(args.mode, "")
        poweroff = "" if args.mode == "live" else ", sw.poweroff"
        overlays = ("    system overlay: [wwinit, hostname, hosts]\n"
                    "    runtime overlay: [hosts, stormwulf-marker]\n") if args.mode in ("overlays", "twostage") else ""
        if args.mode == "live":
            overlays = ("    system overlay: [wwinit, hostname, hosts, live-agent]\n"
                        "    runtime overlay: [stormwulf-marker, live-runtime]\n")
        with open(os.path.join(work, "nodes.conf"), "w") as f:
            f.write(f"""nodeprofiles:
  default:
    image name: sample
    ipxe template: {template}
    kernel:
{kernel_yaml}      args: [console=ttyS0, panic=-1, quiet{poweroff}{modprobe}]
{overlays}  gpu:
    tags: {{role: gpu}}
nodes:
  vm1:
    profiles: [default]
    network devices:
      default: {{device: eth0, hwaddr: "{MAC}", ipaddr: 10.0.2.15, netmask: 255.255.255.0}}
  vm2:
    profiles: [default, gpu]
    network devices:
      default: {{device: eth0, hwaddr: "{MAC2}", ipaddr: 10.0.2.16, netmask: 255.255.255.0}}
""")
        def build_overlays():
            subprocess.run([swctl, "overlay", "build", "--store", store, "--nodes",
                            os.path.join(work, "nodes.conf"), "--overlay-dir", overlay_dir,
                            "--server-ip", "10.0.2.2", "--quiet"], check=True)
        if args.mode in ("overlays", "live", "twostage"):
            build_overlays()
        # stormwulfd on a free loopback port, its log in work/stormwulfd.log (printed on failure).
        srv, port = start_stormwulfd(args.build, work, store, os.path.join(work, "nodes.conf"),
                                     ["--threads", "1", "--log-level", "info"])
        procs.append(srv)
        if not accepting(port):
            print("FAIL: stormwulfd did not start")
            print(open(os.path.join(work, "stormwulfd.log")).read())
            return 1
        tftp = os.path.join(work, "tftp")
        os.makedirs(tftp)
        with open(os.path.join(tftp, "boot.ipxe"), "w") as f:
            f.write("#!ipxe\nchain http://10.0.2.100/ipxe/${mac:hexhyp}\n")
        mac = MAC if args.mode != "unknown" else "52:54:00:ab:cd:ef"
        # The only path out of the guest: 10.0.2.100:80 -> 127.0.0.1:<port>.
        netdev = (f"user,id=n0,restrict=on,tftp={tftp},bootfile=boot.ipxe,"
                  f"guestfwd=tcp:10.0.2.100:80-cmd:{busybox} nc 127.0.0.1 {port}")
        cmd = [qemu, "-accel", "tcg", "-nographic", "-m", "384", "-no-reboot", "-boot", "n",
               "-L", rom_dir, "-netdev", netdev, "-device", f"virtio-net-pci,netdev=n0,mac={mac}"]
        start = time.time()
        vm = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, start_new_session=True)
        procs.append(vm)
        vm2 = None
        if args.mode == "overlays":
            # A second node (other MAC, other profile) boots at the same time from the same server.
            vm2 = subprocess.Popen(cmd[:-1] + [f"virtio-net-pci,netdev=n0,mac={MAC2}"],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, start_new_session=True)
            procs.insert(1, vm2)
        if args.mode == "live":
            return live_update(vm, live_etc, build_overlays, args.timeout, work)
        if args.mode == "midstorm":
            return mid_storm_update(vm, port, rootfs, swctl, store, kernels[-1], args.timeout, work)
        want = {"unknown": "this node is not configured",
                "overlays": "STORMWULF-RUNTIME runtime overlay for vm1",
                "twostage": "STORMWULF-RUNTIME runtime overlay for vm1"}.get(
                    args.mode, "STORMWULF-BOOT-OK hostname=sample-node image=sample")
        lines = []
        os.set_blocking(vm.stdout.fileno(), False)
        buf = b""
        found = False
        while time.time() - start < args.timeout:
            try:
                chunk = vm.stdout.read()
            except BlockingIOError:
                chunk = None
            if chunk:
                buf += chunk
                text = buf.decode("utf-8", "replace")
                if want in text:
                    found = True
                    break
            elif vm.poll() is not None:
                break
            else:
                time.sleep(0.1)
        elapsed = time.time() - start
        text = buf.decode("utf-8", "replace")
        lines = [l for l in text.replace("\r", "\n").split("\n") if l.strip()]
        if found and args.mode == "kernel" and "STORMWULF-KMOD-OK isofs" not in text:
            found = False
            print("FAIL: booted, but isofs did not load from the modules layer")
        if found and args.mode == "twostage" and ("STORMWULF-STAGE1-OK" not in text or
                                                   "/initramfs/" not in text):
            found = False
            print("FAIL: the node did not come up through stage 1")
        if found and args.mode == "twostage" and "huge=within_size" not in text:
            found = False
            print("FAIL: stage 1 did not mount the root tmpfs with huge=within_size")
        if found and vm2 is not None:
            con2 = Console(vm2)
            if not con2.wait_for("STORMWULF-RUNTIME runtime overlay for vm2", start + args.timeout) or \
                    "STORMWULF-BOOT-OK hostname=vm2 image=sample" not in con2.text():
                found = False
                print("FAIL: the second VM (vm2, profiles default+gpu) did not boot as vm2; its console:")
                for l in [l for l in con2.text().replace("\r", "\n").split("\n") if l.strip()][-30:]:
                    print("  vm2: " + l[:200])
            else:
                print("  vm2 (other MAC and profile, booted concurrently): " +
                      [l for l in con2.text().split("\n") if "STORMWULF-BOOT-OK" in l][0].strip())
        if found and args.mode in ("overlays", "twostage") and "STORMWULF-BOOT-OK hostname=vm1 image=sample" not in text:
            found = False
            print("FAIL: the runtime overlay arrived but the hostname from the system overlay did not")
        if found:
            print(f"PASS ({args.mode}): marker after {elapsed:.1f}s")
            for l in lines:
                if "STORMWULF" in l or "http://" in l or "not configured" in l or "kmods" in l or "stage1" in l:
                    print("  console: " + l[:160])
            return 0
        print(f"FAIL ({args.mode}): no marker '{want}' after {elapsed:.1f}s; last console lines:")
        for l in lines[-50:]:
            print("  " + l[:200])
        print("--- stormwulfd log:")
        print(open(os.path.join(work, "stormwulfd.log")).read()[-3000:])
        return 1
    finally:
        for p in procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL) if p is not procs[0] else p.terminate()
                except OSError:
                    pass
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
        if args.keep:
            print("work directory kept: " + work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
