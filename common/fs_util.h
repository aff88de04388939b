// common/fs_util.h: small POSIX file helpers used by every layer above common/.
//
// All functions are thread-safe (they share no state) and return Status/Result; errno is turned
// into a Status by FromErrno. Paths are plain strings; nothing here follows user-provided paths
// outside what the caller passes.
#pragma once

#include <fcntl.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/fd.h"
#include "common/status.h"

namespace sw {

// Reads a whole file. NotFound if it does not exist.
Result<std::string> ReadFileToString(const std::string& path);
// The target of a symbolic link (readlink(2)); its errors as FromErrno maps them (NotFound if
// absent). A relative path is taken from dir_fd when given (readlinkat(2)).
Result<std::string> ReadSymlink(const std::string& path, int dir_fd = AT_FDCWD);

// Writes all of `data` to fd, retrying short writes and EINTR.
Status WriteAll(int fd, const void* data, size_t len, std::string_view ctx);
// Reads exactly len bytes at offset (pread), or Corruption("short read") at EOF.
Status PreadAll(int fd, void* data, size_t len, uint64_t offset, std::string_view ctx);

// Creates `path` and missing parents with `mode` (like mkdir -p). OK if it already exists as a dir.
Status MakeDirs(const std::string& path, mode_t mode = 0755);

// fsync(2) of a directory, so that a rename or create in it is durable.
Status FsyncDir(const std::string& dir);

// Atomically replaces `path` with `data`: writes a temp file with O_EXCL ("<path>.tmp.<random>",
// or "<tmp_dir>/<name>.tmp.<random>" when tmp_dir is given: it must be on the same file system),
// fsyncs it, renames it over `path`, then fsyncs the directory. On failure the temp file is
// removed and `path` is untouched. `mode` is the new file's mode.
Status WriteFileAtomic(const std::string& path, std::string_view data, mode_t mode = 0644,
                       const std::string& tmp_dir = "");

// A random lower-case hex string of 2*nbytes characters (from getrandom(2)), for temp names.
std::string RandomHex(size_t nbytes = 8);

// Directory part of a path ("a/b/c" -> "a/b", "c" -> ".").
std::string DirName(std::string_view path);
// Last component of a path ("a/b/c" -> "c").
std::string BaseName(std::string_view path);
// Joins two path parts with exactly one '/'.
std::string JoinPath(std::string_view a, std::string_view b);

// Lists the names in a directory (without "." and ".."), unsorted. NotFound if absent.
Result<std::vector<std::string>> ListDir(const std::string& dir);
// The same for an open directory (its descriptor stays open and usable); `shown` names it in
// errors.
Result<std::vector<std::string>> ListDir(int dir_fd, const std::string& shown);

// Removes a file tree like `rm -rf` (does not follow symlinks). OK if absent.
Status RemoveTree(const std::string& path);

// Monotonic clock in nanoseconds and wall clock in seconds.
uint64_t MonotonicNanos();
int64_t WallSeconds();

}  // namespace sw
