// cluster/hostlist.h: node-name ranges as HPC tools write them ("n[001-128]", "rack[1-2]n[01-04]",
// "a,b,c[1,3-5]"), for swctl's node arguments.
// Thread-safety: pure function.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace sw {

// Expands a comma-separated list of names with bracketed ranges; a range keeps the zero padding
// of its first bound ("n[08-10]" -> n08 n09 n10). Several brackets multiply out, left to right.
// InvalidArgument for unbalanced brackets, empty or reversed ranges, non-numeric bounds, or more
// than 100,000 names.
Result<std::vector<std::string>> ExpandHostlist(std::string_view expr);

}  // namespace sw
