#!/usr/bin/env python3
"""A full disk during `swctl image import` and `swctl overlay build` commits nothing.

The store lives on a small tmpfs this test mounts (root only; skipped otherwise). A first image
fits; a second version of it, with incompressible data that does not fit, must fail with a
clear "no space" error and a non-zero exit, leave the image's ref at the first version, and
leave a store that `swctl store fsck` passes once `swctl store gc` has removed the debris. The
first version stays servable byte for byte (its export's SHA-256 is unchanged), and after space
is freed the same import succeeds.
"""
import os
import shutil
import subprocess
import sys
import tempfile

from swtest import check, finish, write_tree

BUILD = sys.argv[1]
SWCTL = os.path.join(BUILD, "tools", "swctl")


def swctl(*args):
    return subprocess.run([SWCTL, *args], capture_output=True, text=True, timeout=300)


def main():
    if os.geteuid() != 0:
        print("skipped: mounting a tmpfs needs root")
        return 0
    work = tempfile.mkdtemp(prefix="sw-enospc-")
    mnt = os.path.join(work, "small")
    os.makedirs(mnt)
    mounted = False
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", mnt], check=True)
        mounted = True
        store = os.path.join(mnt, "store")
        tree = write_tree(os.path.join(work, "tree"),
                          {"etc/hostname": "v1\n", "data1": os.urandom(2 << 20)})
        r = swctl("image", "import", tree, "img", "--store", store, "--no-kernel", "-q")
        check(r.returncode == 0, "version 1 (2 MiB) fits in an 8 MiB store: " + r.stderr.strip()[-200:])
        ref = open(os.path.join(store, "refs/images/img")).read()
        v1 = os.path.join(work, "v1.img")
        check(swctl("image", "export", "img", v1, "--format", "none", "--store", store).returncode == 0,
              "version 1 exports")

        write_tree(tree, {"data2": os.urandom(12 << 20)})  # incompressible: cannot fit
        r = swctl("image", "import", tree, "img", "--store", store, "--no-kernel", "-q")
        err = r.stderr.lower()
        check(r.returncode != 0 and ("no space" in err or "nospace" in err),
              "version 2 fails with a clear no-space error: " + r.stderr.strip()[-200:])
        check(open(os.path.join(store, "refs/images/img")).read() == ref,
              "the image's ref still names version 1")
        v1b = os.path.join(work, "v1b.img")
        r = swctl("image", "export", "img", v1b, "--format", "none", "--store", store)
        check(r.returncode == 0 and open(v1b, "rb").read() == open(v1, "rb").read(),
              "version 1 is still whole and verified (export checks its SHA-256)")
        os.unlink(v1b)
        r = swctl("store", "gc", "--store", store)
        check(r.returncode == 0, "gc after the failed import: " + (r.stdout + r.stderr).strip()[-200:])
        r = swctl("store", "fsck", "--store", store)
        check(r.returncode == 0, "fsck passes after the failed import: " + (r.stdout + r.stderr).strip()[-300:])

        # Overlay build on a full disk: fails clearly, commits no ref.
        nodes = os.path.join(work, "nodes.conf")
        with open(nodes, "w") as f:
            f.write("nodes:\n  n1:\n    image name: img\n    runtime overlay: [big]\n")
        ov = os.path.join(work, "overlays", "big", "rootfs")
        os.makedirs(ov)
        with open(os.path.join(ov, "blob"), "wb") as f:
            f.write(os.urandom(12 << 20))
        r = swctl("overlay", "build", "--store", store, "--nodes", nodes, "--overlay-dir",
                  os.path.join(work, "overlays"), "-q")
        err = r.stderr.lower()
        check(r.returncode != 0 and ("no space" in err or "nospace" in err),
              "overlay build on a full disk fails with a no-space error: " + r.stderr.strip()[-200:])
        check(not os.path.exists(os.path.join(store, "refs/overlays/n1/runtime")),
              "no overlay ref was committed")
        check(swctl("store", "gc", "--store", store).returncode == 0 and
              swctl("store", "fsck", "--store", store).returncode == 0, "gc + fsck clean after it")

        # With space again (data2 smaller), the same import succeeds.
        write_tree(tree, {"data2": os.urandom(1 << 20)})
        r = swctl("image", "import", tree, "img", "--store", store, "--no-kernel", "-q")
        check(r.returncode == 0 and open(os.path.join(store, "refs/images/img")).read() != ref,
              "after freeing space the import succeeds: " + r.stderr.strip()[-200:])
    finally:
        if mounted:
            subprocess.run(["umount", mnt])
        shutil.rmtree(work, ignore_errors=True)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
