#include "cluster/template_data.h"

#include <utility>
#include <vector>

namespace sw {

tmpl::Value NetDevValue(const NetDev& d) {
  std::vector<std::pair<std::string, tmpl::Value>> tags;
  for (const auto& [k, v] : d.tags) tags.emplace_back(k, tmpl::Value(v));
  return tmpl::Value::Struct({{"Type", d.type},
                              {"OnBoot", d.onboot},
                              {"Device", d.device},
                              {"Hwaddr", d.hwaddr},
                              {"Ipaddr", d.ipaddr},
                              {"Netmask", d.netmask},
                              {"Gateway", d.gateway},
                              {"Ipaddr6", d.ipaddr6},
                              {"PrefixLen6", d.prefixlen6},
                              {"Gateway6", d.gateway6},
                              {"MTU", d.mtu},
                              {"Primary", d.primary},
                              {"Tags", tmpl::Value::Map(std::move(tags))}});
}

tmpl::Value NetDevsValue(const Node& n) {
  std::vector<std::pair<std::string, tmpl::Value>> devs;
  for (const auto& [name, d] : n.netdevs) devs.emplace_back(name, NetDevValue(d));
  return tmpl::Value::Map(std::move(devs));
}

}  // namespace sw
