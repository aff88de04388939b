#!/usr/bin/env python3
"""swctl configure dhcp|tftp with the real dnsmasq, in network namespaces this test creates.

Writes the TFTP root and the dnsmasq configuration for a small nodes.conf, checks that dnsmasq
accepts it (`dnsmasq --test`) and that a duplicate MAC is refused with nothing written. Then it
creates two namespaces joined by a veth pair (10.201.0.0/24; nothing else is touched), runs dnsmasq
with the generated file in one, and in the other does real DHCP exchanges with busybox udhcpc
using node n1's MAC: as plain PXE firmware (gets n1's address, its router, undionly.kpxe), as
x86_64 UEFI (snponly.efi) and as iPXE (stormwulf.ipxe); finally it fetches stormwulf.ipxe over
TFTP and compares it with the file written. Exit 77 = skipped (not root, no netns, no dnsmasq).
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

from swtest import check, failures, finish

BUILD = sys.argv[1]
SWCTL = os.path.join(BUILD, "tools", "swctl")
BUSYBOX = "/bin/busybox"



def sh(*args, check_rc=True, **kw):
    r = subprocess.run(list(args), capture_output=True, text=True, **kw)
    if check_rc and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {r.stdout}{r.stderr}")
    return r


NODES = """nodeprofiles:
  default:
    network devices:
      default: {netmask: 255.255.255.0, gateway: 10.201.0.254}
nodes:
  n1:
    profiles: [default]
    network devices:
      default: {hwaddr: "02:5e:00:00:01:01", ipaddr: 10.201.0.11}
  n2:
    profiles: [default]
    network devices:
      default: {hwaddr: "02:5e:00:00:01:02", ipaddr: 10.201.0.12}
