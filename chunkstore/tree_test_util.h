// chunkstore/tree_test_util.h: TreeEntry builders for the chunkstore tests (content in memory).
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <memory>
#include <string>

#include "chunkstore/tree.h"

namespace sw::tree_test {

inline TreeEntry File(std::string path, std::string data = "x", uint32_t perm = 0644,
                      int64_t mtime = 1700000000) {
  TreeEntry e;
  e.path = std::move(path);
  e.mode = S_IFREG | perm;
  e.mtime = mtime;
  e.size = data.size();
  e.content = std::make_shared<const std::string>(std::move(data));
  return e;
}

inline TreeEntry Dir(std::string path, uint32_t perm = 0755) {
  TreeEntry e;
  e.path = std::move(path);
  e.mode = S_IFDIR | perm;
  e.mtime = 1600000000;
  return e;
}

inline TreeEntry Symlink(std::string path, std::string target) {
  TreeEntry e;
  e.path = std::move(path);
  e.mode = S_IFLNK | 0777;
  e.symlink_target = std::move(target);
  e.mtime = 1650000000;
  return e;
}

}  // namespace sw::tree_test
