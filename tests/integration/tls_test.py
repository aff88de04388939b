#!/usr/bin/env python3
"""TLS and secure runtime delivery, with the real stormwulfd, swctl and wwclient on loopback.

Makes a CA and a server certificate (IP SAN 127.0.0.1) with the openssl CLI, starts stormwulfd
with `--tls true` and checks: every route family is served over TLS 1.3 with the same bytes as
over plain HTTP (kernel, image zstd/gz, overlays, iPXE script, /status), Range and 304 over TLS,
keep-alive and pipelining on one TLS connection, a 3 MB body byte for byte; /runtime/ over plain
HTTP is refused with 403 (other routes still served); TLS 1.2 clients and plain HTTP on the TLS
port are refused without harming the server; a wrong asset key gets 401 over TLS; secure mode
refuses a source port >= 1024 with 401; the real wwclient refreshes and provisions over https with
--ca, and refuses a server whose certificate its CA did not sign; a bad key makes stormwulfd exit
with a clear error; the store is not readable by other users.
"""
import hashlib
import os
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import tempfile
import time

from swtest import check, finish, free_port, get, start_stormwulfd, stop, write_tree

BUILD = sys.argv[1]
SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SWCTL = os.path.join(BUILD, "tools", "swctl")
WWCLIENT = os.path.join(BUILD, "agent", "wwclient")
STORMWULFD = os.path.join(BUILD, "server", "stormwulfd")
MAC = "52:54:00:cc:00:01"
MAC2 = "52:54:00:cc:00:02"


def run(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make_ca(d, name):
    """A CA (EC P-256) in d/name-ca.{key,pem}; returns the paths."""
    key, pem = os.path.join(d, name + "-ca.key"), os.path.join(d, name + "-ca.pem")
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", key, "-out", pem, "-days", "2", "-subj", f"/CN={name} test CA")
    return key, pem


def make_server_cert(d, ca_key, ca_pem):
    key, csr, crt = (os.path.join(d, "server." + e) for e in ("key", "csr", "crt"))
    ext = os.path.join(d, "san.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", key, "-out", csr, "-subj", "/CN=head")
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca_pem, "-CAkey", ca_key, "-CAcreateserial",
        "-out", crt, "-days", "2", "-extfile", ext)
    return crt, key


class TlsClient:
    """One keep-alive TLS connection speaking just enough HTTP/1.1 for these checks."""

    def __init__(self, port, ctx):
        raw = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def _fill(self):
        d = self.s.recv(1 << 16)
        if not d:
            raise EOFError("server closed")
        self.buf += d

    def response(self, head_only=False):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        status = int(lines[0].split()[1])
        h = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            h[k.strip().lower()] = v.strip()
        n = 0 if head_only or status == 304 else int(h.get("content-length", "0"))
        while len(self.buf) < n:
            self._fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, h, body

    def get(self, path, headers=None, method="GET"):
        req = f"{method} {path} HTTP/1.1\r\nHost: head\r\n"
        for k, v in (headers or {}).items():
            req += f"{k}: {v}\r\n"
        self.send((req + "\r\n").encode())
        return self.response(head_only=method == "HEAD")

    def close(self):
        self.s.close()


