// tools/sources.h: turning an image source into TreeEntry lists for chunkstore/image_build.h.
//
// Sources: a directory (lstat walk; other file systems' contents skipped), a tar archive (plain,
// gz, zst, xz, bz2: libarchive detects the filter), an OCI image layout (directory or tar:
// index.json -> manifest -> layers) and a `docker save` archive (manifest.json -> Layers). Layers
// are applied in order with OCI whiteouts (`.wh.<name>` deletes, `.wh..wh..opq` empties a
// directory of lower-layer content). Archive contents are copied into one spool file (unlinked
// at once) that the entries reference, so no privileges are needed to keep owners and devices.
// Every bad entry is an InvalidArgument naming it: absolute or ".." paths, a path that goes
// through a symlink (it could escape the root), hard links to nothing, truncated archives.
// Thread-safety: functions are independent; a returned tree may be read from many threads.
#pragma once

#include <string>
#include <vector>

#include "chunkstore/tree.h"
#include "common/status.h"

namespace sw {

// Glob excludes with Go filepath.Match semantics ('*' and '?' do not match '/'), matched against
// the path relative to the image root with leading/trailing '/' stripped; a matching directory is
// pruned with everything below it.
class Excludes {
 public:
  // Adds one pattern (blank lines and '#' comments are ignored).
  void Add(std::string pattern);
  // Adds every line of an excludes file's text.
  void AddFile(std::string_view text);
  // Stormwulf's defaults: the contents of proc, sys, tmp, run and dev, except dev/console and
  // dev/null, which init needs before devtmpfs is mounted.
  void AddDefaults();
  bool Excluded(std::string_view rel_path) const;
  const std::vector<std::string>& patterns() const { return patterns_; }

 private:
  std::vector<std::string> patterns_;
  std::vector<std::string> keep_;  // exact paths never excluded by the defaults
};

enum class SourceKind { kDirectory, kTar, kOciLayout, kDockerSave };
const char* SourceKindName(SourceKind k);

struct SourceTree {
  SourceKind kind = SourceKind::kDirectory;
  std::vector<TreeEntry> entries;
  uint64_t excluded = 0;  // entries dropped by excludes
};

// Detects the kind of `source` and reads it. `extra` are --exclude patterns; the image's own
// etc/warewulf/excludes and the defaults are added. `spool_dir` holds the spool file for
// archive sources.
Result<SourceTree> ReadSource(const std::string& source, const std::vector<std::string>& extra,
                              bool default_excludes, const std::string& spool_dir);

// The kernel of a tree: boot/vmlinuz-* (highest version, skipping +debug and -rescue builds),
// else lib/modules/*/vmlinuz. NotFound if there is none. *version gets the version string.
Result<const TreeEntry*> FindKernel(const std::vector<TreeEntry>& entries, std::string* version);

// Writes a regular file entry's content to `path` (used to hand a kernel found in an archive to
// StoreBlob).
Status WriteEntryContent(const TreeEntry& e, const std::string& path);

}  // namespace sw
