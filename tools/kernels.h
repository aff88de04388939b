// tools/kernels.h: the kernel and kernel-modules layer (`swctl kernel`), and the check that a
// node's kernel has its modules.
//
// An imported kernel is a kernel artifact at refs/kernels/<name> whose manifest links (meta
// "modules") to a modules artifact: lib/modules/<version>/... as boot-servable segments, without
// a "lib" entry so that it unpacks over usr-merged ("lib -> usr/lib") and split images alike.
// stormwulfd serves it as one more initrd between the image and the overlays. An image's own
// kernel is linked from the image manifest (meta "kernel"); both use the same resolution, written
// once here for swctl and once in server/routes.cc for serving (docs/kernels.md).
// Thread-safety: functions are independent; KernelChecker is single-threaded.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "chunkstore/manifest.h"
#include "chunkstore/store.h"
#include "chunkstore/tree.h"
#include "common/status.h"

namespace sw {

// What an image tree holds for kernels: the versions under lib/modules and usr/lib/modules, and
// what its top-level "lib" is ("dir", "symlink" or "none"). Recorded in the image manifest as
// meta "module_versions" (comma-separated) and "lib".
struct ImageModuleFacts {
  std::vector<std::string> module_versions;
  std::string lib = "none";
};
ImageModuleFacts ScanImageModules(const std::vector<TreeEntry>& entries);

// The version string of an x86 bzImage ("6.1.0-56-amd64"), read from its setup header;
// NotFound when the file is not a bzImage with a version string.
Result<std::string> ReadKernelVersion(const std::string& path);

// The entries of a modules layer for `version` from the directory `moddir` (the
// lib/modules/<version> directory): every path under lib/modules/<version>/, owned by root. If
// moddir has no modules.dep, the tree is copied under `tmp_dir` and `depmod` regenerates it;
// *scratch then names that copy, which the caller removes after building.
Result<std::vector<TreeEntry>> ModulesLayerEntries(const std::string& moddir,
                                                   const std::string& version,
                                                   const std::string& tmp_dir,
                                                   std::string* scratch);

// Writes the lib/modules/<version> (or usr/lib/modules/<version>) tree of a stored image into
// out_dir (which must exist), verifying every segment. NotFound if the image has none.
Status ExtractImageModules(const Store& store, const Manifest& image, const std::string& version,
                           const std::string& out_dir);

// Checks what a node boots, with stormwulfd's resolution: `kernel` (the node's kernel: version:)
// names an imported kernel, else pins the image's kernel by version prefix (or a path ending in
// "-<version>"); empty = the image's kernel. Check returns "" when that kernel exists and its
// modules are in the image or its modules layer, else a warning that names the versions.
// Results are cached per (image, kernel) pair, so checking 10,000 nodes reads a few manifests.
class KernelChecker {
 public:
  explicit KernelChecker(const Store* store) : store_(store) {}
  std::string Check(const std::string& image, const std::string& kernel);

 private:
  std::string Compute(const std::string& image, const std::string& kernel);
  const Store* store_;
  std::map<std::pair<std::string, std::string>, std::string> cache_;
};

}  // namespace sw
