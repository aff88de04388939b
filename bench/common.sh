# Helpers sourced by the bench/*.sh scripts.

# A TCP port on 127.0.0.1 that nothing listens on now (the kernel picks it). Random ports in
# 20000-40000 collided with the ephemeral ports a previous 10,000-connection run left behind.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until URL answers (up to 10 s); if the server process PID exits or never answers, prints
# its LOG and fails.
wait_http() {  # URL PID LOG
  for _ in $(seq 200); do
    curl -fs "$1" >/dev/null 2>&1 && return 0
    kill -0 "$2" 2>/dev/null || break
    sleep 0.05
  done
  echo "server at $1 did not come up; its log:" >&2
  tail -20 "$3" >&2
  return 1
}

# The top of a foreground, single-worker nginx.conf under PREFIX (pid, error log, events).
nginx_conf_head() {  # PREFIX WORKER_CONNECTIONS
  # Workers must read the 0700 temp directories when the bench runs as root.
  if [ "$(id -u)" = 0 ]; then echo "user root;"; fi
  printf 'worker_processes 1;\ndaemon off;\npid %s/nginx.pid;\nerror_log %s/error.log warn;\n' "$1" "$1"
  printf 'events { worker_connections %s; }\n' "$2"
}

# The raw (uncompressed) size in bytes of image NAME in STORE, from `swctl image show --json`.
image_raw_bytes() {  # SWCTL NAME STORE
  "$1" image show "$2" --store "$3" --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["size"])'
}

# Seconds that SHA-256 alone needs for BYTES on one core of this machine, at OpenSSL's own speed
# for 1 MiB blocks (the library the artifact digests use; no I/O, no copies): the floor of any
# step that must hash a whole uncompressed image stream in order. Measured for 1 s per call.
sha256_floor_s() {  # BYTES
  local rate
  rate=$(openssl speed -evp sha256 -bytes 1048576 -seconds 1 2>/dev/null | awk '$1 == "sha256" {print $NF}')
  rate=${rate%k}
  [ -n "$rate" ] || { echo "openssl speed gave no SHA-256 rate" >&2; return 1; }
  echo "$1 / ($rate * 1000)" | bc -l
}
