// wwclient: keeps a node's runtime overlay current (Warewulf-compatible agent).
//
//   wwclient [--server URL] [--wwid ID] [--root DIR] [--interval S] [--once] ...
// See --help and docs/agent.md.
#include <signal.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "agent/http_client.h"
#include "agent/provision.h"
#include "agent/runtime_client.h"
#include "common/fs_util.h"
#include "common/lines.h"
#include "common/log.h"

namespace {

constexpr char kUsage[] =
    "usage: wwclient [options]          (and `wwclient provision --help` for two-stage boot)\n"
    "Keeps this node's runtime overlay current: polls GET /runtime/<wwid> with If-None-Match,\n"
    "verifies and applies each new version atomically (deletions included).\n\n"
    "  --server URL        head node, e.g. http://10.0.0.1:9873 or https://10.0.0.1:9874\n"
    "                      (default: $WW_SERVER, else the `server` line of --config)\n"
    "  --ca FILE           https: CA certificate(s) that signed the server's (PEM; default: the\n"
    "                      system's store)\n"
    "  --config FILE       key=value config (default /etc/stormwulf/wwclient.conf): server, ca,\n"
    "                      interval, secure, compress\n"
    "  --wwid ID           node id (default: wwid= from /proc/cmdline; wwid=[eth0] = eth0's MAC)\n"
    "  --root DIR          apply under DIR instead of /\n"
    "  --state FILE        ownership state file (default <root>/var/lib/wwclient/runtime.state)\n"
    "  --interval S        seconds between refreshes (default 60), jittered +-25%\n"
    "  --once              run one cycle and exit (0 = applied or up to date)\n"
    "  --secure            bind local port 987 (Warewulf secure mode; needs root)\n"
    "  --local-port N      bind this local port instead\n"
    "  --compress zstd|gz|none   representation to request (default zstd)\n"
    "  --no-chown          do not chown files (testing as a normal user)\n"
    "  --cmdline FILE, --sys DIR  identity sources (default /proc/cmdline, /sys)\n"
    "  --log-level L       debug|info|warning|error\n"
    "Signals: SIGHUP = refresh now, SIGTERM/SIGINT = exit.\n";

struct Flags {
  std::string server, config = "/etc/stormwulf/wwclient.conf", wwid, root = "/", state, ca;
  std::string compress = "zstd", cmdline = "/proc/cmdline", sys = "/sys";
  double interval = 60;
  bool once = false, chown = true;
  int local_port = 0;
};

double Random01() {
  uint64_t r = 0;
  if (getrandom(&r, sizeof(r), 0) != sizeof(r)) r = static_cast<uint64_t>(time(nullptr));
  return static_cast<double>(r >> 11) / static_cast<double>(1ull << 53);
}

// Sends READY=1 to systemd when run as a Type=notify service (no libsystemd needed).
void NotifyReady() {
  const char* path = getenv("NOTIFY_SOCKET");
  if (path == nullptr || path[0] == '\0') return;
  sw::UniqueFd fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  size_t len = strlen(path);
  if (len >= sizeof(addr.sun_path)) return;
  memcpy(addr.sun_path, path, len);
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';  // abstract socket
  const char msg[] = "READY=1";
  sendto(fd.get(), msg, sizeof(msg) - 1, MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr),
         static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len));
}

// Reads "key = value" lines (blanks around either side ignored, '#' starts a comment line);
// unknown keys are ignored. Flags given on the command line win.
void ReadConfig(const std::string& path, Flags* f, const std::vector<std::string>& explicit_keys) {
  auto text = sw::ReadFileToString(path);
  if (!text.ok()) return;
  auto given = [&](const std::string& k) {
    for (const auto& e : explicit_keys) {
      if (e == k) return true;
    }
    return false;
  };
  sw::ForEachLine(*text, [&](std::string_view text_line) {
    std::string line(text_line);
    if (line.empty() || line[0] == '#') return;
    size_t eq = line.find('=');
    if (eq == std::string::npos) return;
    auto trim = [](std::string x) {
      size_t a = x.find_first_not_of(" \t\r"), b = x.find_last_not_of(" \t\r");
      return a == std::string::npos ? std::string() : x.substr(a, b - a + 1);
    };
    std::string k = trim(line.substr(0, eq)), v = trim(line.substr(eq + 1));
    if (k == "server" && !given("server")) f->server = v;
    if (k == "ca" && !given("ca")) f->ca = v;
    if (k == "interval" && !given("interval")) f->interval = atof(v.c_str());
    if (k == "compress" && !given("compress")) f->compress = v == "none" ? "" : v;
    if (k == "secure" && v == "true" && !given("local-port")) f->local_port = 987;
  });
}

