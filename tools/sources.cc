#include "tools/sources.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <unordered_map>
#include <unordered_set>

#include "common/fs_util.h"

namespace sw {
namespace {

// ---- path hygiene

// Normalizes an archive path ("./a/b/" -> "a/b"); InvalidArgument for absolute or ".." paths.
Result<std::string> CleanArchivePath(std::string_view raw) {
  std::string p(raw);
  if (!p.empty() && p.front() == '/') {
    return Status::InvalidArgument("archive entry '" + p + "' has an absolute path");
  }
  std::string out;
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find('/', start);
    if (end == std::string::npos) end = p.size();
    std::string_view c(p.data() + start, end - start);
    if (c == "..") return Status::InvalidArgument("archive entry '" + p + "' contains '..'");
    if (!c.empty() && c != ".") {
      if (!out.empty()) out += '/';
      out += c;
    }
    start = end + 1;
  }
  return out;
}

// A tree being assembled from layers: ordered map so subtrees are contiguous ranges.
class LayeredTree {
 public:
  using Map = std::map<std::string, TreeEntry>;

  // Removes `path` and everything below it.
  void RemoveTree(const std::string& path) {
    entries_.erase(path);
    auto lo = entries_.lower_bound(path + "/");
    auto hi = entries_.lower_bound(path + "0");  // '0' == '/' + 1
    entries_.erase(lo, hi);
  }
  // Removes everything below `dir` that is not in `keep` (an opaque directory hides lower
  // layers, not what its own layer already put there: the marker may come after its siblings).
  void RemoveChildren(const std::string& dir, const std::unordered_set<std::string>& keep) {
    auto lo = dir.empty() ? entries_.begin() : entries_.lower_bound(dir + "/");
    auto hi = dir.empty() ? entries_.end() : entries_.lower_bound(dir + "0");
    for (auto it = lo; it != hi;) {
      it = keep.count(it->first) ? std::next(it) : entries_.erase(it);
    }
  }
  // InvalidArgument if a proper ancestor of `path` is a symlink (the entry would land wherever
  // the link points, possibly outside the root) or not a directory.
  Status CheckAncestors(const std::string& path) const {
    size_t pos = 0;
    while ((pos = path.find('/', pos)) != std::string::npos) {
      auto it = entries_.find(path.substr(0, pos));
      if (it != entries_.end()) {
        if (S_ISLNK(it->second.mode)) {
          return Status::InvalidArgument("archive entry '" + path + "' goes through the symlink '" +
                                         it->first + "' (it could escape the image root)");
        }
        if (!S_ISDIR(it->second.mode)) {
          return Status::InvalidArgument("archive entry '" + path + "': '" + it->first +
                                         "' is not a directory");
        }
      }
      ++pos;
    }
    return Status::OK();
  }
  Map& map() { return entries_; }

