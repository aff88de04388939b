#include "agent/overlay_apply.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <set>

#include "common/fs_util.h"
#include "common/lines.h"

namespace sw {
namespace {

Status CheckPath(std::string_view path) {
  if (path.empty() || path.front() == '/' || path.back() == '/') {
    return Status::InvalidArgument("overlay entry has a bad path: '" + std::string(path) + "'");
  }
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view comp = path.substr(start, end - start);
    if (comp.empty() || comp == "." || comp == "..") {
      return Status::InvalidArgument("overlay entry has a bad path: '" + std::string(path) + "'");
    }
    start = end + 1;
  }
  return Status::OK();
}

// State file: one line per owned object, "<f|l|d> <path>". 'd' = a directory we created.
Result<std::map<std::string, char>> ReadState(const std::string& path) {
  std::map<std::string, char> owned;
  auto text = ReadFileToString(path);
  if (!text.ok()) {
    if (text.status().IsNotFound()) return owned;
    return text.status();
  }
  ForEachLine(*text, [&](std::string_view line) {
    if (line.size() < 3 || line[1] != ' ') return;
    std::string_view p = line.substr(2);
    if (!CheckPath(p).ok()) return;  // never act on a path we would not have written
    owned[std::string(p)] = line[0];
  });
  return owned;
}

bool SameFile(const std::string& target, const OverlayEntry& e, bool check_owner) {
  struct stat st;
  if (lstat(target.c_str(), &st) != 0) return false;
  if ((st.st_mode & S_IFMT) != (e.mode & S_IFMT)) return false;
  if (check_owner && (st.st_uid != e.uid || st.st_gid != e.gid)) return false;
  if (S_ISLNK(e.mode)) {
    std::string buf(e.data.size() + 1, '\0');
    ssize_t n = readlink(target.c_str(), buf.data(), buf.size());
    return n == static_cast<ssize_t>(e.data.size()) && buf.compare(0, e.data.size(), e.data) == 0;
  }
  if ((st.st_mode & 07777) != (e.mode & 07777) || static_cast<uint64_t>(st.st_size) != e.data.size()) {
    return false;
  }
  auto content = ReadFileToString(target);
  return content.ok() && *content == e.data;
}

Status WriteOne(const std::string& target, const OverlayEntry& e, bool set_owner) {
  std::string tmp = DirName(target) + "/.wwclient-tmp-" + RandomHex(6);
  if (S_ISLNK(e.mode)) {
    if (symlink(e.data.c_str(), tmp.c_str()) != 0) return FromErrno("symlink " + tmp, errno);
    if (set_owner && lchown(tmp.c_str(), e.uid, e.gid) != 0) {
      Status s = FromErrno("lchown " + tmp, errno);
      unlink(tmp.c_str());
      return s;
    }
  } else {
    UniqueFd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd) return FromErrno("create " + tmp, errno);
    Status s = WriteAll(fd.get(), e.data.data(), e.data.size(), tmp);
    if (s.ok() && set_owner && fchown(fd.get(), e.uid, e.gid) != 0) s = FromErrno("chown " + tmp, errno);
    // chmod after chown: chown clears set-id bits.
    if (s.ok() && fchmod(fd.get(), e.mode & 07777) != 0) s = FromErrno("chmod " + tmp, errno);
    timespec times[2] = {{e.mtime, 0}, {e.mtime, 0}};
    if (s.ok() && futimens(fd.get(), times) != 0) s = FromErrno("utimens " + tmp, errno);
    if (s.ok() && fsync(fd.get()) != 0) s = FromErrno("fsync " + tmp, errno);
    if (!s.ok()) {
      fd.Reset();
      unlink(tmp.c_str());
      return s;
    }
  }
  // A directory in the way of a file is not replaced (it may hold someone else's data).
  struct stat st;
  if (lstat(target.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    unlink(tmp.c_str());
    return Status::InvalidArgument(target + " is a directory; overlay wants a file there");
  }
  if (rename(tmp.c_str(), target.c_str()) != 0) {
    Status s = FromErrno("rename " + tmp + " -> " + target, errno);
    unlink(tmp.c_str());
    return s;
  }
  return Status::OK();
}

}  // namespace

