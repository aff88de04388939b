#!/usr/bin/env python3
"""`swctl overlay build --watch` keeps a running stormwulfd current without restarts.

With a real stormwulfd on 127.0.0.1 and `swctl overlay build --watch` running: an edited overlay
template is rebuilt and served (the runtime overlay changes), a node appended to nodes.conf gets
its overlays and is known to stormwulfd (the watcher's SIGHUP made it reload), a broken template
leaves the previous overlays served, and SIGTERM ends the watcher with exit 0.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from swtest import SRC, check, finish, get, start_stormwulfd, stop, write_tree

BUILD = sys.argv[1]
SWCTL = os.path.join(BUILD, "tools", "swctl")
MAC1, MAC2 = "52:54:00:dd:00:01", "52:54:00:dd:00:02"
NODES = """nodeprofiles:
  default:
    image name: img
    runtime overlay: [stormwulf-marker]
nodes:
  w1:
    profiles: [default]
    network devices:
      default: {hwaddr: "%s"}
""" % MAC1


def wait_for(fn, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if fn():
            return True
        time.sleep(0.1)
    return False


def runtime(port, mac):
    st, _, body = get(port, f"/overlay-runtime/{mac}")  # uncompressed newc
    return body if st == 200 else b""


def main():
    work = tempfile.mkdtemp(prefix="sw-watch-")
    store = os.path.join(work, "store")
    srv = watcher = None
    try:
        tree = write_tree(os.path.join(work, "tree"), {"etc/hostname": "x\n"})
        subprocess.run([SWCTL, "image", "import", tree, "img", "--store", store, "--no-kernel", "-q"],
                       check=True, capture_output=True)
        odir = os.path.join(work, "overlays")
        shutil.copytree(os.path.join(SRC, "overlays", "stormwulf-marker"), os.path.join(odir, "stormwulf-marker"))
        nodes = os.path.join(work, "nodes.conf")
        with open(nodes, "w") as f:
            f.write(NODES)
        subprocess.run([SWCTL, "overlay", "build", "--store", store, "--nodes", nodes, "--overlay-dir", odir, "-q"],
                       check=True, capture_output=True)
        srv, port = start_stormwulfd(BUILD, work, store, nodes)
        check(b"runtime overlay for w1" in runtime(port, MAC1), "w1's runtime overlay is served")
        log = open(os.path.join(work, "watch.log"), "w")
        watcher = subprocess.Popen([SWCTL, "overlay", "build", "--watch", "--watch-interval", "0.2", "--store",
                                    store, "--nodes", nodes, "--overlay-dir", odir, "-q"],
                                   stdout=log, stderr=subprocess.STDOUT)
        time.sleep(1)
        tmpl = os.path.join(odir, "stormwulf-marker", "rootfs", "etc", "stormwulf-runtime.ww")
        with open(tmpl, "w") as f:
            f.write("edited overlay for {{.Id}}\n")
        check(wait_for(lambda: b"edited overlay for w1" in runtime(port, MAC1)),
              "an edited template is rebuilt and served without a restart")
        with open(nodes, "a") as f:
            f.write(f"  w2:\n    profiles: [default]\n    network devices:\n      default: {{hwaddr: \"{MAC2}\"}}\n")
        check(wait_for(lambda: b"edited overlay for w2" in runtime(port, MAC2)),
              "a node appended to nodes.conf gets its overlays and stormwulfd knows it (reloaded)")
        with open(tmpl, "w") as f:
            f.write("broken {{.Id\n")
        time.sleep(2)
        check(b"edited overlay for w1" in runtime(port, MAC1),
              "a broken template leaves the previous overlay served")
        watcher.send_signal(signal.SIGTERM)
        rc = watcher.wait(timeout=20)
        watcher = None
        check(rc == 0, f"SIGTERM ends the watcher with exit 0 (got {rc})")
        text = open(os.path.join(work, "watch.log")).read()
        check("rebuilding" in text and "build failed" in text,
              "the watcher logs its rebuilds and the failed one: " + text.strip()[-300:])
    finally:
        if watcher:
            watcher.kill()
        stop(srv, work)
        shutil.rmtree(work, ignore_errors=True)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
