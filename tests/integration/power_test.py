#!/usr/bin/env python3
"""swctl power with a fake ipmitool first on PATH: the exact command lines, the password only in
the environment, per-node results (ok, failed, timeout, no BMC address), --json, exit codes,
unknown nodes refused before anything runs, and --parallel bounding the concurrency."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from swtest import check, failures, finish

BUILD = sys.argv[1]
SWCTL = os.path.join(BUILD, "tools", "swctl")

FAKE = r"""#!/bin/sh
# Fake ipmitool: logs its arguments and IPMI_PASSWORD, and when it ran (for the overlap check).
echo "ARGS $* PW=$IPMI_PASSWORD" >> "$FAKE_DIR/calls"
start=$(date +%s.%N)
case "$4" in
  10.1.0.2) echo "Error: Unable to establish IPMI v2 / RMCP+ session" >&2; exit 1 ;;
  10.1.0.3) sleep 30 ;;
esac
sleep 0.5
echo "$start $(date +%s.%N)" >> "$FAKE_DIR/spans"
echo "Chassis Power is on"
"""



def main():
    work = tempfile.mkdtemp(prefix="sw-power-")
    try:
        bindir = os.path.join(work, "bin")
        os.makedirs(bindir)
        with open(os.path.join(bindir, "ipmitool"), "w") as f:
            f.write(FAKE)
        os.chmod(os.path.join(bindir, "ipmitool"), 0o755)
        conf = os.path.join(work, "nodes.conf")
        nodes = "".join(
            f"  n{i}: {{profiles: [default], ipmi: {{ipaddr: 10.1.0.{i}}}}}\n" for i in range(4, 10))
        with open(conf, "w") as f:
            f.write("nodeprofiles:\n  default:\n    ipmi: {username: admin, password: s3cret, interface: lanplus}\n"
                    "nodes:\n"
                    "  n1: {profiles: [default], ipmi: {ipaddr: 10.1.0.1, port: \"6230\"}}\n"
                    "  n2: {profiles: [default], ipmi: {ipaddr: 10.1.0.2}}\n"
                    "  n3: {profiles: [default], ipmi: {ipaddr: 10.1.0.3}}\n"
                    "  nobmc: {}\n" + nodes)
        env = dict(os.environ, PATH=bindir + ":" + os.environ["PATH"], FAKE_DIR=work)

        def sw(*args):
            r = subprocess.run([SWCTL, "power", *args, "--nodes", conf], capture_output=True,
                               text=True, env=env)
            return r.returncode, r.stdout + r.stderr

        rc, out = sw("status", "n1")
        calls = open(os.path.join(work, "calls")).read()
        check(rc == 0 and "n1" in out and "Chassis Power is on" in out and "1 of 1 nodes ok" in out,
              "power status n1: " + out.strip())
        check(calls.strip() == "ARGS -I lanplus -H 10.1.0.1 -p 6230 -U admin -E chassis power status PW=s3cret",
              "exact ipmitool command line, password only in IPMI_PASSWORD: " + calls.strip())
        ps_visible = "s3cret" not in calls.split("PW=")[0]
        check(ps_visible, "the password is not in argv")

        os.unlink(os.path.join(work, "calls"))
        t0 = time.time()
        rc, out = sw("on", "n[1-3],nobmc", "--timeout", "2", "--json")
        took = time.time() - t0
        res = {r["node"]: r for r in json.loads(out)} if out.strip().startswith("[") else {}
        check(rc == 1 and res.get("n1", {}).get("ok") is True and
              res.get("n2", {}).get("ok") is False and "RMCP+" in res.get("n2", {}).get("output", "") and
              res.get("n3", {}).get("timed_out") is True and
              "no IPMI address" in res.get("nobmc", {}).get("output", ""),
              "per-node results: ok, failed, timeout, no BMC: " + out)
        check(took < 10, f"a hung BMC costs the timeout, not forever ({took:.1f}s)")
        calls = open(os.path.join(work, "calls")).read()
        check("chassis power on" in calls and calls.count("ARGS") == 3, "one call per node with a BMC")

        rc, out = sw("cycle", "n1,ghost[1-2]")
        check(rc == 1 and "ghost1, ghost2" in out and "nothing done" in out, "unknown nodes refused: " + out.strip())
        check(open(os.path.join(work, "calls")).read().count("ARGS") == 3, "...before anything ran")

        def peak_overlap():
            spans = [tuple(map(float, l.split())) for l in open(os.path.join(work, "spans"))]
            os.unlink(os.path.join(work, "spans"))
            events = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans])
            cur = best = 0
            for _, d in events:
                cur += d
                best = max(best, cur)
            return best

        os.unlink(os.path.join(work, "spans"))
        rc, out = sw("off", "n[4-9]", "--parallel", "2")
        peak = peak_overlap()
        check(rc == 0 and "6 of 6 nodes ok" in out and peak <= 2, f"--parallel 2 bounds concurrency (peak {peak})")
        rc, out = sw("off", "n[4-9]", "--parallel", "6")
        peak = peak_overlap()
        check(rc == 0 and peak >= 3, f"--parallel 6 runs them together (peak {peak})")

        rc, out = sw("explode", "n1")
        check(rc == 2, "unknown action is a usage error")
        rc, out = sw("on")
        check(rc == 2, "no nodes is a usage error")
        rc, out = sw("--help")
        check(rc == 0 and "IPMI_PASSWORD" in out, "--help")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
