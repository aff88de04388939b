#include "cluster/nodedb.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <functional>
#include <set>

#include "common/fs_util.h"

namespace sw {
namespace {

struct Fields {  // one source (profile or node) before merging
  Node n;
  std::vector<std::string> kernel_args;
  bool has_discoverable = false;
};

std::string Scalar(const YAML::Node& n) {
  if (!n || n.IsNull()) return "";
  if (n.IsScalar()) return n.as<std::string>();
  return "";
}

// Splits on `sep`, trims spaces, drops empty items.
std::vector<std::string> Split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t end = s.find(sep, pos);
    if (end == std::string_view::npos) end = s.size();
    std::string_view item = s.substr(pos, end - pos);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    pos = end + 1;
  }
  return out;
}

// A YAML list, or a scalar split on `sep` (Warewulf accepts "a,b" for overlay lists and
// "quiet console=ttyS0" for kernel args).
std::vector<std::string> List(const YAML::Node& n, char sep = ',') {
  std::vector<std::string> out;
  if (!n || n.IsNull()) return out;
  if (n.IsSequence()) {
    for (const auto& e : n) out.push_back(Scalar(e));
  } else if (n.IsScalar()) {
    out = Split(n.as<std::string>(), sep);
  }
  return out;
}

std::map<std::string, std::string> StringMap(const YAML::Node& n) {
  std::map<std::string, std::string> out;
  if (!n || !n.IsMap()) return out;
  for (const auto& kv : n) out[kv.first.as<std::string>()] = Scalar(kv.second);
  return out;
}

Fields ReadFields(const YAML::Node& y) {
  Fields f;
  Node& n = f.n;
  n.profiles = List(y["profiles"]);
  n.comment = Scalar(y["comment"]);
  n.cluster_name = Scalar(y["cluster name"]);
  n.image_name = Scalar(y["image name"]);
  if (n.image_name.empty()) n.image_name = Scalar(y["container name"]);  // v4.5/4.6 key
  n.ipxe_template = Scalar(y["ipxe template"]);
  n.init = Scalar(y["init"]);
  n.root = Scalar(y["root"]);
  n.primary_network = Scalar(y["primary network"]);
  n.asset_key = Scalar(y["asset key"]);
  n.system_overlay = List(y["system overlay"]);
  n.runtime_overlay = List(y["runtime overlay"]);
  if (const YAML::Node k = y["kernel"]; k && k.IsMap()) {
    n.kernel_version = Scalar(k["version"]);
    if (k["override"]) n.kernel_version = Scalar(k["override"]);
    f.kernel_args = List(k["args"], ' ');
  }
  if (y["kernel args"]) f.kernel_args = List(y["kernel args"], ' ');
  n.tags = StringMap(y["tags"]);
  n.ipmi = StringMap(y["ipmi"]);
  if (const YAML::Node d = y["discoverable"]; d) {
    f.has_discoverable = true;
    std::string v = Scalar(d);
    n.discoverable = v == "true" || v == "yes" || v == "1";
  }
  if (const YAML::Node nd = y["network devices"]; nd && nd.IsMap()) {
    for (const auto& kv : nd) {
      NetDev d;
      d.name = kv.first.as<std::string>();
      const YAML::Node& v = kv.second;
      d.type = Scalar(v["type"]);
      d.onboot = Scalar(v["onboot"]);
      d.device = Scalar(v["device"]);
      d.hwaddr = NormalizeHwaddr(Scalar(v["hwaddr"]));
      d.ipaddr = Scalar(v["ipaddr"]);
      d.netmask = Scalar(v["netmask"]);
      d.gateway = Scalar(v["gateway"]);
      d.ipaddr6 = Scalar(v["ipaddr6"]);
      d.prefixlen6 = Scalar(v["prefixlen6"]);
      d.gateway6 = Scalar(v["gateway6"]);
      d.mtu = Scalar(v["mtu"]);
      d.tags = StringMap(v["tags"]);
      n.netdevs[d.name] = d;
    }
  }
  return f;
}

