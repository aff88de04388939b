"""Shared helpers of the integration tests: results, HTTP, a stormwulfd on 127.0.0.1."""
import http.client
import os
import signal
import socket
import subprocess
import time

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
failures = []


def check(cond, what):
    """Records and prints one assertion; the test's exit code comes from `failures`."""
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def finish():
    print(f"{len(failures)} failed")
    return 1 if failures else 0


def write_tree(root, files):
    """Writes {relative path: str (text) or bytes} under root, making directories; returns root."""
    for rel, data in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb" if isinstance(data, bytes) else "w") as f:
            f.write(data)
    return root


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def get(port, path, headers=None, method="GET"):
    """(status, headers with lower-case names, body) of one request on a new connection."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request(method, path, headers=headers or {})
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, dict((k.lower(), v) for k, v in r.getheaders()), body


def start_stormwulfd(build, work, store, nodes, extra=()):
    """Starts stormwulfd on a free loopback port (log in work/stormwulfd.log); (process, port).

    The port free_port() found can be taken before stormwulfd binds it (tests run in parallel
    and open thousands of connections): when stormwulfd exits with a bind error, it is started
    again on another port. A server still not accepting after 20 s is returned as it is, for
    the caller's checks to report."""
    logpath = os.path.join(work, "stormwulfd.log")
    for _ in range(5):
        port = free_port()
        with open(logpath, "w") as log:
            proc = subprocess.Popen([os.path.join(build, "server", "stormwulfd"), "--listen",
                                     f"127.0.0.1:{port}", "--store", store, "--nodes", nodes,
                                     "--ipxe-dir", os.path.join(SRC, "ipxe-scripts"), *extra],
                                    stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while time.time() < deadline and proc.poll() is None:
            if accepting(port):
                return proc, port
            time.sleep(0.05)
        if proc.poll() is None or "bind 127.0.0.1" not in open(logpath, errors="replace").read():
            break
    print("stormwulfd is not accepting on port %d: %s" % (port, process_state(proc)))
    return proc, port


def accepting(port):
    """True when something accepts TCP connections on 127.0.0.1:port."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def process_state(proc):
    """How a process stands, for a failure report: its exit status (a signal by name), or for a
    live one each thread's state, wait channel and kernel stack (the stack needs root)."""
    rc = proc.poll()
    if rc is not None:
        return f"exited by signal {signal.Signals(-rc).name}" if rc < 0 else f"exited with {rc}"
    lines = ["still running"]
    try:
        tids = sorted(os.listdir(f"/proc/{proc.pid}/task"))
    except OSError:  # it exited just now
        return process_state(proc) if proc.poll() is not None else "gone from /proc"
    for tid in tids:
        task = f"/proc/{proc.pid}/task/{tid}"
        def read(name):
            try:
                with open(os.path.join(task, name)) as f:
                    return f.read().strip()
            except OSError:
                return "?"
        stat = read("stat")
        state = stat.rsplit(")", 1)[-1].split()[0] if ")" in stat else "?"
        lines.append(f"  thread {tid} ({read('comm')}) state {state} wchan {read('wchan')}")
        lines.extend("    " + frame for frame in read("stack").splitlines())
    return "\n".join(lines)


def stop(proc, work):
    """Stops a process started by start_stormwulfd; prints its log's end if anything failed."""
    if proc:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    log = os.path.join(work, "stormwulfd.log")
    if os.path.exists(log):
        text = open(log, errors="replace").read()
        # Under a sanitizer build, a report in the server's log fails the test.
        check("ERROR: AddressSanitizer" not in text and "ERROR: LeakSanitizer" not in text
              and "runtime error:" not in text, "no sanitizer report in the stormwulfd log")
    if failures and os.path.exists(log):
        print("stormwulfd log:\n" + open(log).read()[-2000:])
