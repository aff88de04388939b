// bench/zerocopy_bench.cc: file -> TCP socket over loopback, server CPU per GB for each way of
// sending a body: pread+send through a user buffer (the copy baseline), sendfile(2), and
// splice(2) file -> pipe -> socket (what the engine's linked IORING_OP_SPLICE pair does). The
// client thread only drains. Prints CPU seconds per GB of the sending thread (RUSAGE_THREAD) and
// the ratio against the copy baseline measured in the same run.
// Usage: zerocopy_bench [total_mib=1024]
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

double ThreadCpu() {
  rusage ru{};
  getrusage(RUSAGE_THREAD, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

bool SendCopy(int file, int sock, size_t len) {
  static std::vector<char> buf(64 * 1024);
  size_t off = 0;
  while (off < len) {
    ssize_t n = pread(file, buf.data(), std::min(buf.size(), len - off), static_cast<off_t>(off));
    if (n <= 0) return false;
    for (ssize_t s = 0; s < n;) {
      ssize_t w = send(sock, buf.data() + s, static_cast<size_t>(n - s), MSG_NOSIGNAL);
      if (w <= 0) return false;
      s += w;
    }
    off += static_cast<size_t>(n);
  }
  return true;
}

bool SendFile(int file, int sock, size_t len) {
  off_t off = 0;
  while (static_cast<size_t>(off) < len) {
    ssize_t n = sendfile(sock, file, &off, len - static_cast<size_t>(off));
    if (n <= 0) return false;
  }
  return true;
}

bool SendSplice(int file, int sock, size_t len) {
  static int p[2] = {-1, -1};
  if (p[0] < 0) {
    if (pipe2(p, O_CLOEXEC) != 0) return false;
    fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
  }
  loff_t off = 0;
  while (static_cast<size_t>(off) < len) {
    ssize_t in = splice(file, &off, p[1], nullptr, len - static_cast<size_t>(off), SPLICE_F_MOVE);
    if (in <= 0) return false;
    while (in > 0) {
      ssize_t out = splice(p[0], nullptr, sock, nullptr, static_cast<size_t>(in),
                           SPLICE_F_MOVE | SPLICE_F_MORE);
      if (out <= 0) return false;
      in -= out;
    }
  }
  return true;
}

struct Result {
  double cpu_s_per_gb;
  double wall_s_per_gb;
};

Result Run(bool (*fn)(int, int, size_t), int file, size_t body, size_t total) {
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof(a);
  if (bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(ls, 1) != 0 ||
      getsockname(ls, reinterpret_cast<sockaddr*>(&a), &alen) != 0) {
    perror("listen");
    exit(1);
  }
  std::thread client([a, total] {
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(c, reinterpret_cast<const sockaddr*>(&a), sizeof(a)) != 0) exit(1);
    std::vector<char> buf(256 * 1024);
    size_t got = 0;
    while (got < total) {
      ssize_t n = recv(c, buf.data(), buf.size(), 0);
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    close(c);
  });
  int s = accept4(ls, nullptr, nullptr, SOCK_CLOEXEC);
  timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  double c0 = ThreadCpu();
  for (size_t sent = 0; sent < total; sent += body) {
    if (!fn(file, s, body)) {
      perror("send");
      exit(1);
    }
  }
  double c1 = ThreadCpu();
  clock_gettime(CLOCK_MONOTONIC, &t1);
  client.join();
  close(s);
  close(ls);
  double gb = static_cast<double>(total) / 1e9;
  double wall = static_cast<double>(t1.tv_sec - t0.tv_sec) +
                static_cast<double>(t1.tv_nsec - t0.tv_nsec) / 1e9;
  return {(c1 - c0) / gb, wall / gb};
}

}  // namespace

int main(int argc, char** argv) {
  size_t total = static_cast<size_t>(argc > 1 ? atol(argv[1]) : 1024) << 20;
  char path[] = "/tmp/zerocopy_bench.XXXXXX";
  int file = mkstemp(path);
  if (file < 0) return 1;
  unlink(path);
  std::vector<char> data(8 << 20);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 2654435761u >> 13);
  if (write(file, data.data(), data.size()) != static_cast<ssize_t>(data.size())) return 1;
  struct Way {
    const char* name;
    bool (*fn)(int, int, size_t);
  } ways[] = {{"copy(pread+send)", SendCopy}, {"sendfile", SendFile}, {"splice(pipe)", SendSplice}};
  for (size_t body : {size_t{8} << 20, size_t{64} << 10}) {
    double anchor = 0;
    for (const Way& w : ways) {
      Result r = Run(w.fn, file, body, total);
      if (anchor == 0) anchor = r.cpu_s_per_gb;
      printf("body=%-8zu %-18s cpu_s/GB=%.3f wall_s/GB=%.3f cpu_ratio_vs_copy=%.2f\n", body,
             w.name, r.cpu_s_per_gb, r.wall_s_per_gb, r.cpu_s_per_gb / anchor);
    }
  }
  close(file);
  return 0;
}
