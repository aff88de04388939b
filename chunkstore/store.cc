// Layout and crash-safety argument: docs/formats/store.md.
#include "chunkstore/store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <set>

#include "chunkstore/codec.h"
#include "common/fs_util.h"
#include "common/log.h"

namespace sw {
namespace {

constexpr char kMarker[] = "STORMWULF-STORE";
constexpr char kMarkerText[] = "stormwulf chunk store, layout version 1\n";

bool IsDir(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Content-addressed files never change once written: an existing name is already right.
// Otherwise the write goes through a temp file in tmp/ (temp, fsync, rename, fsync dir); two
// writers racing on one id rename identical bytes.
Status WriteContentFile(const std::string& tmp_dir, const std::string& path, ByteSpan data) {
  if (::access(path.c_str(), F_OK) == 0) return Status::OK();
  SW_RETURN_IF_ERROR(MakeDirs(DirName(path), 0755));
  return WriteFileAtomic(path,
                         std::string_view(reinterpret_cast<const char*>(data.data()), data.size()),
                         0644, tmp_dir);
}

Result<StoreLock> Lock(const std::string& path, int op) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!fd) return FromErrno("open " + path, errno);
  while (::flock(fd.get(), op) != 0) {
    if (errno == EINTR) continue;
    if (errno == EWOULDBLOCK) return Status::Unavailable("store is in use by a writer: " + path);
    return FromErrno("flock " + path, errno);
  }
  return StoreLock(std::move(fd));
}

bool ValidComponent(std::string_view c) {
  if (c.empty() || c == "." || c == ".." || c.size() > 200) return false;
  for (char ch : c) {
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == ':' || ch == '@' || ch == '+' || ch == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

Result<std::unique_ptr<Store>> Store::Open(const std::string& root, const StoreOptions& opts) {
  if (root.empty()) return Status::InvalidArgument("empty store path");
  std::string marker = JoinPath(root, kMarker);
  bool exists = ::access(marker.c_str(), F_OK) == 0;
  if (!exists) {
    if (IsDir(root)) {
      auto names = ListDir(root);
      if (!names.ok()) return names.status();
      if (!names->empty()) {
        return Status::InvalidArgument(root + " is not a Stormwulf store (no " + kMarker +
                                       ") and not empty");
      }
    } else if (::access(root.c_str(), F_OK) == 0) {
      return Status::InvalidArgument(root + " exists and is not a directory");
    }
    if (!opts.create) {
      return Status::NotFound("no store at " + root + " (create one with `swctl image import`)");
    }
    for (const char* sub : {"chunks", "manifests", "refs", "tmp", "cache", "state"}) {
      SW_RETURN_IF_ERROR(MakeDirs(JoinPath(root, sub), 0755));
    }
    SW_RETURN_IF_ERROR(WriteFileAtomic(marker, kMarkerText, 0644));
  }
  for (const char* sub : {"chunks", "manifests", "refs", "tmp", "cache", "state"}) {
    SW_RETURN_IF_ERROR(MakeDirs(JoinPath(root, sub), 0755));
  }
  // Runtime overlays hold secrets (shadow, keys): nothing under the store is readable by other
  // users. The root directory closes the whole tree; stores made before this get it too.
  struct stat st;
  if (::stat(root.c_str(), &st) == 0 && (st.st_mode & 0007) != 0 && st.st_uid == geteuid()) {
    ::chmod(root.c_str(), st.st_mode & 0770);
  }
  return std::unique_ptr<Store>(new Store(root));
}

std::string Store::DefaultRoot(const std::string& flag_value) {
  if (!flag_value.empty()) return flag_value;
  if (const char* env = std::getenv("STORMWULF_STORE"); env != nullptr && env[0] != '\0') {
    return env;
  }
  return "/var/lib/stormwulf/store";
}

std::string Store::ChunkPath(const ChunkId& id) const {
  std::string hex = id.Hex();
  return root_ + "/chunks/" + hex.substr(0, 2) + "/" + hex;
}
std::string Store::GzChunkPath(const ChunkId& id) const { return ChunkPath(id) + ".gz"; }
std::string Store::ManifestPath(const ChunkId& id) const {
  std::string hex = id.Hex();
  return root_ + "/manifests/" + hex.substr(0, 2) + "/" + hex;
}
std::string Store::RefPath(std::string_view ref) const { return root_ + "/refs/" + std::string(ref); }
std::string Store::TmpDir() const { return root_ + "/tmp"; }

Result<bool> Store::HasChunk(const ChunkId& id) const {
  std::string p = ChunkPath(id);
  if (::access(p.c_str(), F_OK) == 0) return true;
  if (errno == ENOENT) return false;
  return FromErrno("access " + p, errno);
}

Status Store::PutChunk(const ChunkId& id, ByteSpan stored) {
  return WriteContentFile(TmpDir(), ChunkPath(id), stored);
}

Result<std::string> Store::ReadChunkStored(const ChunkId& id) const {
  return ReadFileToString(ChunkPath(id));
}

Result<std::string> Store::ReadChunkRaw(const ChunkId& id, bool verify) const {
  SW_ASSIGN_OR_RETURN(std::string stored, ReadChunkStored(id));
  auto raw = DecodeChunk(ByteSpan(reinterpret_cast<const uint8_t*>(stored.data()), stored.size()));
  if (!raw.ok()) return raw.status().WithContext("chunk " + id.Hex());
  if (verify && ChunkId::Of(*raw) != id) {
    return Status::Corruption("chunk " + id.Hex() + " does not hash to its id");
  }
  return raw;
}

Result<ChunkId> Store::PutManifest(const Manifest& m) {
  std::string bytes = m.Encode();
  ChunkId id = ChunkId::Of(bytes);
  SW_RETURN_IF_ERROR(WriteContentFile(
      TmpDir(), ManifestPath(id),
      ByteSpan(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size())));
  return id;
}

Result<Manifest> Store::GetManifest(const ChunkId& id) const {
  SW_ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(ManifestPath(id)));
  if (ChunkId::Of(bytes) != id) {
    return Status::Corruption("manifest " + id.Hex() + " does not hash to its id");
  }
  auto m = Manifest::Decode(bytes);
  if (!m.ok()) return m.status().WithContext("manifest " + id.Hex());
  return m;
}

Result<bool> Store::HasManifest(const ChunkId& id) const {
  std::string p = ManifestPath(id);
  if (::access(p.c_str(), F_OK) == 0) return true;
  if (errno == ENOENT) return false;
  return FromErrno("access " + p, errno);
}

Status Store::ValidateRefName(std::string_view ref) {
  size_t slash = ref.find('/');
  if (slash == std::string_view::npos) {
    return Status::InvalidArgument("ref name must be <kind>/<name>: '" + std::string(ref) + "'");
  }
  std::string_view kind = ref.substr(0, slash);
  if (kind != "images" && kind != "kernels" && kind != "overlays" && kind != "modules") {
    return Status::InvalidArgument("unknown ref kind '" + std::string(kind) + "'");
  }
  std::string_view rest = ref.substr(slash + 1);
  size_t start = 0;
  while (start <= rest.size()) {
    size_t end = rest.find('/', start);
    if (end == std::string_view::npos) end = rest.size();
    std::string_view comp = rest.substr(start, end - start);
    if (!ValidComponent(comp) || comp.find(".tmp.") != std::string_view::npos) {
      return Status::InvalidArgument("bad ref name '" + std::string(ref) + "'");
    }
    start = end + 1;
  }
  return Status::OK();
}

Status Store::SetRef(std::string_view ref, const ChunkId& manifest) {
  SW_RETURN_IF_ERROR(ValidateRefName(ref));
  std::string path = RefPath(ref);
  SW_RETURN_IF_ERROR(MakeDirs(DirName(path), 0755));
  SW_RETURN_IF_ERROR(WriteFileAtomic(path, manifest.Hex() + "\n", 0644));
  BumpRefsGeneration();
  return Status::OK();
}

namespace {
// The refs-generation file holds a decimal number and a newline. It only grows, so a new value
// written at offset 0 always covers the old one.
uint64_t ParseGeneration(const char* buf, ssize_t n) {
  uint64_t v = 0;
  for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; ++i) v = v * 10 + (buf[i] - '0');
  return v;
}
}  // namespace

Result<uint64_t> Store::RefsGeneration() const {
  const std::string path = root_ + "/refs-generation";
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return uint64_t{0};
    return FromErrno("open " + path, errno);
  }
  char buf[32];
  ssize_t n = ::pread(fd.get(), buf, sizeof(buf), 0);
  if (n < 0) return FromErrno("read " + path, errno);
  return ParseGeneration(buf, n);
}