def main():
    work = tempfile.mkdtemp(prefix="sw-tls-")
    store = os.path.join(work, "store")
    srv = None
    try:
        ca_key, ca_pem = make_ca(work, "good")
        _, other_ca = make_ca(work, "other")
        crt, key = make_server_cert(work, ca_key, ca_pem)

        tree = write_tree(os.path.join(work, "tree"),
                          {"etc/hostname": "tls\n", "big": os.urandom(3 << 20)})
        kernel = os.path.join(work, "vmlinuz")
        with open(kernel, "wb") as f:
            f.write(os.urandom(1 << 20))
        run(SWCTL, "image", "import", tree, "img", "--store", store, "--kernel", kernel, "-q")
        nodes = os.path.join(work, "nodes.conf")
        with open(nodes, "w") as f:
            f.write(f"""nodeprofiles:
  default:
    image name: img
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
      default: {{hwaddr: "{MAC2}", ipaddr: 10.9.0.2}}
""")
        run(SWCTL, "overlay", "build", "--store", store, "--nodes", nodes, "--overlay-dir",
            os.path.join(SRC, "overlays"), "-q")
        mode = os.stat(store).st_mode
        check(mode & 0o007 == 0, f"the store is not accessible to other users (mode {stat.filemode(mode)})")

        # A key that does not match the certificate: a clear error, exit code 1.
        r = subprocess.run([STORMWULFD, "--listen", f"127.0.0.1:{free_port()}", "--store", store,
                            "--nodes", nodes, "--tls", "true", "--tls-listen", f"127.0.0.1:{free_port()}",
                            "--tls-cert", crt, "--tls-key", ca_key], capture_output=True, text=True, timeout=30)
        check(r.returncode == 1 and "does not match certificate" in r.stderr,
              "mismatched TLS key -> exit 1 naming the files: " + r.stderr.strip()[-160:])

        tport = free_port()
        cfg = os.path.join(work, "stormwulfd.yaml")
        with open(cfg, "w") as f:
            f.write("header timeout ms: 1500\n")
        srv, port = start_stormwulfd(BUILD, work, store, nodes,
                                     ["--config", cfg, "--tls", "true", "--tls-listen", f"127.0.0.1:{tport}",
                                      "--tls-cert", crt, "--tls-key", key])
        # A handshake that stalls halfway is cut off by the header timeout (not the 60 s idle one).
        slow = socket.create_connection(("127.0.0.1", tport), timeout=15)
        slow.sendall(b"\x16\x03\x01\x02\x00\x01\x00")
        t0 = time.time()
        try:
            closed = slow.recv(4096) == b""
        except socket.timeout:
            closed = False
        except OSError:  # reset
            closed = True
        slow.close()
        check(closed and time.time() - t0 < 12, f"a stalled TLS handshake is closed by the header timeout "
              f"({time.time() - t0:.1f} s, timeout 1.5 s)")
        ctx = ssl.create_default_context(cafile=ca_pem)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2

        c = TlsClient(tport, ctx)
        check(c.s.version() == "TLSv1.3", "TLS 1.3 negotiated (" + str(c.s.version()) + ")")
        # Every route family over TLS gives the bytes plain HTTP gives.
        st, _, body = c.get(f"/ipxe/{MAC}")
        check(st == 200 and body.startswith(b"#!ipxe"), "/ipxe/<mac> over TLS")
        for path in [f"/kernel/{MAC}", f"/image/{MAC}?compress=zstd",
                     f"/image/{MAC}?compress=gz", f"/image/{MAC}", f"/system/{MAC}?compress=zstd",
                     f"/provision/{MAC}?stage=kernel", f"/overlay-system/{MAC}"]:
            st, _, body = c.get(path)
            pst, _, pbody = get(port, path)
            check(st == 200 and pst == 200 and body == pbody,
                  f"{path} over TLS = over HTTP ({len(body)} bytes, {st}/{pst})")
        st, _, body = c.get("/status")
        check(st == 200 and b"nodes" in body, "/status over TLS")
        st, _, body = c.get(f"/runtime/{MAC}?compress=zstd")
        check(st == 200 and len(body) > 0, "/runtime/ over TLS -> 200")
        st, h, _ = c.get(f"/runtime/{MAC}?compress=zstd")
        etag = h.get("etag", "")
        check(c.get(f"/runtime/{MAC}?compress=zstd", {"If-None-Match": etag})[0] == 304,
              "If-None-Match over TLS -> 304")
        _, _, whole = c.get(f"/image/{MAC}")
        st, h, part = c.get(f"/image/{MAC}", {"Range": "bytes=1000-1999999"})
        check(st == 206 and part == whole[1000:2000000], "Range over TLS -> 206 with the right bytes")
        st, h, body = c.get(f"/kernel/{MAC}", method="HEAD")
        check(st == 200 and body == b"" and h.get("content-length") == str(1 << 20), "HEAD over TLS")
        check(c.get(f"/kernel/{MAC2}?assetkey=WRONG")[0] == 401, "wrong asset key over TLS -> 401")
        # Pipelining: three requests in one write, answered in order.
        c.send((f"GET /kernel/{MAC} HTTP/1.1\r\nHost: h\r\n\r\n"
                f"GET /nothing HTTP/1.1\r\nHost: h\r\n\r\n"
                f"GET /ipxe/{MAC} HTTP/1.1\r\nHost: h\r\n\r\n").encode())
        got = [c.response() for _ in range(3)]
        check([g[0] for g in got] == [200, 404, 200] and got[0][2] == open(kernel, "rb").read(),
              "three pipelined requests over TLS answered in order")
        c.close()
        with open(tree + "/big", "rb") as f:
            big = f.read()
        # The image's uncompressed form contains the 3 MB file: compare a digest of both paths.
        st, _, tls_img = TlsClient(tport, ctx).get(f"/image/{MAC}")
        check(st == 200 and big in tls_img and hashlib.sha256(tls_img).digest() ==
              hashlib.sha256(get(port, f"/image/{MAC}")[2]).digest(), "3 MB body over TLS, byte for byte")

        # Abrupt disconnects mid-body and mid-handshake: the server frees every connection.
        for i in range(20):
            k = TlsClient(tport, ctx)
            k.send(f"GET /image/{MAC} HTTP/1.1\r\nHost: h\r\n\r\n".encode())
            k._fill()
            k.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            k.close()  # RST with most of the body unsent
            half = socket.create_connection(("127.0.0.1", tport), timeout=10)
            half.sendall(b"\x16\x03\x01\x02\x00\x01\x00")  # the start of a ClientHello, then gone
            half.close()
        active = None
        for _ in range(100):
            m = get(port, "/metrics")[2].decode()
            active = [ln for ln in m.splitlines() if ln.startswith("stormwulf_active_connections ")]
            if active and active[0].split()[1] == "1":  # the /metrics request's own connection
                break
            time.sleep(0.05)
        check(active and active[0].split()[1] == "1",
              f"40 TLS connections dropped mid-body or mid-handshake are all freed ({active})")

        # Plain HTTP: /runtime/ refused (403) while TLS is on; the rest still served.
        check(get(port, f"/runtime/{MAC}?compress=zstd")[0] == 403, "/runtime/ over plain HTTP -> 403")
        check(get(port, f"/overlay-runtime/{MAC}")[0] == 403, "legacy /overlay-runtime/ over plain HTTP -> 403")
        check(get(port, f"/kernel/{MAC}")[0] == 200, "/kernel over plain HTTP still 200")

        # Refusals on the TLS port.
        old = ssl.create_default_context(cafile=ca_pem)
        old.maximum_version = ssl.TLSVersion.TLSv1_2
        try:
            TlsClient(tport, old).get("/status")
            refused = False
        except (ssl.SSLError, OSError, EOFError):
            refused = True
        check(refused, "a TLS 1.2-only client is refused")
        s = socket.create_connection(("127.0.0.1", tport), timeout=10)
        s.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            data = s.recv(4096)
            while s.recv(4096):
                pass
        except OSError:
            data = b""
        s.close()
        check(not data.startswith(b"HTTP/"), "plain HTTP on the TLS port gets no HTTP answer")
        wrong = ssl.create_default_context(cafile=other_ca)
        try:
            TlsClient(tport, wrong)
            verified = True
        except ssl.SSLCertVerificationError:
            verified = False
        check(not verified, "a client trusting another CA rejects the server")
        check(get(port, "/status")[0] == 200, "stormwulfd is unharmed by the refused connections")

        # The real wwclient over https: refresh, 304, provision; a wrong CA is refused.
        url = f"https://127.0.0.1:{tport}"
        root = os.path.join(work, "noderoot")
        os.makedirs(root)
        base = [WWCLIENT, "--server", url, "--ca", ca_pem, "--wwid", MAC, "--root", root, "--no-chown",
                "--config", "/nonexistent"]
        r1 = subprocess.run(base + ["--once"], capture_output=True, text=True, timeout=60)
        check(r1.returncode == 0 and open(root + "/etc/stormwulf-runtime").read() == "runtime overlay for n1\n",
              "wwclient --once over https applies the runtime overlay: " + r1.stderr.strip()[-200:])
        conf = os.path.join(work, "wwclient.conf")
        with open(conf, "w") as f:  # the packaged file's "key = value" style
            f.write(f"# test\nserver = {url}\nca = {ca_pem}\ninterval = 5\n")
        r2 = subprocess.run([WWCLIENT, "--config", conf, "--wwid", MAC, "--root", root, "--no-chown", "--once"],
                            capture_output=True, text=True, timeout=60)
        check(r2.returncode == 0 and "0 written, 1 unchanged" in r2.stderr,
              "a second run, server and CA from a `key = value` config, finds everything current: " + r2.stderr.strip()[-200:])
        r3 = subprocess.run([WWCLIENT, "--server", url, "--ca", other_ca, "--wwid", MAC, "--root", root,
                             "--no-chown", "--once", "--config", "/nonexistent"],
                            capture_output=True, text=True, timeout=60)
        check(r3.returncode != 0 and "certificate verify failed" in r3.stderr,
              "wwclient refuses a server its CA did not sign: " + r3.stderr.strip()[-200:])
        r4 = subprocess.run([WWCLIENT, "--server", f"http://127.0.0.1:{port}", "--wwid", MAC, "--root", root,
                             "--no-chown", "--once", "--config", "/nonexistent"],
                            capture_output=True, text=True, timeout=60)
        check(r4.returncode != 0 and "403" in r4.stderr, "wwclient over plain HTTP gets 403: " + r4.stderr.strip()[-200:])
        newroot = os.path.join(work, "newroot")
        os.makedirs(newroot)
        r5 = subprocess.run([WWCLIENT, "provision", "--server", url, "--ca", ca_pem, "--wwid", MAC, "--root",
                             newroot, "--cache", "", "--no-chown", "--quiet", "--config", "/nonexistent"],
                            capture_output=True, text=True, timeout=120)
        check(r5.returncode == 0 and open(newroot + "/big", "rb").read() == big,
              "wwclient provision over https materializes the image: " + r5.stderr.strip()[-200:])
        stop(srv, work)
        srv = None

        # Secure mode (Warewulf's): a runtime request from a source port >= 1024 gets 401.
        srv, port = start_stormwulfd(BUILD, work, store, nodes, ["--secure", "true"])
        check(get(port, f"/runtime/{MAC}?compress=zstd")[0] == 401, "secure mode: source port >= 1024 -> 401")
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 987))
        s.connect(("127.0.0.1", port))
        s.sendall(f"GET /runtime/{MAC}?compress=zstd HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n".encode())
        resp = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            resp += d
        s.close()
        check(resp.startswith(b"HTTP/1.1 200"), "secure mode: source port 987 -> 200")
    finally:
        stop(srv, work)
        shutil.rmtree(work, ignore_errors=True)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
