#include "tools/cli_util.h"

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>

#include "common/fs_util.h"

namespace sw {

int ParseArgs(const std::vector<std::string>& args, const std::string& usage,
              po::options_description& opts, const po::positional_options_description& pos,
              po::variables_map* vm) {
  try {
    po::store(po::command_line_parser(args).options(opts).positional(pos).run(), *vm);
    po::notify(*vm);
  } catch (const std::exception& e) {
    std::cerr << "swctl: " << e.what() << "\n\n" << usage << "\n" << opts;
    return 2;
  }
  if (vm->count("help")) {
    std::cout << usage << "\n" << opts;
    return 0;
  }
  return -1;
}

int ParseNameArgs(const std::vector<std::string>& args, const std::string& usage,
                  po::options_description* opts, po::variables_map* vm) {
  AddCommonOptions(opts);
  opts->add_options()("name", po::value<std::string>(), "name");
  po::positional_options_description pos;
  pos.add("name", 1);
  if (int rc = ParseArgs(args, usage, *opts, pos, vm); rc >= 0) return rc;
  if (!vm->count("name")) {
    std::cerr << usage << "\n";
    return 2;
  }
  return -1;
}

void AddCommonOptions(po::options_description* opts) {
  opts->add_options()("help,h", "show this help")(
      "store", po::value<std::string>()->default_value(""),
      "chunk store directory (default: $STORMWULF_STORE, else /var/lib/stormwulf/store)");
}

std::unique_ptr<Store> OpenStoreOrDie(const po::variables_map& vm, bool create) {
  std::string root = Store::DefaultRoot(vm["store"].as<std::string>());
  auto s = Store::Open(root, StoreOptions{.create = create});
  if (!s.ok()) {
    std::cerr << "swctl: " << s.status().ToString() << "\n";
    return nullptr;
  }
  return std::move(s).value();
}

std::string HumanBytes(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  snprintf(buf, sizeof(buf), u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

std::string HumanTime(int64_t t) {
  time_t tt = static_cast<time_t>(t);
  tm tm;
  localtime_r(&tt, &tm);
  char buf[32];
  strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

ProgressLine::ProgressLine(bool quiet) : quiet_(quiet), tty_(isatty(STDERR_FILENO) == 1) {}

void ProgressLine::Update(const std::string& text, bool force) {
  if (quiet_) return;
  uint64_t now = MonotonicNanos();
  uint64_t period = tty_ ? 100000000ull : 5000000000ull;
  if (!force && last_ns_ != 0 && now - last_ns_ < period) return;
  if (last_ns_ == 0 && !force && !tty_) {
    last_ns_ = now;  // plain output: first line after one period, not at once
    return;
  }
  last_ns_ = now;
  if (tty_) {
    fprintf(stderr, "\r\033[K%s", text.c_str());
    drawn_ = true;
  } else {
    fprintf(stderr, "%s\n", text.c_str());
  }
}

void ProgressLine::Done() {
  if (drawn_) fputs("\r\033[K", stderr);
  drawn_ = false;
}

int ReloadStormwulfd() {
  int sent = 0;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return 0;
  while (dirent* e = ::readdir(d)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    auto comm = ReadFileToString(std::string("/proc/") + e->d_name + "/comm");
    if (comm.ok() && *comm == "stormwulfd\n" && ::kill(static_cast<pid_t>(pid), SIGHUP) == 0) {
      ++sent;
    }
  }
  ::closedir(d);
  return sent;
}

}  // namespace sw
