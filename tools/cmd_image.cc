// swctl image: import, list, show, delete, export.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <map>
#include <set>

#include "chunkstore/codec.h"
#include "chunkstore/image_build.h"
#include "chunkstore/package_groups.h"
#include "common/fs_util.h"
#include "tools/cli.h"
#include "tools/cli_util.h"
#include "tools/kernels.h"
#include "tools/sources.h"
#include "tools/subprocess.h"

namespace sw {
namespace {

constexpr char kGroupUsage[] =
    "usage: swctl image <command> [options]\n\n"
    "commands:\n"
    "  import SOURCE NAME   import a directory, tar(.gz/.zst/.xz/.bz2), OCI layout or docker-save\n"
    "                       archive as boot image NAME (with its kernel)\n"
    "  list                 list images\n"
    "  show NAME            size, segments, chunks new vs shared, SHA-256, kernel\n"
    "  delete NAME          remove the image (its chunks go at the next `swctl store gc`)\n"
    "  export NAME FILE     write the servable initrd (--format zstd|gzip|none), verified\n"
    "  stage1               build and import the two-stage boot's stage-1 initramfs (image stage1)\n"
    "Run `swctl image <command> --help` for its options.\n";

int Fail(const Status& s) {
  std::cerr << "swctl: " << s.ToString() << "\n";
  return 1;
}

int Import(const std::vector<std::string>& args) {
  const std::string usage = "usage: swctl image import SOURCE NAME [options]";
  po::options_description opts("options");
  AddCommonOptions(&opts);
  opts.add_options()("source", po::value<std::string>(), "image source")(
      "name", po::value<std::string>(), "image name")(
      "exclude", po::value<std::vector<std::string>>()->composing(),
      "glob to leave out (repeatable; relative to the image root)")(
      "no-default-excludes", "keep proc/, sys/, dev/, tmp/, run/ contents")(
      "kernel", po::value<std::string>(), "kernel file to use instead of the image's own")(
      "no-kernel", "import without a kernel")(
      "level", po::value<int>()->default_value(kDefaultZstdLevel), "zstd level for new segments")(
      "threads", po::value<int>()->default_value(0), "worker threads (0 = one per core)")(
      "quiet,q", "no progress output");
  po::positional_options_description pos;
  pos.add("source", 1).add("name", 1);
  po::variables_map vm;
  if (int rc = ParseArgs(args, usage, opts, pos, &vm); rc >= 0) return rc;
  if (!vm.count("source") || !vm.count("name")) {
    std::cerr << usage << "\n";
    return 2;
  }
  std::string source = vm["source"].as<std::string>();
  std::string name = vm["name"].as<std::string>();
  std::string ref = "images/" + name;
  if (Status s = Store::ValidateRefName(ref); !s.ok()) {
    std::cerr << "swctl: bad image name '" << name << "': use letters, digits and ._:@+-\n";
    return 2;
  }
  bool quiet = vm.count("quiet") > 0;
  auto store = OpenStoreOrDie(vm, /*create=*/true);
  if (!store) return 1;
  // Writers hold the store lock shared, so `swctl store gc` never deletes a chunk this import
  // has written but not yet referenced.
  auto lock = store->LockShared();
  if (!lock.ok()) return Fail(lock.status());

  uint64_t t0 = MonotonicNanos();
  std::vector<std::string> excludes;
  if (vm.count("exclude")) excludes = vm["exclude"].as<std::vector<std::string>>();
  if (!quiet) std::cerr << "reading " << source << " ...\n";
  auto tree = ReadSource(source, excludes, !vm.count("no-default-excludes"), store->TmpDir());
  if (!tree.ok()) return Fail(tree.status());

  // The kernel first: it is tied to the image by the image manifest's meta.
  std::vector<std::pair<std::string, std::string>> meta = {{"name", name}, {"source", source}};
  std::string kernel_desc = "none";
  if (!vm.count("no-kernel")) {
    std::string kpath, kver;
    std::string tmp_kernel;
    if (vm.count("kernel")) {
      kpath = vm["kernel"].as<std::string>();
      std::string base = BaseName(kpath);
      auto v = ReadKernelVersion(kpath);  // from the bzImage header when it has one
      kver = v.ok() ? *v : base.compare(0, 8, "vmlinuz-") == 0 ? base.substr(8) : base;
    } else {
      auto k = FindKernel(tree->entries, &kver);
      if (!k.ok()) {
        std::cerr << "swctl: " << k.status().message()
                  << "; give --kernel FILE, or --no-kernel to import without one\n";
        return 1;
      }
      tmp_kernel = store->TmpDir() + "/kernel." + RandomHex(6);
      if (Status s = WriteEntryContent(**k, tmp_kernel); !s.ok()) {
        ::unlink(tmp_kernel.c_str());
        return Fail(s);
      }
      kpath = tmp_kernel;
    }
    auto kr = StoreBlob(store.get(), kpath, ArtifactKind::kKernel,
                        {{"kernel_version", kver}, {"name", name}});
    if (!tmp_kernel.empty()) ::unlink(tmp_kernel.c_str());
    if (!kr.ok()) return Fail(kr.status().WithContext("kernel " + kpath));
    meta.emplace_back("kernel", kr->manifest_id.Hex());
    meta.emplace_back("kernel_version", kver);
    kernel_desc = kver + " (" + HumanBytes(kr->manifest.total_raw_size) + ")";
  }

  // What the modules check (tools/kernels.h) needs to know about this image.
  ImageModuleFacts facts = ScanImageModules(tree->entries);
  std::string versions;
  for (const auto& v : facts.module_versions) versions += (versions.empty() ? "" : ",") + v;
  meta.emplace_back("module_versions", versions);
  meta.emplace_back("lib", facts.lib);

  // Each package's files together (chunkstore/package_groups.h): a package update then changes
  // the new packages' segments, not one segment in every directory the packages touch.
  auto packages = AssignPackageGroups(&tree->entries);
  if (!packages.ok()) return Fail(packages.status());

  ImageBuildOptions bo;
  bo.kind = ArtifactKind::kImage;
  bo.zstd_level = vm["level"].as<int>();
  bo.threads = vm["threads"].as<int>();
  bo.meta = meta;
  ProgressLine progress(quiet);
  bo.progress = [&](const BuildProgress& p) {
    double secs = static_cast<double>(MonotonicNanos() - t0) / 1e9;
    double rate = secs > 0 ? static_cast<double>(p.bytes_done) / secs : 0;
    double eta = rate > 0 ? static_cast<double>(p.bytes_total - p.bytes_done) / rate : 0;
    char buf[200];
    snprintf(buf, sizeof(buf), "importing: %llu/%llu files, %s/%s, %s/s, ETA %.0fs",
             static_cast<unsigned long long>(p.entries_done),
             static_cast<unsigned long long>(p.entries_total), HumanBytes(p.bytes_done).c_str(),
             HumanBytes(p.bytes_total).c_str(), HumanBytes(static_cast<uint64_t>(rate)).c_str(),
             eta);
    progress.Update(buf);
  };
  auto r = BuildArtifact(store.get(), std::move(tree->entries), bo);
  progress.Done();
  if (!r.ok()) return Fail(r.status());
  if (Status s = store->SetRef(ref, r->manifest_id); !s.ok()) return Fail(s);
  double secs = static_cast<double>(MonotonicNanos() - t0) / 1e9;
  if (!quiet) {
    printf("imported %s (%s) as image '%s' in %.2fs\n", source.c_str(),
           SourceKindName(tree->kind), name.c_str(), secs);
    printf("  entries  %llu (%llu excluded)\n", static_cast<unsigned long long>(r->entries),
           static_cast<unsigned long long>(tree->excluded));
    printf("  size     %s in %llu segments, %llu new (%s stored)\n",
           HumanBytes(r->manifest.total_raw_size).c_str(),
           static_cast<unsigned long long>(r->segments),
           static_cast<unsigned long long>(r->segments_new),
           HumanBytes(r->stored_bytes_new).c_str());
    if (*packages > 0) printf("  packages %zu (dpkg), each in segments of its own\n", *packages);
    printf("  kernel   %s\n  sha256   %s\n  manifest %s\n", kernel_desc.c_str(),
           r->manifest.Sha256Hex().c_str(), r->manifest_id.Hex().c_str());
  }
  return 0;
}

Result<Manifest> LoadImage(const Store& store, const std::string& name, ChunkId* id) {
  SW_ASSIGN_OR_RETURN(*id, store.GetRef("images/" + name));
  return store.GetManifest(*id);
}

int List(const std::vector<std::string>& args) {
  po::options_description opts("options");
  AddCommonOptions(&opts);
  po::variables_map vm;
  if (int rc = ParseArgs(args, "usage: swctl image list", opts, {}, &vm); rc >= 0) return rc;
  auto store = OpenStoreOrDie(vm, false);
  if (!store) return 1;
  auto refs = store->ListRefs("images/");
  if (!refs.ok()) return Fail(refs.status());
  printf("%-24s %12s %9s %-16s %s\n", "NAME", "SIZE", "SEGMENTS", "KERNEL", "CREATED");
  for (const auto& [ref, id] : *refs) {
    auto m = store->GetManifest(id);
    if (!m.ok()) {
      printf("%-24s (unreadable: %s)\n", ref.substr(7).c_str(), m.status().ToString().c_str());
      continue;
    }
    printf("%-24s %12s %9zu %-16s %s\n", ref.substr(7).c_str(),
           HumanBytes(m->total_raw_size).c_str(), m->chunks.size(),
           std::string(m->Meta("kernel_version").value_or("-")).c_str(),
           HumanTime(m->created_unix).c_str());
  }
  return 0;
}

int Show(const std::vector<std::string>& args) {
  po::options_description opts("options");
  opts.add_options()("json", "machine-readable");
  po::variables_map vm;
  if (int rc = ParseNameArgs(args, "usage: swctl image show NAME [--json]", &opts, &vm); rc >= 0) {
    return rc;
  }
  auto store = OpenStoreOrDie(vm, false);
  if (!store) return 1;
  ChunkId id;
  std::string name = vm["name"].as<std::string>();
  auto m = LoadImage(*store, name, &id);
  if (!m.ok()) return Fail(m.status());
  // Chunks shared with other images vs only in this one.
  std::set<ChunkId> others;
  if (auto refs = store->ListRefs("images/"); refs.ok()) {
    for (const auto& [ref, oid] : *refs) {
      if (oid == id) continue;
      if (auto om = store->GetManifest(oid); om.ok()) {
        for (const auto& c : om->chunks) others.insert(c.id);
      }
    }
  }
  uint64_t stored = 0, shared = 0;
  for (const auto& c : m->chunks) {
    struct stat st;
    if (::stat(store->ChunkPath(c.id).c_str(), &st) == 0) stored += static_cast<uint64_t>(st.st_size);
    if (others.count(c.id)) ++shared;
  }
  if (vm.count("json")) {
    printf("{\"name\":\"%s\",\"manifest\":\"%s\",\"sha256\":\"%s\",\"size\":%llu,"
           "\"stored\":%llu,\"created\":%lld,\"kernel_version\":\"%s\",\"segments\":[",
           name.c_str(), id.Hex().c_str(), m->Sha256Hex().c_str(),
           static_cast<unsigned long long>(m->total_raw_size),
           static_cast<unsigned long long>(stored), static_cast<long long>(m->created_unix),
           std::string(m->Meta("kernel_version").value_or("")).c_str());
    for (size_t i = 0; i < m->chunks.size(); ++i) {
      printf("%s{\"id\":\"%s\",\"raw\":%llu,\"stored\":%llu}", i ? "," : "",
             m->chunks[i].id.Hex().c_str(),
             static_cast<unsigned long long>(m->chunks[i].raw_size),
             static_cast<unsigned long long>(m->chunks[i].stored_size));
    }
    printf("]}\n");
    return 0;
  }
  printf("image     %s\nmanifest  %s\nsha256    %s\ncreated   %s\n", name.c_str(),
         id.Hex().c_str(), m->Sha256Hex().c_str(), HumanTime(m->created_unix).c_str());
  printf("size      %s raw, %s stored (%.2fx)\n", HumanBytes(m->total_raw_size).c_str(),
         HumanBytes(stored).c_str(),
         stored ? static_cast<double>(m->total_raw_size) / static_cast<double>(stored) : 0.0);
  printf("segments  %zu (%llu shared with other images, %llu only here)\n", m->chunks.size(),
         static_cast<unsigned long long>(shared),
         static_cast<unsigned long long>(m->chunks.size() - shared));
  printf("kernel    %s\nmodules   %s\nsource    %s\n",
         std::string(m->Meta("kernel_version").value_or("none")).c_str(),
         std::string(m->Meta("module_versions").value_or("?")).c_str(),
         std::string(m->Meta("source").value_or("?")).c_str());
  return 0;
}

int Delete(const std::vector<std::string>& args) {
  po::options_description opts("options");
  po::variables_map vm;
  if (int rc = ParseNameArgs(args, "usage: swctl image delete NAME", &opts, &vm); rc >= 0) return rc;
  auto store = OpenStoreOrDie(vm, false);
  if (!store) return 1;
  std::string name = vm["name"].as<std::string>();
  if (Status s = store->DeleteRef("images/" + name); !s.ok()) return Fail(s);
  printf("deleted image '%s' (run `swctl store gc` to free its chunks)\n", name.c_str());
  return 0;
}

int Export(const std::vector<std::string>& args) {
  po::options_description opts("options");
  AddCommonOptions(&opts);
  opts.add_options()("name", po::value<std::string>(), "image")(
      "file", po::value<std::string>(), "output file")(
      "format", po::value<std::string>()->default_value("zstd"), "zstd, gzip or none")(
      "kernel", "export the image's kernel instead");
  po::positional_options_description pos;
  pos.add("name", 1).add("file", 1);
  po::variables_map vm;
  if (int rc = ParseArgs(args, "usage: swctl image export NAME FILE [--format zstd|gzip|none]",
                         opts, pos, &vm);
      rc >= 0) {
    return rc;
  }
  if (!vm.count("name") || !vm.count("file")) return 2;
  std::string fmt = vm["format"].as<std::string>();
  ExportFormat f;
  if (fmt == "zstd") {
    f = ExportFormat::kZstd;
  } else if (fmt == "gzip" || fmt == "gz") {
    f = ExportFormat::kGzip;
  } else if (fmt == "none") {
    f = ExportFormat::kNone;
  } else {
    std::cerr << "swctl: --format must be zstd, gzip or none\n";
    return 2;
  }
  auto store = OpenStoreOrDie(vm, false);
  if (!store) return 1;
  std::string name = vm["name"].as<std::string>();
  auto id = store->GetRef("images/" + name);
  if (!id.ok()) return Fail(id.status());
  auto m = store->GetManifest(*id);
  if (!m.ok()) return Fail(m.status());
  if (vm.count("kernel")) {  // the kernel the image manifest links to
    auto link = m->Meta("kernel");
    auto kid = link ? ChunkId::FromHex(*link) : std::nullopt;
    if (!kid) return Fail(Status::NotFound("image '" + name + "' has no kernel"));
    m = store->GetManifest(*kid);
    if (!m.ok()) return Fail(m.status());
  }
  if (vm.count("kernel")) f = ExportFormat::kNone;
  std::string out = vm["file"].as<std::string>();
  std::string tmp = out + ".tmp." + RandomHex(4);
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (!fd) return Fail(FromErrno("create " + tmp, errno));
  Status s = ExportArtifact(*store, *m, f, fd.get());
  if (s.ok() && ::fsync(fd.get()) != 0) s = FromErrno("fsync " + tmp, errno);
  fd.Reset();
  if (s.ok() && ::rename(tmp.c_str(), out.c_str()) != 0) s = FromErrno("rename " + tmp, errno);
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return Fail(s);
  }
  printf("wrote %s (%s, SHA-256 verified)\n", out.c_str(), vm.count("kernel") ? "kernel" : fmt.c_str());
  return 0;
}

}  // namespace

