// agent/overlay_apply.h: applies a runtime overlay to a root directory atomically per file, with
// deletions, and survives a crash at any point.
//
// The protocol (docs/agent.md):
//   1. every entry is checked (relative path, no "..", supported type) before anything is touched;
//   2. directories are created when missing (their mode/owner set only when *we* create them: a
//      directory that already exists, like /etc, is not the overlay's to change);
//   3. each file or symlink is written to a temp name in its final directory (mode, owner, mtime,
//      fsync) and renamed over the target; a file whose bytes, mode and owner already match is left
//      alone, so an unchanged overlay writes nothing;
//   4. everything the previous version owned (the state file) and this one does not is removed:
//      files and symlinks unlinked, directories we created removed when empty, deepest first;
//   5. the new state file is written atomically last.
// A crash before 5 leaves the old state file, so the next run re-applies (cheap: unchanged files
// are skipped) and redoes the deletions; every file is always either its old or its new version.
// Nothing outside the state file's list and the new overlay's entries is ever touched.
// Thread-safety: do not apply two overlays to one root concurrently (wwclient is one process).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace sw {

struct OverlayEntry {
  std::string path;  // relative, e.g. "etc/hosts"
  uint32_t mode = 0;  // st_mode with type bits (regular file, directory or symlink)
  uint32_t uid = 0;
  uint32_t gid = 0;
  int64_t mtime = 0;
  std::string data;  // file content, or the symlink target
};

struct ApplyOptions {
  std::string root = "/";
  std::string state_path;  // default: <root>/var/lib/wwclient/runtime.state
  bool set_owner = true;   // chown files to the entry's uid/gid (needs root; off for tests as user)
  // Test seam: called before each mutating step with a label ("file etc/hosts", "delete x",
  // "state"); a non-OK Status aborts the apply there, as a crash would.
  std::function<Status(std::string_view step)> before_step;
};

struct ApplyReport {
  uint64_t written = 0;     // files and symlinks replaced or created
  uint64_t unchanged = 0;   // already up to date
  uint64_t dirs_created = 0;
  uint64_t removed = 0;     // stale files, symlinks and directories removed
};

// InvalidArgument (nothing touched) for a bad entry; IOError/NoSpace from the file system.
Status ApplyOverlay(const std::vector<OverlayEntry>& entries, const ApplyOptions& opts,
                    ApplyReport* report);

}  // namespace sw