 private:
  Map entries_;
};

struct ArchiveCloser {
  void operator()(archive* a) const { archive_read_free(a); }
};
using ArchivePtr = std::unique_ptr<archive, ArchiveCloser>;

ArchivePtr OpenArchiveFile(const std::string& path, Status* err) {
  ArchivePtr a(archive_read_new());
  archive_read_support_filter_all(a.get());
  archive_read_support_format_tar(a.get());
  archive_read_support_format_gnutar(a.get());
  if (archive_read_open_filename(a.get(), path.c_str(), 1 << 20) != ARCHIVE_OK) {
    *err = Status::InvalidArgument(path + ": " + archive_error_string(a.get()));
    return nullptr;
  }
  return a;
}

// Appends `len` bytes from the archive's current entry to the spool; returns their offset.
Result<uint64_t> SpoolData(archive* a, int spool_fd, uint64_t* spool_end, int64_t len,
                           const std::string& name) {
  uint64_t start = *spool_end;
  std::string buf(1 << 20, '\0');
  int64_t total = 0;
  for (;;) {
    la_ssize_t n = archive_read_data(a, buf.data(), buf.size());
    if (n < 0) {
      return Status::InvalidArgument("archive entry '" + name + "': " + archive_error_string(a));
    }
    if (n == 0) break;
    SW_RETURN_IF_ERROR(WriteAll(spool_fd, buf.data(), static_cast<size_t>(n), "spool"));
    total += n;
  }
  if (total != len) {
    return Status::InvalidArgument("archive entry '" + name + "' is truncated (" +
                                   std::to_string(total) + " of " + std::to_string(len) +
                                   " bytes)");
  }
  *spool_end += static_cast<uint64_t>(total);
  return start;
}

// Applies one tar layer to the tree. With `whiteouts`, OCI whiteout files are interpreted.
Status ApplyLayer(archive* a, const std::string& label, LayeredTree* tree,
                  const std::shared_ptr<int>& spool, uint64_t* spool_end, bool whiteouts,
                  uint64_t* next_link_key) {
  archive_entry* ae;
  std::unordered_set<std::string> this_layer;  // paths (re)stated by this layer
  for (;;) {
    int r = archive_read_next_header(a, &ae);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
      return Status::InvalidArgument(label + ": corrupt or truncated archive: " +
                                     archive_error_string(a));
    }
    const char* raw_name = archive_entry_pathname(ae);
    if (raw_name == nullptr) return Status::InvalidArgument(label + ": entry without a name");
    SW_ASSIGN_OR_RETURN(std::string path, CleanArchivePath(raw_name));
    if (path.empty()) continue;  // "./" itself
    std::string base = BaseName(path);
    std::string dir = path.find('/') == std::string::npos ? "" : DirName(path);
    if (whiteouts && base.compare(0, 4, ".wh.") == 0) {
      if (base == ".wh..wh..opq") {
        tree->RemoveChildren(dir, this_layer);
      } else {
        std::string victim = (dir.empty() ? "" : dir + "/") + base.substr(4);
        tree->RemoveTree(victim);
      }
      continue;
    }
    SW_RETURN_IF_ERROR(tree->CheckAncestors(path));
    if (whiteouts) this_layer.insert(path);
    TreeEntry e;
    e.path = path;
    e.mode = archive_entry_mode(ae);
    e.uid = static_cast<uint32_t>(archive_entry_uid(ae));
    e.gid = static_cast<uint32_t>(archive_entry_gid(ae));
    e.mtime = archive_entry_mtime(ae);
    if (const char* hl = archive_entry_hardlink(ae); hl != nullptr) {
      SW_ASSIGN_OR_RETURN(std::string target, CleanArchivePath(hl));
      auto it = tree->map().find(target);
      if (it == tree->map().end() || !S_ISREG(it->second.mode)) {
        return Status::InvalidArgument("archive entry '" + path + "' is a hard link to '" + target +
                                       "', which is not a regular file of this archive");
      }
      if (it->second.hardlink_key == 0) it->second.hardlink_key = (*next_link_key)++;
      TreeEntry copy = it->second;
      copy.path = path;
      copy.uid = e.uid;
      copy.gid = e.gid;
      tree->RemoveTree(path);
      tree->map()[path] = std::move(copy);
      continue;
    }
    switch (archive_entry_filetype(ae)) {
      case AE_IFREG: {
        int64_t size = archive_entry_size(ae);
        e.size = static_cast<uint64_t>(size);
        SW_ASSIGN_OR_RETURN(e.spool_offset, SpoolData(a, *spool, spool_end, size, path));
        e.spool = spool;
        break;
      }
      case AE_IFLNK: {
        const char* t = archive_entry_symlink(ae);
        if (t == nullptr || *t == '\0') {
          return Status::InvalidArgument("archive entry '" + path + "': symlink without target");
        }
        e.symlink_target = t;
        break;
      }
      case AE_IFCHR:
      case AE_IFBLK:
        e.rdev_major = static_cast<uint32_t>(archive_entry_rdevmajor(ae));
        e.rdev_minor = static_cast<uint32_t>(archive_entry_rdevminor(ae));
        break;
      case AE_IFDIR: {
        auto it = tree->map().find(path);
        if (it != tree->map().end() && S_ISDIR(it->second.mode)) {
          it->second.mode = e.mode;  // a later layer re-states a directory: keep its children
          it->second.uid = e.uid;
          it->second.gid = e.gid;
          it->second.mtime = e.mtime;
          continue;
        }
        break;
      }
      case AE_IFIFO:
        break;
      default:
        return Status::InvalidArgument("archive entry '" + path + "' has an unsupported type");
    }
    tree->RemoveTree(path);
    tree->map()[path] = std::move(e);
  }
  return Status::OK();
}

