// swctl power on|off|cycle|reset|status NODES: the nodes' BMCs through ipmitool, in parallel.
// docs/admin-power.md.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <set>
#include <thread>

#include "cluster/hostlist.h"
#include "cluster/nodedb.h"
#include "common/fs_util.h"
#include "common/json.h"
#include "tools/cli.h"
#include "tools/cli_util.h"
#include "tools/subprocess.h"

namespace sw {
namespace {

constexpr char kUsage[] =
    "usage: swctl power on|off|cycle|reset|status NODES|--all [options]\n"
    "Runs `ipmitool -I <interface> -H <ipmi ipaddr> -p <port> -U <username> -E chassis power <cmd>`\n"
    "for each node with the IPMI settings of nodes.conf (the password goes through the\n"
    "IPMI_PASSWORD environment variable, never the command line), --parallel at a time, and\n"
    "prints one line per node. Exit code 0 when every node succeeded, 1 otherwise, 2 for usage.";

struct Outcome {
  std::string node;
  bool ok = false;
  bool timed_out = false;
  int exit_code = -1;
  std::string output;
};

std::string FirstLine(const std::string& s) {
  size_t start = s.find_first_not_of(" \r\n\t");
  if (start == std::string::npos) return "";
  size_t end = s.find_first_of("\r\n", start);
  return s.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

}  // namespace

int RunPowerCommand(const std::vector<std::string>& args) {
  po::options_description opts("options");
  opts.add_options()("help,h", "show this help")(
      "nodes", po::value<std::string>()->default_value("/etc/stormwulf/nodes.conf"), "nodes.conf")(
      "all", "every node in nodes.conf")(
      "parallel", po::value<int>()->default_value(32), "BMCs contacted at once")(
      "timeout", po::value<double>()->default_value(20), "seconds per ipmitool call")(
      "ipmitool", po::value<std::string>()->default_value("ipmitool"), "ipmitool binary")(
      "json", "machine-readable result")(
      "action", po::value<std::string>(), "")("names", po::value<std::vector<std::string>>(), "");
  po::positional_options_description pos;
  pos.add("action", 1).add("names", -1);
  po::variables_map vm;
  if (int rc = ParseArgs(args, kUsage, opts, pos, &vm); rc >= 0) return rc;
  static const std::set<std::string> kActions = {"on", "off", "cycle", "reset", "status"};
  if (!vm.count("action") || !kActions.count(vm["action"].as<std::string>())) {
    std::cerr << kUsage << "\n";
    return 2;
  }
  if (vm.count("all") == vm.count("names")) {
    std::cerr << "swctl: give NODES or --all\n";
    return 2;
  }
  const std::string action = vm["action"].as<std::string>();
  auto db = NodeDb::Load(vm["nodes"].as<std::string>());
  if (!db.ok()) {
    std::cerr << "swctl: " << db.status().ToString() << "\n";
    return 1;
  }
  std::vector<const Node*> targets;
  if (vm.count("all")) {
    for (const auto& n : (*db)->nodes()) targets.push_back(&n);
  } else {
    std::vector<std::string> unknown;
    for (const auto& expr : vm["names"].as<std::vector<std::string>>()) {
      auto names = ExpandHostlist(expr);
      if (!names.ok()) {
        std::cerr << "swctl: " << names.status().message() << "\n";
        return 2;
      }
      for (const auto& n : *names) {
        const Node* node = (*db)->Find(n);
        if (node == nullptr) {
          unknown.push_back(n);
        } else {
          targets.push_back(node);
        }
      }
    }
    if (!unknown.empty()) {
      std::string list;
      for (size_t i = 0; i < unknown.size() && i < 10; ++i) list += (i ? ", " : "") + unknown[i];
      if (unknown.size() > 10) list += " and " + std::to_string(unknown.size() - 10) + " more";
      std::cerr << "swctl: not in nodes.conf: " << list << "; nothing done\n";
      return 1;
    }
  }
  std::sort(targets.begin(), targets.end(), [](const Node* a, const Node* b) { return a->id < b->id; });
  targets.erase(std::unique(targets.begin(), targets.end()), targets.end());

  std::vector<Outcome> results(targets.size());
  std::atomic<size_t> next{0};
  const int timeout_ms = static_cast<int>(vm["timeout"].as<double>() * 1000);
  const std::string ipmitool = vm["ipmitool"].as<std::string>();
  auto worker = [&] {
    for (size_t i; (i = next.fetch_add(1)) < targets.size();) {
      const Node& n = *targets[i];
      Outcome& o = results[i];
      o.node = n.id;
      auto get = [&](const char* k, const char* def) {
        auto it = n.ipmi.find(k);
        return it == n.ipmi.end() || it->second.empty() ? std::string(def) : it->second;
      };
      std::string addr = get("ipaddr", "");
      if (addr.empty()) {
        o.output = "no IPMI address (ipmi: ipaddr) in nodes.conf";
        continue;
      }
      std::vector<std::string> argv = {ipmitool, "-I", get("interface", "lanplus"), "-H", addr,
                                       "-p", get("port", "623"), "-U", get("username", "ADMIN"),
                                       "-E", "chassis", "power", action};
      ProcessResult pr = RunProcess(argv, {"IPMI_PASSWORD=" + get("password", "")}, timeout_ms);
      o.exit_code = pr.exit_code;
      o.timed_out = pr.timed_out;
      o.ok = o.exit_code == 0;
      o.output = o.timed_out ? "timed out after " + std::to_string(timeout_ms / 1000) + " s"
                             : FirstLine(pr.output);
    }
  };
  int parallel = std::clamp(vm["parallel"].as<int>(), 1, 1024);
  std::vector<std::thread> pool;
  for (int t = 0; t < std::min<int>(parallel, static_cast<int>(targets.size())); ++t) pool.emplace_back(worker);
  for (auto& t : pool) t.join();

  size_t ok = 0;
  for (const auto& r : results) ok += r.ok;
  if (vm.count("json")) {
    printf("[");
    for (size_t i = 0; i < results.size(); ++i) {
      const auto& r = results[i];
      printf("%s\n  {\"node\":\"%s\",\"ok\":%s,\"exit_code\":%d,\"timed_out\":%s,\"output\":\"%s\"}",
             i ? "," : "", JsonEscape(r.node).c_str(), r.ok ? "true" : "false", r.exit_code,
             r.timed_out ? "true" : "false", JsonEscape(r.output).c_str());
    }
    printf("\n]\n");
  } else {
    printf("%-20s %-8s %s\n", "NODE", "RESULT", "OUTPUT");
    for (const auto& r : results) {
      printf("%-20s %-8s %s\n", r.node.c_str(), r.ok ? "ok" : r.timed_out ? "timeout" : "failed",
             r.output.c_str());
    }
    printf("%zu of %zu nodes ok (power %s)\n", ok, results.size(), action.c_str());
  }
  return ok == results.size() ? 0 : 1;
}

}  // namespace sw