"""

UDHCPC_SCRIPT = """#!/bin/sh
# udhcpc event script: record what the server offered.
[ "$1" = bound ] || exit 0
echo "ip=$ip" > "$OUT"
echo "router=$router" >> "$OUT"
echo "siaddr=$siaddr" >> "$OUT"
echo "boot_file=$boot_file" >> "$OUT"
"""


def main():
    if os.geteuid() != 0:
        print("SKIP: needs root for network namespaces")
        return 77
    for tool in ("dnsmasq", "ip"):
        if not shutil.which(tool):
            print(f"SKIP: no {tool}")
            return 77
    if not os.path.exists(BUSYBOX) or not os.path.exists("/usr/lib/ipxe/undionly.kpxe"):
        print("SKIP: needs busybox-static and Debian's ipxe package")
        return 77
    work = tempfile.mkdtemp(prefix="sw-dhcp-")
    tag = uuid.uuid4().hex[:6]
    ns_srv, ns_cli = f"swt-s-{tag}", f"swt-c-{tag}"
    if_srv, if_cli = f"sws{tag}", f"swc{tag}"
    dnsmasq = None
    try:
        conf = os.path.join(work, "nodes.conf")
        open(conf, "w").write(NODES)
        tftp = os.path.join(work, "tftp")
        out = os.path.join(work, "dnsmasq.d", "stormwulf.conf")
        r = sh(SWCTL, "configure", "tftp", "--tftp-root", tftp, "--server-ip", "10.201.0.1", "--port", "9873")
        script = open(os.path.join(tftp, "stormwulf.ipxe")).read()
        check(script.startswith("#!ipxe") and "chain http://10.201.0.1:9873/ipxe/${mac:hexhyp}" in script and
              os.path.getsize(os.path.join(tftp, "undionly.kpxe")) > 10000 and
              os.path.exists(os.path.join(tftp, "snponly.efi")), "configure tftp fills the TFTP root")
        r = sh(SWCTL, "configure", "dhcp", "--nodes", conf, "--server-ip", "10.201.0.1", "--interface", if_srv,
               "--tftp-root", tftp, "--output", out)
        text = open(out).read()
        check("dhcp-host=02:5e:00:00:01:01,set:swgw0,10.201.0.11,n1,infinite" in text and
              "dhcp-range=10.201.0.0,static,255.255.255.0" in text and
              "dhcp-option=tag:swgw0,option:router,10.201.0.254" in text and f"interface={if_srv}" in text,
              "configure dhcp writes static leases, the subnet and the router: " + r.stdout.strip())
        check(sh("dnsmasq", "--test", f"--conf-file={out}", check_rc=False).returncode == 0,
              "dnsmasq --test accepts the configuration")
        bad = os.path.join(work, "bad.conf")
        open(bad, "w").write(NODES.replace('"02:5e:00:00:01:02"', '"02:5e:00:00:01:01"'))
        out2 = os.path.join(work, "other", "stormwulf.conf")
        r = sh(SWCTL, "configure", "dhcp", "--nodes", bad, "--server-ip", "10.201.0.1", "--output", out2,
               check_rc=False)
        check(r.returncode == 1 and "used by both 'n1' and 'n2'" in r.stderr and not os.path.exists(out2),
              "a duplicate MAC is refused and nothing is written")
        r = sh(SWCTL, "configure", "dhcp", "--nodes", conf, "--output", out2, check_rc=False)
        check(r.returncode == 2 and "--server-ip" in r.stderr, "--server-ip is required")

        # Two namespaces and a veth pair: the only network this test touches.
        sh("ip", "netns", "add", ns_srv)
        sh("ip", "netns", "add", ns_cli)
        sh("ip", "link", "add", if_srv, "netns", ns_srv, "type", "veth", "peer", "name", if_cli, "netns", ns_cli)
        sh("ip", "-n", ns_srv, "addr", "add", "10.201.0.1/24", "dev", if_srv)
        sh("ip", "-n", ns_srv, "link", "set", if_srv, "up")
        sh("ip", "-n", ns_srv, "link", "set", "lo", "up")
        sh("ip", "-n", ns_cli, "link", "set", if_cli, "address", "02:5e:00:00:01:01")
        sh("ip", "-n", ns_cli, "link", "set", if_cli, "up")
        sh("ip", "-n", ns_cli, "link", "set", "lo", "up")
        log = open(os.path.join(work, "dnsmasq.log"), "w")
        dnsmasq = subprocess.Popen(["ip", "netns", "exec", ns_srv, "dnsmasq", "--no-daemon", f"--conf-file={out}",
                                    f"--pid-file={work}/dnsmasq.pid", f"--dhcp-leasefile={work}/leases",
                                    "--user=root", "--group=root"], stdout=log, stderr=subprocess.STDOUT)
        time.sleep(0.5)
        ev = os.path.join(work, "udhcpc.sh")
        open(ev, "w").write(UDHCPC_SCRIPT)
        os.chmod(ev, 0o755)

        def dhcp(*extra):
            res = os.path.join(work, "lease")
            if os.path.exists(res):
                os.unlink(res)
            sh("ip", "netns", "exec", ns_cli, BUSYBOX, "udhcpc", "-i", if_cli, "-n", "-q", "-f", "-t", "5",
               "-T", "1", "-s", ev, *extra, env=dict(os.environ, OUT=res), check_rc=False)
            if not os.path.exists(res):
                return {}
            return dict(l.strip().split("=", 1) for l in open(res) if "=" in l)

        lease = dhcp()
        check(lease.get("ip") == "10.201.0.11" and lease.get("router") == "10.201.0.254" and
              lease.get("siaddr") == "10.201.0.1" and lease.get("boot_file") == "undionly.kpxe",
              f"BIOS PXE: n1's address, router, next server and undionly.kpxe ({lease})")
        lease = dhcp("-x", "0x5d:0007")
        check(lease.get("boot_file") == "snponly.efi", f"x86_64 UEFI (client-arch 7): snponly.efi ({lease})")
        lease = dhcp("-x", "0xaf:01")
        check(lease.get("boot_file") == "stormwulf.ipxe", f"iPXE (option 175): stormwulf.ipxe ({lease})")
        sh("ip", "-n", ns_cli, "addr", "add", "10.201.0.11/24", "dev", if_cli)
        got = os.path.join(work, "got.ipxe")
        sh("ip", "netns", "exec", ns_cli, BUSYBOX, "tftp", "-g", "-r", "stormwulf.ipxe", "-l", got, "10.201.0.1",
           check_rc=False)
        check(os.path.exists(got) and open(got).read() == script, "TFTP serves stormwulf.ipxe byte for byte")
        sh("ip", "-n", ns_cli, "link", "set", if_cli, "address", "02:5e:00:00:09:09")
        lease = dhcp()
        check(lease == {}, "an unknown MAC gets no lease (static ranges only)")
    finally:
        if dnsmasq:
            dnsmasq.terminate()
            try:
                dnsmasq.wait(timeout=5)
            except subprocess.TimeoutExpired:
                dnsmasq.kill()
        for ns in (ns_srv, ns_cli):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        if failures and os.path.exists(os.path.join(work, "dnsmasq.log")):
            print(open(os.path.join(work, "dnsmasq.log")).read()[-3000:])
        shutil.rmtree(work, ignore_errors=True)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
