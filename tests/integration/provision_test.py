#!/usr/bin/env python3
"""wwclient provision (two-stage boot) against a real stormwulfd on 127.0.0.1.

Checks that the materialized root equals the imported tree (contents, modes, mtimes, symlinks,
hard links, empty directories), that the segment cache makes a second provision after a one-file
change fetch only the changed segments, that a damaged or truncated cache entry is detected and
fetched again, that a cache of stored (zstd) entries from an older wwclient is still used,
that the manifest route answers with a strong ETag, and that errors (unknown node) are clear.
"""
import hashlib
import http.client
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from swtest import check, finish, start_stormwulfd, stop

BUILD = sys.argv[1]
SWCTL = os.path.join(BUILD, "tools", "swctl")
WWCLIENT = os.path.join(BUILD, "agent", "wwclient")
MAC = "52:54:00:bb:00:01"
def snapshot(root):
    """path -> (type, mode, mtime, content digest or link target, inode group)"""
    out, inodes = {}, {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            if os.path.islink(p):
                out[rel] = ("l", os.readlink(p))
            elif os.path.isdir(p):
                out[rel] = ("d", oct(st.st_mode & 0o7777), int(st.st_mtime))
            else:
                group = inodes.setdefault(st.st_ino, rel) if st.st_nlink > 1 else None
                out[rel] = ("f", oct(st.st_mode & 0o7777), int(st.st_mtime),
                            hashlib.sha256(open(p, "rb").read()).hexdigest(), group)
    return out


def provision(port, root, cache, wwid=MAC):
    r = subprocess.run([WWCLIENT, "provision", "--server", f"http://127.0.0.1:{port}", "--wwid", wwid,
                        "--root", root, "--cache", cache, "--no-chown", "--parallel", "4"],
                       capture_output=True, text=True)
    m = re.search(r"\((\d+) fetched, [\d.]+ MB; (\d+) from cache\)", r.stdout)
    return r.returncode, r.stdout + r.stderr, (int(m.group(1)), int(m.group(2))) if m else None


def main():
    work = tempfile.mkdtemp(prefix="sw-prov-")
    srv = None
    try:
        store = os.path.join(work, "store")
        tree = os.path.join(work, "tree")
        os.makedirs(tree + "/usr/share/data")
        os.makedirs(tree + "/etc/empty.d")
        os.makedirs(tree + "/var/lib")
        for i in range(400):
            with open(f"{tree}/usr/share/data/f{i}", "w") as f:
                f.write(f"file {i} " * (20 + i * 13))
        with open(tree + "/usr/share/data/big", "wb") as f:
            f.write(os.urandom(3 << 20))
        with open(tree + "/etc/secret", "w") as f:
            f.write("s\n")
        os.chmod(tree + "/etc/secret", 0o600)
        os.symlink("../usr/share/data/f1", tree + "/etc/link")
        os.link(tree + "/usr/share/data/f2", tree + "/usr/share/data/f2-hardlink")
        os.chmod(tree + "/var/lib", 0o700)
        os.utime(tree + "/etc", (1600000000, 1600000000))
        subprocess.run([SWCTL, "image", "import", tree, "img", "--store", store, "--no-kernel", "-q"], check=True)
        conf = os.path.join(work, "nodes.conf")
        with open(conf, "w") as f:
            f.write(f"nodes:\n  p1:\n    image name: img\n    network devices:\n      default: {{hwaddr: \"{MAC}\"}}\n")
        srv, port = start_stormwulfd(BUILD, work, store, conf, ["--threads", "1"])

        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.request("GET", f"/image/{MAC}?manifest=1")
        r = c.getresponse()
        body = r.read()
        etag = r.getheader("ETag") or ""
        check(r.status == 200 and body[:4] == b"SWMF" and re.fullmatch(r'"[0-9a-f]{32}"', etag),
              "/image/<mac>?manifest=1 returns the manifest with its id as ETag")
        c.request("GET", f"/image/{MAC}?manifest=1", headers={"If-None-Match": etag})
        r = c.getresponse()
        r.read()
        check(r.status == 304, "the manifest revalidates with 304")

        root, cache = os.path.join(work, "root"), os.path.join(work, "cache")
        rc, out, counts = provision(port, root, cache)
        want = snapshot(tree)
        got = snapshot(root)
        check(rc == 0 and counts is not None and counts[1] == 0, "cold provision: " + out.strip())
        diff = sorted(k for k in set(want) | set(got) if want.get(k) != got.get(k))
        check(not diff, f"the root equals the imported tree (differences: {diff[:5]})")
        segments = counts[0] if counts else 0

        # One changed file: a new image version; the second provision fetches only what changed.
        with open(tree + "/usr/share/data/f200", "a") as f:
            f.write("changed\n")
        subprocess.run([SWCTL, "image", "import", tree, "img", "--store", store, "--no-kernel", "-q"], check=True)
        time.sleep(1.1)  # stormwulfd re-reads refs at most once a second
        shutil.rmtree(root)
        rc, out, counts = provision(port, root, cache)
        check(rc == 0 and counts is not None and 1 <= counts[0] <= 2 and counts[1] >= segments - 2,
              f"warm provision after a one-file change fetches at most 2 of {segments} segments: " + out.strip())
        check(snapshot(root) == snapshot(tree), "the warm root equals the new tree")

        # A damaged cache entry is noticed (XXH3) and fetched again. The cache is refilled with
        # the current version only, so whichever entry is damaged is one the next run needs.
        shutil.rmtree(cache)
        shutil.rmtree(root)
        provision(port, root, cache)
        victim = None
        for dirpath, _, files in os.walk(cache):
            for name in files:
                p = os.path.join(dirpath, name)
                if os.path.getsize(p) > 1000:
                    victim = p
        data = bytearray(open(victim, "rb").read())
        data[len(data) // 2] ^= 0xFF
        open(victim, "wb").write(bytes(data))
        shutil.rmtree(root)
        rc, out, counts = provision(port, root, cache)
        check(rc == 0 and counts is not None and counts[0] == 1 and snapshot(root) == snapshot(tree),
              "a corrupted cache entry is re-fetched and the root is still right: " + out.strip())

        # The cache holds decoded segments. One written by an older wwclient holds the stored
        # (zstd) frames as served: those are decoded, verified and used, not fetched again; an
        # entry cut short is fetched again.
        entries = [os.path.join(d, f) for d, _, files in os.walk(cache) for f in files]
        check(entries and all(os.path.getsize(p) > 0 for p in entries), "the cache has the segments")
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        changed = 0
        for p in entries:
            c.request("GET", "/chunks/" + os.path.basename(p))
            r = c.getresponse()
            stored = r.read()
            changed += len(stored) != os.path.getsize(p)
            open(p, "wb").write(stored)
        check(changed > 0, "the stored frames differ from the decoded segments the cache had")
        shutil.rmtree(root)
        rc, out, counts = provision(port, root, cache)
        check(rc == 0 and counts == (0, len(entries)) and snapshot(root) == snapshot(tree),
              "a cache of stored (zstd) entries is used as it is: " + out.strip())
        victim = max(entries, key=os.path.getsize)
        with open(victim, "r+b") as f:
            f.truncate(os.path.getsize(victim) // 2)
        shutil.rmtree(root)
        rc, out, counts = provision(port, root, cache)
        check(rc == 0 and counts == (1, len(entries) - 1) and snapshot(root) == snapshot(tree),
              "a cache entry cut short is fetched again: " + out.strip())

        rc, out, _ = provision(port, os.path.join(work, "r2"), cache, wwid="52:54:00:00:00:99")
        check(rc == 1 and "HTTP 400" in out, "an unknown node fails clearly: " + out.strip())
        r = subprocess.run([WWCLIENT, "provision", "--server", f"http://127.0.0.1:{port}"], capture_output=True, text=True)
        check(r.returncode == 2, "provision without --root is a usage error")
    finally:
        stop(srv, work)
        shutil.rmtree(work, ignore_errors=True)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