// Reads a small file member of an archive (OCI index/manifest JSON) into memory.
Result<std::map<std::string, std::string>> ReadSmallMembers(const std::string& path,
                                                            uint64_t max_size) {
  Status err;
  ArchivePtr a = OpenArchiveFile(path, &err);
  if (!a) return err;
  std::map<std::string, std::string> out;
  archive_entry* ae;
  for (;;) {
    int r = archive_read_next_header(a.get(), &ae);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
      return Status::InvalidArgument(path + ": " + archive_error_string(a.get()));
    }
    if (archive_entry_filetype(ae) != AE_IFREG) continue;
    auto clean = CleanArchivePath(archive_entry_pathname(ae));
    if (!clean.ok()) return clean.status();
    if (static_cast<uint64_t>(archive_entry_size(ae)) > max_size) continue;
    std::string data(static_cast<size_t>(archive_entry_size(ae)), '\0');
    if (archive_read_data(a.get(), data.data(), data.size()) != static_cast<la_ssize_t>(data.size())) {
      return Status::InvalidArgument(path + ": truncated member " + *clean);
    }
    out[*clean] = std::move(data);
  }
  return out;
}

// Minimal JSON string-field scanning for the few OCI/docker fields we need: returns every string
// value of `key` in document order. The inputs are small machine-written documents.
std::vector<std::string> JsonStrings(std::string_view json, std::string_view key) {
  std::vector<std::string> out;
  std::string needle = "\"" + std::string(key) + "\"";
  size_t pos = 0;
  while ((pos = json.find(needle, pos)) != std::string_view::npos) {
    pos += needle.size();
    while (pos < json.size() && (json[pos] == ' ' || json[pos] == ':' || json[pos] == '\n' ||
                                 json[pos] == '\t' || json[pos] == '\r')) {
      ++pos;
    }
    auto read_string = [&](size_t* p) {
      std::string s;
      ++*p;  // opening quote
      while (*p < json.size() && json[*p] != '"') {
        if (json[*p] == '\\' && *p + 1 < json.size()) ++*p;
        s += json[(*p)++];
      }
      ++*p;
      return s;
    };
    if (pos < json.size() && json[pos] == '"') {
      out.push_back(read_string(&pos));
    } else if (pos < json.size() && json[pos] == '[') {
      size_t end = json.find(']', pos);
      while (pos < end) {
        if (json[pos] == '"') {
          out.push_back(read_string(&pos));
        } else {
          ++pos;
        }
      }
    }
  }
  return out;
}

std::string BlobPath(const std::string& digest) {
  size_t colon = digest.find(':');
  if (colon == std::string::npos) return "";
  return "blobs/" + digest.substr(0, colon) + "/" + digest.substr(colon + 1);
}

