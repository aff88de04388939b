// bench/bootstorm.cc: the mass-reboot benchmark. One process, one epoll loop, one simulated iPXE
// node per state machine, each on ONE keep-alive connection like iPXE. See docs/bench/bootstorm.md.
//
// A node: arrives (uniform over --spread seconds), GETs /ipxe/<mac>, runs the returned script
// (bench/bootstorm_ipxe.h) to learn the kernel/initrd URLs (or falls back to --pattern), fetches
// them in order under a per-connection token bucket (--link-gbps), optionally pays a modelled
// decompression cost (--decompress-mbps), and then does --refreshes conditional GETs of its
// runtime overlay as wwclient would (or, with --unconditional, plain GETs: the small-body
// per-request cost of a server). Connection errors are retried a few times like iPXE.
//
// Safety: every URL (the target and every URL a script names) must be a loopback literal; any
// other host is refused before a socket is made.
#include <arpa/inet.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "bench/bootstorm_http.h"
#include "bench/bootstorm_ipxe.h"
#include "common/fs_util.h"
#include "common/json.h"
#include "common/status.h"

namespace sw::bootstorm {
namespace {

constexpr char kIpxeUserAgent[] = "iPXE/1.0.0+git-20190125.36a4c85-5.1";
constexpr char kWwclientUserAgent[] = "wwclient/stormwulf";
constexpr size_t kReadBuf = 256 * 1024;
constexpr int kMaxChainDepth = 4;
constexpr double kSampleInterval = 0.1;

double Now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// CPU (user + system) this process has used since `since`.
double ClientCpuSince(const rusage& since) {
  rusage now{};
  getrusage(RUSAGE_SELF, &now);
  auto tv = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec * 1e-6; };
  return tv(now.ru_utime) - tv(since.ru_utime) + tv(now.ru_stime) - tv(since.ru_stime);
}

struct Options {
  std::string target;
  int nodes = 100;
  std::string macs_file;
  std::string pattern = "warewulf";
  double link_gbps = 0;  // 0 = uncapped
  double spread = 0;
  std::string csv;
  std::string timeseries;
  double timeout = 300;
  int max_conns = 0;  // 0 = all nodes at once
  int refreshes = 0;
  double refresh_interval = 60;
  bool unconditional = false;  // refreshes without If-None-Match: every one is a full 200
  double decompress_mbps = 0;  // MB/s of compressed input a node decompresses; 0 = free
  std::vector<int> server_pids;
  bool json = false;
  std::string json_file;  // --json FILE: JSON there, the table stays on stdout
  int retries = 3;
  uint64_t seed = 1;
  std::string platform = "pcbios";
  std::string label;
  bool quiet = false;
  bool copy_bodies = false;  // read bodies into user space instead of recv(MSG_TRUNC)
};

// ---------------------------------------------------------------------------------------------
// Server process accounting from /proc.

struct ProcSample {
  double cpu_s = 0;  // utime + stime
  uint64_t rss_kb = 0;
  uint64_t hwm_kb = 0;
};

bool ReadProc(int pid, ProcSample* out, int* ppid) {
  std::string base = "/proc/" + std::to_string(pid);
  Result<std::string> stat = ReadFileToString(base + "/stat");
  if (!stat.ok()) return false;
  // Fields after the ")" that ends comm: state(3) ppid(4) ... utime(14) stime(15).
  size_t rp = stat->rfind(')');
  if (rp == std::string::npos) return false;
  std::istringstream is(stat->substr(rp + 2));
  std::vector<std::string> f;
  std::string w;
  while (is >> w && f.size() < 14) f.push_back(w);
  if (f.size() < 14) return false;
  double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  out->cpu_s = (std::strtod(f[11].c_str(), nullptr) + std::strtod(f[12].c_str(), nullptr)) / tick;
  if (ppid != nullptr) *ppid = std::atoi(f[1].c_str());
  Result<std::string> status = ReadFileToString(base + "/status");
  if (status.ok()) {
    std::istringstream ss(*status);
    std::string line;
    while (std::getline(ss, line)) {
      if (line.rfind("VmRSS:", 0) == 0) out->rss_kb = std::strtoull(line.c_str() + 6, nullptr, 10);
      if (line.rfind("VmHWM:", 0) == 0) out->hwm_kb = std::strtoull(line.c_str() + 6, nullptr, 10);
    }
  }
  return true;
}

// The given pids plus their direct children (nginx master -> workers).
std::vector<int> ExpandPids(const std::vector<int>& roots) {
  std::set<int> all(roots.begin(), roots.end());
  Result<std::vector<std::string>> entries = ListDir("/proc");
  if (entries.ok()) {
    for (const std::string& e : *entries) {
      if (e.empty() || !std::isdigit(static_cast<unsigned char>(e[0]))) continue;
      int pid = std::atoi(e.c_str());
      ProcSample s;
      int ppid = 0;
      if (ReadProc(pid, &s, &ppid) && all.count(ppid) != 0 && all.count(pid) == 0) {
        all.insert(pid);
      }
    }
  }
  return std::vector<int>(all.begin(), all.end());
}

class ServerMonitor {
 public:
  explicit ServerMonitor(std::vector<int> roots) : roots_(std::move(roots)) {}
  bool active() const { return !roots_.empty(); }
  void Start() {
    if (!active()) return;
    pids_ = ExpandPids(roots_);
    for (int pid : pids_) {
      ProcSample s;
      if (ReadProc(pid, &s, nullptr)) start_cpu_[pid] = s.cpu_s;
    }
    Sample();
  }
  void Sample() {
    if (!active()) return;
    uint64_t rss = 0;
    for (int pid : pids_) {
      ProcSample s;
      if (ReadProc(pid, &s, nullptr)) rss += s.rss_kb;
    }
    peak_rss_kb_ = std::max(peak_rss_kb_, rss);
  }
  void Finish() {
    if (!active()) return;
    Sample();
    std::vector<int> now = ExpandPids(roots_);
    uint64_t hwm = 0;
    for (int pid : now) {
      ProcSample s;
      if (!ReadProc(pid, &s, nullptr)) continue;
      cpu_s_ += CpuSinceStart(pid, s);
      hwm += s.hwm_kb;
    }
    hwm_kb_ = hwm;
    nprocs_ = static_cast<int>(now.size());
  }
  double cpu_s() const { return cpu_s_; }
  // CPU seconds the server has used since Start(), read now.
  double CpuNow() const {
    double total = 0;
    for (int pid : pids_) {
      ProcSample s;
      if (ReadProc(pid, &s, nullptr)) total += CpuSinceStart(pid, s);
    }
    return total;
  }
  uint64_t peak_kb() const { return std::max(peak_rss_kb_, hwm_kb_); }
  uint64_t sampled_peak_kb() const { return peak_rss_kb_; }
  int nprocs() const { return nprocs_; }

 private:
  double CpuSinceStart(int pid, const ProcSample& s) const {
    auto it = start_cpu_.find(pid);
    return s.cpu_s - (it == start_cpu_.end() ? 0.0 : it->second);
  }

