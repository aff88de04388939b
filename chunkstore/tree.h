// chunkstore/tree.h: TreeEntry, one file-system object of a tree to be stored as an image or
// overlay. Producers (tools/: directory walk, tar/OCI readers, overlay renderer) fill a vector of
// entries; the image builder (chunkstore/image_build.h) sorts, segments and stores them.
// Thread-safety: a value type.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <string>
#include <vector>

#include "common/status.h"

namespace sw {

struct TreeEntry {
  // Relative path inside the tree: no leading '/', no "." or ".." components, no trailing '/',
  // e.g. "usr/bin/ls". The root directory itself is not an entry.
  std::string path;
  uint32_t mode = 0;  // st_mode: type bits + permissions (S_IFREG, S_IFDIR, S_IFLNK, S_IFCHR, ...)
  uint32_t uid = 0;
  uint32_t gid = 0;
  int64_t mtime = 0;  // seconds since the epoch
  uint64_t size = 0;  // regular files: content length (must be < 4 GiB for newc)
  uint32_t rdev_major = 0;  // character and block devices
  uint32_t rdev_minor = 0;
  std::string symlink_target;  // symlinks
  // Nonzero for regular files that are hard links of one inode: every entry with the same key is
  // the same file (same content), and the builder keeps them in one segment.
  uint64_t hardlink_key = 0;
  // Entries with the same nonzero group (one package: chunkstore/package_groups.h) are stored
  // together, in segments of their own; 0 = none. The image builder orders by it (see
  // docs/formats/image.md, "Package order").
  uint32_t group = 0;

  // Where a regular file's content comes from. Exactly one of:
  //  - content: the bytes themselves (small rendered files, tests);
  //  - source_path: a file to read (directory sources);
  //  - spool: a shared open file holding the content at spool_offset (tar/OCI sources).
  std::shared_ptr<const std::string> content;
  std::string source_path;
  std::shared_ptr<int> spool;  // owning wrapper of an fd (closed when the last entry goes)
  uint64_t spool_offset = 0;

  // Stat fingerprint of source_path (0 = unknown), filled by the directory walk. Not used by the
  // builder yet: it is meant for a cache that skips reading files unchanged since the last import.
  uint64_t st_dev = 0;
  uint64_t st_ino = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
};

// Streams exactly e.size bytes of a regular file entry's content (from content, source_path or
// the spool) to sink, in blocks of at most 1 MiB; a view passed to sink is valid only during
// that call. IOError naming the file if it cannot be read or is shorter than e.size.
Status ReadEntryContent(const TreeEntry& e, const std::function<Status(std::string_view)>& sink);
// The same bytes, read straight into dst (which has room for e.size bytes): no intermediate copy.
Status ReadEntryContentInto(const TreeEntry& e, uint8_t* dst);

}  // namespace sw