// Sleeps up to `seconds` or until SIGHUP (returns false) / SIGTERM or SIGINT (sets *stop).
bool SleepOrSignal(double seconds, const sigset_t& set, bool* stop) {
  timespec ts;
  ts.tv_sec = static_cast<time_t>(seconds);
  ts.tv_nsec = static_cast<long>((seconds - static_cast<double>(ts.tv_sec)) * 1e9);
  siginfo_t info;
  int sig = sigtimedwait(&set, &info, &ts);
  if (sig == SIGTERM || sig == SIGINT) *stop = true;
  return sig < 0;
}

}  // namespace

// The server URL ($WW_SERVER when neither flag nor config gave one) and the node's identity
// (--wwid, else /proc/cmdline and SMBIOS). 0, or 2 after printing why.
int ResolveServerAndIdentity(const char* prog, Flags* f, sw::HttpUrl* url, sw::NodeIdentity* id) {
  if (f->server.empty() && getenv("WW_SERVER") != nullptr) f->server = getenv("WW_SERVER");
  if (f->server.empty()) {
    fprintf(stderr, "%s: no server: give --server URL or `server=` in the config\n", prog);
    return 2;
  }
  auto u = sw::HttpUrl::Parse(f->server);
  if (!u.ok()) {
    fprintf(stderr, "%s: %s\n", prog, u.status().ToString().c_str());
    return 2;
  }
  *url = *u;
  if (!f->wwid.empty()) {
    id->wwid = f->wwid;
    return 0;
  }
  auto r = sw::ReadIdentity(f->cmdline, f->sys);
  if (!r.ok()) {
    fprintf(stderr, "%s: %s (give --wwid)\n", prog, r.status().ToString().c_str());
    return 2;
  }
  *id = *r;
  return 0;
}

constexpr char kProvisionUsage[] =
    "usage: wwclient provision --root DIR [options]\n"
    "Two-stage boot: materializes this node's whole image into DIR from the chunk store behind\n"
    "stormwulfd (manifest from /image/<wwid>?manifest=1, segments from /chunks/<id>), fetching\n"
    "segments in parallel, verifying each (XXH3-128) and the whole image (SHA-256), and caching\n"
    "them so the next provision fetches only what changed.\n\n"
    "  --server URL        head node (default: $WW_SERVER, else the config's `server`)\n"
    "  --ca FILE           https: CA certificate(s) of the server (PEM)\n"
    "  --root DIR          where the image goes (e.g. /newroot, a tmpfs)\n"
    "  --cache DIR         segment cache (default /var/cache/wwclient; \"\" disables)\n"
    "  --parallel N        segments in flight (default 8)\n"
    "  --wwid ID, --cmdline FILE, --sys DIR, --config FILE   identity and config, as for refresh\n"
    "  --no-chown          do not chown or create devices (testing as a normal user)\n"
    "  --quiet             no progress line\n"
    "Exit codes: 0 done, 1 failed (nothing usable in DIR), 2 usage.\n";

