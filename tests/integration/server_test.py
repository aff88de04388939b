#!/usr/bin/env python3
"""Integration test of the real stormwulfd and swctl binaries over loopback.

Imports two images and builds overlays with swctl, starts stormwulfd on 127.0.0.1 and checks, with
real sockets: every route family and status code of Warewulf's protocol, that the zstd, gz and
uncompressed representations decode to the same newc stream (and that stream to the tree, with
the system cpio), Range and 304, /status and /metrics, SIGHUP reload (a broken nodes.conf keeps
the old one), a new image version landing in the middle of a download (the download completes
with the old bytes; the next request gets the new ones), gzip single flight, and that a
runtime-overlay fetch by the real wwclient applies the overlay.
"""
import gzip
import hashlib
import http.client
import json
import re
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from swtest import check, finish, get, start_stormwulfd, stop

BUILD = sys.argv[1]
SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SWCTL = os.path.join(BUILD, "tools", "swctl")
WWCLIENT = os.path.join(BUILD, "agent", "wwclient")
MAC = "52:54:00:aa:00:01"
def run(*args, **kw):
    return subprocess.run(list(args), check=True, capture_output=True, text=True, **kw)


def zstd_decompress(data):
    return subprocess.run(["zstd", "-dc"], input=data, capture_output=True, check=True).stdout


def newc_entries(stream):
    """(entries as (name, mode, data) without trailers, number of TRAILER!!! seen)"""
    out, trailers, pos = [], 0, 0
    while pos + 110 <= len(stream):
        if stream[pos:pos + 6] != b"070701":
            pos += 1
            continue
        f = [int(stream[pos + 6 + 8 * i: pos + 14 + 8 * i], 16) for i in range(13)]
        name = stream[pos + 110: pos + 110 + f[11] - 1].decode()
        pos = (pos + 110 + f[11] + 3) & ~3
        data = stream[pos: pos + f[6]]
        pos = (pos + f[6] + 3) & ~3
        if name == "TRAILER!!!":
            trailers += 1
        else:
            out.append((name, f[1], data))
    return out, trailers


def kernel_unpack(stream, root):
    """Unpacks concatenated newc archives into root the way the kernel's init/initramfs.c does:
    an entry whose type differs from what is on disk replaces it (a directory entry over a
    symlink removes the symlink), an existing directory stays, intermediate symlinks are
    followed, parents are never created."""
    pos = 0
    while pos + 110 <= len(stream):
        if stream[pos:pos + 6] != b"070701":
            pos += 1  # NUL padding between archives
            continue
        f = [int(stream[pos + 6 + 8 * i: pos + 14 + 8 * i], 16) for i in range(13)]
        mode, size, namesize = f[1], f[6], f[11]
        name = stream[pos + 110: pos + 110 + namesize - 1].decode()
        pos = (pos + 110 + namesize + 3) & ~3
        data = stream[pos: pos + size]
        pos = (pos + size + 3) & ~3
        if name == "TRAILER!!!":
            continue
        path = os.path.join(root, name)
        kind = mode & 0o170000
        if os.path.lexists(path):
            have = os.lstat(path).st_mode & 0o170000
            if have != kind:
                try:
                    os.rmdir(path) if have == 0o040000 else os.unlink(path)
                except OSError:
                    pass
        try:
            if kind == 0o040000:
                os.mkdir(path)
            elif kind == 0o120000:
                os.symlink(data.decode(), path)
            elif kind == 0o100000:
                with open(path, "wb") as out:
                    out.write(data)
        except OSError:
            pass