void MergeList(std::vector<std::string>* into, const std::vector<std::string>& add) {
  for (const auto& item : add) {
    if (!item.empty() && item[0] == '~') {
      std::string victim = item.substr(1);
      into->erase(std::remove(into->begin(), into->end(), victim), into->end());
    } else {
      into->push_back(item);
    }
  }
}

void MergeScalar(std::string* into, const std::string& v) {
  if (!v.empty()) *into = v;
}

void Merge(Node* into, std::vector<std::string>* args, const Fields& f) {
  const Node& n = f.n;
  MergeScalar(&into->comment, n.comment);
  MergeScalar(&into->cluster_name, n.cluster_name);
  MergeScalar(&into->image_name, n.image_name);
  MergeScalar(&into->ipxe_template, n.ipxe_template);
  MergeScalar(&into->init, n.init);
  MergeScalar(&into->root, n.root);
  MergeScalar(&into->primary_network, n.primary_network);
  MergeScalar(&into->asset_key, n.asset_key);
  MergeScalar(&into->kernel_version, n.kernel_version);
  MergeList(&into->system_overlay, n.system_overlay);
  MergeList(&into->runtime_overlay, n.runtime_overlay);
  MergeList(args, f.kernel_args);
  if (f.has_discoverable) into->discoverable = n.discoverable;
  for (const auto& [k, v] : n.tags) into->tags[k] = v;
  for (const auto& [k, v] : n.ipmi) into->ipmi[k] = v;
  for (const auto& [name, d] : n.netdevs) {
    NetDev& t = into->netdevs[name];
    t.name = name;
    MergeScalar(&t.type, d.type);
    MergeScalar(&t.onboot, d.onboot);
    MergeScalar(&t.device, d.device);
    MergeScalar(&t.hwaddr, d.hwaddr);
    MergeScalar(&t.ipaddr, d.ipaddr);
    MergeScalar(&t.netmask, d.netmask);
    MergeScalar(&t.gateway, d.gateway);
    MergeScalar(&t.ipaddr6, d.ipaddr6);
    MergeScalar(&t.prefixlen6, d.prefixlen6);
    MergeScalar(&t.gateway6, d.gateway6);
    MergeScalar(&t.mtu, d.mtu);
    for (const auto& [k, v] : d.tags) t.tags[k] = v;
  }
}

}  // namespace

namespace {
// "aa:bb:cc:dd:ee:ff" or "AA-BB-CC-DD-EE-FF" -> its 48-bit value; false for anything else.
bool ParseMac48(std::string_view s, uint64_t* out) {
  if (s.size() != 17) return false;
  uint64_t v = 0;
  for (size_t i = 0; i < 17; ++i) {
    char c = s[i];
    if (i % 3 == 2) {
      if (c != ':' && c != '-') return false;
      continue;
    }
    int d = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                   : -1;
    if (d < 0) return false;
    v = v << 4 | static_cast<uint64_t>(d);
  }
  *out = v;
  return true;
}
}  // namespace

std::string NormalizeHwaddr(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c == '-') c = ':';
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

const NetDev* Node::Primary() const {
  for (const auto& [name, d] : netdevs) {
    if (d.primary) return &d;
  }
  return nullptr;
}

std::string Node::KernelArgsJoined() const {
  std::string s;
  for (const auto& a : kernel_args) {
    if (!s.empty()) s += ' ';
    s += a;
  }
  return s;
}

Result<std::shared_ptr<const NodeDb>> NodeDb::Load(const std::string& path) {
  SW_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  return Parse(text, path);
}