void Store::BumpRefsGeneration() {
  const std::string path = root_ + "/refs-generation";
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  Status s;
  if (!fd || ::flock(fd.get(), LOCK_EX) != 0) {
    s = FromErrno("open " + path, errno);
  } else {
    char buf[32];
    ssize_t n = ::pread(fd.get(), buf, sizeof(buf), 0);
    std::string next = std::to_string(ParseGeneration(buf, std::max<ssize_t>(n, 0)) + 1) + "\n";
    if (::pwrite(fd.get(), next.data(), next.size(), 0) != static_cast<ssize_t>(next.size())) {
      s = FromErrno("write " + path, errno);
    }
  }  // closing fd releases the flock
  if (!s.ok()) {
    LOG(WARNING) << s.ToString() << ": a running stormwulfd may serve the old refs for up to 30 s";
  }
}

Result<ChunkId> Store::GetRef(std::string_view ref) const {
  SW_RETURN_IF_ERROR(ValidateRefName(ref));
  auto text = ReadFileToString(RefPath(ref));
  if (!text.ok()) {
    if (!text.status().IsNotFound()) return text.status();
    SW_ASSIGN_OR_RETURN(auto packed, LoadPackedRefs());
    auto it = packed->find(ref);
    if (it == packed->end()) return Status::NotFound("no ref " + std::string(ref));
    return it->second;
  }
  std::string_view t = *text;
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.remove_suffix(1);
  auto id = ChunkId::FromHex(t);
  if (!id) return Status::Corruption("ref " + std::string(ref) + " does not hold a manifest id");
  return *id;
}