Status WalkDirectory(const std::string& root, const std::string& rel, dev_t root_dev,
                     const Excludes& ex, std::unordered_map<uint64_t, uint64_t>* links,
                     uint64_t* next_key, SourceTree* out) {
  std::string dir = rel.empty() ? root : root + "/" + rel;
  // Entries are looked up relative to their directory's descriptor: one path walk per
  // directory instead of two per file (the walk is the serial start of every import).
  UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dfd) return FromErrno("opendir " + dir, errno);
  SW_ASSIGN_OR_RETURN(auto names, ListDir(dfd.get(), dir));
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    std::string child = rel.empty() ? n : rel + "/" + n;
    if (ex.Excluded(child)) {
      ++out->excluded;
      continue;
    }
    std::string full = root + "/" + child;
    struct stat st;
    if (::fstatat(dfd.get(), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return FromErrno("cannot stat " + full, errno);
    }
    TreeEntry e;
    e.path = child;
    e.mode = st.st_mode;
    e.uid = st.st_uid;
    e.gid = st.st_gid;
    e.mtime = st.st_mtime;
    e.st_dev = st.st_dev;
    e.st_ino = st.st_ino;
    e.mtime_ns = st.st_mtim.tv_sec * 1000000000ll + st.st_mtim.tv_nsec;
    e.ctime_ns = st.st_ctim.tv_sec * 1000000000ll + st.st_ctim.tv_nsec;
    if (S_ISREG(st.st_mode)) {
      e.size = static_cast<uint64_t>(st.st_size);
      e.source_path = full;
      if (::faccessat(dfd.get(), n.c_str(), R_OK, 0) != 0) {
        return FromErrno("cannot read " + full, errno);
      }
      if (st.st_nlink > 1) {
        uint64_t id = (static_cast<uint64_t>(st.st_dev) << 40) ^ st.st_ino;
        auto [it, fresh] = links->emplace(id, 0);
        if (fresh) it->second = (*next_key)++;
        e.hardlink_key = it->second;
      }
    } else if (S_ISLNK(st.st_mode)) {
      auto target = ReadSymlink(n, dfd.get());
      if (!target.ok()) return target.status().WithContext(full);
      e.symlink_target = std::move(*target);
    } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
      e.rdev_major = major(st.st_rdev);
      e.rdev_minor = minor(st.st_rdev);
    }
    bool descend = S_ISDIR(st.st_mode) && st.st_dev == root_dev;  // other mounts: dir only
    out->entries.push_back(std::move(e));
    if (descend) SW_RETURN_IF_ERROR(WalkDirectory(root, child, root_dev, ex, links, next_key, out));
  }
  return Status::OK();
}

Result<std::shared_ptr<int>> OpenSpool(const std::string& dir) {
  SW_RETURN_IF_ERROR(MakeDirs(dir, 0700));
  int fd = ::open(dir.c_str(), O_RDWR | O_TMPFILE | O_CLOEXEC, 0600);
  if (fd < 0) {
    std::string p = dir + "/spool." + RandomHex(6);
    fd = ::open(p.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return FromErrno("create spool in " + dir, errno);
    ::unlink(p.c_str());
  }
  return std::shared_ptr<int>(new int(fd), [](int* p) {
    ::close(*p);
    delete p;
  });
}

void ApplyExcludes(const Excludes& ex, SourceTree* t) {
  std::vector<TreeEntry> kept;
  std::string pruned;  // a directory being pruned (children follow it in map order)
  for (auto& e : t->entries) {
    if (!pruned.empty() && e.path.compare(0, pruned.size() + 1, pruned + "/") == 0) {
      ++t->excluded;
      continue;
    }
    pruned.clear();
    if (ex.Excluded(e.path)) {
      ++t->excluded;
      if (S_ISDIR(e.mode)) pruned = e.path;
      continue;
    }
    kept.push_back(std::move(e));
  }
  t->entries = std::move(kept);
}

}  // namespace

const char* SourceKindName(SourceKind k) {
  switch (k) {
    case SourceKind::kDirectory:
      return "directory";
    case SourceKind::kTar:
      return "tar";
    case SourceKind::kOciLayout:
      return "OCI layout";
    case SourceKind::kDockerSave:
      return "docker save";
  }
  return "?";
}

