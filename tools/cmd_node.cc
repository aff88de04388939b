// swctl node|profile: list, show, add, set, delete (nodes.conf, Warewulf's schema), and
// swctl node status (stormwulfd's /status). docs/admin-nodes.md.
#include <arpa/inet.h>
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <ctime>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "agent/http_client.h"
#include "cluster/hostlist.h"
#include "cluster/nodes_edit.h"
#include "common/fs_util.h"
#include "common/json.h"
#include "tools/cli.h"
#include "tools/cli_util.h"
#include "tools/kernels.h"
#include "tools/subprocess.h"

namespace sw {
namespace {

constexpr char kNodeUsage[] =
    "usage: swctl node <command> [options]\n\n"
    "commands:\n"
    "  list [NODES]          nodes with image, kernel, primary address (--json for scripts)\n"
    "  show NODE             every merged field, and what kernel the node boots\n"
    "  status [NODES]        boot stage, last seen, bytes sent, from stormwulfd's /status\n"
    "                        (--server URL, --watch SECONDS, --json)\n"
    "  add NODES [fields]    add nodes; NODES may be a range like n[001-128], and --ipaddr /\n"
    "                        --ipmiaddr then count up from the given address\n"
    "  set NODES [fields]    change fields (a value of UNSET removes the field)\n"
    "  delete NODES          remove nodes (and their overlays from the store)\n"
    "After add/set/delete nodes.conf is validated (duplicate MAC or IP, unknown profile or image:\n"
    "nothing is written), saved atomically under a lock, stormwulfd is told to reload (SIGHUP) and\n"
    "the overlays of the changed nodes are rebuilt. Run `swctl node <command> --help`.\n";

constexpr char kProfileUsage[] =
    "usage: swctl profile <command> [options]\n\n"
    "commands:\n"
    "  list                  profiles and how many nodes use each\n"
    "  show PROFILE          the profile's own fields\n"
    "  add PROFILE [fields]  add a profile\n"
    "  set PROFILE [fields]  change fields (UNSET removes)\n"
    "  delete PROFILE        remove a profile that no node uses\n"
    "Edits are validated, saved, reloaded and rebuilt as for `swctl node`.\n";

int Fail(const Status& s) {
  std::cerr << "swctl: " << s.ToString() << "\n";
  return 1;
}

void AddNodesOption(po::options_description* o) {
  o->add_options()("help,h", "show this help")(
      "nodes", po::value<std::string>()->default_value("/etc/stormwulf/nodes.conf"), "nodes.conf");
}

// ---- field flags shared by node and profile add/set

void AddFieldOptions(po::options_description* o, EntityKind kind) {
  o->add_options()("image", po::value<std::string>(), "image name")(
      "kernel", po::value<std::string>(), "kernel: an imported kernel's name or a version pin")(
      "kernelargs", po::value<std::string>(), "kernel arguments (space or comma separated)")(
      "system-overlays,O", po::value<std::string>(), "system overlays (comma separated)")(
      "runtime-overlays,R", po::value<std::string>(), "runtime overlays (comma separated)")(
      "profile,P", po::value<std::string>(), "profiles (comma separated)")(
      "ipxe", po::value<std::string>(), "iPXE template name")(
      "comment", po::value<std::string>(), "comment")(
      "cluster", po::value<std::string>(), "cluster name")(
      "root", po::value<std::string>(), "root (initramfs, tmpfs, ...)")(
      "init", po::value<std::string>(), "init path")(
      "primary-network", po::value<std::string>(), "primary network device name")(
      "netdev", po::value<std::string>()->default_value("default"),
      "network device the --hwaddr/--ipaddr/... flags apply to")(
      "hwaddr", po::value<std::string>(), "MAC address")("ipaddr", po::value<std::string>(), "IPv4 address")(
      "netmask", po::value<std::string>(), "netmask")("gateway", po::value<std::string>(), "gateway")(
      "ipaddr6", po::value<std::string>(), "IPv6 address")("mtu", po::value<std::string>(), "MTU")(
      "type", po::value<std::string>(), "device type (ethernet, infiniband)")(
      "onboot", po::value<std::string>(), "bring up at boot (true/false)")(
      "device", po::value<std::string>(), "kernel device name (eth0)")(
      "netdel", po::value<std::string>(), "remove this network device")(
      "tagadd", po::value<std::vector<std::string>>()->composing(), "tag KEY=VALUE (repeatable)")(
      "tagdel", po::value<std::vector<std::string>>()->composing(), "remove tag KEY (repeatable)")(
      "ipmiaddr", po::value<std::string>(), "BMC address")(
      "ipmiuser", po::value<std::string>(), "BMC user")("ipmipass", po::value<std::string>(), "BMC password")(
      "ipmiport", po::value<std::string>(), "BMC port")(
      "ipmiinterface", po::value<std::string>(), "ipmitool interface (lan, lanplus)");
  if (kind == EntityKind::kNode) {
    o->add_options()("asset", po::value<std::string>(), "asset key")(
        "discoverable", po::value<std::string>(), "true/false");
  }
}

void AddEditOptions(po::options_description* o) {
  o->add_options()("store", po::value<std::string>()->default_value(""),
                   "chunk store (images are checked against it; overlays rebuilt in it)")(
      "overlay-dir", po::value<std::string>()->default_value("/var/lib/stormwulf/overlays"),
      "overlay sources for the rebuild")(
      "server-ip", po::value<std::string>()->default_value(""), "head node address for templates")(
      "no-reload", "do not signal stormwulfd")("no-build", "do not rebuild overlays");
}

std::vector<std::string> SplitList(const std::string& s, const char* seps) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find_first_of(seps, i);
    if (j == std::string::npos) j = s.size();
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

// addr + n for IPv4 (auto-increment over a node range); InvalidArgument otherwise.
Result<std::string> AddToIpv4(const std::string& addr, uint32_t n) {
  in_addr a;
  if (::inet_pton(AF_INET, addr.c_str(), &a) != 1) {
    return Status::InvalidArgument("'" + addr + "' is not an IPv4 address (needed to count up over a range)");
  }
  a.s_addr = htonl(ntohl(a.s_addr) + n);
  char buf[INET_ADDRSTRLEN];
  ::inet_ntop(AF_INET, &a, buf, sizeof(buf));
  return std::string(buf);
}

// Applies the field flags to entity `name` (the index-th of the range, for auto-increment).
Status ApplyFields(NodesConf* c, EntityKind kind, const std::string& name, uint32_t index,
                   const po::variables_map& vm) {
  auto has = [&](const char* k) { return vm.count(k) > 0; };
  auto str = [&](const char* k) { return vm[k].as<std::string>(); };
  const std::pair<const char*, std::vector<std::string>> scalars[] = {
      {"image", {"image name"}},       {"kernel", {"kernel", "version"}},
      {"ipxe", {"ipxe template"}},     {"comment", {"comment"}},
      {"cluster", {"cluster name"}},   {"root", {"root"}},
      {"init", {"init"}},              {"primary-network", {"primary network"}},
      {"asset", {"asset key"}},        {"discoverable", {"discoverable"}},
      {"ipmiuser", {"ipmi", "username"}}, {"ipmipass", {"ipmi", "password"}},
      {"ipmiport", {"ipmi", "port"}},  {"ipmiinterface", {"ipmi", "interface"}}};
  for (const auto& [flag, path] : scalars) {
    if (has(flag)) SW_RETURN_IF_ERROR(c->SetScalar(kind, name, path, str(flag)));
  }
  const std::pair<const char*, std::vector<std::string>> lists[] = {
      {"system-overlays", {"system overlay"}},
      {"runtime-overlays", {"runtime overlay"}},
      {"profile", {"profiles"}}};
  for (const auto& [flag, path] : lists) {
    if (has(flag)) SW_RETURN_IF_ERROR(c->SetList(kind, name, path, SplitList(str(flag), ",")));
  }
  if (has("kernelargs")) {
    SW_RETURN_IF_ERROR(c->SetList(kind, name, {"kernel", "args"}, SplitList(str("kernelargs"), ", ")));
  }
  if (has("ipmiaddr")) {
    std::string v = str("ipmiaddr");
    if (index > 0 && v != "UNSET" && v != "UNDEF") {
      SW_ASSIGN_OR_RETURN(v, AddToIpv4(v, index));
    }
    SW_RETURN_IF_ERROR(c->SetScalar(kind, name, {"ipmi", "ipaddr"}, v));
  }
  const std::string dev = str("netdev");
  for (const char* f : {"hwaddr", "ipaddr", "netmask", "gateway", "ipaddr6", "mtu", "type", "onboot",
                        "device"}) {
    if (!has(f)) continue;
    std::string v = str(f);
    if (std::string(f) == "ipaddr" && index > 0 && v != "UNSET" && v != "UNDEF") {
      SW_ASSIGN_OR_RETURN(v, AddToIpv4(v, index));
    }
    SW_RETURN_IF_ERROR(c->SetScalar(kind, name, {"network devices", dev, f}, v));
  }
  if (has("netdel")) SW_RETURN_IF_ERROR(c->Remove(kind, name, {"network devices", str("netdel")}));
  if (has("tagadd")) {
    for (const auto& kv : vm["tagadd"].as<std::vector<std::string>>()) {
      size_t eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) return Status::InvalidArgument("--tagadd wants KEY=VALUE, got '" + kv + "'");
      SW_RETURN_IF_ERROR(c->SetScalar(kind, name, {"tags", kv.substr(0, eq)}, kv.substr(eq + 1)));
    }
  }
  if (has("tagdel")) {
    for (const auto& k : vm["tagdel"].as<std::vector<std::string>>()) {
      SW_RETURN_IF_ERROR(c->Remove(kind, name, {"tags", k}));
    }
  }
  return Status::OK();
}

// Everything about a merged node that its overlays or boot could depend on.
std::string Fingerprint(const Node& n) {
  std::ostringstream o;
  auto list = [&](const std::vector<std::string>& v) {
    for (const auto& s : v) o << s << '\x1f';
    o << '\x1e';
  };
  o << n.comment << '\x1e' << n.cluster_name << '\x1e' << n.image_name << '\x1e' << n.ipxe_template
    << '\x1e' << n.init << '\x1e' << n.root << '\x1e' << n.primary_network << '\x1e'
    << n.kernel_version << '\x1e' << n.asset_key << '\x1e' << n.discoverable << '\x1e';
  list(n.profiles);
  list(n.kernel_args);
  list(n.system_overlay);
  list(n.runtime_overlay);
  for (const auto& [k, d] : n.netdevs) {
    o << k << '=' << d.type << ',' << d.onboot << ',' << d.device << ',' << d.hwaddr << ','
      << d.ipaddr << ',' << d.netmask << ',' << d.gateway << ',' << d.ipaddr6 << ','
      << d.prefixlen6 << ',' << d.gateway6 << ',' << d.mtu << ',' << d.primary;
    for (const auto& [tk, tv] : d.tags) o << tk << ':' << tv << ';';
    o << '\x1e';
  }
  for (const auto& [k, v] : n.tags) o << k << ':' << v << ';';
  for (const auto& [k, v] : n.ipmi) o << k << ':' << v << ';';
  return o.str();
}

// Runs this swctl again for `swctl overlay build` of the given nodes.
int RebuildOverlays(const po::variables_map& vm, const std::string& store_root,
                    const std::vector<std::string>& nodes) {
  std::vector<std::string> argv = {"/proc/self/exe", "overlay", "build", "--quiet", "--nodes",
                                   vm["nodes"].as<std::string>(), "--store", store_root,
                                   "--overlay-dir", vm["overlay-dir"].as<std::string>(),
                                   "--server-ip", vm["server-ip"].as<std::string>()};
  argv.insert(argv.end(), nodes.begin(), nodes.end());
  ProcessResult r = RunProcess(argv);
  if (!r.output.empty()) std::cerr << r.output;
  return r.exit_code;
}

// The edit transaction shared by add/set/delete of nodes and profiles: lock, load, edit,
// validate (plus image names against the store), save, reload, rebuild the changed nodes.
int Edit(const po::variables_map& vm, const std::function<Status(NodesConf*)>& edit,
         const std::vector<std::string>& deleted_nodes) {
  const std::string path = vm["nodes"].as<std::string>();
  auto lock = NodesConfLock::Acquire(path);
  if (!lock.ok()) return Fail(lock.status());
  auto conf = NodesConf::Load(path);
  if (!conf.ok()) return Fail(conf.status());
  std::map<std::string, std::string> before;
  if (auto db = conf->Validate(); db.ok()) {
    for (const auto& n : (*db)->nodes()) before[n.id] = Fingerprint(n);
  }
  if (Status s = edit(&*conf); !s.ok()) return Fail(s.WithContext("nothing written"));
  auto db = conf->Validate();
  if (!db.ok()) return Fail(db.status().WithContext("nothing written"));
  std::vector<std::string> changed;
  for (const auto& n : (*db)->nodes()) {
    auto it = before.find(n.id);
    if (it == before.end() || it->second != Fingerprint(n)) changed.push_back(n.id);
  }
  // Image names must exist when there is a store to check them against.
  std::string store_root = Store::DefaultRoot(vm["store"].as<std::string>());
  std::unique_ptr<Store> store;
  if (auto s = Store::Open(store_root, StoreOptions{}); s.ok()) store = std::move(*s);
  if (store) {
    for (const auto& id : changed) {
      const Node* n = (*db)->Find(id);
      if (!n->image_name.empty() && !store->GetRef("images/" + n->image_name).ok()) {
        std::cerr << "swctl: node '" << id << "' uses image '" << n->image_name
                  << "', which is not in the store " << store_root << "; nothing written\n";
        return 1;
      }
    }
  } else if (!changed.empty()) {
    std::cerr << "swctl: note: no store at " << store_root << "; image names not checked\n";
  }
  if (Status s = SaveNodesConf(path, conf->Emit()); !s.ok()) return Fail(s);
  printf("%s: %zu node%s changed, %zu deleted\n", path.c_str(), changed.size(),
         changed.size() == 1 ? "" : "s", deleted_nodes.size());
  if (store && !deleted_nodes.empty()) {
    std::vector<std::string> refs;  // one packed-refs rewrite for all of them
    for (const auto& id : deleted_nodes) {
      for (const char* o : {"/system", "/runtime"}) refs.push_back("overlays/" + id + o);
    }
    if (auto n = store->DeleteRefs(refs); !n.ok()) {
      std::cerr << "swctl: warning: removing the deleted nodes' overlays: " << n.status().ToString()
                << "\n";
    }
  }
  // Overlays first, then the reload: a new node is never served before its overlays exist.
  int result = 0;
  if (!vm.count("no-build") && store && !changed.empty()) {
    struct stat st;
    const std::string odir = vm["overlay-dir"].as<std::string>();
    if (::stat(odir.c_str(), &st) != 0) {
      std::cerr << "swctl: note: no overlay directory " << odir << "; overlays not rebuilt\n";
    } else if (int rc = RebuildOverlays(vm, store_root, changed); rc != 0) {
      std::cerr << "swctl: the overlay rebuild failed (exit " << rc
                << "); nodes.conf is saved, run `swctl overlay build` after fixing it\n";
      result = 1;
    } else {
      printf("rebuilt the overlays of %zu node%s\n", changed.size(), changed.size() == 1 ? "" : "s");
    }
  }
  if (!vm.count("no-reload")) {
    int n = ReloadStormwulfd();
    if (n > 0) printf("told %d stormwulfd process%s to reload\n", n, n == 1 ? "" : "es");
  }
  return result;
}

Result<std::vector<std::string>> Targets(const po::variables_map& vm, const char* key) {
  if (!vm.count(key)) return Status::InvalidArgument("no names given");
  std::vector<std::string> out;
  for (const auto& expr : vm[key].as<std::vector<std::string>>()) {
    SW_ASSIGN_OR_RETURN(auto names, ExpandHostlist(expr));
    out.insert(out.end(), names.begin(), names.end());
  }
  return out;
}

int AddSetDelete(EntityKind kind, const std::string& cmd, const std::vector<std::string>& args) {
  const bool node = kind == EntityKind::kNode;
  const std::string noun = node ? "node" : "profile";
  po::options_description opts("options");
  AddNodesOption(&opts);
  AddEditOptions(&opts);
  if (cmd != "delete") AddFieldOptions(&opts, kind);
  opts.add_options()("names", po::value<std::vector<std::string>>(), "names");
  po::positional_options_description pos;
  pos.add("names", -1);
  po::variables_map vm;
  std::string usage = "usage: swctl " + noun + " " + cmd + " " + (node ? "NODES" : "PROFILE") +
                      (cmd == "delete" ? "" : " [fields]");
  if (int rc = ParseArgs(args, usage, opts, pos, &vm); rc >= 0) return rc;
  auto names = Targets(vm, "names");
  if (!names.ok()) {
    std::cerr << "swctl: " << names.status().message() << "\n" << usage << "\n";
    return 2;
  }
  if (cmd == "add" && names->size() > 1 && vm.count("hwaddr")) {
    std::cerr << "swctl: --hwaddr cannot be shared by " << names->size() << " nodes\n";
    return 2;
  }
  std::vector<std::string> deleted;
  if (cmd == "delete" && node) deleted = *names;
  return Edit(vm, [&](NodesConf* c) -> Status {
    for (uint32_t i = 0; i < names->size(); ++i) {
      const std::string& name = (*names)[i];
      if (cmd == "delete") {
        SW_RETURN_IF_ERROR(c->Delete(kind, name));
        continue;
      }
      if (cmd == "add") {
        SW_RETURN_IF_ERROR(c->Add(kind, name));
        // Like Warewulf: a new node starts on the "default" profile when there is one.
        if (node && !vm.count("profile") && c->Has(EntityKind::kProfile, "default")) {
          SW_RETURN_IF_ERROR(c->SetList(kind, name, {"profiles"}, {"default"}));
        }
      }
      SW_RETURN_IF_ERROR(ApplyFields(c, kind, name, i, vm));
    }
    return Status::OK();
  }, deleted);
}

// ---- read-only commands

void PrintNodeJson(const Node& n, bool last) {
  auto list = [](const std::vector<std::string>& v) {
    std::string o = "[";
    for (size_t i = 0; i < v.size(); ++i) o += (i ? ",\"" : "\"") + JsonEscape(v[i]) + "\"";
    return o + "]";
  };
  printf("{\"name\":\"%s\",\"profiles\":%s,\"image\":\"%s\",\"kernel\":\"%s\",\"kernel_args\":%s,"
         "\"system_overlay\":%s,\"runtime_overlay\":%s,\"network_devices\":{",
         JsonEscape(n.id).c_str(), list(n.profiles).c_str(), JsonEscape(n.image_name).c_str(),
         JsonEscape(n.kernel_version).c_str(), list(n.kernel_args).c_str(),
         list(n.system_overlay).c_str(), list(n.runtime_overlay).c_str());
  bool first = true;
  for (const auto& [k, d] : n.netdevs) {
    printf("%s\"%s\":{\"hwaddr\":\"%s\",\"ipaddr\":\"%s\",\"netmask\":\"%s\",\"gateway\":\"%s\","
           "\"primary\":%s}",
           first ? "" : ",", JsonEscape(k).c_str(), JsonEscape(d.hwaddr).c_str(),
           JsonEscape(d.ipaddr).c_str(), JsonEscape(d.netmask).c_str(),
           JsonEscape(d.gateway).c_str(), d.primary ? "true" : "false");
    first = false;
  }
  printf("},\"tags\":{");
  first = true;
  for (const auto& [k, v] : n.tags) {
    printf("%s\"%s\":\"%s\"", first ? "" : ",", JsonEscape(k).c_str(), JsonEscape(v).c_str());
    first = false;
  }
  printf("}}%s\n", last ? "" : ",");
}

int List(EntityKind kind, const std::vector<std::string>& args) {
  po::options_description opts("options");
  AddNodesOption(&opts);
  opts.add_options()("json", "machine-readable")("names", po::value<std::vector<std::string>>(), "");
  po::positional_options_description pos;
  pos.add("names", -1);
  po::variables_map vm;
  const bool node = kind == EntityKind::kNode;
  if (int rc = ParseArgs(args, node ? "usage: swctl node list [NODES] [--json]"
                                    : "usage: swctl profile list",
                         opts, pos, &vm);
      rc >= 0) {
    return rc;
  }
  auto db = NodeDb::Load(vm["nodes"].as<std::string>());
  if (!db.ok()) return Fail(db.status());
  if (!node) {
    auto conf = NodesConf::Load(vm["nodes"].as<std::string>());
    if (!conf.ok()) return Fail(conf.status());
    printf("%-24s %s\n", "PROFILE", "NODES (direct)");
    for (const auto& p : conf->Names(EntityKind::kProfile)) {
      size_t users = 0;
      for (const auto& n : (*db)->nodes()) {
        users += std::count(n.profiles.begin(), n.profiles.end(), p);
      }
      printf("%-24s %zu\n", p.c_str(), users);
    }
    return 0;
  }
  std::set<std::string> want;
  if (vm.count("names")) {
    auto t = Targets(vm, "names");
    if (!t.ok()) return Fail(t.status());
    want.insert(t->begin(), t->end());
  }
  std::vector<const Node*> shown;
  for (const auto& n : (*db)->nodes()) {
    if (want.empty() || want.count(n.id)) shown.push_back(&n);
  }
  if (vm.count("json")) {
    printf("[\n");
    for (size_t i = 0; i < shown.size(); ++i) PrintNodeJson(*shown[i], i + 1 == shown.size());
    printf("]\n");
    return 0;
  }
  printf("%-20s %-16s %-16s %-18s %-16s %s\n", "NODE", "IMAGE", "KERNEL", "HWADDR", "IPADDR",
         "PROFILES");
  for (const Node* n : shown) {
    const NetDev* p = n->Primary();
    std::string profiles;
    for (const auto& s : n->profiles) profiles += (profiles.empty() ? "" : ",") + s;
    printf("%-20s %-16s %-16s %-18s %-16s %s\n", n->id.c_str(),
           n->image_name.empty() ? "-" : n->image_name.c_str(),
           n->kernel_version.empty() ? "(image)" : n->kernel_version.c_str(),
           p && !p->hwaddr.empty() ? p->hwaddr.c_str() : "-",
           p && !p->ipaddr.empty() ? p->ipaddr.c_str() : "-", profiles.c_str());
  }
  return 0;
}

int Show(EntityKind kind, const std::vector<std::string>& args) {
  po::options_description opts("options");
  AddNodesOption(&opts);
  opts.add_options()("store", po::value<std::string>()->default_value(""), "chunk store")(
      "json", "machine-readable")("name", po::value<std::string>(), "");
  po::positional_options_description pos;
  pos.add("name", 1);
  po::variables_map vm;
  const bool node = kind == EntityKind::kNode;
  if (int rc = ParseArgs(args, node ? "usage: swctl node show NODE" : "usage: swctl profile show PROFILE",
                         opts, pos, &vm);
      rc >= 0) {
    return rc;
  }
  if (!vm.count("name")) return 2;
  const std::string name = vm["name"].as<std::string>();
  if (!node) {
    auto conf = NodesConf::Load(vm["nodes"].as<std::string>());
    if (!conf.ok()) return Fail(conf.status());
    if (!conf->Has(EntityKind::kProfile, name)) return Fail(Status::NotFound("profile '" + name + "' does not exist"));
    // The profile's own fields, as YAML (exactly what nodes.conf says).
    YAML::Node root = YAML::Load(conf->Emit());
    YAML::Emitter out;
    out << root["nodeprofiles"][name];
    printf("%s:\n", name.c_str());
    std::istringstream lines(out.c_str());
    for (std::string l; std::getline(lines, l);) printf("  %s\n", l.c_str());
    return 0;
  }
  auto db = NodeDb::Load(vm["nodes"].as<std::string>());
  if (!db.ok()) return Fail(db.status());
  const Node* n = (*db)->Find(name);
  if (n == nullptr) return Fail(Status::NotFound("node '" + name + "' is not in nodes.conf"));
  if (vm.count("json")) {
    PrintNodeJson(*n, true);
    return 0;
  }
  auto join = [](const std::vector<std::string>& v, const char* sep) {
    std::string o;
    for (const auto& s : v) o += (o.empty() ? "" : sep) + s;
    return o.empty() ? std::string("-") : o;
  };
  printf("node              %s\nprofiles          %s\ncomment           %s\ncluster           %s\n",
         n->id.c_str(), join(n->profiles, ", ").c_str(), n->comment.c_str(), n->cluster_name.c_str());
  printf("image             %s\nkernel            %s\nkernel args       %s\n",
         n->image_name.c_str(), n->kernel_version.empty() ? "(the image's)" : n->kernel_version.c_str(),
         join(n->kernel_args, " ").c_str());
  printf("ipxe template     %s\nroot              %s\ninit              %s\n",
         n->ipxe_template.empty() ? "default" : n->ipxe_template.c_str(), n->root.c_str(),
         n->init.c_str());
  printf("system overlay    %s\nruntime overlay   %s\n", join(n->system_overlay, ", ").c_str(),
         join(n->runtime_overlay, ", ").c_str());
  for (const auto& [k, d] : n->netdevs) {
    printf("netdev %-10s hwaddr=%s ipaddr=%s netmask=%s gateway=%s device=%s%s\n", k.c_str(),
           d.hwaddr.c_str(), d.ipaddr.c_str(), d.netmask.c_str(), d.gateway.c_str(),
           d.device.c_str(), d.primary ? " (primary)" : "");
  }
  for (const auto& [k, v] : n->tags) printf("tag %-13s %s\n", k.c_str(), v.c_str());
  for (const auto& [k, v] : n->ipmi) {
    printf("ipmi %-12s %s\n", k.c_str(), k == "password" ? "********" : v.c_str());
  }
  printf("asset key         %s\ndiscoverable      %s\n", n->asset_key.empty() ? "-" : "(set)",
         n->discoverable ? "yes" : "no");
  std::string root = Store::DefaultRoot(vm["store"].as<std::string>());
  if (auto store = Store::Open(root, StoreOptions{}); store.ok()) {
    KernelChecker kc(store->get());
    std::string w = kc.Check(n->image_name, n->kernel_version);
    printf("boot check        %s\n", w.empty() ? "ok (kernel and its modules found)" : ("WARNING: " + w).c_str());
  } else {
    printf("boot check        skipped: no store at %s\n", root.c_str());
  }
  return 0;
}

std::string Ago(int64_t t) {
  if (t <= 0) return "never";
  int64_t d = static_cast<int64_t>(::time(nullptr)) - t;
  if (d < 0) d = 0;
  char buf[32];
  if (d < 120) {
    snprintf(buf, sizeof(buf), "%llds ago", static_cast<long long>(d));
  } else if (d < 7200) {
    snprintf(buf, sizeof(buf), "%lldm ago", static_cast<long long>(d / 60));
  } else {
    snprintf(buf, sizeof(buf), "%lldh ago", static_cast<long long>(d / 3600));
  }
  return buf;
}

volatile sig_atomic_t g_stop = 0;

int Status_(const std::vector<std::string>& args) {
  po::options_description opts("options");
  opts.add_options()("help,h", "show this help")(
      "server", po::value<std::string>()->default_value("http://127.0.0.1:9873"), "stormwulfd URL")(
      "watch", po::value<double>(), "redraw every SECONDS until interrupted")("json", "raw /status JSON")(
      "names", po::value<std::vector<std::string>>(), "");
  po::positional_options_description pos;
  pos.add("names", -1);
  po::variables_map vm;
  if (int rc = ParseArgs(args, "usage: swctl node status [NODES] [--server URL] [--watch SECONDS]",
                         opts, pos, &vm);
      rc >= 0) {
    return rc;
  }
  auto url = HttpUrl::Parse(vm["server"].as<std::string>());
  if (!url.ok()) return Fail(url.status());
  std::set<std::string> want;
  if (vm.count("names")) {
    auto t = Targets(vm, "names");
    if (!t.ok()) return Fail(t.status());
    want.insert(t->begin(), t->end());
  }
  HttpClientOptions ho;
  ho.connect_timeout_ms = 5000;
  ho.io_timeout_ms = 10000;
  ho.user_agent = "swctl";
  const bool watch = vm.count("watch") > 0;
  if (watch) {
    ::signal(SIGINT, [](int) { g_stop = 1; });
    ::signal(SIGTERM, [](int) { g_stop = 1; });
  }
  const bool tty = ::isatty(1);
  do {
    HttpClient client(*url, ho);
    std::string body;
    HttpResult res;
    Status s = client.GetToString("/status", {}, &body, &res, 256u << 20);
    if (s.ok() && res.status != 200) s = Status::Unavailable("/status answered " + std::to_string(res.status));
    if (!s.ok()) {
      if (!watch) return Fail(s.WithContext(vm["server"].as<std::string>()));
      std::cerr << "swctl: " << s.ToString() << "\n";
    } else if (vm.count("json")) {
      fputs(body.c_str(), stdout);
    } else {
      YAML::Node root;
      try {
        root = YAML::Load(body);  // JSON is YAML
      } catch (const YAML::Exception& e) {
        return Fail(Status::Corruption("/status is not JSON: " + e.msg));
      }
      if (watch && tty) printf("\033[H\033[2J");
      std::map<std::string, int> by_stage;
      printf("%-20s %-10s %-28s %10s %-16s %s\n", "NODE", "STAGE", "SENT", "BYTES", "IPADDR",
             "LAST SEEN");
      for (const auto& kv : root["nodes"]) {
        std::string id = kv.first.as<std::string>();
        if (!want.empty() && !want.count(id)) continue;
        const YAML::Node& n = kv.second;
        std::string stage = n["stage"] ? n["stage"].as<std::string>() : "";
        by_stage[stage.empty() ? "-" : stage]++;
        printf("%-20s %-10s %-28s %10s %-16s %s\n", id.c_str(), stage.empty() ? "-" : stage.c_str(),
               n["sent"] ? n["sent"].as<std::string>().c_str() : "",
               HumanBytes(n["bytes sent"] ? n["bytes sent"].as<uint64_t>() : 0).c_str(),
               n["ipaddr"] ? n["ipaddr"].as<std::string>().c_str() : "",
               Ago(n["last seen"] ? n["last seen"].as<int64_t>() : 0).c_str());
      }
      std::string summary;
      for (const auto& [st, c] : by_stage) summary += " " + st + "=" + std::to_string(c);
      printf("stages:%s\n", summary.c_str());
    }
    fflush(stdout);
    if (watch) {
      for (int i = 0; i < static_cast<int>(vm["watch"].as<double>() * 10) && !g_stop; ++i) usleep(100000);
    }
  } while (watch && !g_stop);
  return 0;
}

int Dispatch(EntityKind kind, const std::vector<std::string>& args) {
  const char* usage = kind == EntityKind::kNode ? kNodeUsage : kProfileUsage;
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::fputs(usage, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  std::vector<std::string> rest(args.begin() + 1, args.end());
  std::string cmd = args[0];
  if (cmd == "ls") cmd = "list";
  if (cmd == "new" || cmd == "create") cmd = "add";
  if (cmd == "rm" || cmd == "del") cmd = "delete";
  if (cmd == "list") return List(kind, rest);
  if (cmd == "show") return Show(kind, rest);
  if (cmd == "status" && kind == EntityKind::kNode) return Status_(rest);
  if (cmd == "add" || cmd == "set" || cmd == "delete") return AddSetDelete(kind, cmd, rest);
  std::cerr << "swctl " << (kind == EntityKind::kNode ? "node" : "profile")
            << ": unknown command '" << cmd << "'\n\n" << usage;
  return 2;
}

}  // namespace

int RunNodeCommand(const std::vector<std::string>& args) { return Dispatch(EntityKind::kNode, args); }
int RunProfileCommand(const std::vector<std::string>& args) {
  return Dispatch(EntityKind::kProfile, args);
}

}  // namespace sw
