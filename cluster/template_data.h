// cluster/template_data.h: the Go-template view of node data, with Warewulf's field names, shared
// by the iPXE scripts stormwulfd renders and the overlays swctl renders, so both see the same
// `.NetDevs` (shared/reference/warewulf.md §2.2 and §4).
// Thread-safety: pure functions.
#pragma once

#include "cluster/nodedb.h"
#include "tmpl/value.h"

namespace sw {

// A network device as a struct value: Type, OnBoot, Device, Hwaddr, Ipaddr, Netmask, Gateway,
// Ipaddr6, PrefixLen6, Gateway6, MTU, Primary, Tags.
tmpl::Value NetDevValue(const NetDev& d);
// All of a node's network devices as a map name -> NetDevValue.
tmpl::Value NetDevsValue(const Node& n);

}  // namespace sw
