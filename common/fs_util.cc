#include "common/fs_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/hex.h"

namespace sw {

Result<std::string> ReadSymlink(const std::string& path, int dir_fd) {
  std::string target(4096, '\0');  // PATH_MAX: no longer target can be created on Linux
  ssize_t n = ::readlinkat(dir_fd, path.c_str(), target.data(), target.size());
  if (n < 0) return FromErrno("readlink " + path, errno);
  target.resize(static_cast<size_t>(n));
  return target;
}

Result<std::string> ReadFileToString(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    return FromErrno("open " + path, errno);
  }
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return FromErrno("read " + path, errno);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

Status WriteAll(int fd, const void* data, size_t len, std::string_view ctx) {
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    ssize_t n = ::write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return FromErrno(std::string("write ") + std::string(ctx), errno);
    }
    p += n;
    len -= static_cast<size_t>(n);
  }
  return Status::OK();
}

Status PreadAll(int fd, void* data, size_t len, uint64_t offset, std::string_view ctx) {
  char* p = static_cast<char*>(data);
  while (len > 0) {
    ssize_t n = ::pread(fd, p, len, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return FromErrno(std::string("read ") + std::string(ctx), errno);
    }
    if (n == 0) {
      return Status::Corruption(std::string("short read: ") + std::string(ctx));
    }
    p += n;
    len -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return Status::OK();
}

Status MakeDirs(const std::string& path, mode_t mode) {
  if (path.empty()) {
    return Status::OK();
  }
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    return S_ISDIR(st.st_mode) ? Status::OK()
                               : Status::InvalidArgument(path + ": exists and is not a directory");
  }
  std::string parent = DirName(path);
  if (parent != path && parent != "." && parent != "/") {
    SW_RETURN_IF_ERROR(MakeDirs(parent, mode));
  }
  if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) {
    return FromErrno("mkdir " + path, errno);
  }
  return Status::OK();
}

Status FsyncDir(const std::string& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) {
    return FromErrno("open dir " + dir, errno);
  }
  if (::fsync(fd.get()) != 0) {
    return FromErrno("fsync dir " + dir, errno);
  }
  return Status::OK();
}

std::string RandomHex(size_t nbytes) {
  uint8_t buf[64];
  if (nbytes > sizeof(buf)) nbytes = sizeof(buf);
  size_t got = 0;
  while (got < nbytes) {
    ssize_t n = getrandom(buf + got, nbytes - got, 0);
    if (n < 0) {
      CHECK(errno == EINTR) << "getrandom: " << std::strerror(errno);
      continue;
    }
    got += static_cast<size_t>(n);
  }
  return HexEncode(buf, nbytes);
}

Status WriteFileAtomic(const std::string& path, std::string_view data, mode_t mode,
                       const std::string& tmp_dir) {
  std::string tmp = (tmp_dir.empty() ? path : JoinPath(tmp_dir, BaseName(path))) + ".tmp." +
                    RandomHex(6);
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (!fd) {
    return FromErrno("create " + tmp, errno);
  }
  Status s = WriteAll(fd.get(), data.data(), data.size(), tmp);
  if (s.ok() && ::fchmod(fd.get(), mode) != 0) {
    s = FromErrno("fchmod " + tmp, errno);
  }
  if (s.ok() && ::fsync(fd.get()) != 0) {
    s = FromErrno("fsync " + tmp, errno);
  }
  fd.Reset();
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    s = FromErrno("rename " + tmp + " -> " + path, errno);
  }
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  return FsyncDir(DirName(path));
}

std::string DirName(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  size_t pos = path.rfind('/');
  if (pos == std::string_view::npos) return ".";
  if (pos == 0) return "/";
  return std::string(path.substr(0, pos));
}

std::string BaseName(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  size_t pos = path.rfind('/');
  return std::string(pos == std::string_view::npos ? path : path.substr(pos + 1));
}

std::string JoinPath(std::string_view a, std::string_view b) {
  if (a.empty()) return std::string(b);
  std::string out(a);
  while (!b.empty() && b.front() == '/') b.remove_prefix(1);
  if (out.back() != '/') out += '/';
  out += b;
  return out;
}

namespace {

// The names in an open directory stream (without "." and ".."); closes it.
Result<std::vector<std::string>> ReadNames(DIR* d, const std::string& shown) {
  std::vector<std::string> names;
  errno = 0;
  while (dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
    names.emplace_back(e->d_name);
  }
  int err = errno;
  ::closedir(d);
  if (err != 0) return FromErrno("readdir " + shown, err);
  return names;
}

}  // namespace

Result<std::vector<std::string>> ListDir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return FromErrno("opendir " + dir, errno);
  return ReadNames(d, dir);
}

Result<std::vector<std::string>> ListDir(int dir_fd, const std::string& shown) {
  // fdopendir takes the descriptor over: give it a copy, so the caller's stays open.
  int copy = ::fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return FromErrno("opendir " + shown, errno);
  DIR* d = ::fdopendir(copy);
  if (d == nullptr) {
    int err = errno;
    ::close(copy);
    return FromErrno("opendir " + shown, err);
  }
  ::rewinddir(d);  // the copy shares its position with dir_fd: start from the top
  return ReadNames(d, shown);
}

Status RemoveTree(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    return errno == ENOENT ? Status::OK() : FromErrno("lstat " + path, errno);
  }
  if (S_ISDIR(st.st_mode)) {
    SW_ASSIGN_OR_RETURN(auto names, ListDir(path));
    for (const auto& n : names) {
      SW_RETURN_IF_ERROR(RemoveTree(JoinPath(path, n)));
    }
    if (::rmdir(path.c_str()) != 0 && errno != ENOENT) {
      return FromErrno("rmdir " + path, errno);
    }
    return Status::OK();
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return FromErrno("unlink " + path, errno);
  }
  return Status::OK();
}

uint64_t MonotonicNanos() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

int64_t WallSeconds() { return static_cast<int64_t>(::time(nullptr)); }

}  // namespace sw