  std::vector<int> roots_;
  std::vector<int> pids_;
  std::map<int, double> start_cpu_;
  uint64_t peak_rss_kb_ = 0;
  uint64_t hwm_kb_ = 0;
  double cpu_s_ = 0;
  int nprocs_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Nodes.

enum class Phase {
  kWaiting,     // not arrived, or waiting for a --max-conns slot
  kConnecting,  // non-blocking connect in progress
  kSending,     // request partly written
  kReading,     // reading the response
  kThrottled,   // token bucket empty; EPOLLIN disabled until the timer
  kSleeping,    // decompress model, retry backoff, or refresh interval
  kDone,
  kFailed,
};

enum class TimerAction { kNone, kArrive, kResumeRead, kNextFetch, kRetry, kRefresh };

struct StageTime {
  std::string label;
  double t = 0;  // seconds since run start, response complete
  uint64_t bytes = 0;
};

struct Fetch {
  std::string url;
  std::string label;
  bool script = false;  // parse the body as an iPXE script
  int depth = 0;        // chain depth for scripts
  int script_pos = -1;  // position among the downloads of the script that asked for it
  bool skip = false;    // failed earlier (kept so positions stay aligned with the script)
};

struct Node {
  int index = 0;
  std::string name;
  std::string mac;  // colon form
  std::string uuid;

  std::vector<Fetch> fetches;
  size_t next_fetch = 0;
  bool refreshing = false;
  int refreshes_done = 0;
  int refresh_304 = 0;
  std::string runtime_url;
  std::string etag;

  Phase phase = Phase::kWaiting;
  TimerAction timer_action = TimerAction::kNone;
  uint64_t timer_gen = 0;
  double t_arrive = 0;
  double t_done = -1;
  double t_connected = -1;  // first connection established (SYN backlog overflow shows here)
  double request_start = 0;
  std::vector<StageTime> stages;
  std::vector<double> refresh_latency;

  int fd = -1;
  uint32_t epoll_events = 0;
  std::string conn_key;
  bool conn_reused = false;  // the current request went out on an already-used connection
  std::string req;
  size_t req_off = 0;
  std::unique_ptr<ResponseReader> reader;

  double tokens = 0;
  double last_refill = 0;

  uint64_t rx = 0, tx = 0, body = 0, compressed_body = 0;
  int conns = 0, retries = 0, attempt = 0, errors = 0;
  bool fallback = false;
  std::string error;

  // The last script run, kept to re-run it when one of its downloads fails (iPXE's `||`).
  std::string script_body;
  std::string script_url;
  size_t script_first = 0;  // index in `fetches` of the script's first download
  std::set<size_t> script_failed;
  int recovered = 0;  // downloads that failed but the script carried on (e.g. no overlay)
};

struct Timer {
  double t;
  uint32_t node;
  uint64_t gen;
  bool operator>(const Timer& o) const { return t > o.t; }
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  double rank = p / 100.0 * static_cast<double>(v.size() - 1);
  size_t lo = static_cast<size_t>(std::floor(rank));
  size_t hi = static_cast<size_t>(std::ceil(rank));
  double frac = rank - static_cast<double>(lo);
  return v[lo] + (v[hi] - v[lo]) * frac;
}

std::string LabelForUrl(const std::string& url, const std::string& name) {
  if (!name.empty()) return name;
  Result<HttpUrl> u = ParseHttpUrl(url);
  if (!u.ok()) return "?";
  std::string_view t = u->target;
  if (!t.empty() && t.front() == '/') t.remove_prefix(1);
  return std::string(t.substr(0, t.find_first_of("/?")));
}

class Storm {
 public:
  explicit Storm(Options opts) : opts_(std::move(opts)), server_(opts_.server_pids) {}

  Status Init() {
    SW_ASSIGN_OR_RETURN(HttpUrl t, ParseHttpUrl(opts_.target));
    if (!IsLoopbackHost(t.host)) {
      return Status::InvalidArgument("refusing non-loopback target host '" + t.host +
                                     "': bootstorm only talks to 127.0.0.0/8, ::1 or localhost");
    }
    origin_ = "http://" + t.host_header;
    SW_RETURN_IF_ERROR(LoadNodes());
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0) return FromErrno("epoll_create1", errno);
    RaiseFdLimit();
    read_buf_.resize(kReadBuf);
    return Status::OK();
  }

  int Run();

 private:
  Status LoadNodes();
  void RaiseFdLimit();
  void Schedule(Node& n, double t, TimerAction a) {
    n.timer_action = a;
    ++n.timer_gen;
    timers_.push(Timer{t, static_cast<uint32_t>(n.index), n.timer_gen});
  }
  void OnTimer(Node& n);
  void StartNode(Node& n);
  void IssueNext(Node& n);
  void StartRequest(Node& n, const std::string& url);
  void Connect(Node& n, const HttpUrl& u);
  void SendSome(Node& n);
  void OnEvent(Node& n, uint32_t ev);
  void ReadSome(Node& n);
  void OnResponseDone(Node& n);
  void OnConnError(Node& n, const std::string& what);
  void Fail(Node& n, const std::string& why);
  void ReleaseGetBarrier();
  void Finish(Node& n);
  void CloseConn(Node& n);
  void SetEvents(Node& n, uint32_t ev);
  void ReleaseSlot();
  void TakeSample(double now);
  void PatternUrls(Node& n);
  IpxeEnv MakeEnv(const Node& n) const;
  void AppendPlan(Node& n, const IpxePlan& plan, size_t from_pos, int depth);
  bool RecoverFailedDownload(Node& n, const Fetch& f);
  void Report();

  Options opts_;
  ServerMonitor server_;
  std::string origin_;
  std::vector<Node> nodes_;
  int epfd_ = -1;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<Timer>> timers_;
  std::queue<int> slot_queue_;
  int active_ = 0;
  int finished_ = 0;
  int completed_boots_ = 0;
  int total_304_ = 0;
  int total_refreshes_ = 0;
  int boot_failed_ = 0;  // nodes that failed before booting
  // --unconditional: booted nodes wait here until every node has booted, so the GET phase
  // measures the small-body path alone rather than overlapping the storm's tail.
  std::vector<Node*> get_barrier_;
  uint64_t total_refresh_body_ = 0;
  double after_boots_cpu0_ = -1;  // server CPU when the last node had booted (-1: not yet)
  int after_boots_304_0_ = 0;     // 304s answered by then
  int after_boots_refreshes_0_ = 0;
  uint64_t after_boots_body_0_ = 0;
  double after_boots_t0_ = 0;
  double t0_ = 0;
  double t_end_ = 0;
  std::vector<char> read_buf_;
  uint64_t total_rx_ = 0;
  uint64_t total_body_ = 0;
  std::mt19937_64 rng_;
  struct SamplePoint {
    double t;
    uint64_t rx;
    int booted;
    int active;
  };
  std::vector<SamplePoint> samples_;
  double next_sample_ = 0;
  rusage ru0_{};
  double client_cpu_s_ = 0;
  double client_cpu_boot_s_ = -1;  // client CPU when the last node had booted (-1: not taken)
};

Status Storm::LoadNodes() {
  std::vector<std::string> macs;
  if (!opts_.macs_file.empty()) {
    SW_ASSIGN_OR_RETURN(std::string text, ReadFileToString(opts_.macs_file));
    std::istringstream is(text);
    std::string line;
    while (std::getline(is, line)) {
      std::istringstream ls(line);
      std::string mac;
      if (!(ls >> mac) || mac[0] == '#') continue;
      for (char& c : mac) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::replace(mac.begin(), mac.end(), '-', ':');
      macs.push_back(mac);
    }
    if (static_cast<int>(macs.size()) < opts_.nodes) {
      return Status::InvalidArgument("--macs file has " + std::to_string(macs.size()) +
                                     " MACs, fewer than --nodes");
    }
  }
  nodes_.resize(static_cast<size_t>(opts_.nodes));
  for (int i = 0; i < opts_.nodes; ++i) {
    Node& n = nodes_[static_cast<size_t>(i)];
    n.index = i;
    char buf[64];
    if (macs.empty()) {
      std::snprintf(buf, sizeof buf, "52:54:00:%02x:%02x:%02x", (i >> 16) & 255, (i >> 8) & 255,
                    i & 255);
      n.mac = buf;
    } else {
      n.mac = macs[static_cast<size_t>(i)];
    }
    std::snprintf(buf, sizeof buf, "n%05d", i);
    n.name = buf;
    std::snprintf(buf, sizeof buf, "00000000-0000-4000-8000-%012x", i);
    n.uuid = buf;
  }
  return Status::OK();
}

void Storm::RaiseFdLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  rlim_t want = static_cast<rlim_t>(opts_.nodes) + 64;
  if (rl.rlim_cur < want) {
    rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, std::max<rlim_t>(want, 1024));
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  int usable = static_cast<int>(rl.rlim_cur) - 32;
  int conc = opts_.max_conns > 0 ? opts_.max_conns : opts_.nodes;
  if (conc > usable) {
    std::fprintf(stderr, "bootstorm: RLIMIT_NOFILE %llu allows only %d connections; capping\n",
                 static_cast<unsigned long long>(rl.rlim_cur), usable);
    opts_.max_conns = usable;
  }
}