Result<std::shared_ptr<const NodeDb>> NodeDb::Parse(std::string_view yaml, const std::string& name) {
  auto db = std::make_shared<NodeDb>();
  try {
    YAML::Node root = YAML::Load(std::string(yaml));
    if (root.IsNull()) return std::shared_ptr<const NodeDb>(db);
    if (!root.IsMap()) return Status::InvalidArgument(name + ": top level must be a mapping");
    std::map<std::string, Fields> profiles;
    if (const YAML::Node p = root["nodeprofiles"]; p && p.IsMap()) {
      for (const auto& kv : p) profiles[kv.first.as<std::string>()] = ReadFields(kv.second);
    }
    const YAML::Node nodes = root["nodes"];
    if (nodes && !nodes.IsMap() && !nodes.IsNull()) {
      return Status::InvalidArgument(name + ": 'nodes' must be a mapping");
    }
    std::function<Status(const std::string&, Node*, std::vector<std::string>*,
                         std::set<std::string>*)>
        apply_profile = [&](const std::string& pname, Node* into, std::vector<std::string>* args,
                            std::set<std::string>* seen) -> Status {
      auto it = profiles.find(pname);
      if (it == profiles.end()) {
        return Status::InvalidArgument(name + ": node '" + into->id + "' uses unknown profile '" +
                                       pname + "'");
      }
      if (!seen->insert(pname).second) {
        return Status::InvalidArgument(name + ": profile '" + pname + "' includes itself");
      }
      for (const auto& sub : it->second.n.profiles) {
        SW_RETURN_IF_ERROR(apply_profile(sub, into, args, seen));
      }
      Merge(into, args, it->second);
      seen->erase(pname);
      return Status::OK();
    };
    if (nodes && nodes.IsMap()) {
      for (const auto& kv : nodes) {
        Node merged;
        merged.id = kv.first.as<std::string>();
        Fields own = ReadFields(kv.second);
        merged.profiles = own.n.profiles.empty() && !kv.second["profiles"]
                              ? std::vector<std::string>{}
                              : own.n.profiles;
        std::vector<std::string> args;
        std::set<std::string> seen;
        for (const auto& p : merged.profiles) {
          SW_RETURN_IF_ERROR(apply_profile(p, &merged, &args, &seen));
        }
        Merge(&merged, &args, own);
        merged.kernel_args = args;
        // Primary network: the named one, else the alphabetically first (std::map order).
        if (!merged.netdevs.empty()) {
          auto it = merged.netdevs.find(merged.primary_network);
          if (it == merged.netdevs.end()) it = merged.netdevs.begin();
          it->second.primary = true;
          merged.primary_network = it->first;
        }
        db->nodes_.push_back(std::move(merged));
      }
    }
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(name + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  std::sort(db->nodes_.begin(), db->nodes_.end(),
            [](const Node& a, const Node& b) { return a.id < b.id; });
  for (size_t i = 0; i < db->nodes_.size(); ++i) {
    const Node& n = db->nodes_[i];
    db->by_id_[n.id] = i;
    if (n.discoverable) continue;
    for (const auto& [dn, d] : n.netdevs) {
      if (d.hwaddr.empty()) continue;
      auto [it, fresh] = db->by_hwaddr_.emplace(d.hwaddr, i);
      if (!fresh && it->second != i) {
        return Status::InvalidArgument(name + ": hwaddr " + d.hwaddr + " is used by both '" +
                                       db->nodes_[it->second].id + "' and '" + n.id + "'");
      }
      if (uint64_t mac; ParseMac48(d.hwaddr, &mac)) db->by_mac_.emplace(mac, i);
    }
  }
  return std::shared_ptr<const NodeDb>(db);
}

const Node* NodeDb::Find(std::string_view id) const {
  auto it = by_id_.find(std::string(id));
  return it == by_id_.end() ? nullptr : &nodes_[it->second];
}

const Node* NodeDb::FindByHwaddr(std::string_view hwaddr) const {
  if (uint64_t mac; ParseMac48(hwaddr, &mac)) {
    auto m = by_mac_.find(mac);
    return m == by_mac_.end() ? nullptr : &nodes_[m->second];
  }
  auto it = by_hwaddr_.find(NormalizeHwaddr(hwaddr));
  return it == by_hwaddr_.end() ? nullptr : &nodes_[it->second];
}

}  // namespace sw
