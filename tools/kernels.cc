#include "tools/kernels.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <unordered_map>

#include "chunkstore/newc.h"
#include "common/fs_util.h"
#include "tools/sources.h"
#include "tools/subprocess.h"

namespace sw {
namespace {

// Scratch files (removed after the import) need neither atomic replacement nor fsync.
Status WriteScratchFile(const std::string& path, std::string_view data, mode_t mode) {
  ::unlink(path.c_str());
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (!fd) return FromErrno("create " + path, errno);
  SW_RETURN_IF_ERROR(WriteAll(fd.get(), data.data(), data.size(), path));
  if (::fchmod(fd.get(), mode) != 0) return FromErrno("chmod " + path, errno);
  return Status::OK();
}

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

std::vector<std::string> SplitComma(std::string_view s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < s.size()) {
    size_t end = s.find(',', start);
    if (end == std::string_view::npos) end = s.size();
    if (end > start) out.emplace_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

ImageModuleFacts ScanImageModules(const std::vector<TreeEntry>& entries) {
  ImageModuleFacts f;
  std::set<std::string> versions;
  for (const auto& e : entries) {
    if (e.path == "lib") f.lib = S_ISLNK(e.mode) ? "symlink" : S_ISDIR(e.mode) ? "dir" : "none";
    for (std::string_view prefix : {"lib/modules/", "usr/lib/modules/"}) {
      std::string_view p = e.path;
      if (!StartsWith(p, prefix) || !S_ISDIR(e.mode)) continue;
      std::string_view rest = p.substr(prefix.size());
      if (!rest.empty() && rest.find('/') == std::string_view::npos) versions.emplace(rest);
    }
  }
  f.module_versions.assign(versions.begin(), versions.end());
  return f;
}

Result<std::string> ReadKernelVersion(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return FromErrno("open " + path, errno);
  // x86 boot protocol: "HdrS" at 0x202; the u16 at 0x20E is the offset of the version string
  // from 0x200 (boot protocol 2.00+, docs: Documentation/arch/x86/boot.rst).
  char hdr[0x210];
  if (::pread(fd.get(), hdr, sizeof(hdr), 0) != static_cast<ssize_t>(sizeof(hdr)) ||
      std::memcmp(hdr + 0x202, "HdrS", 4) != 0) {
    return Status::NotFound(path + " is not an x86 bzImage");
  }
  uint16_t off = static_cast<uint16_t>(static_cast<uint8_t>(hdr[0x20E]) |
                                       static_cast<uint8_t>(hdr[0x20F]) << 8);
  char ver[256] = {};
  if (off == 0 || ::pread(fd.get(), ver, sizeof(ver) - 1, 0x200 + off) <= 0) {
    return Status::NotFound(path + " has no kernel version string");
  }
  std::string v(ver, strnlen(ver, sizeof(ver) - 1));
  v = v.substr(0, v.find(' '));
  if (v.empty()) return Status::NotFound(path + " has no kernel version string");
  return v;
}

Result<std::vector<TreeEntry>> ModulesLayerEntries(const std::string& moddir,
                                                   const std::string& version,
                                                   const std::string& tmp_dir,
                                                   std::string* scratch) {
  struct stat st;
  if (::stat(moddir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Status::NotFound("modules directory " + moddir + " does not exist");
  }
  std::string dir = moddir;
  if (::access((moddir + "/modules.dep").c_str(), F_OK) != 0) {
    // Regenerate the module index in a copy; the source stays untouched.
    *scratch = JoinPath(tmp_dir, "kmods." + RandomHex(6));
    std::string base_mods = *scratch + "/lib/modules";
    SW_RETURN_IF_ERROR(MakeDirs(base_mods));
    dir = base_mods + "/" + version;
    ProcessResult cp = RunProcess({"cp", "-a", moddir, dir});
    if (cp.exit_code != 0) return Status::IOError("copying " + moddir + " for depmod: " + cp.output);
    ProcessResult dm = RunProcess({"depmod", "-b", *scratch, version});
    if (dm.exit_code != 0) {
      return Status::IOError(moddir + " has no modules.dep and depmod " +
                             (dm.exit_code == 127 ? std::string("is not installed (apt-get install kmod)")
                                                  : "failed: " + dm.output));
    }
  }
  SW_ASSIGN_OR_RETURN(auto tree, ReadSource(dir, {}, /*default_excludes=*/false, tmp_dir));
  std::vector<TreeEntry> entries = std::move(tree.entries);
  const std::string prefix = "lib/modules/" + version;
  for (auto& e : entries) {
    e.path = prefix + "/" + e.path;
    e.uid = 0;
    e.gid = 0;
  }
  for (const std::string& d : {std::string("lib/modules"), prefix}) {
    TreeEntry e;
    e.path = d;
    e.mode = S_IFDIR | 0755;
    e.mtime = st.st_mtime;
    entries.push_back(std::move(e));
  }
  return entries;
}

Status ExtractImageModules(const Store& store, const Manifest& image, const std::string& version,
                           const std::string& out_dir) {
  const std::string prefixes[] = {"lib/modules/" + version, "usr/lib/modules/" + version};
  bool found = false;
  for (size_t seg = 0; seg < image.chunks.size(); ++seg) {
    SW_ASSIGN_OR_RETURN(std::string raw, store.ReadChunkRaw(image.chunks[seg].id, /*verify=*/true));
    SW_ASSIGN_OR_RETURN(auto entries, ParseNewc(raw));
    // Hard links (same inode in one archive): one member carries the data (ours: the first;
    // GNU cpio's: the last); the others are empty and become links to it.
    std::unordered_map<uint32_t, std::string> with_data;
    std::unordered_map<uint32_t, std::vector<std::string>> links;
    for (const auto& e : entries) {
      std::string rel;
      for (const auto& p : prefixes) {
        if (e.name == p) found = true;
        if (StartsWith(e.name, p + "/")) rel = e.name.substr(p.size() + 1);
      }
      if (rel.empty()) continue;
      if (rel.find("..") != std::string::npos) return Status::Corruption("bad path " + e.name);
      found = true;
      std::string dst = out_dir + "/" + rel;
      uint32_t type = e.h.mode & S_IFMT;
      if (type == S_IFDIR) {
        SW_RETURN_IF_ERROR(MakeDirs(dst, e.h.mode & 07777));
      } else if (type == S_IFLNK) {
        ::unlink(dst.c_str());
        if (::symlink(std::string(e.data).c_str(), dst.c_str()) != 0) {
          return FromErrno("symlink " + dst, errno);
        }
        continue;
      } else if (type == S_IFREG) {
        if (e.h.nlink > 1 && e.h.filesize == 0) {
          auto it = with_data.find(e.h.ino);
          if (it == with_data.end()) {
            links[e.h.ino].push_back(dst);  // its data comes with a later member
            continue;
          }
          ::unlink(dst.c_str());
          if (::link(it->second.c_str(), dst.c_str()) != 0) return FromErrno("link " + dst, errno);
          continue;
        }
        SW_RETURN_IF_ERROR(WriteScratchFile(dst, e.data, e.h.mode & 07777));
        if (e.h.nlink > 1) with_data.emplace(e.h.ino, dst);
        for (const auto& other : links[e.h.ino]) {
          ::unlink(other.c_str());
          if (::link(dst.c_str(), other.c_str()) != 0) return FromErrno("link " + other, errno);
        }
        links.erase(e.h.ino);
      } else {
        continue;  // no devices or fifos in a modules tree
      }
      struct timespec ts[2] = {{static_cast<time_t>(e.h.mtime), 0},
                               {static_cast<time_t>(e.h.mtime), 0}};
      ::utimensat(AT_FDCWD, dst.c_str(), ts, AT_SYMLINK_NOFOLLOW);
    }
    for (const auto& [ino, paths] : links) {  // empty hard-linked files: no member had data
      for (const auto& p : paths) SW_RETURN_IF_ERROR(WriteScratchFile(p, "", 0644));
    }
  }
  if (!found) return Status::NotFound("the image has no lib/modules/" + version);
  return Status::OK();
}

std::string KernelChecker::Check(const std::string& image, const std::string& kernel) {
  auto key = std::make_pair(image, kernel);
  auto it = cache_.find(key);
  if (it != cache_.end()) return it->second;
  return cache_[key] = Compute(image, kernel);
}

std::string KernelChecker::Compute(const std::string& image, const std::string& kernel) {
  std::optional<Manifest> img;
  if (!image.empty()) {
    if (auto id = store_->GetRef("images/" + image); id.ok()) {
      if (auto m = store_->GetManifest(*id); m.ok()) img = std::move(*m);
    }
    if (!img) return "image '" + image + "' is not in the store";
  }
  std::string version;
  bool layer = false;
  if (!kernel.empty() && Store::ValidateRefName("kernels/" + kernel).ok()) {
    if (auto id = store_->GetRef("kernels/" + kernel); id.ok()) {
      auto m = store_->GetManifest(*id);
      if (!m.ok()) return "kernel '" + kernel + "': " + m.status().ToString();
      version = std::string(m->Meta("kernel_version").value_or(""));
      layer = m->Meta("modules").has_value();
    }
  }
  if (version.empty()) {  // the image's own kernel
    if (!img) return "no image and no imported kernel '" + kernel + "'";
    std::string have(img->Meta("kernel_version").value_or(""));
    if (!img->Meta("kernel")) {
      return kernel.empty() ? "image '" + image + "' has no kernel and the node names none"
                            : "kernel '" + kernel + "' is not imported and image '" + image +
                                  "' has no kernel";
    }
    bool pinned = kernel.empty() ||
                  (kernel[0] == '/' ? kernel.size() > have.size() &&
                                          kernel.compare(kernel.size() - have.size() - 1,
                                                         std::string::npos, "-" + have) == 0
                                    : have.compare(0, kernel.size(), kernel) == 0);
    if (!pinned) {
      return "kernel '" + kernel + "' is neither an imported kernel nor image '" + image +
             "''s kernel (" + have + ")";
    }
    version = have;
  }
  if (!img) return "";
  if (layer) {
    if (img->Meta("lib").value_or("") == "none") {
      return "image '" + image + "' has no /lib, so the modules layer of kernel " + version +
             " cannot unpack over it";
    }
    return "";
  }
  auto have = SplitComma(img->Meta("module_versions").value_or(""));
  if (std::find(have.begin(), have.end(), version) != have.end()) return "";
  return "kernel " + version + " has no modules: image '" + image + "' has modules for " +
         (have.empty() ? std::string("no kernel") : Join(have)) +
         " and the kernel has no modules layer; these nodes boot but cannot load drivers"
         " (`swctl kernel import` the kernel with its modules)";
}

}  // namespace sw