int RunProvision(int argc, char** argv) {
  Flags f;
  std::string cache = "/var/cache/wwclient";
  int parallel = 8;
  bool quiet = false;
  std::vector<std::string> explicit_keys;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        fprintf(stderr, "wwclient provision: %s needs a value\n", a.c_str());
        exit(2);
      }
      explicit_keys.push_back(a.substr(2));
      return argv[++i];
    };
    if (a == "-h" || a == "--help") {
      fputs(kProvisionUsage, stdout);
      return 0;
    } else if (a == "--server") {
      f.server = value();
    } else if (a == "--ca") {
      f.ca = value();
    } else if (a == "--root") {
      f.root = value();
    } else if (a == "--cache") {
      cache = value();
    } else if (a == "--parallel") {
      parallel = atoi(value().c_str());
    } else if (a == "--wwid") {
      f.wwid = value();
    } else if (a == "--cmdline") {
      f.cmdline = value();
    } else if (a == "--sys") {
      f.sys = value();
    } else if (a == "--config") {
      f.config = value();
    } else if (a == "--no-chown") {
      f.chown = false;
    } else if (a == "--quiet" || a == "-q") {
      quiet = true;
    } else {
      fprintf(stderr, "wwclient provision: unknown option '%s'\n\n%s", a.c_str(), kProvisionUsage);
      return 2;
    }
  }
  ReadConfig(f.config, &f, explicit_keys);
  if (f.root.empty() || f.root == "/") {
    fprintf(stderr, "wwclient provision: give --root DIR (not /)\n");
    return 2;
  }
  sw::HttpUrl url_value;
  sw::NodeIdentity id;
  if (int rc = ResolveServerAndIdentity("wwclient provision", &f, &url_value, &id); rc != 0) return rc;
  auto* url = &url_value;
  sw::ProvisionOptions o;
  o.root = f.root;
  o.cache_dir = cache;
  o.parallel = parallel;
  o.set_owner = f.chown;
  o.http.ca_file = f.ca;
  if (!id.assetkey.empty()) o.query += "assetkey=" + id.assetkey;
  if (!id.uuid.empty()) o.query += std::string(o.query.empty() ? "" : "&") + "uuid=" + id.uuid;
  std::mutex progress_mu;
  uint64_t last_ns = 0;
  const uint64_t t0 = sw::MonotonicNanos();
  if (!quiet && isatty(2)) {
    o.progress = [&](uint64_t done, uint64_t total, uint64_t bytes) {
      std::lock_guard<std::mutex> l(progress_mu);
      uint64_t now = sw::MonotonicNanos();
      if (now - last_ns < 100000000 && done != total) return;
      last_ns = now;
      fprintf(stderr, "\rprovisioning: %llu/%llu segments, %.1f MB fetched", (unsigned long long)done,
              (unsigned long long)total, static_cast<double>(bytes) / 1e6);
    };
  }
  sw::ProvisionReport rep;
  sw::Status s = sw::Provision(*url, id.wwid, o, &rep);
  if (o.progress) fputc('\n', stderr);
  if (!s.ok()) {
    fprintf(stderr, "wwclient provision: %s\n", s.ToString().c_str());
    return 1;
  }
  double secs = static_cast<double>(sw::MonotonicNanos() - t0) / 1e9;
  if (!quiet) {
    printf("provisioned %s: %.1f MB image, %llu segments (%llu fetched, %.1f MB; %llu from cache), "
           "%llu entries in %.2f s, SHA-256 %s verified\n",
           f.root.c_str(), static_cast<double>(rep.raw_bytes) / 1e6, (unsigned long long)rep.segments,
           (unsigned long long)rep.fetched, static_cast<double>(rep.bytes_fetched) / 1e6,
           (unsigned long long)rep.from_cache, (unsigned long long)rep.entries, secs,
           rep.sha256.substr(0, 16).c_str());
  }
  return 0;
}

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "provision") == 0) return RunProvision(argc - 1, argv + 1);
  Flags f;
  std::vector<std::string> explicit_keys;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char* name) -> std::string {
      if (i + 1 >= argc) {
        fprintf(stderr, "wwclient: %s needs a value\n", name);
        exit(2);
      }
      explicit_keys.push_back(std::string(name).substr(2));
      return argv[++i];
    };
    if (a == "-h" || a == "--help") {
      fputs(kUsage, stdout);
      return 0;
    } else if (a == "--server") {
      f.server = value("--server");
    } else if (a == "--ca") {
      f.ca = value("--ca");
    } else if (a == "--config") {
      f.config = value("--config");
    } else if (a == "--wwid") {
      f.wwid = value("--wwid");
    } else if (a == "--root") {
      f.root = value("--root");
    } else if (a == "--state") {
      f.state = value("--state");
    } else if (a == "--interval") {
      f.interval = atof(value("--interval").c_str());
    } else if (a == "--once") {
      f.once = true;
    } else if (a == "--secure") {
      f.local_port = 987;
      explicit_keys.push_back("local-port");
    } else if (a == "--local-port") {
      f.local_port = atoi(value("--local-port").c_str());
    } else if (a == "--compress") {
      std::string c = value("--compress");
      f.compress = c == "none" ? "" : c;
    } else if (a == "--no-chown") {
      f.chown = false;
    } else if (a == "--cmdline") {
      f.cmdline = value("--cmdline");
    } else if (a == "--sys") {
      f.sys = value("--sys");
    } else if (a == "--log-level") {
      sw::LogLevel l;
      if (!sw::ParseLogLevel(value("--log-level"), &l)) {
        fputs("wwclient: bad --log-level\n", stderr);
        return 2;
      }
      sw::SetLogLevel(l);
    } else {
      fprintf(stderr, "wwclient: unknown option '%s'\n\n%s", a.c_str(), kUsage);
      return 2;
    }
  }
  ReadConfig(f.config, &f, explicit_keys);
  if (f.compress != "zstd" && f.compress != "gz" && !f.compress.empty()) {
    fputs("wwclient: --compress must be zstd, gz or none\n", stderr);
    return 2;
  }
  if (!(f.interval > 0)) f.interval = 60;
  sw::HttpUrl url_value;
  sw::NodeIdentity id;
  if (int rc = ResolveServerAndIdentity("wwclient", &f, &url_value, &id); rc != 0) return rc;
  auto* url = &url_value;

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigprocmask(SIG_BLOCK, &set, nullptr);

  sw::HttpClientOptions hopts;
  hopts.local_port = static_cast<uint16_t>(f.local_port);
  hopts.ca_file = f.ca;
  hopts.connect_timeout_ms = 10000;
  hopts.io_timeout_ms = 30000;
  sw::HttpClient http(*url, hopts);
  sw::RuntimeClientOptions ropts;
  ropts.compress = f.compress;
  ropts.apply.root = f.root;
  ropts.apply.state_path = f.state;
  ropts.apply.set_owner = f.chown;
  sw::RuntimeClient client(&http, id, ropts);

  bool stop = false;
  bool ready = false;
  int failures = 0;
  const double kBackoffCap = std::max(300.0, f.interval);
  if (!f.once) {
    // Spread the first poll of a rack that booted together over one interval.
    SleepOrSignal(Random01() * std::min(f.interval, 5.0), set, &stop);
  }
  while (!stop) {
    sw::CycleResult r;
    sw::Status s = client.RunCycle(&r);
    double wait;
    if (s.ok()) {
      failures = 0;
      if (r.outcome == sw::CycleOutcome::kApplied) {
        LOG(INFO) << "runtime overlay applied: " << r.apply.written << " written, "
                  << r.apply.unchanged << " unchanged, " << r.apply.removed << " removed ("
                  << r.body_bytes << " bytes)";
      } else {
        LOG(DEBUG) << "runtime overlay up to date (HTTP " << r.http_status << ")";
      }
      if (!ready) {
        NotifyReady();
        ready = true;
      }
      if (f.once) return 0;
      wait = f.interval * (0.75 + 0.5 * Random01());
    } else {
      LOG(WARNING) << "runtime refresh failed: " << s.ToString();
      if (f.once) return 1;
      ++failures;
      // Exponential backoff with full jitter, capped; a server's Retry-After wins.
      double ceiling = std::min(kBackoffCap, std::pow(2.0, std::min(failures, 12)));
      wait = std::max(1.0, ceiling * Random01());
      if (r.retry_after_seconds >= 0) wait = r.retry_after_seconds + Random01();
    }
    SleepOrSignal(wait, set, &stop);
  }
  LOG(INFO) << "wwclient exiting";
  return 0;
}