Status Store::DeleteRef(std::string_view ref) {
  SW_ASSIGN_OR_RETURN(size_t n, DeleteRefs({std::string(ref)}));
  if (n == 0) return Status::NotFound("no ref " + std::string(ref));
  return Status::OK();
}

Result<size_t> Store::DeleteRefs(const std::vector<std::string>& refs) {
  for (const auto& r : refs) SW_RETURN_IF_ERROR(ValidateRefName(r));
  std::set<std::string> existed;
  for (const auto& r : refs) {
    SW_ASSIGN_OR_RETURN(bool loose, UnlinkLooseRef(r));
    if (loose) existed.insert(r);
  }
  SW_RETURN_IF_ERROR(EditPackedRefs([&](PackedRefs* packed) {
    bool changed = false;
    for (const auto& r : refs) {
      if (packed->erase(r) > 0) {
        existed.insert(r);
        changed = true;
      }
    }
    return changed;
  }));
  if (!existed.empty()) BumpRefsGeneration();
  return existed.size();
}

Result<bool> Store::UnlinkLooseRef(std::string_view ref) {
  std::string path = RefPath(ref);
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return false;
    return FromErrno("unlink " + path, errno);
  }
  SW_RETURN_IF_ERROR(FsyncDir(DirName(path)));
  // Remove now-empty parents up to refs/<kind>.
  std::string dir = DirName(path);
  std::string stop = root_ + "/refs";
  while (dir.size() > stop.size() && DirName(dir) != stop) {
    if (::rmdir(dir.c_str()) != 0) break;
    dir = DirName(dir);
  }
  return true;
}

namespace {
constexpr char kPackedRefsHeader[] = "stormwulf packed refs 1";
}  // namespace