Status ApplyOverlay(const std::vector<OverlayEntry>& entries, const ApplyOptions& opts,
                    ApplyReport* report) {
  *report = ApplyReport{};
  // 1. Validate everything first.
  std::set<std::string> seen;
  for (const auto& e : entries) {
    SW_RETURN_IF_ERROR(CheckPath(e.path));
    uint32_t type = e.mode & S_IFMT;
    if (type != S_IFREG && type != S_IFDIR && type != S_IFLNK) {
      return Status::InvalidArgument("overlay entry " + e.path + " has an unsupported file type");
    }
    if (!seen.insert(e.path).second) {
      return Status::InvalidArgument("overlay has " + e.path + " twice");
    }
  }
  const std::string state_path = opts.state_path.empty()
                                     ? JoinPath(opts.root, "var/lib/wwclient/runtime.state")
                                     : opts.state_path;
  SW_ASSIGN_OR_RETURN(auto old_owned, ReadState(state_path));
  auto step = [&](std::string_view label) -> Status {
    return opts.before_step ? opts.before_step(label) : Status::OK();
  };

  std::map<std::string, char> owned;
  // Directories we created earlier stay ours while the overlay still lists them.
  auto ensure_dir = [&](const std::string& rel, const OverlayEntry* e) -> Status {
    std::string full = JoinPath(opts.root, rel);
    struct stat st;
    if (lstat(full.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode)) {
        return Status::InvalidArgument(full + " exists and is not a directory");
      }
      auto it = old_owned.find(rel);
      if (it != old_owned.end() && it->second == 'd') owned[rel] = 'd';
      return Status::OK();
    }
    SW_RETURN_IF_ERROR(step("mkdir " + rel));
    mode_t mode = e ? (e->mode & 07777) : 0755;
    if (mkdir(full.c_str(), mode) != 0 && errno != EEXIST) return FromErrno("mkdir " + full, errno);
    if (e) {
      if (opts.set_owner && lchown(full.c_str(), e->uid, e->gid) != 0) {
        return FromErrno("chown " + full, errno);
      }
      chmod(full.c_str(), mode);  // umask-free
    }
    owned[rel] = 'd';
    ++report->dirs_created;
    return Status::OK();
  };
  std::map<std::string, const OverlayEntry*> dir_entries;
  for (const auto& e : entries) {
    if (S_ISDIR(e.mode)) dir_entries[e.path] = &e;
  }
  auto ensure_parents = [&](const std::string& rel) -> Status {
    size_t pos = 0;
    while ((pos = rel.find('/', pos)) != std::string::npos) {
      std::string parent = rel.substr(0, pos);
      auto it = dir_entries.find(parent);
      SW_RETURN_IF_ERROR(ensure_dir(parent, it == dir_entries.end() ? nullptr : it->second));
      ++pos;
    }
    return Status::OK();
  };

  // 2 + 3. Directories, then files and symlinks, in path order (parents first).
  std::vector<const OverlayEntry*> sorted;
  for (const auto& e : entries) sorted.push_back(&e);
  std::sort(sorted.begin(), sorted.end(),
            [](const OverlayEntry* a, const OverlayEntry* b) { return a->path < b->path; });
  for (const OverlayEntry* e : sorted) {
    SW_RETURN_IF_ERROR(ensure_parents(e->path));
    if (S_ISDIR(e->mode)) {
      SW_RETURN_IF_ERROR(ensure_dir(e->path, e));
      continue;
    }
    std::string target = JoinPath(opts.root, e->path);
    owned[e->path] = S_ISLNK(e->mode) ? 'l' : 'f';
    if (SameFile(target, *e, opts.set_owner)) {
      ++report->unchanged;
      continue;
    }
    SW_RETURN_IF_ERROR(step("file " + e->path));
    SW_RETURN_IF_ERROR(WriteOne(target, *e, opts.set_owner));
    ++report->written;
  }

  // 4. Remove what the previous version owned and this one does not: deepest paths first so
  // directories are empty of our files before we try to remove them.
  std::vector<std::pair<std::string, char>> stale;
  for (const auto& [path, type] : old_owned) {
    if (!owned.count(path)) stale.emplace_back(path, type);
  }
  std::sort(stale.begin(), stale.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (const auto& [path, type] : stale) {
    std::string full = JoinPath(opts.root, path);
    SW_RETURN_IF_ERROR(step("delete " + path));
    struct stat st;
    if (lstat(full.c_str(), &st) != 0) continue;  // already gone (an earlier interrupted run)
    if (type == 'd') {
      if (S_ISDIR(st.st_mode) && rmdir(full.c_str()) == 0) ++report->removed;
      continue;  // not empty: someone else put files there; leave it
    }
    if (S_ISDIR(st.st_mode)) continue;  // replaced by a directory: not ours any more
    if (unlink(full.c_str()) != 0 && errno != ENOENT) return FromErrno("unlink " + full, errno);
    ++report->removed;
  }

  // 5. The new state, last.
  SW_RETURN_IF_ERROR(step("state"));
  std::string state;
  for (const auto& [path, type] : owned) {
    state += type;
    state += ' ';
    state += path;
    state += '\n';
  }
  SW_RETURN_IF_ERROR(MakeDirs(DirName(state_path), 0755));
  return WriteFileAtomic(state_path, state, 0600);
}

}  // namespace sw