def main():
    work = tempfile.mkdtemp(prefix="sw-it-")
    store = os.path.join(work, "store")
    srv = None
    try:
        tree = os.path.join(work, "tree")
        os.makedirs(tree + "/etc")
        os.makedirs(tree + "/usr/share/data")
        with open(tree + "/etc/hostname", "w") as f:
            f.write("v1\n")
        for i in range(300):
            with open(f"{tree}/usr/share/data/f{i}", "w") as f:
                f.write(("file %d " % i) * (50 + i * 7))
        with open(tree + "/usr/share/data/big", "wb") as f:
            f.write(os.urandom(3 << 20))
        run(SWCTL, "image", "import", tree, "img", "--store", store, "--no-kernel", "-q")
        kernel = os.path.join(work, "vmlinuz")
        with open(kernel, "wb") as f:
            f.write(os.urandom(1 << 20))
        run(SWCTL, "image", "import", tree, "img2", "--store", store, "--kernel", kernel, "-q")
        # A usr-merged image without a kernel, and an imported kernel with a modules layer.
        treem = os.path.join(work, "treem")
        os.makedirs(treem + "/usr/lib/x86_64-linux-gnu")
        with open(treem + "/usr/lib/x86_64-linux-gnu/libc.so.6", "w") as f:
            f.write("libc\n")
        os.symlink("usr/lib", treem + "/lib")
        run(SWCTL, "image", "import", treem, "merged", "--store", store, "--no-kernel", "-q")
        kmods_dir = os.path.join(work, "mods")
        os.makedirs(kmods_dir + "/kernel/fs")
        with open(kmods_dir + "/kernel/fs/x.ko", "wb") as f:
            f.write(b"module x\n" * 1000)
        with open(kmods_dir + "/modules.dep", "w") as f:
            f.write("kernel/fs/x.ko:\n")
        kernel2 = os.path.join(work, "vmlinuz-9.9.9-sw")
        with open(kernel2, "wb") as f:
            f.write(os.urandom(1 << 19))
        run(SWCTL, "kernel", "import", kernel2, "k99", "--modules", kmods_dir, "--store", store, "-q")
        nodes = os.path.join(work, "nodes.conf")
        conf = f"""nodeprofiles:
  default:
    image name: img2
    system overlay: [hostname]
    runtime overlay: [stormwulf-marker]
nodes:
  n1:
    profiles: [default]
    network devices:
      default: {{hwaddr: "{MAC}", ipaddr: 10.9.0.1}}
  n2:
    profiles: [default]
    asset key: SECRET
    network devices:
      default: {{hwaddr: "52:54:00:aa:00:02"}}
  n3:
    image name: merged
    kernel: {{version: k99}}
    network devices:
      default: {{hwaddr: "52:54:00:aa:00:03"}}
  n4:
    profiles: [default]
    kernel: {{version: vmlin}}
    network devices:
      default: {{hwaddr: "52:54:00:aa:00:04"}}
  n5:
    profiles: [default]
    kernel: {{version: "5.4"}}
    network devices:
      default: {{hwaddr: "52:54:00:aa:00:05"}}
"""
        # Three more nodes: 16 overlay refs, so the build packs them (store packed-refs) and
        # every overlay below is served through a packed ref.
        conf += "".join(f"  x{i}:\n    profiles: [default]\n" for i in range(3))
        with open(nodes, "w") as f:
            f.write(conf)
        run(SWCTL, "overlay", "build", "--store", store, "--nodes", nodes, "--overlay-dir",
            os.path.join(SRC, "overlays"), "-q")
        check(os.path.exists(os.path.join(store, "packed-refs"))
              and not os.path.exists(os.path.join(store, "refs", "overlays", "n1")),
              "a build of 8 nodes writes its 16 overlay refs into packed-refs")
        arp = os.path.join(work, "arp")
        with open(arp, "w") as f:
            f.write("IP address       HW type     Flags       HW address            Mask     Device\n"
                    f"127.0.0.1        0x1         0x2         {MAC}     *        lo\n")
        srv, port = start_stormwulfd(BUILD, work, store, nodes, ["--arp-file", arp])

        # iPXE scripts and identity forms.
        st, h, body = get(port, "/ipxe/52-54-00-AA-00-01")
        check(st == 200 and b"kernel --name kernel" in body and h.get("content-type") == "text",
              "/ipxe/<MAC with dashes, upper case> renders the node's script")
        check(get(port, "/ipxe?wwid=52:54:00:aa:00:01")[0] == 200, "/ipxe?wwid=")
        check(get(port, "/provision/52:54:00:aa:00:01")[0] == 200, "/provision/<mac> defaults to ipxe")
        st, _, body = get(port, "/ipxe/00:11:22:33:44:55")
        check(st == 200 and b"not configured" in body, "unknown MAC on /ipxe -> 200 unconfigured script")
        check(get(port, "/kernel/00:11:22:33:44:55")[0] == 400, "unknown MAC on /kernel -> 400")
        check(get(port, "/provision/x?stage=bogus")[0] == 400, "unknown stage on /provision -> 400")
        check(get(port, "/nothing/here")[0] == 404, "unknown path -> 404")
        st, _, body = get(port, "/kernel")  # no id: ARP table maps 127.0.0.1 to n1
        check(st == 200 and body == open(kernel, "rb").read(), "/kernel via ARP = the kernel, byte for byte")
        check(get(port, "/kernel/52:54:00:aa:00:02")[0] == 401, "asset key missing -> 401")
        check(get(port, "/kernel/52:54:00:aa:00:02?assetkey=SECRET")[0] == 200, "right asset key -> 200")
        check(get(port, f"/image/{MAC}?compress=bz2")[0] == 404, "unsupported compress -> 404")
        check(get(port, f"/ipxe/{MAC}?compress=gz")[0] == 404, "compress on a template route -> 404")
        check(get(port, "//ipxe//" + MAC)[0] == 200, "// collapses to /")

        # Sequential keep-alive requests for file bodies: the last bytes of each response must
        # not wait for the kernel's 200 ms cork timer (a bug once: SPLICE_F_MORE on the final
        # splice). 30 such waits would take 6 s; without them this takes milliseconds.
        mids = [p for p in os.listdir(os.path.join(store, "manifests"))]
        some = [f for d in mids for f in os.listdir(os.path.join(store, "manifests", d))][:1]
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        t0 = time.time()
        for _ in range(30):
            c.request("GET", "/manifests/" + some[0])
            c.getresponse().read()
        took = time.time() - t0
        c.close()
        check(took < 3.0, f"30 sequential keep-alive file responses are not held back by TCP corking ({took:.2f}s)")

        # Kernel override and the modules layer (/kmods, Warewulf 4.5's stage=kmods).
        st, _, body = get(port, "/ipxe/52:54:00:aa:00:03")
        check(st == 200 and b"initrd --name kmods ${base}/kmods/52:54:00:aa:00:03?" in body
              and b"initrd=kmods" in body,
              "a node with an imported kernel gets the modules initrd in its script")
        check(b"kmods" not in get(port, f"/ipxe/{MAC}")[2], "a node on its image's kernel does not")
        st, _, body = get(port, "/kernel/52:54:00:aa:00:03")
        check(st == 200 and body == open(kernel2, "rb").read(), "kernel: version: NAME serves the imported kernel")
        st, h, zbody = get(port, "/kmods/52:54:00:aa:00:03?compress=zstd")
        mods_raw = zstd_decompress(zbody) if st == 200 else b""
        check(st == 200 and b"lib/modules/9.9.9-sw/kernel/fs/x.ko" in mods_raw and h.get("etag", "").endswith('-zst"'),
              "/kmods/<mac>?compress=zstd serves the modules layer")
        st, _, gbody = get(port, "/provision/52:54:00:aa:00:03?stage=kmods&compress=gz")
        check(st == 200 and newc_entries(gzip.decompress(gbody))[0] == newc_entries(mods_raw)[0],
              "/provision?stage=kmods&compress=gz: the same entries")
        check(get(port, f"/kmods/{MAC}")[0] == 404, "no modules layer for a node on its image's kernel -> 404")
        check(get(port, "/kernel/52:54:00:aa:00:04")[0] == 200, "a version prefix pins the image's own kernel")
        check(get(port, "/kernel/52:54:00:aa:00:05")[0] == 404, "a kernel that exists nowhere -> 404")
        # The image then the modules layer, unpacked with the kernel's rules: the usr-merge
        # symlink survives and the modules land under usr/lib.
        st, _, ibody = get(port, "/image/52:54:00:aa:00:03?compress=zstd")
        unpacked = os.path.join(work, "kunpacked")
        os.makedirs(unpacked)
        kernel_unpack(zstd_decompress(ibody) + mods_raw, unpacked)
        check(os.path.islink(unpacked + "/lib") and
              open(unpacked + "/usr/lib/modules/9.9.9-sw/kernel/fs/x.ko", "rb").read() == b"module x\n" * 1000 and
              os.path.exists(unpacked + "/usr/lib/x86_64-linux-gnu/libc.so.6"),
              "image + modules layer unpack like the kernel does: lib -> usr/lib kept, modules under it")


        # Representations.
        st, hz, z = get(port, f"/image/{MAC}?compress=zstd")
        st2, hg, g = get(port, f"/container/{MAC}?compress=gz")
        st3, hr, raw = get(port, f"/provision/{MAC}?stage=image")
        check(st == st2 == st3 == 200, "image in zstd, gz (legacy /container/) and raw (legacy /provision)")
        check(zstd_decompress(z) == raw, "zstd and raw decode to the same stream")
        g_entries, g_trailers = newc_entries(gzip.decompress(g))
        r_entries, r_trailers = newc_entries(raw)
        check(g_entries == r_entries and g_trailers == 1 and r_trailers > 1,
              f"gz holds the same entries as one archive ({r_trailers} segments, {g_trailers} trailer)")
        # Warewulf's dracut module and wwclient: one `gzip -d | cpio -i` over the whole response.
        whole = os.path.join(work, "cpio-whole")
        os.makedirs(whole)
        subprocess.run(["sh", "-c", "gzip -d | cpio -idm --quiet"], input=g, cwd=whole, check=True)
        check(all(open(os.path.join(whole, "usr/share/data", f), "rb").read() ==
                  open(os.path.join(tree, "usr/share/data", f), "rb").read()
                  for f in os.listdir(os.path.join(tree, "usr/share/data"))),
              "gzip -d | cpio -idm of the gz image extracts every file (all segments)")
        show = json.loads(run(SWCTL, "image", "show", "img2", "--store", store, "--json").stdout)
        check(hashlib.sha256(raw).hexdigest() == show["sha256"], "stream SHA-256 = the manifest's")
        check(len({hz["etag"], hg["etag"], hr["etag"]}) == 3, "each representation has its own ETag")
        unpack = os.path.join(work, "unpacked")
        os.makedirs(unpack)
        pos = 0
        for seg in show["segments"]:
            part = raw[pos:pos + seg["raw"]]
            pos += seg["raw"]
            subprocess.run(["cpio", "-idm", "--quiet"], input=part, cwd=unpack, check=True)
        check(open(unpack + "/usr/share/data/f7").read() == open(tree + "/usr/share/data/f7").read()
              and open(unpack + "/usr/share/data/big", "rb").read() == open(tree + "/usr/share/data/big", "rb").read(),
              "per-segment cpio -idm reproduces the tree")
        st, _, part = get(port, f"/image/{MAC}?compress=zstd", {"Range": "bytes=1000-1999"})
        check(st == 206 and part == z[1000:2000], "Range over the stored frames -> 206")
        check(get(port, f"/image/{MAC}?compress=zstd", {"If-None-Match": hz["etag"]})[0] == 304,
              "If-None-Match -> 304")
        st, h, body = get(port, f"/image/{MAC}?compress=zstd", method="HEAD")
        check(st == 200 and body == b"" and int(h["content-length"]) == len(z), "HEAD")
        st, _, sysov = get(port, f"/system/{MAC}?compress=zstd")
        check(st == 200 and b"n1\n" in zstd_decompress(sysov), "system overlay holds the rendered hostname")
        st, _, rt = get(port, f"/overlay-runtime/{MAC}")
        check(st == 200 and b"runtime overlay for n1" in rt, "runtime overlay (legacy alias, uncompressed)")

        # Content-addressed routes.
        man = run(SWCTL, "image", "show", "img2", "--store", store, "--json").stdout
        mid = json.loads(man)["manifest"]
        st, h, body = get(port, f"/manifests/{mid}")
        check(st == 200 and "immutable" in h.get("cache-control", ""), "/manifests/<id> is immutable")
        cid = show["segments"][0]["id"]
        st, h, body = get(port, f"/chunks/{cid}")
        check(st == 200 and "immutable" in h.get("cache-control", ""), "/chunks/<id> is immutable")

        # gzip single flight: 20 concurrent first requests for a new image's gz build each chunk once.
        def new_image(name, prefix, files, word, base, step):
            """Imports a tree of `files` text files as image `name` and gives it to the node."""
            t = os.path.join(work, "tree-" + name)
            os.makedirs(t)
            for i in range(files):
                with open(f"{t}/{prefix}{i}", "w") as f:
                    f.write(("%s %d " % (word, i)) * (base + i * step))
            run(SWCTL, "image", "import", t, name, "--store", store, "--no-kernel", "-q")
            with open(nodes, "w") as f:
                f.write(conf.replace("image name: img2", "image name: " + name))

        def derived_builds():
            return int(next(l for l in get(port, "/metrics")[2].decode().splitlines()
                            if l.startswith("stormwulf_derived_builds_total")).split()[1])

        new_image("img3", "g", 200, "other", 100, 13)
        srv.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        import threading
        results = []

        def fetch():
            results.append(get(port, f"/image/{MAC}?compress=gz")[0])
        before = derived_builds()
        threads = [threading.Thread(target=fetch) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        segs = len(json.loads(run(SWCTL, "image", "show", "img3", "--store", store, "--json").stdout)["segments"])
        built = derived_builds() - before
        check(results == [200] * 20 and built == segs,
              f"20 concurrent gz requests after SIGHUP: all 200, {built} encodings for {segs} segments")

        # `swctl store gzip` builds the gz encodings ahead (as `wwctl image build` writes the
        # .img.gz): the first compress=gz request then builds nothing.
        new_image("img4", "h", 150, "fourth", 90, 11)
        out = run(SWCTL, "store", "gzip", "--store", store).stdout
        check(re.search(r"[1-9]\d* built now", out) is not None, "swctl store gzip builds the new encodings: " + out.strip())
        out = run(SWCTL, "store", "gzip", "--store", store).stdout
        check(" 0 built now" in out, "a second swctl store gzip has nothing to do: " + out.strip())
        srv.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        before = derived_builds()
        st, _, g4 = get(port, f"/image/{MAC}?compress=gz")
        after = derived_builds()
        g4_entries, g4_trailers = newc_entries(gzip.decompress(g4))
        check(st == 200 and after == before and g4_trailers == 1 and
              sum(1 for e in g4_entries if e[0].startswith("h")) == 150,
              "after swctl store gzip the gz image is served without building: " + str((before, after)))

        # Broken nodes.conf on reload: the old database stays.
        with open(nodes, "w") as f:
            f.write("nodes: [this is: not valid\n")
        srv.send_signal(signal.SIGHUP)
        time.sleep(0.3)
        check(get(port, f"/image/{MAC}?compress=zstd")[0] == 200,
              "broken nodes.conf on SIGHUP: still serving")
        with open(nodes, "w") as f:
            f.write(conf)
        srv.send_signal(signal.SIGHUP)
        time.sleep(0.3)

        # A new image version lands in the middle of a download.
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request("GET", f"/provision/{MAC}?stage=image")
        r = c.getresponse()
        first = r.read(1000)
        with open(tree + "/etc/hostname", "w") as f:
            f.write("v2\n")
        run(SWCTL, "image", "import", tree, "img2", "--store", store, "--kernel", kernel, "-q")
        run(SWCTL, "store", "gc", "--store", store)  # old chunks deleted on disk while we download
        rest = r.read()
        c.close()
        old = first + rest
        check(old == raw, "download in flight completes with the old version (even after gc)")
        time.sleep(1.1)  # refs are re-read at most once a second
        st, _, new = get(port, f"/provision/{MAC}?stage=image")
        check(st == 200 and new != raw and b"v2\n" in new, "the next request gets the new version")

        # /status and /metrics.
        st, _, body = get(port, "/status")
        status = json.loads(body)
        check(st == 200 and status["nodes"]["n1"]["node name"] == "n1"
              and status["nodes"]["n1"]["last seen"] > 0 and "n2" in status["nodes"],
              "/status has Warewulf's shape with every node")
        st, _, body = get(port, "/metrics")
        check(st == 200 and b"stormwulf_requests_total{route=\"image\",code=\"200\"}" in body,
              "/metrics in Prometheus text format")

        # The send-path settings of the config file: with every body spliced (no sendfile, no
        # copies, no in-memory files, no notsent limit) the bytes are the same; a bad value is
        # refused at start.
        alt = os.path.join(work, "alt")
        os.makedirs(alt)
        altcfg = os.path.join(alt, "stormwulfd.yaml")
        with open(altcfg, "w") as f:
            f.write("zero copy: splice\ncopy body max: 0\nsmall file cache mb: 0\n"
                    "copy budget mb: 1\nnotsent lowat: 0\n")
        srv2, port2 = start_stormwulfd(BUILD, alt, store, nodes, ["--config", altcfg, "--arp-file", arp])
        try:
            for path in (f"/image/{MAC}?compress=zstd", f"/image/{MAC}?compress=gz", f"/image/{MAC}",
                         f"/system/{MAC}?compress=gz", f"/kernel/{MAC}"):
                for hdrs in ({}, {"Range": "bytes=100-70000"}):
                    a, b = get(port, path, hdrs), get(port2, path, hdrs)
                    check(a[0] == b[0] and a[0] in (200, 206) and a[2] == b[2],
                          f"{path} {hdrs}: same bytes with sendfile+copies and with splice only")
        finally:
            srv2.terminate()
            srv2.wait()
        with open(altcfg, "w") as f:
            f.write("zero copy: carrier pigeon\n")
        r = subprocess.run([os.path.join(BUILD, "server", "stormwulfd"), "--config", altcfg,
                            "--listen", "127.0.0.1:0", "--store", store, "--nodes", nodes],
                           capture_output=True, text=True, timeout=30)
        check(r.returncode != 0 and "zero copy must be sendfile or splice" in r.stderr + r.stdout,
              "a bad `zero copy` value is refused: " + (r.stderr + r.stdout).strip()[-120:])

        # The real wwclient applies the runtime overlay, then gets a 304.
        root = os.path.join(work, "noderoot")
        os.makedirs(root)
        r1 = subprocess.run([WWCLIENT, "--server", f"http://127.0.0.1:{port}", "--wwid", MAC,
                             "--root", root, "--once", "--no-chown"], capture_output=True, text=True)
        ok = r1.returncode == 0 and open(root + "/etc/stormwulf-runtime").read() == "runtime overlay for n1\n"
        check(ok, "wwclient --once applies the runtime overlay")
        root_gz = os.path.join(work, "noderoot-gz")
        os.makedirs(root_gz)
        r2 = subprocess.run([WWCLIENT, "--server", f"http://127.0.0.1:{port}", "--wwid", MAC, "--root",
                             root_gz, "--once", "--no-chown", "--compress", "gz"], capture_output=True, text=True)
        check(r2.returncode == 0 and open(root_gz + "/etc/stormwulf-runtime").read() == "runtime overlay for n1\n",
              "wwclient --compress gz applies the runtime overlay too: " + r2.stderr.strip()[-200:])
        check(get(port, f"/runtime/{MAC}?compress=zstd", {"If-None-Match": "\"nope\""})[0] == 200,
              "a stale ETag gets the overlay")
    finally:
        stop(srv, work)
        shutil.rmtree(work, ignore_errors=True)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