Result<std::shared_ptr<const Store::PackedRefs>> Store::LoadPackedRefs() const {
  const std::string path = root_ + "/packed-refs";
  struct stat st;
  std::string key = "absent";
  if (::stat(path.c_str(), &st) == 0) {
    key = std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":" +
          std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
  } else if (errno != ENOENT) {
    return FromErrno("stat " + path, errno);
  }
  std::lock_guard<std::mutex> l(packed_mu_);
  if (packed_ && key == packed_key_) return packed_;
  auto refs = std::make_shared<PackedRefs>();
  if (key != "absent") {
    auto text = ReadFileToString(path);
    if (!text.ok() && !text.status().IsNotFound()) return text.status();
    std::string_view t = text.ok() ? std::string_view(*text) : std::string_view();
    size_t line_no = 0;
    auto bad = [&](std::string_view why) {
      return Status::Corruption(path + " line " + std::to_string(line_no) + ": " +
                                std::string(why));
    };
    while (!t.empty()) {
      ++line_no;
      size_t nl = t.find('\n');
      if (nl == std::string_view::npos) return bad("truncated");
      std::string_view line = t.substr(0, nl);
      t.remove_prefix(nl + 1);
      if (line_no == 1) {
        if (line != kPackedRefsHeader) return bad("not a packed-refs file");
        continue;
      }
      auto id = line.size() > 33 && line[32] == ' ' ? ChunkId::FromHex(line.substr(0, 32))
                                                    : std::nullopt;
      std::string_view name = line.size() > 33 ? line.substr(33) : std::string_view();
      if (!id || !ValidateRefName(name).ok()) return bad("bad entry");
      if (!refs->empty() && !(refs->rbegin()->first < name)) return bad("names out of order");
      refs->emplace_hint(refs->end(), std::string(name), *id);
    }
    if (text.ok() && line_no == 0) return bad("empty");
  }
  packed_ = std::move(refs);
  packed_key_ = key;
  return packed_;
}

Status Store::EditPackedRefs(const std::function<bool(PackedRefs*)>& edit) {
  SW_ASSIGN_OR_RETURN(StoreLock lock, Lock(root_ + "/packed-refs.lock", LOCK_EX));
  SW_ASSIGN_OR_RETURN(auto current, LoadPackedRefs());
  PackedRefs next = *current;
  if (!edit(&next)) return Status::OK();
  std::string text = std::string(kPackedRefsHeader) + "\n";
  text.reserve(text.size() + next.size() * 64);
  for (const auto& [name, id] : next) text += id.Hex() + " " + name + "\n";
  return WriteFileAtomic(root_ + "/packed-refs", text, 0644, TmpDir());
}

Status Store::SetRefsPacked(const std::vector<std::pair<std::string, ChunkId>>& refs) {
  for (const auto& [name, id] : refs) SW_RETURN_IF_ERROR(ValidateRefName(name));
  SW_RETURN_IF_ERROR(EditPackedRefs([&](PackedRefs* packed) {
    for (const auto& [name, id] : refs) (*packed)[name] = id;
    return true;
  }));
  // The new values are durable; loose files of the same names would shadow them.
  Status s;
  for (const auto& [name, id] : refs) {
    s = UnlinkLooseRef(name).status();
    if (!s.ok()) break;
  }
  BumpRefsGeneration();  // packed-refs changed even if a loose file could not be removed
  return s;
}