// ev == 0 takes the socket out of the epoll set altogether: EPOLLERR/EPOLLHUP are reported even
// with an empty mask, and level-triggered they would spin the loop while a node is throttled or
// idle between requests. A peer close during that time shows up at the next send or recv.
void Storm::SetEvents(Node& n, uint32_t ev) {
  if (n.fd < 0 || n.epoll_events == ev) return;
  epoll_event e{};
  e.events = ev;
  e.data.u32 = static_cast<uint32_t>(n.index);
  int op = ev == 0 ? EPOLL_CTL_DEL : (n.epoll_events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD);
  epoll_ctl(epfd_, op, n.fd, &e);
  n.epoll_events = ev;
}

void Storm::CloseConn(Node& n) {
  if (n.fd >= 0) {
    if (n.epoll_events != 0) epoll_ctl(epfd_, EPOLL_CTL_DEL, n.fd, nullptr);
    close(n.fd);
  }
  n.fd = -1;
  n.epoll_events = 0;
  n.conn_key.clear();
}

void Storm::ReleaseSlot() {
  --active_;
  while (!slot_queue_.empty()) {
    int idx = slot_queue_.front();
    slot_queue_.pop();
    Node& q = nodes_[static_cast<size_t>(idx)];
    if (q.phase == Phase::kWaiting) {
      StartNode(q);
      break;
    }
  }
}

void Storm::Finish(Node& n) {
  CloseConn(n);
  if (n.phase != Phase::kFailed) n.phase = Phase::kDone;
  ++finished_;
  ReleaseSlot();
}

void Storm::Fail(Node& n, const std::string& why) {
  ++n.errors;
  n.error = why;
  n.phase = Phase::kFailed;
  if (n.t_done < 0) ++boot_failed_;
  Finish(n);
  ReleaseGetBarrier();
}

void Storm::ReleaseGetBarrier() {
  if (completed_boots_ + boot_failed_ < static_cast<int>(nodes_.size())) return;
  const double now = Now();
  for (Node* w : get_barrier_) Schedule(*w, now, TimerAction::kRefresh);
  get_barrier_.clear();
}

void Storm::PatternUrls(Node& n) {
  std::string mac = MacHexhyp(n.mac);
  std::string c = opts_.pattern == "zstd" ? "zstd" : "gz";
  n.fetches.push_back(Fetch{origin_ + "/kernel/" + mac, "kernel"});
  n.fetches.push_back(Fetch{origin_ + "/image/" + mac + "?compress=" + c, "image"});
  n.fetches.push_back(Fetch{origin_ + "/system/" + mac + "?compress=" + c, "system"});
  n.fetches.push_back(Fetch{origin_ + "/runtime/" + mac + "?compress=" + c, "runtime"});
}

IpxeEnv Storm::MakeEnv(const Node& n) const {
  IpxeEnv env;
  env.mac = n.mac;
  env.uuid = n.uuid;
  env.platform = opts_.platform;
  env.failing_fetches = n.script_failed;
  return env;
}

// Appends the script's downloads from position `from_pos` on (and its chain, if any).
void Storm::AppendPlan(Node& n, const IpxePlan& plan, size_t from_pos, int depth) {
  for (size_t k = from_pos; k < plan.fetches.size(); ++k) {
    const IpxeFetch& pf = plan.fetches[k];
    Fetch f{pf.url, LabelForUrl(pf.url, pf.name)};
    f.script_pos = static_cast<int>(k);
    f.skip = pf.failed;
    n.fetches.push_back(std::move(f));
  }
  if (!plan.chain_url.empty() && depth < kMaxChainDepth) {
    n.fetches.push_back(Fetch{plan.chain_url, "chain", true, depth + 1});
  }
}

// A download named by the script failed (non-2xx). Like iPXE, take the script's error branch:
// re-run it with that download failing. True if the script still boots; the remaining
// downloads then come from the new run (positions before the failure are unchanged).
bool Storm::RecoverFailedDownload(Node& n, const Fetch& f) {
  if (n.script_body.empty() || n.script_failed.size() >= 8) return false;
  n.script_failed.insert(static_cast<size_t>(f.script_pos));
  Result<IpxePlan> plan = RunIpxeScript(n.script_body, n.script_url, MakeEnv(n));
  if (!plan.ok() || (!plan->booted && plan->chain_url.empty())) return false;
  size_t pos = static_cast<size_t>(f.script_pos);
  if (plan->fetches.size() <= pos || !plan->fetches[pos].failed) return false;
  n.fetches.resize(n.script_first + pos + 1);
  AppendPlan(n, *plan, pos + 1, 0);
  return true;
}

void Storm::StartNode(Node& n) {
  ++active_;
  if (n.t_arrive <= 0) n.t_arrive = Now();
  // What DHCP hands an iPXE client in Warewulf's dhcpd.conf: /ipxe/${mac:hexhyp}?assetkey=&uuid=.
  n.fetches.push_back(
      Fetch{origin_ + "/ipxe/" + MacHexhyp(n.mac) + "?assetkey=&uuid=" + n.uuid, "ipxe", true, 0});
  IssueNext(n);
}

void Storm::IssueNext(Node& n) {
  n.attempt = 0;
  while (n.next_fetch < n.fetches.size() && n.fetches[n.next_fetch].skip) ++n.next_fetch;
  if (n.next_fetch < n.fetches.size()) {
    StartRequest(n, n.fetches[n.next_fetch].url);
    return;
  }
  if (n.t_done < 0) {
    n.t_done = Now();
    ++completed_boots_;
    if (completed_boots_ == static_cast<int>(nodes_.size()) && opts_.refreshes > 0 &&
        server_.active()) {
      // Every node has booted: from here on the server does refreshes only, so its CPU from
      // now to the end is what the refresh (304) path costs.
      after_boots_cpu0_ = server_.CpuNow();
      after_boots_304_0_ = total_304_;
      after_boots_refreshes_0_ = total_refreshes_;
      after_boots_body_0_ = total_refresh_body_;
      after_boots_t0_ = n.t_done;
      client_cpu_boot_s_ = ClientCpuSince(ru0_);
    }
  }
  if (n.refreshes_done < opts_.refreshes && !n.runtime_url.empty()) {
    n.refreshing = true;
    if (opts_.unconditional) {
      n.phase = Phase::kSleeping;
      if (n.refreshes_done == 0) {
        get_barrier_.push_back(&n);
        ReleaseGetBarrier();
      } else {
        Schedule(n, Now() + opts_.refresh_interval, TimerAction::kRefresh);
      }
      return;
    }
    std::uniform_real_distribution<double> jitter(0.5, 1.5);
    n.phase = Phase::kSleeping;
    Schedule(n, Now() + opts_.refresh_interval * jitter(rng_), TimerAction::kRefresh);
    return;
  }
  Finish(n);
}

