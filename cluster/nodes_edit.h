// cluster/nodes_edit.h: editing nodes.conf (Warewulf's schema) for `swctl node|profile
// add|set|delete`.
//
// The edit works on yaml-cpp's tree of the whole file, so fields Stormwulf does not model (disks,
// filesystems, resources, Warewulf-only keys) survive untouched and the result loads in Warewulf.
// Comments are not kept (Warewulf's own writer drops them too). Validate() parses the edited text
// exactly as stormwulfd will and refuses duplicate hardware or IP addresses; Save() writes it
// atomically (temp + fsync + rename) while the caller holds the edit lock, so two concurrent
// edits never lose one another's changes.
// Thread-safety: a NodesConf is a plain value; the lock serializes processes.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cluster/nodedb.h"
#include "common/fd.h"
#include "common/status.h"

namespace YAML {
class Node;
}

namespace sw {

enum class EntityKind { kNode, kProfile };

class NodesConf {
 public:
  NodesConf();
  ~NodesConf();
  NodesConf(NodesConf&&) noexcept;
  NodesConf& operator=(NodesConf&&) noexcept;

  // A missing file is an empty configuration; a malformed one is InvalidArgument with its line.
  static Result<NodesConf> Load(const std::string& path);
  static Result<NodesConf> Parse(std::string_view yaml, const std::string& name);

  bool Has(EntityKind kind, const std::string& name) const;
  std::vector<std::string> Names(EntityKind kind) const;
  // AlreadyExists / NotFound naming the entity.
  Status Add(EntityKind kind, const std::string& name);
  Status Delete(EntityKind kind, const std::string& name);

  // Sets the scalar at `path` below the entity (e.g. {"image name"}, {"kernel", "version"},
  // {"network devices", "eth0", "hwaddr"}, {"tags", "rack"}); intermediate maps are created.
  // The value "UNSET" or "UNDEF" (Warewulf's words) removes the key instead. Hardware addresses
  // are stored normalised (lower case, ':').
  Status SetScalar(EntityKind kind, const std::string& name, const std::vector<std::string>& path,
                   const std::string& value);
  // Sets a list (overlays, profiles, kernel args); an empty list removes the key.
  Status SetList(EntityKind kind, const std::string& name, const std::vector<std::string>& path,
                 const std::vector<std::string>& values);
  // Removes the key at `path` (NotFound is not an error).
  Status Remove(EntityKind kind, const std::string& name, const std::vector<std::string>& path);

  std::string Emit() const;
  // The edited configuration as stormwulfd will read it. InvalidArgument for an unknown
  // profile, a profile cycle, or a hardware or IPv4/IPv6 address used by two nodes (naming both).
  Result<std::shared_ptr<const NodeDb>> Validate() const;

 private:
  std::unique_ptr<YAML::Node> root_;
};

// Exclusive advisory lock on "<path>.lock", held while reading, editing and saving nodes.conf.
class NodesConfLock {
 public:
  static Result<NodesConfLock> Acquire(const std::string& nodes_conf_path);

 private:
  explicit NodesConfLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

// Writes `text` to path atomically, keeping the existing file's mode (0644 for a new file).
Status SaveNodesConf(const std::string& path, const std::string& text);

}  // namespace sw