Result<std::vector<std::pair<std::string, ChunkId>>> Store::ListRefs(
    std::string_view prefix) const {
  std::vector<std::pair<std::string, ChunkId>> out;
  std::vector<std::string> stack = {""};
  while (!stack.empty()) {
    std::string rel = stack.back();
    stack.pop_back();
    std::string dir = rel.empty() ? root_ + "/refs" : root_ + "/refs/" + rel;
    auto names = ListDir(dir);
    if (!names.ok()) {
      if (names.status().IsNotFound()) continue;
      return names.status();
    }
    for (const auto& n : *names) {
      std::string child = rel.empty() ? n : rel + "/" + n;
      std::string full = dir + "/" + n;
      struct stat st;
      if (::lstat(full.c_str(), &st) != 0) continue;
      if (S_ISDIR(st.st_mode)) {
        stack.push_back(child);
        continue;
      }
      if (n.find(".tmp.") != std::string::npos) continue;  // a writer's temp file
      if (child.compare(0, prefix.size(), prefix) != 0) continue;
      auto id = GetRef(child);
      if (!id.ok()) {
        if (id.status().IsInvalidArgument()) continue;  // not a ref name
        return id.status();
      }
      out.emplace_back(child, *id);
    }
  }
  // Packed refs that no loose file shadows.
  SW_ASSIGN_OR_RETURN(auto packed, LoadPackedRefs());
  if (!packed->empty()) {
    std::set<std::string> loose;
    for (const auto& [name, id] : out) loose.insert(name);
    for (auto it = packed->lower_bound(prefix);
         it != packed->end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
      if (!loose.count(it->first)) out.emplace_back(it->first, it->second);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<StoreLock> Store::LockShared() const { return Lock(root_ + "/lock", LOCK_SH); }
Result<StoreLock> Store::LockExclusive() const { return Lock(root_ + "/lock", LOCK_EX); }
Result<StoreLock> Store::TryLockExclusive() const {
  return Lock(root_ + "/lock", LOCK_EX | LOCK_NB);
}

namespace {

// Writes a new temp file of a batch (O_EXCL; no fsync: Commit's syncfs covers it). The file is
// removed again if the write fails.
Status WriteBatchTemp(const std::string& tmp, std::string_view data) {
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd) return FromErrno("create " + tmp, errno);
  Status s = WriteAll(fd.get(), data.data(), data.size(), tmp);
  if (!s.ok()) {
    fd.Reset();
    ::unlink(tmp.c_str());
  }
  return s;
}

Status SyncFsOf(const std::string& dir) {
  UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dfd) return FromErrno("open " + dir, errno);
  if (::syncfs(dfd.get()) != 0) return FromErrno("syncfs " + dir, errno);
  return Status::OK();
}

// Renames every temp to its destination, then makes the renames durable: an fsync of each
// destination directory, or one syncfs when there are many (an image's chunks land in up to 256
// fan-out directories, and 256 serial directory fsyncs took 0.1 s of a 0.7 s import; syncfs
// writes back every dirty directory block of the file system at once).
Status RenameAll(const std::vector<std::pair<std::string, std::string>>& moves) {
  std::set<std::string> dirs;
  for (const auto& [tmp, dest] : moves) {
    std::string ddir = DirName(dest);
    if (dirs.insert(ddir).second) SW_RETURN_IF_ERROR(MakeDirs(ddir, 0755));
    if (::rename(tmp.c_str(), dest.c_str()) != 0) return FromErrno("rename " + tmp, errno);
  }
  constexpr size_t kMaxDirFsyncs = 8;
  if (dirs.size() > kMaxDirFsyncs) return SyncFsOf(*dirs.begin());
  for (const auto& d : dirs) SW_RETURN_IF_ERROR(FsyncDir(d));
  return Status::OK();
}

}  // namespace

ChunkBatch::ChunkBatch(Store* store)
    : store_(store), dir_(store->TmpDir() + "/batch-" + RandomHex(8)) {}

ChunkBatch::~ChunkBatch() {
  if (!committed_) {
    for (const auto& [tmp, id] : temps_) ::unlink(tmp.c_str());
    for (const auto& [tmp, id] : manifest_temps_) ::unlink(tmp.c_str());
  }
  ::rmdir(dir_.c_str());
}

Result<bool> ChunkBatch::Add(const ChunkId& id, ByteSpan stored) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (added_.count(id)) return false;
    added_.insert(id);
  }
  SW_ASSIGN_OR_RETURN(bool present, store_->HasChunk(id));
  if (present) return false;
  SW_RETURN_IF_ERROR(MakeDirs(dir_, 0755));
  std::string tmp = dir_ + "/" + id.Hex();
  SW_RETURN_IF_ERROR(WriteBatchTemp(
      tmp, std::string_view(reinterpret_cast<const char*>(stored.data()), stored.size())));
  {
    std::lock_guard<std::mutex> l(mu_);
    temps_.emplace_back(tmp, id);
    staged_[id] = stored.size();
  }
  new_chunks_.fetch_add(1);
  new_bytes_.fetch_add(stored.size());
  return true;
}

std::string ChunkBatch::NewTempPath() {
  CHECK(MakeDirs(dir_, 0755).ok()) << "cannot create " << dir_;
  return dir_ + "/stream-" + RandomHex(8);
}

