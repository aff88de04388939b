#!/usr/bin/env python3
"""swctl node|profile against real files, a real store and a real stormwulfd on 127.0.0.1.

Checks: profile and node add/set/delete with ranges and IP auto-increment, the file stays
Warewulf's schema, refused edits (duplicate MAC or IP, unknown profile or image) leave the file
byte for byte unchanged, list --json, show with the boot check, concurrent edits from two
processes are both kept, and an add is followed by a stormwulfd reload (the new node's iPXE
script is served without restarting) and an overlay build of just that node; node status reads
/status.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from swtest import SRC, check, finish, get, start_stormwulfd, stop

BUILD = sys.argv[1]
SWCTL = os.path.join(BUILD, "tools", "swctl")
def sw(*args):
    r = subprocess.run([SWCTL, *args], capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def main():
    work = tempfile.mkdtemp(prefix="sw-node-")
    srv = None
    try:
        store = os.path.join(work, "store")
        conf = os.path.join(work, "nodes.conf")
        tree = os.path.join(work, "tree")
        os.makedirs(tree + "/etc")
        open(tree + "/etc/os-release", "w").write("NAME=test\n")
        subprocess.run([SWCTL, "image", "import", tree, "img", "--store", store, "--no-kernel", "-q"],
                       check=True)
        common = ["--nodes", conf, "--store", store, "--no-reload", "--no-build"]

        rc, out = sw("profile", "add", "default", "--image", "img", "--kernelargs", "quiet console=ttyS0",
                     "-O", "wwinit,hostname", *common)
        check(rc == 0, "profile add default: " + out)
        rc, out = sw("node", "add", "n[01-04]", "--ipaddr", "10.0.0.1", "--netmask", "255.255.255.0", *common)
        check(rc == 0 and "4 nodes changed" in out, "node add n[01-04]: " + out)
        rc, out = sw("node", "list", "--json", "--nodes", conf)
        nodes = json.loads(out) if rc == 0 else []
        check([n["name"] for n in nodes] == ["n01", "n02", "n03", "n04"] and
              [n["network_devices"]["default"]["ipaddr"] for n in nodes] ==
              ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"] and
              all(n["profiles"] == ["default"] and n["image"] == "img" for n in nodes),
              "a range counts the IP up and new nodes get the default profile")
        text = open(conf).read()
        check("nodeprofiles:" in text and "network devices:" in text and "image name: img" in text,
              "the file uses Warewulf's keys")

        rc, out = sw("node", "set", "n02", "--hwaddr", "AA-BB-CC-00-00-02", "--tagadd", "rack=r1", *common)
        check(rc == 0, "node set --hwaddr --tagadd")
        before = sha(conf)
        rc, out = sw("node", "set", "n03", "--hwaddr", "aa:bb:cc:00:00:02", *common)
        check(rc == 1 and "used by both 'n02' and 'n03'" in out and sha(conf) == before,
              "a duplicate MAC is refused and nothing is written: " + out.strip())
        rc, out = sw("node", "set", "n03", "--ipaddr", "10.0.0.1", *common)
        check(rc == 1 and "10.0.0.1" in out and sha(conf) == before, "a duplicate IP is refused")
        rc, out = sw("node", "set", "n01", "--image", "nope", *common)
        check(rc == 1 and "image 'nope'" in out and sha(conf) == before, "an unknown image is refused")
        rc, out = sw("node", "set", "n01", "-P", "nope", *common)
        check(rc == 1 and "unknown profile 'nope'" in out and sha(conf) == before, "an unknown profile is refused")
        rc, out = sw("profile", "delete", "default", *common)
        check(rc == 1 and sha(conf) == before, "a profile in use cannot be deleted")
        rc, out = sw("node", "set", "n09", "--comment", "x", *common)
        check(rc == 1 and "n09" in out, "set on a missing node fails")
        rc, out = sw("node", "add", "n[05-06]", "--hwaddr", "aa:bb:cc:00:00:05", *common)
        check(rc == 2, "one --hwaddr for a range is a usage error")

        rc, out = sw("node", "show", "n02", "--nodes", conf, "--store", store)
        check(rc == 0 and "hwaddr=aa:bb:cc:00:00:02" in out and "tag rack" in out and
              "kernel args       quiet console=ttyS0" in out and "boot check" in out,
              "node show prints the merged node and the boot check")
        rc, out = sw("node", "set", "n02", "--tagdel", "rack", "--comment", "UNSET", *common)
        check(rc == 0 and "rack" not in open(conf).read(), "--tagdel and UNSET remove fields")
        rc, out = sw("node", "delete", "n04", *common)
        check(rc == 0 and "n04" not in open(conf).read(), "node delete")
        rc, out = sw("profile", "list", "--nodes", conf)
        check(rc == 0 and "default" in out and " 3" in out, "profile list counts users: " + out)

        # Two processes editing at once: both edits land.
        p1 = subprocess.Popen([SWCTL, "node", "add", "a[1-20]", *common], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
        p2 = subprocess.Popen([SWCTL, "node", "add", "b[1-20]", *common], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
        p1.wait()
        p2.wait()
        rc, out = sw("node", "list", "--json", "--nodes", conf)
        names = {n["name"] for n in json.loads(out)}
        check(p1.returncode == 0 and p2.returncode == 0 and
              {f"a{i}" for i in range(1, 21)} <= names and {f"b{i}" for i in range(1, 21)} <= names,
              "concurrent edits are both kept")

        # Reload and incremental overlay build against a running stormwulfd.
        srv, port = start_stormwulfd(BUILD, work, store, conf, ["--threads", "1"])
        st, _, body = get(port, "/ipxe/aa:bb:cc:00:00:07")
        check(b"not configured" in body, "an unknown MAC gets the unconfigured script")
        rc, out = sw("node", "add", "n07", "--hwaddr", "aa:bb:cc:00:00:07", "--ipaddr", "10.0.0.7",
                     "--nodes", conf, "--store", store, "--overlay-dir", os.path.join(SRC, "overlays"))
        check(rc == 0 and "to reload" in out and "rebuilt the overlays of 1 node" in out,
              "node add reloads stormwulfd and rebuilds one node's overlays: " + out)
        check(os.path.exists(os.path.join(store, "refs", "overlays", "n07", "system")) and
              not os.path.exists(os.path.join(store, "refs", "overlays", "n01")),
              "only the new node's overlays were built")
        ok = False
        for _ in range(50):
            st, _, body = get(port, "/ipxe/aa:bb:cc:00:00:07")
            if b"node n07" in body:
                ok = True
                break
            time.sleep(0.1)
        check(ok, "stormwulfd serves the new node without a restart")
        rc, out = sw("node", "status", "--server", f"http://127.0.0.1:{port}", "n07")
        check(rc == 0 and "n07" in out and "ipxe" in out and "a1 " not in out, "node status: " + out)
        rc, out = sw("node", "status", "--server", f"http://127.0.0.1:{port}", "--json")
        st07 = json.loads(out)["nodes"]["n07"] if rc == 0 else {}
        check(st07.get("stage") == "ipxe" and st07.get("bytes sent", 0) > 100,
              f"node status --json: stage and bytes sent ({st07})")
        rc, out = sw("node", "delete", "n07", "--nodes", conf, "--store", store, "--no-build")
        check(rc == 0 and not os.path.exists(os.path.join(store, "refs", "overlays", "n07", "system")),
              "node delete removes the node's overlays from the store")
        rc, out = sw("node", "status", "--server", "http://127.0.0.1:1")
        check(rc == 1 and "127.0.0.1:1" in out, "node status names the server it cannot reach")
        rc, out = sw("node", "--help")
        check(rc == 0 and "status" in out, "node --help")
    finally:
        stop(srv, work)
        shutil.rmtree(work, ignore_errors=True)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