Result<SourceTree> ReadSource(const std::string& source, const std::vector<std::string>& extra,
                              bool default_excludes, const std::string& spool_dir) {
  Excludes ex;
  if (default_excludes) ex.AddDefaults();
  for (const auto& p : extra) ex.Add(p);
  struct stat st;
  if (::stat(source.c_str(), &st) != 0) return FromErrno("image source " + source, errno);
  SourceTree out;
  bool oci_dir = S_ISDIR(st.st_mode) && ::access((source + "/index.json").c_str(), F_OK) == 0 &&
                 ::access((source + "/oci-layout").c_str(), F_OK) == 0;
  if (S_ISDIR(st.st_mode) && !oci_dir) {
    out.kind = SourceKind::kDirectory;
    if (auto text = ReadFileToString(source + "/etc/warewulf/excludes"); text.ok()) {
      ex.AddFile(*text);
    }
    std::unordered_map<uint64_t, uint64_t> links;
    uint64_t next_key = 1;
    SW_RETURN_IF_ERROR(WalkDirectory(source, "", st.st_dev, ex, &links, &next_key, &out));
    return out;
  }

  // Archive sources: find the layers.
  SW_ASSIGN_OR_RETURN(auto spool, OpenSpool(spool_dir));
  uint64_t spool_end = 0;
  uint64_t next_key = 1;
  LayeredTree tree;
  std::vector<std::pair<std::string, std::string>> layers;  // (label, file path)
  std::vector<std::string> temp_files;
  auto cleanup = [&] {
    for (const auto& f : temp_files) ::unlink(f.c_str());
  };
  std::map<std::string, std::string> members;
  if (oci_dir) {
    out.kind = SourceKind::kOciLayout;
    SW_ASSIGN_OR_RETURN(std::string index, ReadFileToString(source + "/index.json"));
    auto manifests = JsonStrings(index, "digest");
    if (manifests.empty()) return Status::InvalidArgument(source + ": index.json lists no manifest");
    SW_ASSIGN_OR_RETURN(std::string manifest,
                        ReadFileToString(source + "/" + BlobPath(manifests[0])));
    // Layers are the "digest"s after "layers" (the first digest is the config).
    size_t lpos = manifest.find("\"layers\"");
    if (lpos == std::string::npos) return Status::InvalidArgument(source + ": manifest without layers");
    for (const auto& d : JsonStrings(std::string_view(manifest).substr(lpos), "digest")) {
      layers.emplace_back(d, source + "/" + BlobPath(d));
    }
  } else {
    // A tar: plain root filesystem, or an OCI layout / docker save packed as tar.
    SW_ASSIGN_OR_RETURN(members, ReadSmallMembers(source, 16 << 20));
    bool has_oci = members.count("oci-layout") && members.count("index.json");
    bool has_docker = members.count("manifest.json") && !has_oci;
    if (has_oci || has_docker) {
      std::vector<std::string> names;
      if (has_oci) {
        out.kind = SourceKind::kOciLayout;
        auto manifests = JsonStrings(members["index.json"], "digest");
        if (manifests.empty()) return Status::InvalidArgument(source + ": index.json lists no manifest");
        std::string manifest = members[BlobPath(manifests[0])];
        size_t lpos = manifest.find("\"layers\"");
        if (lpos == std::string::npos) return Status::InvalidArgument(source + ": manifest without layers");
        for (const auto& d : JsonStrings(std::string_view(manifest).substr(lpos), "digest")) {
          names.push_back(BlobPath(d));
        }
      } else {
        out.kind = SourceKind::kDockerSave;
        names = JsonStrings(members["manifest.json"], "Layers");
      }
      if (names.empty()) return Status::InvalidArgument(source + ": no layers found");
      // Extract each layer blob to a temp file (layers are archives inside the archive).
      Status err;
      ArchivePtr a = OpenArchiveFile(source, &err);
      if (!a) return err;
      std::map<std::string, std::string> extracted;
      archive_entry* ae;
      while (archive_read_next_header(a.get(), &ae) == ARCHIVE_OK) {
        auto clean = CleanArchivePath(archive_entry_pathname(ae));
        if (!clean.ok()) return clean.status();
        if (std::find(names.begin(), names.end(), *clean) == names.end()) continue;
        std::string tmp = spool_dir + "/layer." + RandomHex(6);
        UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
        if (!fd) return FromErrno("create " + tmp, errno);
        temp_files.push_back(tmp);
        uint64_t end = 0;
        auto r = SpoolData(a.get(), fd.get(), &end, archive_entry_size(ae), *clean);
        if (!r.ok()) {
          cleanup();
          return r.status();
        }
        extracted[*clean] = tmp;
      }
      for (const auto& n : names) {
        if (!extracted.count(n)) {
          cleanup();
          return Status::InvalidArgument(source + ": layer " + n + " is missing from the archive");
        }
        layers.emplace_back(n, extracted[n]);
      }
    } else {
      out.kind = SourceKind::kTar;
      layers.emplace_back(source, source);
    }
  }
  bool whiteouts = out.kind != SourceKind::kTar;
  for (const auto& [label, file] : layers) {
    Status err;
    ArchivePtr a = OpenArchiveFile(file, &err);
    if (!a) {
      cleanup();
      return err;
    }
    Status s = ApplyLayer(a.get(), label, &tree, spool, &spool_end, whiteouts, &next_key);
    if (!s.ok()) {
      cleanup();
      return s;
    }
  }
  cleanup();
  for (auto& [path, e] : tree.map()) out.entries.push_back(std::move(e));
  for (const auto& e : out.entries) {
    if (e.path == "etc/warewulf/excludes" && S_ISREG(e.mode)) {
      std::string text(e.size, '\0');
      if (::pread(*e.spool, text.data(), text.size(), static_cast<off_t>(e.spool_offset)) ==
          static_cast<ssize_t>(text.size())) {
        ex.AddFile(text);
      }
    }
  }
  ApplyExcludes(ex, &out);
  return out;
}