// swctl image stage1: builds the two-stage boot's stage-1 initramfs with make-stage1.sh (from
// the package, or from the source tree next to this build) and imports it as an image.
int Stage1(const std::vector<std::string>& args) {
  po::options_description opts("options");
  AddCommonOptions(&opts);
  opts.add_options()("name", po::value<std::string>()->default_value("stage1"),
                     "image name (stormwulfd serves `stage1`, or `<image>.initramfs` for one image)")(
      "wwclient", po::value<std::string>(), "static wwclient (default: the installed or built one)")(
      "script", po::value<std::string>(), "make-stage1.sh to use");
  po::variables_map vm;
  if (int rc = ParseArgs(args, "usage: swctl image stage1 [--name NAME] [--wwclient FILE]", opts, {}, &vm);
      rc >= 0) {
    return rc;
  }
  // Next to a build tree (build/tools/swctl -> build/agent/wwclient-static, src/scripts/) or
  // installed (/usr/share/stormwulf/make-stage1.sh, /usr/sbin/wwclient).
  char exe[4096];
  ssize_t n = ::readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  std::string bin_dir = n > 0 ? DirName(std::string(exe, static_cast<size_t>(n))) : ".";
  auto first_existing = [](std::vector<std::string> c) {
    for (const auto& p : c) {
      if (::access(p.c_str(), X_OK) == 0) return p;
    }
    return std::string();
  };
  std::string script = vm.count("script") ? vm["script"].as<std::string>()
                                          : first_existing({"/usr/share/stormwulf/make-stage1.sh",
                                                            SW_SOURCE_DIR "/scripts/make-stage1.sh"});
  std::string wwclient = vm.count("wwclient") ? vm["wwclient"].as<std::string>()
                                              : first_existing({bin_dir + "/../agent/wwclient-static",
                                                                "/usr/sbin/wwclient"});
  if (script.empty() || wwclient.empty()) {
    std::cerr << "swctl: cannot find " << (script.empty() ? "make-stage1.sh (give --script)"
                                                          : "a static wwclient (give --wwclient)")
              << "\n";
    return 1;
  }
  auto store = OpenStoreOrDie(vm, /*create=*/true);
  if (!store) return 1;
  std::string tree = JoinPath(store->TmpDir(), "stage1." + RandomHex(6));
  ProcessResult r = RunProcess({script, tree, wwclient}, {}, 120000);
  if (r.exit_code != 0) {
    (void)RemoveTree(tree);
    std::cerr << "swctl: " << script << " failed: " << r.output;
    return 1;
  }
  std::vector<std::string> import_args = {tree, vm["name"].as<std::string>(), "--no-kernel",
                                          "--store", store->root()};
  int rc = Import(import_args);
  (void)RemoveTree(tree);
  return rc;
}

int RunImageCommand(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << kGroupUsage;
    return args.empty() ? 2 : 0;
  }
  std::vector<std::string> rest(args.begin() + 1, args.end());
  const std::string& cmd = args[0];
  if (cmd == "import") return Import(rest);
  if (cmd == "list" || cmd == "ls") return List(rest);
  if (cmd == "show") return Show(rest);
  if (cmd == "delete" || cmd == "rm") return Delete(rest);
  if (cmd == "export") return Export(rest);
  if (cmd == "stage1") return Stage1(rest);
  std::cerr << "swctl image: unknown command '" << cmd << "'\n\n" << kGroupUsage;
  return 2;
}

}  // namespace sw