void Storm::StartRequest(Node& n, const std::string& url) {
  Result<HttpUrl> u = ParseHttpUrl(url);
  if (!u.ok()) {
    Fail(n, u.status().ToString());
    return;
  }
  if (!IsLoopbackHost(u->host)) {
    Fail(n, "refused non-loopback URL " + url);
    return;
  }
  bool script = !n.refreshing && n.fetches[n.next_fetch].script;
  n.req = "GET " + u->target + " HTTP/1.1\r\n";
  if (n.refreshing) {
    n.req += "Host: " + u->host_header + "\r\nUser-Agent: " + kWwclientUserAgent + "\r\n";
    if (!n.etag.empty() && !opts_.unconditional) n.req += "If-None-Match: " + n.etag + "\r\n";
    n.req += "\r\n";
  } else {
    // Exactly what the Debian 2019 iPXE ROM sends (reference/pxe-boot-facts.md).
    n.req += std::string("Connection: keep-alive\r\nUser-Agent: ") + kIpxeUserAgent +
             "\r\nHost: " + u->host_header + "\r\n\r\n";
  }
  n.req_off = 0;
  n.reader = std::make_unique<ResponseReader>(script);
  n.request_start = Now();
  std::string key = u->host + "|" + std::to_string(u->port);
  if (n.fd >= 0 && n.conn_key == key) {
    n.conn_reused = true;
    n.phase = Phase::kSending;
    SendSome(n);
    return;
  }
  CloseConn(n);
  n.conn_key = key;
  Connect(n, *u);
}

void Storm::Connect(Node& n, const HttpUrl& u) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  std::string host = u.host == "localhost" || u.host == "LOCALHOST" ? "127.0.0.1" : u.host;
  if (host.find(':') != std::string::npos) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(u.port);
    inet_pton(AF_INET6, host.c_str(), &a->sin6_addr);
    len = sizeof(sockaddr_in6);
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_port = htons(u.port);
    inet_pton(AF_INET, host.c_str(), &a->sin_addr);
    len = sizeof(sockaddr_in);
  }
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    OnConnError(n, std::string("socket: ") + std::strerror(errno));
    return;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  n.fd = fd;
  n.conn_reused = false;
  ++n.conns;
  n.epoll_events = 0;
  SetEvents(n, EPOLLOUT);
  n.phase = Phase::kConnecting;
  int rc = connect(fd, reinterpret_cast<sockaddr*>(&ss), len);
  if (rc == 0) {
    if (n.t_connected < 0) n.t_connected = Now();
    n.phase = Phase::kSending;
    SendSome(n);
  } else if (errno != EINPROGRESS) {
    OnConnError(n, std::string("connect: ") + std::strerror(errno));
  }
}

void Storm::SendSome(Node& n) {
  while (n.req_off < n.req.size()) {
    ssize_t w = send(n.fd, n.req.data() + n.req_off, n.req.size() - n.req_off, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        SetEvents(n, EPOLLOUT);
        return;
      }
      OnConnError(n, std::string("send: ") + std::strerror(errno));
      return;
    }
    n.req_off += static_cast<size_t>(w);
    n.tx += static_cast<uint64_t>(w);
  }
  n.phase = Phase::kReading;
  if (opts_.link_gbps > 0) {
    n.last_refill = Now();
  }
  SetEvents(n, EPOLLIN | EPOLLRDHUP);
}

void Storm::OnEvent(Node& n, uint32_t ev) {
  if (n.phase == Phase::kConnecting) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(n.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0 || (ev & (EPOLLERR | EPOLLHUP)) != 0) {
      OnConnError(n, std::string("connect: ") + std::strerror(err != 0 ? err : ECONNREFUSED));
      return;
    }
    if (n.t_connected < 0) n.t_connected = Now();
    n.phase = Phase::kSending;
    SendSome(n);
    return;
  }
  if (n.phase == Phase::kSending) {
    SendSome(n);
    return;
  }
  if (n.phase == Phase::kReading) {
    ReadSome(n);
  }
}

void Storm::ReadSome(Node& n) {
  // A bounded number of reads per wakeup keeps 10k connections fair on one thread.
  for (int round = 0; round < 4 && n.phase == Phase::kReading; ++round) {
    size_t want = read_buf_.size();
    if (opts_.link_gbps > 0) {
      // Refill in quanta of >= 4 ms (>= 64 KiB): finer steps cost the client a wakeup, two
      // epoll_ctl calls and a timer each, and at hundreds of throttled connections that
      // overhead (not the server) would set the pace. The bucket holds 10 ms of credit.
      double rate = opts_.link_gbps * 1e9 / 8.0;
      double burst = std::max(262144.0, rate * 0.010);
      double quantum = std::min(burst, std::max(65536.0, rate * 0.004));
      double now = Now();
      n.tokens = std::min(burst, n.tokens + (now - n.last_refill) * rate);
      n.last_refill = now;
      if (n.tokens < 4096) {
        n.phase = Phase::kThrottled;
        SetEvents(n, 0);
        Schedule(n, now + (quantum - n.tokens) / rate, TimerAction::kResumeRead);
        return;
      }
      want = std::min(want, static_cast<size_t>(n.tokens));
    }
    // Inside a Content-Length body the bytes are only counted: MSG_TRUNC makes TCP drop them in
    // the kernel without the copy to user space, so the client costs far less CPU than the
    // servers it measures (it shares the machine with them).
    uint64_t skippable = n.reader->SkippableBytes();
    bool trunc = skippable > 0 && !opts_.copy_bodies;
    if (trunc) want = static_cast<size_t>(std::min<uint64_t>(want, skippable));
    ssize_t r = recv(n.fd, read_buf_.data(), want, trunc ? MSG_TRUNC : 0);
    if (r < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      OnConnError(n, std::string("recv: ") + std::strerror(errno));
      return;
    }
    if (r == 0) {
      n.reader->OnEof();
      if (n.reader->done()) {
        OnResponseDone(n);
        return;
      }
      OnConnError(n, n.reader->error());
      return;
    }
    n.rx += static_cast<uint64_t>(r);
    total_rx_ += static_cast<uint64_t>(r);
    if (opts_.link_gbps > 0) n.tokens -= static_cast<double>(r);
    if (trunc) {
      n.reader->Skip(static_cast<uint64_t>(r));
      total_body_ += static_cast<uint64_t>(r);
      if (n.reader->done()) {
        OnResponseDone(n);
        return;
      }
      continue;
    }
    std::string_view data(read_buf_.data(), static_cast<size_t>(r));
    uint64_t before = n.reader->body_bytes();
    size_t used = n.reader->Feed(data);
    total_body_ += n.reader->body_bytes() - before;
    if (n.reader->failed()) {
      Fail(n, "bad response: " + n.reader->error());
      return;
    }
    if (n.reader->done()) {
      if (used < data.size()) {
        // Bytes beyond the response: the server sent something we did not ask for.
        Fail(n, "unexpected bytes after response");
        return;
      }
      OnResponseDone(n);
      return;
    }
  }
}

