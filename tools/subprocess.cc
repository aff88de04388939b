#include "tools/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/fs_util.h"

extern char** environ;

namespace sw {

ProcessResult RunProcess(const std::vector<std::string>& argv,
                         const std::vector<std::string>& env_extra, int timeout_ms) {
  ProcessResult r;
  if (argv.empty()) return r;
  // Everything the child needs is built before fork (no allocation after it).
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string_view kv(*e);
    bool replaced = std::any_of(env_extra.begin(), env_extra.end(), [&](const std::string& x) {
      size_t eq = x.find('=');
      return kv.substr(0, eq + 1) == std::string_view(x).substr(0, eq + 1);
    });
    if (!replaced) env.emplace_back(kv);
  }
  env.insert(env.end(), env_extra.begin(), env_extra.end());
  std::vector<std::string> args = argv;
  std::vector<char*> envp, argp;
  for (auto& s : env) envp.push_back(s.data());
  envp.push_back(nullptr);
  for (auto& s : args) argp.push_back(s.data());
  argp.push_back(nullptr);

  int pfd[2];
  if (::pipe2(pfd, O_CLOEXEC) != 0) {
    r.output = std::string("pipe: ") + std::strerror(errno);
    return r;
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(pfd[0]);
    ::close(pfd[1]);
    r.output = std::string("fork: ") + std::strerror(errno);
    return r;
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    ::dup2(pfd[1], 1);
    ::dup2(pfd[1], 2);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::execvpe(argp[0], argp.data(), envp.data());
    std::fprintf(stderr, "cannot run %s: %s\n", argp[0], std::strerror(errno));
    _exit(127);
  }
  ::close(pfd[1]);
  const uint64_t deadline =
      timeout_ms > 0 ? MonotonicNanos() + static_cast<uint64_t>(timeout_ms) * 1000000 : 0;
  char buf[4096];
  for (;;) {
    int wait_ms = 1000;
    if (deadline != 0) {
      int64_t left = (static_cast<int64_t>(deadline) - static_cast<int64_t>(MonotonicNanos())) / 1000000;
      if (left <= 0) {
        r.timed_out = true;
        ::kill(-pid, SIGKILL);
        ::kill(pid, SIGKILL);
        break;
      }
      wait_ms = static_cast<int>(std::min<int64_t>(left, 1000));
    }
    pollfd p{pfd[0], POLLIN, 0};
    int n = ::poll(&p, 1, wait_ms);
    if (n < 0 && errno != EINTR) break;
    if (n <= 0) continue;
    ssize_t got = ::read(pfd[0], buf, sizeof(buf));
    if (got > 0) {
      if (r.output.size() < 65536) r.output.append(buf, static_cast<size_t>(got));
    } else if (got == 0 || errno != EINTR) {
      break;  // EOF: the child and everything it started closed the pipe
    }
  }
  ::close(pfd[0]);
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (!r.timed_out && WIFEXITED(st)) r.exit_code = WEXITSTATUS(st);
  return r;
}

}  // namespace sw
