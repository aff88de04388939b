#include "agent/provision.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>
#include <vector>

#include "chunkstore/chunk_id.h"
#include "chunkstore/codec.h"
#include "chunkstore/manifest.h"
#include "chunkstore/newc.h"
#include "common/big_buffer.h"
#include "common/fs_util.h"
#include "common/hex.h"
#include "common/thread_priority.h"

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
Status WriteCacheFile(const std::string& path, ByteSpan data) {
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

// A segment's bytes, reused for segment after segment: a BigBuffer (huge pages, grow-only), so
// the pool's memory is faulted in once and cheaply (page faults one by one are what fresh
// memory per segment costs most, on VMs above all). The pool lives for the whole provision, so
// even a buffer for small segments takes huge pages (warm 1 GB provision, 5 alternating runs:
// medians 0.84 s, against 0.95 s with small segments in heap memory).
class SegmentBuffer {
 public:
  // n bytes to fill; nullopt when the memory cannot be had.
  std::optional<MutableByteSpan> Span(size_t n) {
    if (!buf_.Reserve(std::max(n, BigBuffer::kHugePage)) || !buf_.Resize(n)) return std::nullopt;
    return MutableByteSpan(buf_.data(), n);
  }
  ByteSpan View() const { return {buf_.data(), buf_.size()}; }
  std::string_view Chars() const { return buf_.view(); }

  int users = 0;  // the hasher and/or the unpacker still reading it; guarded by Provision's mutex

 private:
  BigBuffer buf_;
};

// Admits at most `slots` workers at a time to CPU-bound work (reading, decoding, verifying,
// unpacking) and the lowest segment first, since the hasher needs segments in order. Downloads
// wait outside, so many can be in flight while the CPUs are not oversubscribed: more runnable
// workers than CPUs only preempt each other and the hasher.
class CpuGate {
 public:
  explicit CpuGate(int slots) : free_(slots) {}

  // A slot held, or not; given back at the latest when it goes out of scope.
  class Slot {
   public:
    Slot() = default;
    ~Slot() { Release(); }
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    void Take(CpuGate* gate, size_t segment) {
      Release();
      gate->Enter(segment);
      gate_ = gate;
    }
    void Release() {
      if (gate_ != nullptr) gate_->Leave();
      gate_ = nullptr;
    }

   private:
    CpuGate* gate_ = nullptr;
  };

 private:
  void Enter(size_t segment) {
    std::unique_lock<std::mutex> l(mu_);
    waiting_.insert(segment);
    cv_.wait(l, [&] { return free_ > 0 && *waiting_.begin() == segment; });
    waiting_.erase(waiting_.begin());
    if (--free_ > 0 && !waiting_.empty()) cv_.notify_all();
  }
  void Leave() {
    std::lock_guard<std::mutex> l(mu_);
    ++free_;
    if (!waiting_.empty()) cv_.notify_all();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  int free_;                  // GUARDED_BY(mu_)
  std::set<size_t> waiting_;  // GUARDED_BY(mu_)
};

// The CPUs this process may run on.
int UsableCpus() {
  cpu_set_t set;
  if (::sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

// A segment's decoded bytes from the cache, if it has them and they verify: a decoded entry (what
// this version writes) is read straight into `dst`, a block at a time, each block hashed while it
// is still in the CPU's cache; a stored (zstd) one, from older versions, is decoded. A damaged or
// stale entry is removed.
bool ReadCached(const std::string& cpath, const ManifestChunk& c, MutableByteSpan dst,
                std::string* scratch, ChunkHasher* hasher) {
  UniqueFd fd(::open(cpath.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return false;
  struct stat st;
  bool ok = ::fstat(fd.get(), &st) == 0;
  ChunkId got;
  if (ok && static_cast<uint64_t>(st.st_size) == c.raw_size) {
    constexpr size_t kBlock = 256u << 10;
    hasher->Reset();
    for (size_t off = 0; ok && off < dst.size(); off += kBlock) {
      MutableByteSpan b = dst.subspan(off, std::min(kBlock, dst.size() - off));
      ok = PreadAll(fd.get(), b.data(), b.size(), off, cpath).ok();
      hasher->Update(ByteSpan(b));
    }
    got = hasher->Finish();
  } else if (ok) {
    scratch->resize(static_cast<size_t>(st.st_size));
    ok = PreadAll(fd.get(), scratch->data(), scratch->size(), 0, cpath).ok() &&
         DecodeChunkInto(ByteSpan(reinterpret_cast<const uint8_t*>(scratch->data()), scratch->size()), dst).ok();
    if (ok) got = ChunkId::Of(ByteSpan(dst));
  }
  if (ok && got == c.id) return true;
  ::unlink(cpath.c_str());
  return false;
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

  // 2. Workers: read or fetch, verify, cache, unpack, each into a buffer from a pool; a hasher
  // thread feeds the buffers to SHA-256 in manifest order. A worker hands a segment to the
  // hasher as soon as it verified, then unpacks it; the buffer goes back to the pool when both
  // are done with it. The pool bounds memory: a worker takes a free buffer before it claims a
  // segment, so the lowest segment in flight always has one; the few buffers beyond one per
  // worker let the workers run ahead of the hasher (measured: more than a few only cost memory
  // and page faults).
  const int n = std::clamp(opts.parallel, 1, 64);
  const int cpus = UsableCpus();
  std::mutex mu;
  std::condition_variable hash_cv, free_cv;  // the hasher's segment arrived; a buffer is free
  std::vector<std::unique_ptr<SegmentBuffer>> buffers(n + cpus + 2);  // outlive the threads
  std::vector<SegmentBuffer*> free_buffers;      // GUARDED_BY(mu)
  std::map<size_t, SegmentBuffer*> to_hash;      // GUARDED_BY(mu)
  size_t hashing = 0;  // GUARDED_BY(mu): the segment the hasher needs next
  for (auto& b : buffers) {
    b = std::make_unique<SegmentBuffer>();
    free_buffers.push_back(b.get());
  }
  auto done_with = [&](SegmentBuffer* b) {  // mu held
    if (--b->users == 0) {
      free_buffers.push_back(b);
      free_cv.notify_one();
    }
  };
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  Status first_error;
  std::vector<DirMeta> dirs;
  std::atomic<uint64_t> fetched{0}, from_cache{0}, bytes_fetched{0}, entries{0}, skipped{0}, done{0};
  auto fail = [&](Status s) {
    std::lock_guard<std::mutex> l(mu);
    if (first_error.ok()) first_error = std::move(s);
    failed = true;
    hash_cv.notify_all();
    free_cv.notify_all();
  };
  Sha256 sha;
  std::thread hasher([&] {
    SegmentBuffer* buf = nullptr;  // the one just hashed
    for (size_t i = 0; i < m.chunks.size(); ++i) {
      {
        std::unique_lock<std::mutex> l(mu);
        if (buf) done_with(buf);
        hashing = i;
        hash_cv.wait(l, [&] { return failed.load() || to_hash.count(i) != 0; });
        if (failed) return;
        auto it = to_hash.find(i);
        buf = it->second;
        to_hash.erase(it);
      }
      sha.Update(buf->View());
    }
    std::lock_guard<std::mutex> l(mu);
    if (buf) done_with(buf);
  });
  CpuGate gate(cpus);
  auto worker = [&] {
    // The in-order hasher is the serial critical path (SHA-256 of the whole stream runs at
    // ~1.5 GB/s on one core); the workers have slack and yield the CPU to it. Measured on 2
    // vCPUs, warm 1 GiB provision: 1.08 s -> 1.00 s (median of 5) with nice 10; docs/agent.md.
    LowerThisThreadPriority();
    HttpClient http(server, opts.http);
    SegmentWriter writer(opts.root, opts.set_owner);
    std::vector<DirMeta> my_dirs;
    std::string stored;  // a download, reused
    ChunkHasher xxh3;  // for cache reads, block by block
    uint64_t my_entries = 0, my_skipped = 0;
    for (;;) {
      // A buffer first, then a segment: the lowest segment in flight never waits for a buffer.
      SegmentBuffer* buf;
      {
        std::unique_lock<std::mutex> l(mu);
        free_cv.wait(l, [&] {
          return failed.load() || !free_buffers.empty() || next.load() >= m.chunks.size();
        });
        if (failed) return;
        if (free_buffers.empty()) break;  // every segment is claimed
        buf = free_buffers.back();
        free_buffers.pop_back();
      }
      const size_t i = next.fetch_add(1);
      if (i >= m.chunks.size()) {  // every segment is claimed: the buffer goes back, for waiters
        std::lock_guard<std::mutex> l(mu);
        free_buffers.push_back(buf);
        free_cv.notify_all();
        break;
      }
      const ManifestChunk& c = m.chunks[i];
      auto dst = buf->Span(c.raw_size);
      if (!dst) return fail(FromErrno("memory for segment " + c.id.Hex(), errno));
      const std::string cpath = opts.cache_dir.empty() ? "" : CachePath(opts.cache_dir, c.id);
      CpuGate::Slot cpu;
      bool ok = false;
      if (!cpath.empty()) {
        cpu.Take(&gate, i);
        ok = ReadCached(cpath, c, *dst, &stored, &xxh3);
      }
      if (ok) from_cache.fetch_add(1);
      for (int attempt = 0; !ok && attempt < 2; ++attempt) {
        cpu.Release();  // no CPU slot held while downloading
        HttpResult res;
        Status s = http.GetToString("/chunks/" + c.id.Hex(), {}, &stored, &res, 256u << 20);
        if (s.ok() && res.status != 200) s = HttpError("segment " + c.id.Hex(), res.status);
        if (!s.ok()) {
          if (attempt == 1 || s.IsNotFound()) return fail(s);
          http.Close();
          continue;
        }
        bytes_fetched.fetch_add(stored.size());
        cpu.Take(&gate, i);
        ByteSpan got(reinterpret_cast<const uint8_t*>(stored.data()), stored.size());
        if (!DecodeChunkInto(got, *dst).ok() || ChunkId::Of(buf->View()) != c.id) {
          if (attempt == 1) return fail(Status::Corruption("segment " + c.id.Hex() + " failed verification twice"));
          continue;
        }
        ok = true;
        fetched.fetch_add(1);
        if (!cpath.empty()) {  // decoded, so that the next boot reads it without decompressing
          Status cs = MakeDirs(DirName(cpath), 0700);
          if (cs.ok()) cs = WriteCacheFile(cpath, buf->View());
          if (!cs.ok()) return fail(cs.WithContext("segment cache"));
        }
      }
      {  // verified: to the hasher now, while this worker unpacks it
        std::lock_guard<std::mutex> l(mu);
        buf->users = 2;
        to_hash.emplace(i, buf);
        if (i == hashing) hash_cv.notify_one();  // only the one it waits for wakes it
      }
      auto parsed = ParseNewc(buf->Chars());
      if (!parsed.ok()) return fail(parsed.status().WithContext("segment " + std::to_string(i)));
      if (Status s = writer.Write(*parsed, &my_dirs, &my_entries, &my_skipped); !s.ok()) return fail(s);
      cpu.Release();
      {
        std::lock_guard<std::mutex> l(mu);
        done_with(buf);
      }
      uint64_t d = done.fetch_add(1) + 1;
      if (opts.progress) opts.progress(d, m.chunks.size(), bytes_fetched.load());
    }
    std::lock_guard<std::mutex> l(mu);
    free_cv.notify_all();  // workers waiting for a buffer see that every segment is claimed
    dirs.insert(dirs.end(), my_dirs.begin(), my_dirs.end());
    entries.fetch_add(my_entries);
    skipped.fetch_add(my_skipped);
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < n; ++t) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  hasher.join();
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
