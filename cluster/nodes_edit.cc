#include "cluster/nodes_edit.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <map>

#include "common/fs_util.h"

namespace sw {
namespace {

const char* Section(EntityKind k) { return k == EntityKind::kNode ? "nodes" : "nodeprofiles"; }
const char* Noun(EntityKind k) { return k == EntityKind::kNode ? "node" : "profile"; }

bool IsUnset(const std::string& v) { return v == "UNSET" || v == "UNDEF"; }

}  // namespace

NodesConf::NodesConf() : root_(std::make_unique<YAML::Node>(YAML::NodeType::Map)) {}
NodesConf::~NodesConf() = default;
NodesConf::NodesConf(NodesConf&&) noexcept = default;
NodesConf& NodesConf::operator=(NodesConf&&) noexcept = default;

Result<NodesConf> NodesConf::Load(const std::string& path) {
  auto text = ReadFileToString(path);
  if (!text.ok()) {
    if (text.status().IsNotFound()) return NodesConf();
    return text.status();
  }
  return Parse(*text, path);
}

Result<NodesConf> NodesConf::Parse(std::string_view yaml, const std::string& name) {
  NodesConf c;
  try {
    YAML::Node root = YAML::Load(std::string(yaml));
    if (root.IsNull()) return c;
    if (!root.IsMap()) return Status::InvalidArgument(name + ": top level must be a mapping");
    for (const char* s : {"nodeprofiles", "nodes"}) {
      if (root[s] && !root[s].IsMap() && !root[s].IsNull()) {
        return Status::InvalidArgument(name + ": '" + s + "' must be a mapping");
      }
    }
    *c.root_ = root;
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(name + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  return c;
}

bool NodesConf::Has(EntityKind kind, const std::string& name) const {
  const YAML::Node& r = *root_;
  const YAML::Node s = r[Section(kind)];
  return s && s.IsMap() && s[name];
}

std::vector<std::string> NodesConf::Names(EntityKind kind) const {
  std::vector<std::string> out;
  const YAML::Node& r = *root_;
  const YAML::Node s = r[Section(kind)];
  if (s && s.IsMap()) {
    for (const auto& kv : s) out.push_back(kv.first.as<std::string>());
  }
  return out;
}

Status NodesConf::Add(EntityKind kind, const std::string& name) {
  if (name.empty() || name.find_first_of(" \t\n/:") != std::string::npos) {
    return Status::InvalidArgument(std::string("bad ") + Noun(kind) + " name '" + name + "'");
  }
  if (Has(kind, name)) {
    return Status::AlreadyExists(std::string(Noun(kind)) + " '" + name + "' already exists");
  }
  YAML::Node& r = *root_;
  if (!r[Section(kind)] || r[Section(kind)].IsNull()) r[Section(kind)] = YAML::Node(YAML::NodeType::Map);
  r[Section(kind)][name] = YAML::Node(YAML::NodeType::Map);
  return Status::OK();
}

Status NodesConf::Delete(EntityKind kind, const std::string& name) {
  if (!Has(kind, name)) return Status::NotFound(std::string(Noun(kind)) + " '" + name + "' does not exist");
  YAML::Node& r = *root_;
  YAML::Node s = r[Section(kind)];
  s.remove(name);
  return Status::OK();
}

Status NodesConf::SetScalar(EntityKind kind, const std::string& name,
                            const std::vector<std::string>& path, const std::string& value) {
  if (IsUnset(value)) return Remove(kind, name, path);
  if (!Has(kind, name)) return Status::NotFound(std::string(Noun(kind)) + " '" + name + "' does not exist");
  if (path.empty()) return Status::InvalidArgument("empty field path");
  try {
    YAML::Node& r = *root_;
    YAML::Node cur = r[Section(kind)][name];
    for (size_t i = 0; i + 1 < path.size(); ++i) {
      YAML::Node next = cur[path[i]];
      if (!next || !next.IsMap()) {
        cur[path[i]] = YAML::Node(YAML::NodeType::Map);
        next.reset(cur[path[i]]);
      }
      cur.reset(next);
    }
    cur[path.back()] = path.back() == "hwaddr" ? NormalizeHwaddr(value) : value;
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(std::string("editing ") + Noun(kind) + " '" + name + "': " + e.msg);
  }
  return Status::OK();
}

Status NodesConf::SetList(EntityKind kind, const std::string& name,
                          const std::vector<std::string>& path,
                          const std::vector<std::string>& values) {
  if (values.empty()) return Remove(kind, name, path);
  SW_RETURN_IF_ERROR(SetScalar(kind, name, path, "x"));  // creates the parents
  YAML::Node& r = *root_;
  YAML::Node cur = r[Section(kind)][name];
  for (size_t i = 0; i + 1 < path.size(); ++i) cur.reset(cur[path[i]]);
  YAML::Node list(YAML::NodeType::Sequence);
  for (const auto& v : values) list.push_back(v);
  cur[path.back()] = list;
  return Status::OK();
}

Status NodesConf::Remove(EntityKind kind, const std::string& name,
                         const std::vector<std::string>& path) {
  if (!Has(kind, name)) return Status::NotFound(std::string(Noun(kind)) + " '" + name + "' does not exist");
  YAML::Node& r = *root_;
  YAML::Node cur = r[Section(kind)][name];
  for (size_t i = 0; i + 1 < path.size(); ++i) {
    YAML::Node next = cur[path[i]];
    if (!next || !next.IsMap()) return Status::OK();
    cur.reset(next);
  }
  if (cur.IsMap()) cur.remove(path.back());
  return Status::OK();
}

std::string NodesConf::Emit() const {
  YAML::Emitter out;
  out << *root_;
  std::string text = out.c_str();
  if (!text.empty() && text.back() != '\n') text += '\n';
  return text;
}

Result<std::shared_ptr<const NodeDb>> NodesConf::Validate() const {
  SW_ASSIGN_OR_RETURN(auto db, NodeDb::Parse(Emit(), "nodes.conf (edited)"));
  // One owner per hardware and IP address.
  std::map<std::string, std::string> owner;
  for (const Node& n : db->nodes()) {
    for (const auto& [dev, d] : n.netdevs) {
      for (const auto& [what, addr] : {std::pair<std::string, std::string>{"hwaddr", d.hwaddr},
                                       {"ipaddr", d.ipaddr},
                                       {"ipaddr6", d.ipaddr6}}) {
        if (addr.empty()) continue;
        auto [it, fresh] = owner.emplace(what + "=" + addr, n.id);
        if (!fresh && it->second != n.id) {
          return Status::InvalidArgument(what + " " + addr + " is used by both '" + it->second +
                                         "' and '" + n.id + "'");
        }
      }
    }
  }
  return db;
}

Result<NodesConfLock> NodesConfLock::Acquire(const std::string& nodes_conf_path) {
  std::string p = nodes_conf_path + ".lock";
  UniqueFd fd(::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) return FromErrno("open " + p, errno);
  while (::flock(fd.get(), LOCK_EX) != 0) {
    if (errno != EINTR) return FromErrno("lock " + p, errno);
  }
  return NodesConfLock(std::move(fd));
}

Status SaveNodesConf(const std::string& path, const std::string& text) {
  struct stat st;
  mode_t mode = ::stat(path.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0644;
  return WriteFileAtomic(path, text, mode, DirName(path));
}

}  // namespace sw