void Storm::OnConnError(Node& n, const std::string& what) {
  bool stale = n.conn_reused && n.reader && !n.reader->got_any_byte();
  CloseConn(n);
  if (n.phase == Phase::kDone || n.phase == Phase::kFailed) return;
  if (stale) {
    // The server closed an idle keep-alive connection before our request reached it: reconnect
    // once without counting a retry (any HTTP client does this).
    n.conn_reused = false;
    std::string url = n.refreshing ? n.runtime_url : n.fetches[n.next_fetch].url;
    StartRequest(n, url);
    return;
  }
  if (n.attempt >= opts_.retries) {
    Fail(n, what);
    return;
  }
  ++n.attempt;
  ++n.retries;
  n.phase = Phase::kSleeping;
  Schedule(n, Now() + 0.25 * (1 << (n.attempt - 1)), TimerAction::kRetry);
}

void Storm::OnResponseDone(Node& n) {
  ResponseReader& r = *n.reader;
  double now = Now();
  if (r.must_close()) {
    CloseConn(n);
  } else {
    SetEvents(n, 0);  // idle until the next request
  }
  if (n.refreshing) {
    n.refresh_latency.push_back(now - n.request_start);
    ++n.refreshes_done;
    ++total_refreshes_;
    n.body += r.body_bytes();
    total_refresh_body_ += r.body_bytes();
    if (r.status() == 304) {
      ++n.refresh_304;
      ++total_304_;
    } else if (r.status() >= 200 && r.status() < 300) {
      if (!r.etag().empty()) n.etag = r.etag();
    } else {
      ++n.errors;
    }
    n.reader.reset();
    IssueNext(n);
    return;
  }
  Fetch f = n.fetches[n.next_fetch];
  if (r.status() < 200 || r.status() >= 300) {
    if (f.script_pos >= 0 && RecoverFailedDownload(n, f)) {
      n.reader.reset();
      ++n.recovered;
      ++n.next_fetch;
      IssueNext(n);
      return;
    }
    Fail(n, "HTTP " + std::to_string(r.status()) + " for " + f.url);
    return;
  }
  n.body += r.body_bytes();
  n.stages.push_back(StageTime{f.label, now - t0_, r.body_bytes()});
  ++n.next_fetch;
  if (f.script) {
    n.script_body = r.body();
    n.script_url = f.url;
    n.script_first = n.fetches.size();
    n.script_failed.clear();
    Result<IpxePlan> plan = RunIpxeScript(n.script_body, f.url, MakeEnv(n));
    if (!plan.ok() || (plan->fetches.empty() && plan->chain_url.empty())) {
      n.fallback = true;
      n.script_body.clear();
      PatternUrls(n);
    } else {
      AppendPlan(n, *plan, 0, f.depth);
    }
    for (const Fetch& x : n.fetches) {
      if (x.label == "runtime") n.runtime_url = x.url;
    }
    if (n.runtime_url.empty()) {
      n.runtime_url = origin_ + "/runtime/" + MacHexhyp(n.mac) +
                      (opts_.pattern == "zstd" ? "?compress=zstd" : "?compress=gz");
    }
  } else if (f.label == "runtime" && !r.etag().empty()) {
    n.etag = r.etag();
  }
  bool compressed = f.url.find("compress=") != std::string::npos;
  uint64_t bytes = r.body_bytes();
  n.reader.reset();
  if (compressed) n.compressed_body += bytes;
  if (compressed && opts_.decompress_mbps > 0) {
    n.phase = Phase::kSleeping;
    Schedule(n, now + static_cast<double>(bytes) / (opts_.decompress_mbps * 1e6),
             TimerAction::kNextFetch);
    return;
  }
  IssueNext(n);
}

void Storm::OnTimer(Node& n) {
  TimerAction a = n.timer_action;
  n.timer_action = TimerAction::kNone;
  switch (a) {
    case TimerAction::kArrive:
      // Completion is measured from here (power-on), so time queued for a slot counts.
      n.t_arrive = Now();
      if (opts_.max_conns > 0 && active_ >= opts_.max_conns) {
        slot_queue_.push(n.index);
      } else {
        StartNode(n);
      }
      break;
    case TimerAction::kResumeRead:
      n.phase = Phase::kReading;
      SetEvents(n, EPOLLIN | EPOLLRDHUP);
      break;
    case TimerAction::kNextFetch:
      IssueNext(n);
      break;
    case TimerAction::kRetry:
      StartRequest(n, n.refreshing ? n.runtime_url : n.fetches[n.next_fetch].url);
      break;
    case TimerAction::kRefresh:
      StartRequest(n, n.runtime_url);
      break;
    case TimerAction::kNone:
      break;
  }
}

void Storm::TakeSample(double now) {
  samples_.push_back(SamplePoint{now - t0_, total_body_, completed_boots_, active_});
  server_.Sample();
}

int Storm::Run() {
  rng_.seed(opts_.seed);
  getrusage(RUSAGE_SELF, &ru0_);
  server_.Start();
  t0_ = Now();
  // Arrival times: uniform over [0, spread) with a fixed seed, or all at once.
  std::vector<double> arrivals(nodes_.size(), 0.0);
  if (opts_.spread > 0) {
    std::uniform_real_distribution<double> u(0.0, opts_.spread);
    for (double& a : arrivals) a = u(rng_);
    std::sort(arrivals.begin(), arrivals.end());
  }
  for (size_t i = 0; i < nodes_.size(); ++i) {
    Schedule(nodes_[i], t0_ + arrivals[i], TimerAction::kArrive);
  }
  double deadline = t0_ + opts_.timeout;
  next_sample_ = t0_;
  std::vector<epoll_event> events(1024);
  while (finished_ < static_cast<int>(nodes_.size())) {
    double now = Now();
    if (now >= deadline) break;
    if (now >= next_sample_) {
      TakeSample(now);
      next_sample_ = now + kSampleInterval;
    }
    while (!timers_.empty() && timers_.top().t <= now) {
      Timer t = timers_.top();
      timers_.pop();
      Node& n = nodes_[t.node];
      if (t.gen == n.timer_gen && n.timer_action != TimerAction::kNone) OnTimer(n);
    }
    double wake = std::min(deadline, next_sample_);
    if (!timers_.empty()) wake = std::min(wake, timers_.top().t);
    int ms = static_cast<int>(std::ceil(std::max(0.0, wake - Now()) * 1000.0));
    int nev = epoll_wait(epfd_, events.data(), static_cast<int>(events.size()), ms);
    if (nev < 0) {
      if (errno == EINTR) continue;
      std::perror("epoll_wait");
      break;
    }
    for (int i = 0; i < nev; ++i) {
      Node& n = nodes_[events[static_cast<size_t>(i)].data.u32];
      if (n.fd < 0) continue;
      OnEvent(n, events[static_cast<size_t>(i)].events);
    }
  }
  t_end_ = Now();
  TakeSample(t_end_);
  for (Node& n : nodes_) {
    if (n.phase != Phase::kDone && n.phase != Phase::kFailed) {
      ++n.errors;
      n.error = n.t_done >= 0 ? "timeout during refreshes" : "timeout";
      if (n.t_done < 0) n.phase = Phase::kFailed;
      CloseConn(n);
    }
  }
  server_.Finish();
  client_cpu_s_ = ClientCpuSince(ru0_);
  Report();
  int failed = 0;
  for (const Node& n : nodes_) {
    if (n.phase == Phase::kFailed) ++failed;
  }
  return failed == 0 ? 0 : 1;
}

