#include "agent/provision.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "chunkstore/chunk_id.h"
#include "chunkstore/codec.h"
#include "chunkstore/manifest.h"
#include "chunkstore/newc.h"
#include "common/fs_util.h"
#include "common/hex.h"

namespace sw {
namespace {

// A relative path without ".." components (the image builder never writes anything else).
bool SafePath(const std::string& name) {
  if (name.empty() || name[0] == '/') return false;
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('/', start);
    if (end == std::string::npos) end = name.size();
    if (name.compare(start, end - start, "..") == 0 && end - start == 2) return false;
    start = end + 1;
  }
  return true;
}

struct DirMeta {
  std::string path;
  uint32_t mode, uid, gid, mtime;
};

// Unpacks one segment (a complete newc archive) into root.
class SegmentWriter {
 public:
  SegmentWriter(const std::string& root, bool set_owner) : root_(root), set_owner_(set_owner) {}

  Status Write(const std::vector<NewcEntry>& entries, std::vector<DirMeta>* dirs,
               uint64_t* written, uint64_t* skipped_devices) {
    // Hard links: one member of an inode group carries the data; the others link to it.
    std::unordered_map<uint32_t, std::string> linked;
    std::unordered_map<uint32_t, std::vector<std::string>> waiting;
    for (const auto& e : entries) {
      if (!SafePath(e.name)) return Status::Corruption("image entry with an unsafe path: " + e.name);
      if (e.name == ".") continue;
      const std::string path = root_ + "/" + e.name;
      const uint32_t type = e.h.mode & S_IFMT;
      const mode_t perm = e.h.mode & 07777;
      if (type == S_IFDIR) {
        if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
          if (errno != ENOENT) return FromErrno("mkdir " + path, errno);
          SW_RETURN_IF_ERROR(MakeDirs(path, 0755));
        }
        dirs->push_back({path, perm, e.h.uid, e.h.gid, e.h.mtime});
        ++*written;
        continue;
      }
      SW_RETURN_IF_ERROR(ClearPath(path));
      if (type == S_IFREG) {
        if (e.h.nlink > 1 && e.h.filesize == 0) {
          auto it = linked.find(e.h.ino);
          if (it == linked.end()) {
            waiting[e.h.ino].push_back(path);
            continue;
          }
          SW_RETURN_IF_ERROR(Link(it->second, path));
          ++*written;
          continue;
        }
        SW_RETURN_IF_ERROR(WriteFile(path, e, perm));
        if (e.h.nlink > 1) {
          linked.emplace(e.h.ino, path);
          for (const auto& other : waiting[e.h.ino]) SW_RETURN_IF_ERROR(Link(path, other));
          waiting.erase(e.h.ino);
        }
      } else if (type == S_IFLNK) {
        std::string target(e.data);
        if (::symlink(target.c_str(), path.c_str()) != 0) {
          if (errno != ENOENT) return FromErrno("symlink " + path, errno);
          SW_RETURN_IF_ERROR(MakeDirs(DirName(path), 0755));
          if (::symlink(target.c_str(), path.c_str()) != 0) return FromErrno("symlink " + path, errno);
        }
        if (set_owner_) (void)::lchown(path.c_str(), e.h.uid, e.h.gid);
        timespec ts[2] = {{static_cast<time_t>(e.h.mtime), 0}, {static_cast<time_t>(e.h.mtime), 0}};
        (void)::utimensat(AT_FDCWD, path.c_str(), ts, AT_SYMLINK_NOFOLLOW);
      } else if (type == S_IFCHR || type == S_IFBLK || type == S_IFIFO || type == S_IFSOCK) {
        if (!set_owner_) {
          ++*skipped_devices;
          continue;
        }
        dev_t dev = makedev(e.h.rdevmajor, e.h.rdevminor);
        if (::mknod(path.c_str(), type | perm, dev) != 0) {
          if (errno != ENOENT) return FromErrno("mknod " + path, errno);
          SW_RETURN_IF_ERROR(MakeDirs(DirName(path), 0755));
          if (::mknod(path.c_str(), type | perm, dev) != 0) return FromErrno("mknod " + path, errno);
        }
        (void)::lchown(path.c_str(), e.h.uid, e.h.gid);
      } else {
        return Status::Corruption("image entry of unknown type: " + e.name);
      }
      ++*written;
    }
    for (const auto& [ino, paths] : waiting) {  // groups whose data member never came: empty files
      for (const auto& p : paths) {
        NewcEntry empty;
        empty.h.mode = S_IFREG | 0644;
        SW_RETURN_IF_ERROR(WriteFile(p, empty, 0644));
      }
    }
    return Status::OK();
  }

