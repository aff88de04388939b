// tools/subprocess.h: running helper programs (ipmitool, depmod, dnsmasq, systemctl, swctl itself)
// from swctl with captured output, extra environment and a timeout.
// Thread-safety: may be called from several threads at once (fork + exec, no shared state).
#pragma once

#include <string>
#include <vector>

namespace sw {

struct ProcessResult {
  int exit_code = -1;      // -1 when it could not run, was killed by a signal, or timed out
  bool timed_out = false;  // killed (with its process group) after the timeout
  std::string output;      // stdout and stderr interleaved, at most 64 KiB
};

// Runs argv[0] (PATH lookup) with argv, the current environment plus `env_extra` ("K=V"; an
// entry replaces the inherited variable of that name) and stdin from /dev/null, in its own
// process group. timeout_ms <= 0 waits forever.
ProcessResult RunProcess(const std::vector<std::string>& argv,
                         const std::vector<std::string>& env_extra = {}, int timeout_ms = 0);

}  // namespace sw