// Groups per-node errors: "HTTP 500 for http://h:p/kernel/<mac>?..." -> "HTTP 500 for /kernel/...".
std::string ErrorKind(const std::string& e) {
  size_t at = e.find(" for http://");
  if (at == std::string::npos) return e.substr(0, 80);
  Result<HttpUrl> u = ParseHttpUrl(e.substr(at + 5));
  if (!u.ok()) return e.substr(0, 80);
  std::string_view t = u->target;
  size_t second = t.find_first_of("/?", 1);
  return e.substr(0, at) + " for " + std::string(t.substr(0, second)) + "/...";
}

void Storm::Report() {
  std::vector<double> completion;
  std::map<std::string, std::vector<double>> stage_t;
  std::vector<double> refresh_lat;
  uint64_t body = 0, rx = 0, tx = 0;
  int ok = 0, failed = 0, errors = 0, retries = 0, fallback = 0, conns = 0, refreshes = 0, r304 = 0,
      recovered = 0;
  double first_arrive = 1e300, last_done = 0;
  std::map<std::string, int> error_kinds;
  for (const Node& n : nodes_) {
    body += n.body;
    rx += n.rx;
    tx += n.tx;
    errors += n.errors;
    retries += n.retries;
    recovered += n.recovered;
    conns += n.conns;
    refreshes += n.refreshes_done;
    r304 += n.refresh_304;
    if (n.fallback) ++fallback;
    if (n.t_arrive > 0) first_arrive = std::min(first_arrive, n.t_arrive);
    for (double l : n.refresh_latency) refresh_lat.push_back(l);
    if (n.phase == Phase::kFailed || n.t_done < 0) {
      ++failed;
      error_kinds[ErrorKind(n.error)]++;
      continue;
    }
    ++ok;
    completion.push_back(n.t_done - n.t_arrive);
    last_done = std::max(last_done, n.t_done);
    if (n.t_connected >= 0) stage_t["connect"].push_back(n.t_connected - n.t_arrive);
    for (const StageTime& s : n.stages) stage_t[s.label].push_back(s.t - (n.t_arrive - t0_));
  }
  double makespan = ok > 0 ? last_done - t0_ : t_end_ - t0_;
  double wall = t_end_ - t0_;
  // With --unconditional the GET phase starts after the last boot and is reported on its own:
  // the storm's goodput and cpu/GB cover the boot phase only.
  const uint64_t boot_body = opts_.unconditional ? body - total_refresh_body_ : body;
  double goodput_mbs = makespan > 0 ? static_cast<double>(boot_body) / makespan / 1e6 : 0;
  double gb = static_cast<double>(boot_body) / 1e9;
  double client_core = wall > 0 ? client_cpu_s_ / wall : 0;
  bool client_bound = client_core > 0.8;
  int N = static_cast<int>(nodes_.size());

  if (!opts_.csv.empty()) {
    std::ofstream csv(opts_.csv);
    csv << "node,mac,ok,t_arrive,t_ipxe,t_kernel,t_image,t_system,t_runtime,t_done,completion,"
           "body_bytes,wire_rx,wire_tx,conns,retries,errors,fallback,refreshes,refresh_304,"
           "t_connect,error\n";
    for (const Node& n : nodes_) {
      auto st = [&](const char* label) {
        for (const StageTime& s : n.stages) {
          if (s.label == label) return s.t;
        }
        return -1.0;
      };
      bool nok = n.phase != Phase::kFailed && n.t_done >= 0;
      char line[512];
      std::snprintf(line, sizeof line,
                    "%s,%s,%d,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%llu,%llu,%llu,%d,%d,%d,%d,"
                    "%d,%d,",
                    n.name.c_str(), n.mac.c_str(), nok ? 1 : 0,
                    n.t_arrive > 0 ? n.t_arrive - t0_ : -1.0, st("ipxe"), st("kernel"), st("image"),
                    st("system"), st("runtime"), n.t_done >= 0 ? n.t_done - t0_ : -1,
                    nok ? n.t_done - n.t_arrive : -1.0, static_cast<unsigned long long>(n.body),
                    static_cast<unsigned long long>(n.rx), static_cast<unsigned long long>(n.tx),
                    n.conns, n.retries, n.errors, n.fallback ? 1 : 0, n.refreshes_done,
                    n.refresh_304);
      std::string err = n.error;
      std::replace(err.begin(), err.end(), ',', ';');
      char tc[32];
      std::snprintf(tc, sizeof tc, "%.6f,", n.t_connected >= 0 ? n.t_connected - t0_ : -1.0);
      csv << line << tc << err << "\n";
    }
  }
  if (!opts_.timeseries.empty()) {
    std::ofstream ts(opts_.timeseries);
    ts << "# t_s body_bytes_total mb_per_s booted active\n";
    uint64_t prev_b = 0;
    double prev_t = 0;
    for (const SamplePoint& s : samples_) {
      double dt = s.t - prev_t;
      double rate = dt > 0 ? static_cast<double>(s.rx - prev_b) / dt / 1e6 : 0;
      char line[160];
      std::snprintf(line, sizeof line, "%.3f %llu %.1f %d %d\n", s.t,
                    static_cast<unsigned long long>(s.rx), rate, s.booted, s.active);
      ts << line;
      prev_b = s.rx;
      prev_t = s.t;
    }
  }

  double p50 = Percentile(completion, 50), p90 = Percentile(completion, 90),
         p99 = Percentile(completion, 99),
         pmax = completion.empty() ? 0 : *std::max_element(completion.begin(), completion.end());
  double srv_cpu = server_.cpu_s();
  // The refresh phase alone (after the last boot): 304s per server CPU-second.
  const bool have_after = after_boots_cpu0_ >= 0;
  const double after_cpu = have_after ? srv_cpu - after_boots_cpu0_ : 0;
  const int after_304 = have_after ? total_304_ - after_boots_304_0_ : 0;
  const double after_wall = have_after ? t_end_ - after_boots_t0_ : 0;
  const int after_refreshes = have_after ? total_refreshes_ - after_boots_refreshes_0_ : 0;
  const uint64_t after_body = have_after ? total_refresh_body_ - after_boots_body_0_ : 0;
  const double after_cpu_us_per_req = after_refreshes > 0 ? after_cpu * 1e6 / after_refreshes : 0;
  const double after_req_s = after_wall > 0 ? after_refreshes / after_wall : 0;
  const double after_cpu_s_per_gb = after_body > 0 ? after_cpu / (after_body / 1e9) : 0;
  const double boot_cpu = opts_.unconditional && have_after ? after_boots_cpu0_ : srv_cpu;
  double srv_cpu_per_gb = gb > 0 ? boot_cpu / gb : 0;
  const double boot_client_cpu =
      opts_.unconditional && client_cpu_boot_s_ >= 0 ? client_cpu_boot_s_ : client_cpu_s_;
  double srv_peak_mb = static_cast<double>(server_.peak_kb()) / 1024.0;
  double wire_per_node = N > 0 ? static_cast<double>(rx + tx) / N : 0;
  double body_per_node = N > 0 ? static_cast<double>(body) / N : 0;
  static const char* const kStageOrder[] = {"connect", "ipxe",   "kernel",
                                            "image",   "system", "runtime"};

  if (opts_.json) {
    std::ostringstream j;
    j.setf(std::ios::fixed);
    j.precision(6);
    j << "{\"label\":\"" << JsonEscape(opts_.label) << "\",\"target\":\""
      << JsonEscape(opts_.target) << "\",\"nodes\":" << N << ",\"ok\":" << ok
      << ",\"failed\":" << failed << ",\"errors\":" << errors << ",\"retries\":" << retries
      << ",\"script_fallbacks\":" << fallback << ",\"failed_downloads_recovered\":" << recovered
      << ",\"connections\":" << conns << ",\"pattern\":\"" << opts_.pattern
      << "\",\"link_gbps\":" << opts_.link_gbps << ",\"spread_s\":" << opts_.spread
      << ",\"completion_p50_s\":" << p50 << ",\"completion_p90_s\":" << p90
      << ",\"completion_p99_s\":" << p99 << ",\"completion_max_s\":" << pmax
      << ",\"makespan_s\":" << makespan << ",\"wall_s\":" << wall << ",\"body_bytes\":" << body
      << ",\"wire_rx_bytes\":" << rx << ",\"wire_tx_bytes\":" << tx
      << ",\"wire_bytes_per_node\":" << wire_per_node
      << ",\"body_bytes_per_node\":" << body_per_node << ",\"goodput_mb_s\":" << goodput_mbs
      << ",\"server_pids\":" << server_.nprocs() << ",\"server_cpu_s\":" << srv_cpu
      << ",\"server_cpu_s_per_gb\":" << srv_cpu_per_gb << ",\"server_peak_rss_mb\":" << srv_peak_mb
      << ",\"client_cpu_s\":" << client_cpu_s_
      << ",\"total_cpu_s_per_gb\":" << (gb > 0 ? (boot_cpu + boot_client_cpu) / gb : 0)
      << ",\"client_core_fraction\":" << client_core
      << ",\"client_bottleneck\":" << (client_bound ? "true" : "false")
      << ",\"refreshes\":" << refreshes << ",\"refresh_304\":" << r304
      << ",\"refresh_p50_s\":" << Percentile(refresh_lat, 50)
      << ",\"refresh_p99_s\":" << Percentile(refresh_lat, 99)
      << ",\"refresh_304_after_boots\":" << after_304
      << ",\"server_cpu_s_after_boots\":" << after_cpu << ",\"wall_s_after_boots\":" << after_wall
      << ",\"unconditional\":" << (opts_.unconditional ? "true" : "false")
      << ",\"refreshes_after_boots\":" << after_refreshes
      << ",\"refresh_body_bytes_after_boots\":" << after_body
      << ",\"refresh_req_s_after_boots\":" << after_req_s
      << ",\"server_cpu_us_per_refresh_after_boots\":" << after_cpu_us_per_req
      << ",\"server_cpu_s_per_gb_after_boots\":" << after_cpu_s_per_gb << ",\"stage_p50_s\":{";
    bool first = true;
    for (const char* s : kStageOrder) {
      auto it = stage_t.find(s);
      if (it == stage_t.end()) continue;
      j << (first ? "" : ",") << "\"" << s << "\":" << Percentile(it->second, 50);
      first = false;
    }
    j << "},\"errors_by_kind\":{";
    first = true;
    for (const auto& [k, v] : error_kinds) {
      j << (first ? "" : ",") << "\"" << JsonEscape(k) << "\":" << v;
      first = false;
    }
    j << "}}\n";
    if (opts_.json_file.empty()) {
      std::fputs(j.str().c_str(), stdout);
    } else {
      std::ofstream(opts_.json_file) << j.str();
    }
  }
  bool json_on_stdout = opts_.json && opts_.json_file.empty();
  if (opts_.quiet && json_on_stdout) return;
  FILE* out = json_on_stdout ? stderr : stdout;
  char link[32] = "uncapped";
  if (opts_.link_gbps > 0) std::snprintf(link, sizeof link, "%g Gb/s", opts_.link_gbps);
  std::fprintf(
      out, "bootstorm %s: %d nodes -> %s (pattern %s, link %s, spread %.1fs%s)\n",
      opts_.label.c_str(), N, opts_.target.c_str(), opts_.pattern.c_str(), link, opts_.spread,
      opts_.max_conns > 0 ? (", max-conns " + std::to_string(opts_.max_conns)).c_str() : "");
  std::fprintf(out,
               "  nodes ok %d  failed %d  errors %d  retries %d  script-fallbacks %d  "
               "connections %d\n",
               ok, failed, errors, retries, fallback, conns);
  if (recovered > 0) {
    std::fprintf(out, "  %d failed downloads were handled by the script (|| branch)\n", recovered);
  }
  for (const auto& [k, v] : error_kinds) std::fprintf(out, "    %5d x %s\n", v, k.c_str());
  std::fprintf(out, "  %-28s %10s %10s %10s %10s\n", "", "p50", "p90", "p99", "max");
  std::fprintf(out, "  %-28s %10.3f %10.3f %10.3f %10.3f\n", "completion (s)", p50, p90, p99, pmax);
  for (const char* s : kStageOrder) {
    auto it = stage_t.find(s);
    if (it == stage_t.end()) continue;
    std::fprintf(out, "  %-28s %10.3f %10.3f %10.3f %10.3f\n",
                 ("  " + std::string(s) + " done at (s)").c_str(), Percentile(it->second, 50),
                 Percentile(it->second, 90), Percentile(it->second, 99),
                 *std::max_element(it->second.begin(), it->second.end()));
  }
  std::fprintf(out, "  makespan %.3f s   goodput %.1f MB/s   body/node %.0f B   wire/node %.0f B\n",
               makespan, goodput_mbs, body_per_node, wire_per_node);
  if (server_.active()) {
    std::fprintf(out,
                 "  server (%d procs): cpu %.2f s = %.3f cpu-s/GB   peak rss %.1f MB   "
                 "server+client %.3f cpu-s/GB\n",
                 server_.nprocs(), srv_cpu, srv_cpu_per_gb, srv_peak_mb,
                 gb > 0 ? (boot_cpu + boot_client_cpu) / gb : 0);
  }
  std::fprintf(out, "  client: cpu %.2f s over %.2f s wall = %.0f%% of a core%s\n", client_cpu_s_,
               wall, client_core * 100,
               client_bound ? "  ** CLIENT MAY BE THE BOTTLENECK (>80% of a core) **" : "");
  if (refreshes > 0) {
    std::fprintf(out, "  refreshes %d (304: %d)  latency p50 %.4f s  p99 %.4f s\n", refreshes, r304,
                 Percentile(refresh_lat, 50), Percentile(refresh_lat, 99));
    if (have_after && after_cpu > 0 && opts_.unconditional) {
      std::fprintf(out,
                   "  after the last boot: %d GETs (%.1f KiB each) in %.2f s = %.0f/s, %.3f GB/s; "
                   "server cpu %.2f s = %.1f us per request, %.3f cpu-s/GB\n",
                   after_refreshes, after_refreshes ? after_body / 1024.0 / after_refreshes : 0,
                   after_wall, after_req_s, after_wall > 0 ? after_body / 1e9 / after_wall : 0,
                   after_cpu, after_cpu_us_per_req, after_cpu_s_per_gb);
    } else if (have_after && after_cpu > 0) {
      std::fprintf(out,
                   "  after the last boot: %d 304s in %.2f s, server cpu %.2f s = %.0f 304s per "
                   "server cpu-second\n",
                   after_304, after_wall, after_cpu, after_304 / after_cpu);
    }
  }
}

