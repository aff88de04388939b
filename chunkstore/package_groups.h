// chunkstore/package_groups.h: which package owns each entry of an image tree, so that the image
// builder stores every package's files together (TreeEntry::group).
//
// A package update installs or replaces whole packages whose files are spread all over the tree
// (usr/bin, usr/lib, usr/share/man/*/, usr/share/locale/*/, var/lib/dpkg/info). In path order
// every one of those places lands in a segment that changes; grouped by package, with a segment
// boundary between packages, the update adds the new packages' own segments and changes few
// others. docs/formats/image.md has the measurements.
//
// The package database read is dpkg's (Debian, Ubuntu): var/lib/dpkg/info/<package>.list names
// the paths each package installed; the package's own files in var/lib/dpkg/info
// (<package>.md5sums, .postinst, ...) belong to it too. Paths listed through a top-level
// symlink of the tree (usr-merged "bin -> usr/bin") are resolved. A path two packages list goes
// to the first by name. Groups are numbered 1.. in package-name order; 0 = no package.
// Thread-safety: pure functions of their arguments.
#pragma once

#include <cstddef>
#include <vector>

#include "chunkstore/tree.h"
#include "common/status.h"

namespace sw {

// Sets `group` on every entry a package owns (and 0 on the others). Returns the number of
// packages found: 0 when the tree has no package database, and then nothing is changed.
// IOError when a package list cannot be read.
Result<size_t> AssignPackageGroups(std::vector<TreeEntry>* entries);

}  // namespace sw