 private:
  // A path about to be written must not be an old file, link or empty directory in the way.
  static Status ClearPath(const std::string& path) {
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) return Status::OK();
    if (S_ISDIR(st.st_mode)) {
      if (::rmdir(path.c_str()) != 0) return FromErrno("replace directory " + path, errno);
    } else if (::unlink(path.c_str()) != 0) {
      return FromErrno("replace " + path, errno);
    }
    return Status::OK();
  }

  Status Link(const std::string& from, const std::string& to) {
    if (::link(from.c_str(), to.c_str()) != 0) return FromErrno("link " + to, errno);
    return Status::OK();
  }

  Status WriteFile(const std::string& path, const NewcEntry& e, mode_t perm) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd && errno == ENOENT) {
      SW_RETURN_IF_ERROR(MakeDirs(DirName(path), 0755));
      fd = UniqueFd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
    }
    if (!fd) return FromErrno("create " + path, errno);
    SW_RETURN_IF_ERROR(WriteAll(fd.get(), e.data.data(), e.data.size(), path));
    if (set_owner_ && ::fchown(fd.get(), e.h.uid, e.h.gid) != 0) return FromErrno("chown " + path, errno);
    if (::fchmod(fd.get(), perm) != 0) return FromErrno("chmod " + path, errno);
    timespec ts[2] = {{static_cast<time_t>(e.h.mtime), 0}, {static_cast<time_t>(e.h.mtime), 0}};
    (void)::futimens(fd.get(), ts);
    return Status::OK();
  }

  std::string root_;
  bool set_owner_;
};

// A cache entry: temp + rename, no fsync. Entries are verified on every read, so a torn or empty
// file after a crash only costs one download.
Status WriteCacheFile(const std::string& path, const std::string& data) {
  std::string tmp = path + ".tmp." + RandomHex(4);
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd) return FromErrno("create " + tmp, errno);
  Status s = WriteAll(fd.get(), data.data(), data.size(), tmp);
  fd.Reset();
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) s = FromErrno("rename " + tmp, errno);
  if (!s.ok()) ::unlink(tmp.c_str());
  return s;
}

std::string CachePath(const std::string& dir, const ChunkId& id) {
  std::string hex = id.Hex();
  return dir + "/" + hex.substr(0, 2) + "/" + hex;
}

// The HTTP status of an answer that is not 200, as a Status.
Status HttpError(const std::string& what, int status) {
  std::string msg = what + ": HTTP " + std::to_string(status);
  if (status == 404 || status == 400) return Status::NotFound(msg);
  if (status == 401 || status == 403) return Status::InvalidArgument(msg + " (asset key or access)");
  return Status::Unavailable(msg);
}

}  // namespace