void Usage(FILE* f) {
  std::fputs(
      "usage: bootstorm --target http://127.0.0.1:PORT --nodes N [options]\n"
      "Simulates N iPXE nodes booting at once against a Warewulf-style server (loopback only).\n"
      "Each node: GET /ipxe/<mac> on one keep-alive connection, runs the iPXE script, fetches\n"
      "kernel and initrds in order, then optional wwclient runtime refreshes.\n"
      "  --target URL            base URL; host must be 127.0.0.0/8, ::1 or localhost\n"
      "  --nodes N               simulated nodes (default 100)\n"
      "  --macs FILE             one MAC per line (first word); default 52:54:00:ii:ii:ii\n"
      "  --gen-macs N            print the default MAC, node name and uuid of N nodes; exit\n"
      "  --pattern warewulf|zstd URLs used when the script cannot be parsed (compress=gz|zstd)\n"
      "  --platform pcbios|efi   value of ${platform} in scripts (default pcbios)\n"
      "  --link-gbps X           per-node link cap in Gb/s (token bucket per connection)\n"
      "  --spread S              arrivals uniform over S seconds (0 = all at once)\n"
      "  --max-conns C           at most C nodes in flight (others queue)\n"
      "  --timeout S             global bound on the run (default 300)\n"
      "  --retries R             connection-error retries per request (default 3)\n"
      "  --decompress-mbps M     model node-side decompression at M MB/s of compressed input\n"
      "  --refreshes K --refresh-interval S   K runtime refreshes, jittered 0.5..1.5 x S\n"
      "  --unconditional         refreshes without If-None-Match (each a full GET: measures\n"
      "                          a server's per-request cost for small bodies); they start\n"
      "                          when every node has booted, and goodput and cpu/GB then\n"
      "                          cover the boot phase only\n"
      "  --server-pid PID        server process to account (repeatable; children included)\n"
      "  --csv FILE              per-node rows\n"
      "  --timeseries FILE       body bytes over time (100 ms samples)\n"
      "  --json [FILE]           JSON summary to FILE, or on stdout (the table then goes to\n"
      "                          stderr)\n"
      "  --label TEXT            name of this run in the output\n"
      "  --copy-bodies           copy bodies to user space (default: recv(MSG_TRUNC) drops them)\n"
      "  --seed N  --quiet  --help\n",
      f);
}

