// cluster/nodedb.h: Warewulf's node database (nodes.conf), read with yaml-cpp.
//
// Schema: shared/reference/warewulf.md §5.1. `nodeprofiles` and `nodes`; each node is merged from
// its profiles (recursively, in order) and then its own fields: scalars from later sources win,
// lists are appended and an entry "~name" removes `name`, network devices and tags merge key by
// key. If `primary network` is unset the alphabetically first network device is primary. Every
// hwaddr of every non-discoverable node indexes the node (lower case, ':' separators), so any NIC
// identifies it.
// Thread-safety: a loaded NodeDb is immutable; share it through shared_ptr<const NodeDb>.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"

namespace sw {

struct NetDev {
  std::string name, type, onboot, device, hwaddr, ipaddr, netmask, gateway, ipaddr6, prefixlen6,
      gateway6, mtu;
  std::map<std::string, std::string> tags;
  bool primary = false;
};

struct Node {
  std::string id;
  std::vector<std::string> profiles;
  std::string comment, cluster_name, image_name, ipxe_template, init, root, primary_network;
  std::string kernel_version;
  std::vector<std::string> kernel_args;
  std::vector<std::string> system_overlay, runtime_overlay;
  std::map<std::string, NetDev> netdevs;
  std::map<std::string, std::string> tags;
  std::map<std::string, std::string> ipmi;
  std::string asset_key;
  bool discoverable = false;

  // The primary network device, or nullptr if the node has none.
  const NetDev* Primary() const;
  std::string KernelArgsJoined() const;
};

class NodeDb {
 public:
  // InvalidArgument with the file name and YAML line for malformed input or unknown profiles.
  static Result<std::shared_ptr<const NodeDb>> Load(const std::string& path);
  static Result<std::shared_ptr<const NodeDb>> Parse(std::string_view yaml,
                                                     const std::string& name = "nodes.conf");

  const Node* Find(std::string_view id) const;
  // hwaddr in any form ("AA-BB-..", "aa:bb:.."); nullptr when unknown.
  const Node* FindByHwaddr(std::string_view hwaddr) const;
  const std::vector<Node>& nodes() const { return nodes_; }  // sorted by id

 private:
  std::vector<Node> nodes_;
  std::unordered_map<std::string, size_t> by_id_;
  std::unordered_map<std::string, size_t> by_hwaddr_;
  // The same for 48-bit MACs, keyed by their value: every request looks its node up here, and an
  // integer key costs no string hash or compare (by_hwaddr_ still serves longer addresses).
  std::unordered_map<uint64_t, size_t> by_mac_;
};

// "AA-BB-CC-DD-EE-FF" / "aa:bb:cc:dd:ee:ff" -> "aa:bb:cc:dd:ee:ff"; anything else lower-cased.
std::string NormalizeHwaddr(std::string_view s);

}  // namespace sw