Status Provision(const HttpUrl& server, const std::string& wwid, const ProvisionOptions& opts,
                 ProvisionReport* report) {
  *report = ProvisionReport{};
  if (opts.root.empty()) return Status::InvalidArgument("no root directory");
  SW_RETURN_IF_ERROR(MakeDirs(opts.root, 0755));
  if (!opts.cache_dir.empty()) SW_RETURN_IF_ERROR(MakeDirs(opts.cache_dir, 0700));

  // 1. The manifest.
  Manifest m;
  {
    HttpClient http(server, opts.http);
    std::string body;
    HttpResult res;
    std::string path = "/image/" + wwid + "?manifest=1" + (opts.query.empty() ? "" : "&" + opts.query);
    SW_RETURN_IF_ERROR(http.GetToString(path, {}, &body, &res, 64u << 20));
    if (res.status != 200) return HttpError("image manifest for " + wwid, res.status);
    SW_ASSIGN_OR_RETURN(m, Manifest::Decode(std::string_view(body)));
  }
  if (m.kind != ArtifactKind::kImage) return Status::Corruption("the manifest is not an image's");
  report->segments = m.chunks.size();
  report->raw_bytes = m.total_raw_size;

  // 2. Workers: fetch or read, verify, cache, unpack; SHA-256 in manifest order.
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  std::condition_variable turn_cv;
  size_t sha_next = 0;  // GUARDED_BY(mu)
  Sha256 sha;
  Status first_error;
  std::vector<DirMeta> dirs;
  std::atomic<uint64_t> fetched{0}, from_cache{0}, bytes_fetched{0}, entries{0}, skipped{0}, done{0};
  auto fail = [&](Status s) {
    std::lock_guard<std::mutex> l(mu);
    if (first_error.ok()) first_error = std::move(s);
    failed = true;
    turn_cv.notify_all();
  };
  auto worker = [&] {
    HttpClient http(server, opts.http);
    SegmentWriter writer(opts.root, opts.set_owner);
    std::vector<DirMeta> my_dirs;
    uint64_t my_entries = 0, my_skipped = 0;
    for (size_t i; !failed && (i = next.fetch_add(1)) < m.chunks.size();) {
      const ManifestChunk& c = m.chunks[i];
      const std::string cpath = opts.cache_dir.empty() ? "" : CachePath(opts.cache_dir, c.id);
      std::string stored, raw;
      bool ok = false;
      if (!cpath.empty()) {
        auto cached = ReadFileToString(cpath);
        if (cached.ok()) {
          auto dec = DecodeChunk(ByteSpan(reinterpret_cast<const uint8_t*>(cached->data()), cached->size()),
                                 c.raw_size);
          if (dec.ok() && ChunkId::Of(*dec) == c.id) {
            raw = std::move(*dec);
            ok = true;
            from_cache.fetch_add(1);
          } else {
            ::unlink(cpath.c_str());  // a damaged cache entry: fetch it again
          }
        }
      }
      for (int attempt = 0; !ok && attempt < 2; ++attempt) {
        HttpResult res;
        stored.clear();
        Status s = http.GetToString("/chunks/" + c.id.Hex(), {}, &stored, &res, 256u << 20);
        if (s.ok() && res.status != 200) s = HttpError("segment " + c.id.Hex(), res.status);
        if (!s.ok()) {
          if (attempt == 1 || s.IsNotFound()) return fail(s);
          http.Close();
          continue;
        }
        bytes_fetched.fetch_add(stored.size());
        auto dec = DecodeChunk(ByteSpan(reinterpret_cast<const uint8_t*>(stored.data()), stored.size()),
                               c.raw_size);
        if (!dec.ok() || ChunkId::Of(*dec) != c.id) {
          if (attempt == 1) return fail(Status::Corruption("segment " + c.id.Hex() + " failed verification twice"));
          continue;
        }
        raw = std::move(*dec);
        ok = true;
        fetched.fetch_add(1);
        if (!cpath.empty()) {
          Status cs = MakeDirs(DirName(cpath), 0700);
          if (cs.ok()) cs = WriteCacheFile(cpath, stored);
          if (!cs.ok()) return fail(cs.WithContext("segment cache"));
        }
      }
      auto parsed = ParseNewc(raw);
      if (!parsed.ok()) return fail(parsed.status().WithContext("segment " + std::to_string(i)));
      if (Status s = writer.Write(*parsed, &my_dirs, &my_entries, &my_skipped); !s.ok()) return fail(s);
      {
        std::unique_lock<std::mutex> l(mu);
        turn_cv.wait(l, [&] { return sha_next == i || failed.load(); });
        if (failed) return;
        sha.Update(ByteSpan(reinterpret_cast<const uint8_t*>(raw.data()), raw.size()));
        ++sha_next;
        turn_cv.notify_all();
      }
      uint64_t d = done.fetch_add(1) + 1;
      if (opts.progress) opts.progress(d, m.chunks.size(), bytes_fetched.load());
    }
    std::lock_guard<std::mutex> l(mu);
    dirs.insert(dirs.end(), my_dirs.begin(), my_dirs.end());
    entries.fetch_add(my_entries);
    skipped.fetch_add(my_skipped);
  };
  std::vector<std::thread> pool;
  int n = std::clamp(opts.parallel, 1, 64);
  for (int t = 0; t < n; ++t) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  if (!first_error.ok()) return first_error;

  // 3. The whole stream, then directory metadata (deepest first, after their contents).
  auto digest = sha.Finish();
  if (digest != m.sha256) {
    return Status::Corruption("image SHA-256 mismatch: got " + HexEncode(digest.data(), digest.size()) +
                              ", manifest says " + m.Sha256Hex());
  }
  std::sort(dirs.begin(), dirs.end(),
            [](const DirMeta& a, const DirMeta& b) { return a.path.size() > b.path.size(); });
  for (const auto& d : dirs) {
    if (opts.set_owner && ::chown(d.path.c_str(), d.uid, d.gid) != 0) return FromErrno("chown " + d.path, errno);
    if (::chmod(d.path.c_str(), d.mode) != 0) return FromErrno("chmod " + d.path, errno);
    timespec ts[2] = {{static_cast<time_t>(d.mtime), 0}, {static_cast<time_t>(d.mtime), 0}};
    (void)::utimensat(AT_FDCWD, d.path.c_str(), ts, 0);
  }
  report->fetched = fetched;
  report->from_cache = from_cache;
  report->bytes_fetched = bytes_fetched;
  report->entries = entries;
  report->skipped_devices = skipped;
  report->sha256 = m.Sha256Hex();
  return Status::OK();
}

}  // namespace sw