int Main(int argc, char** argv) {
  Options o;
  enum {
    kTarget = 256,
    kNodes,
    kMacs,
    kPattern,
    kLink,
    kSpread,
    kCsv,
    kTimeout,
    kMaxConns,
    kRefreshes,
    kRefreshInterval,
    kServerPid,
    kJson,
    kDecompress,
    kTimeseries,
    kRetries,
    kSeed,
    kPlatform,
    kLabel,
    kQuiet,
    kGenMacs,
    kCopy,
    kUnconditional,
    kHelp
  };
  static const option kLong[] = {{"target", required_argument, nullptr, kTarget},
                                 {"nodes", required_argument, nullptr, kNodes},
                                 {"macs", required_argument, nullptr, kMacs},
                                 {"pattern", required_argument, nullptr, kPattern},
                                 {"link-gbps", required_argument, nullptr, kLink},
                                 {"spread", required_argument, nullptr, kSpread},
                                 {"csv", required_argument, nullptr, kCsv},
                                 {"timeout", required_argument, nullptr, kTimeout},
                                 {"max-conns", required_argument, nullptr, kMaxConns},
                                 {"refreshes", required_argument, nullptr, kRefreshes},
                                 {"refresh-interval", required_argument, nullptr, kRefreshInterval},
                                 {"server-pid", required_argument, nullptr, kServerPid},
                                 {"json", no_argument, nullptr, kJson},
                                 {"decompress-mbps", required_argument, nullptr, kDecompress},
                                 {"timeseries", required_argument, nullptr, kTimeseries},
                                 {"retries", required_argument, nullptr, kRetries},
                                 {"seed", required_argument, nullptr, kSeed},
                                 {"platform", required_argument, nullptr, kPlatform},
                                 {"label", required_argument, nullptr, kLabel},
                                 {"quiet", no_argument, nullptr, kQuiet},
                                 {"gen-macs", required_argument, nullptr, kGenMacs},
                                 {"copy-bodies", no_argument, nullptr, kCopy},
                                 {"unconditional", no_argument, nullptr, kUnconditional},
                                 {"help", no_argument, nullptr, kHelp},
                                 {nullptr, 0, nullptr, 0}};
  int gen_macs = -1;
  int c;
  while ((c = getopt_long(argc, argv, "h", kLong, nullptr)) != -1) {
    switch (c) {
      case kTarget:
        o.target = optarg;
        break;
      case kNodes:
        o.nodes = std::atoi(optarg);
        break;
      case kMacs:
        o.macs_file = optarg;
        break;
      case kPattern:
        o.pattern = optarg;
        break;
      case kLink:
        o.link_gbps = std::atof(optarg);
        break;
      case kSpread:
        o.spread = std::atof(optarg);
        break;
      case kCsv:
        o.csv = optarg;
        break;
      case kTimeout:
        o.timeout = std::atof(optarg);
        break;
      case kMaxConns:
        o.max_conns = std::atoi(optarg);
        break;
      case kRefreshes:
        o.refreshes = std::atoi(optarg);
        break;
      case kRefreshInterval:
        o.refresh_interval = std::atof(optarg);
        break;
      case kServerPid:
        o.server_pids.push_back(std::atoi(optarg));
        break;
      case kJson:
        o.json = true;
        // "--json FILE" (as scripts/demo.sh calls it) as well as a bare "--json".
        if (optind < argc && argv[optind][0] != '-') o.json_file = argv[optind++];
        break;
      case kDecompress:
        o.decompress_mbps = std::atof(optarg);
        break;
      case kTimeseries:
        o.timeseries = optarg;
        break;
      case kRetries:
        o.retries = std::atoi(optarg);
        break;
      case kSeed:
        o.seed = std::strtoull(optarg, nullptr, 10);
        break;
      case kPlatform:
        o.platform = optarg;
        break;
      case kLabel:
        o.label = optarg;
        break;
      case kQuiet:
        o.quiet = true;
        break;
      case kGenMacs:
        gen_macs = std::atoi(optarg);
        break;
      case kCopy:
        o.copy_bodies = true;
        break;
      case kUnconditional:
        o.unconditional = true;
        break;
      case 'h':
      case kHelp:
        Usage(stdout);
        return 0;
      default:
        Usage(stderr);
        return 2;
    }
  }
  if (optind < argc) {
    std::fprintf(stderr, "bootstorm: unexpected argument '%s'\n", argv[optind]);
    return 2;
  }
  if (gen_macs >= 0) {
    for (int i = 0; i < gen_macs; ++i) {
      std::printf("52:54:00:%02x:%02x:%02x n%05d 00000000-0000-4000-8000-%012x\n", (i >> 16) & 255,
                  (i >> 8) & 255, i & 255, i, i);
    }
    return 0;
  }
  if (o.target.empty()) {
    std::fprintf(stderr, "bootstorm: --target is required\n");
    Usage(stderr);
    return 2;
  }
  if (o.nodes < 1 || o.nodes > 100000 || o.timeout <= 0 || o.retries < 0 ||
      (o.pattern != "warewulf" && o.pattern != "zstd") || o.link_gbps < 0 || o.spread < 0 ||
      o.refreshes < 0 || o.refresh_interval < 0) {
    std::fprintf(stderr, "bootstorm: bad option value (see --help)\n");
    return 2;
  }
  for (int pid : o.server_pids) {
    if (pid <= 0) {
      std::fprintf(stderr, "bootstorm: bad --server-pid\n");
      return 2;
    }
  }
  Storm storm(std::move(o));
  Status st = storm.Init();
  if (!st.ok()) {
    std::fprintf(stderr, "bootstorm: %s\n", st.ToString().c_str());
    return 2;
  }
  return storm.Run();
}

}  // namespace
}  // namespace sw::bootstorm

int main(int argc, char** argv) { return sw::bootstorm::Main(argc, argv); }