Result<bool> ChunkBatch::AdoptTemp(const ChunkId& id, const std::string& temp_path,
                                   uint64_t stored_size) {
  bool fresh;
  {
    std::lock_guard<std::mutex> l(mu_);
    fresh = added_.insert(id).second;
  }
  if (fresh) {
    auto present = store_->HasChunk(id);
    if (!present.ok()) {
      ::unlink(temp_path.c_str());
      return present.status();
    }
    fresh = !*present;
  }
  if (!fresh) {
    ::unlink(temp_path.c_str());
    return false;
  }
  std::lock_guard<std::mutex> l(mu_);
  temps_.emplace_back(temp_path, id);
  staged_[id] = stored_size;
  new_chunks_.fetch_add(1);
  new_bytes_.fetch_add(stored_size);
  return true;
}

std::optional<uint64_t> ChunkBatch::Staged(const ChunkId& id) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = staged_.find(id);
  if (it == staged_.end()) return std::nullopt;
  return it->second;
}

Result<ChunkId> ChunkBatch::AddManifest(const Manifest& m) {
  std::string bytes = m.Encode();
  ChunkId id = ChunkId::Of(bytes);
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!manifests_.insert(id).second) return id;
  }
  SW_ASSIGN_OR_RETURN(bool present, store_->HasManifest(id));
  if (present) return id;
  SW_RETURN_IF_ERROR(MakeDirs(dir_, 0755));
  std::string tmp = dir_ + "/manifest-" + id.Hex();
  SW_RETURN_IF_ERROR(WriteBatchTemp(tmp, bytes));
  std::lock_guard<std::mutex> l(mu_);
  manifest_temps_.emplace_back(tmp, id);
  return id;
}

Status ChunkBatch::SetRef(std::string_view ref, const ChunkId& manifest) {
  SW_RETURN_IF_ERROR(Store::ValidateRefName(ref));
  std::lock_guard<std::mutex> l(mu_);
  refs_[std::string(ref)] = manifest;
  return Status::OK();
}

Status ChunkBatch::Commit() {
  CHECK(!committed_) << "ChunkBatch committed twice";
  std::lock_guard<std::mutex> l(mu_);
  // One durability barrier for every temp file of the batch (instead of an fsync per file): the
  // data must be on disk before any rename makes a name point at it. Chunks are renamed before the
  // manifests that list them, and refs are written only after both.
  if (!temps_.empty() || !manifest_temps_.empty()) {
    SW_RETURN_IF_ERROR(SyncFsOf(dir_));
    std::vector<std::pair<std::string, std::string>> moves;
    for (const auto& [tmp, id] : temps_) moves.emplace_back(tmp, store_->ChunkPath(id));
    SW_RETURN_IF_ERROR(RenameAll(moves));
    moves.clear();
    for (const auto& [tmp, id] : manifest_temps_) moves.emplace_back(tmp, store_->ManifestPath(id));
    SW_RETURN_IF_ERROR(RenameAll(moves));
  }
  committed_ = true;  // every temp is in place: nothing left for the destructor to remove
  if (refs_.empty()) return Status::OK();
  if (refs_.size() >= kPackRefsFrom) {
    // Thousands of nodes' overlay refs: one packed-refs rewrite instead of a file (and a
    // directory) per ref.
    return store_->SetRefsPacked(std::vector<std::pair<std::string, ChunkId>>(refs_.begin(),
                                                                              refs_.end()));
  }
  SW_RETURN_IF_ERROR(MakeDirs(dir_, 0755));
  std::vector<std::pair<std::string, std::string>> moves;
  Status s;
  for (const auto& [ref, id] : refs_) {
    std::string tmp = dir_ + "/ref-" + RandomHex(8);
    s = WriteBatchTemp(tmp, id.Hex() + "\n");
    if (!s.ok()) break;
    moves.emplace_back(tmp, store_->RefPath(ref));
  }
  if (s.ok()) s = SyncFsOf(dir_);
  if (s.ok()) s = RenameAll(moves);
  if (!s.ok()) {
    for (const auto& [tmp, dest] : moves) ::unlink(tmp.c_str());
  }
  store_->BumpRefsGeneration();  // even on failure: some renames may have happened
  return s;
}

}  // namespace sw