Result<const TreeEntry*> FindKernel(const std::vector<TreeEntry>& entries, std::string* version) {
  const TreeEntry* best = nullptr;
  std::string best_ver;
  auto consider = [&](const TreeEntry& e, const std::string& ver) {
    if (ver.find("+debug") != std::string::npos || ver.find("-rescue") != std::string::npos) return;
    if (best == nullptr || strverscmp(ver.c_str(), best_ver.c_str()) > 0) {
      best = &e;
      best_ver = ver;
    }
  };
  for (const auto& e : entries) {
    if (!S_ISREG(e.mode)) continue;
    if (e.path.compare(0, 13, "boot/vmlinuz-") == 0 && e.path.find('/', 5) == std::string::npos) {
      consider(e, e.path.substr(13));
    }
  }
  if (best == nullptr) {
    for (const auto& e : entries) {
      if (!S_ISREG(e.mode)) continue;
      if (e.path.compare(0, 12, "lib/modules/") == 0 && BaseName(e.path) == "vmlinuz") {
        std::string mid = e.path.substr(12);
        consider(e, mid.substr(0, mid.find('/')));
      }
    }
  }
  if (best == nullptr) return Status::NotFound("no kernel in the image (boot/vmlinuz-*)");
  *version = best_ver;
  return best;
}

Status WriteEntryContent(const TreeEntry& e, const std::string& path) {
  UniqueFd out(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!out) return FromErrno("create " + path, errno);
  return ReadEntryContent(e, [&](std::string_view block) {
    return WriteAll(out.get(), block.data(), block.size(), path);
  });
}

}  // namespace sw
