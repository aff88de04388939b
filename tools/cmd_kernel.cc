// swctl kernel: import, list, show, delete kernels with their modules layer (docs/kernels.md).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "chunkstore/codec.h"
#include "chunkstore/image_build.h"
#include "common/fs_util.h"
#include "tools/cli.h"
#include "tools/cli_util.h"
#include "tools/kernels.h"

namespace sw {
namespace {

constexpr char kGroupUsage[] =
    "usage: swctl kernel <command> [options]\n\n"
    "commands:\n"
    "  import SOURCE [NAME]  import a kernel and its modules as NAME (default: its version).\n"
    "                        SOURCE is a kernel file (modules from --modules DIR, else\n"
    "                        /lib/modules/<version>), an installed version (/boot/vmlinuz-<SOURCE>\n"
    "                        + /lib/modules/<SOURCE>), or image:IMAGE (the kernel in an imported\n"
    "                        image, with the image's modules)\n"
    "  list                  list imported kernels\n"
    "  show NAME             version, sizes, modules layer, images with matching modules\n"
    "  delete NAME           remove the kernel (its chunks go at the next `swctl store gc`)\n"
    "Nodes use an imported kernel with `kernel: {version: NAME}` in nodes.conf; stormwulfd then\n"
    "serves its modules as one more initrd after the image. Run `swctl kernel <cmd> --help`.\n";

int Fail(const Status& s) {
  std::cerr << "swctl: " << s.ToString() << "\n";
  return 1;
}

bool IsFile(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool IsDir(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// Removes a scratch directory when the command ends, however it ends.
struct Scratch {
  std::vector<std::string> paths;
  ~Scratch() {
    for (const auto& p : paths) {
      if (!p.empty()) (void)RemoveTree(p);
    }
  }
};

int Import(const std::vector<std::string>& args) {
  const std::string usage = "usage: swctl kernel import SOURCE [NAME] [options]";
  po::options_description opts("options");
  AddCommonOptions(&opts);
  opts.add_options()("source", po::value<std::string>(), "kernel file, version or image:IMAGE")(
      "name", po::value<std::string>(), "kernel name (default: its version)")(
      "modules", po::value<std::string>(), "the lib/modules/<version> directory to use")(
      "no-modules", "import the kernel alone")(
      "version", po::value<std::string>(), "kernel version (default: read from the kernel)")(
      "root", po::value<std::string>()->default_value("/"),
      "file-system root for installed versions and default modules directories")(
      "level", po::value<int>()->default_value(kDefaultZstdLevel), "zstd level for new segments")(
      "quiet,q", "no progress output");
  po::positional_options_description pos;
  pos.add("source", 1).add("name", 1);
  po::variables_map vm;
  if (int rc = ParseArgs(args, usage, opts, pos, &vm); rc >= 0) return rc;
  if (!vm.count("source")) {
    std::cerr << usage << "\n";
    return 2;
  }
  const std::string source = vm["source"].as<std::string>();
  const std::string root = vm["root"].as<std::string>();
  const bool want_modules = !vm.count("no-modules");
  const bool quiet = vm.count("quiet") > 0;
  std::string version = vm.count("version") ? vm["version"].as<std::string>() : "";
  if (vm.count("modules") && !want_modules) {
    std::cerr << "swctl: --modules and --no-modules exclude each other\n";
    return 2;
  }
  auto store = OpenStoreOrDie(vm, /*create=*/true);
  if (!store) return 1;
  auto lock = store->LockShared();  // gc must not take chunks written before the ref lands
  if (!lock.ok()) return Fail(lock.status());
  uint64_t t0 = MonotonicNanos();
  Scratch scratch;

  // Find the kernel file, its version and its modules directory.
  std::string kernel_file, moddir;
  if (source.compare(0, 6, "image:") == 0) {
    std::string image = source.substr(6);
    auto iid = store->GetRef("images/" + image);
    if (!iid.ok()) return Fail(iid.status().WithContext("image '" + image + "'"));
    auto im = store->GetManifest(*iid);
    if (!im.ok()) return Fail(im.status());
    auto klink = im->Meta("kernel");
    auto kid = klink ? ChunkId::FromHex(*klink) : std::nullopt;
    if (!kid) return Fail(Status::NotFound("image '" + image + "' has no kernel"));
    auto km = store->GetManifest(*kid);
    if (!km.ok()) return Fail(km.status());
    if (version.empty()) version = std::string(im->Meta("kernel_version").value_or(""));
    std::string dir = JoinPath(store->TmpDir(), "kimport." + RandomHex(6));
    scratch.paths.push_back(dir);
    if (Status s = MakeDirs(dir + "/mods"); !s.ok()) return Fail(s);
    kernel_file = dir + "/vmlinuz";
    UniqueFd fd(::open(kernel_file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!fd) return Fail(FromErrno("create " + kernel_file, errno));
    if (Status s = ExportArtifact(*store, *km, ExportFormat::kNone, fd.get()); !s.ok()) return Fail(s);
    if (want_modules && !vm.count("modules")) {
      if (!quiet) std::cerr << "extracting lib/modules/" << version << " from image " << image << "\n";
      if (Status s = ExtractImageModules(*store, *im, version, dir + "/mods"); !s.ok()) {
        return Fail(s.WithContext("use --no-modules to import the kernel alone"));
      }
      moddir = dir + "/mods";
    }
  } else if (IsFile(source)) {
    kernel_file = source;
    if (version.empty()) {
      if (auto v = ReadKernelVersion(source); v.ok()) {
        version = *v;
      } else if (BaseName(source).compare(0, 8, "vmlinuz-") == 0) {
        version = BaseName(source).substr(8);
      } else {
        std::cerr << "swctl: cannot tell the version of " << source << "; give --version\n";
        return 2;
      }
    }
  } else {
    version = version.empty() ? source : version;
    kernel_file = JoinPath(root, "boot/vmlinuz-" + source);
    if (!IsFile(kernel_file)) {
      std::cerr << "swctl: " << source << " is neither a kernel file, an installed kernel ("
                << kernel_file << " does not exist) nor image:IMAGE\n";
      return 1;
    }
  }
  if (version.empty() || version.find('/') != std::string::npos) {
    std::cerr << "swctl: bad kernel version '" << version << "'; give --version\n";
    return 2;
  }
  if (want_modules && moddir.empty()) {
    moddir = vm.count("modules") ? vm["modules"].as<std::string>()
                                 : JoinPath(root, "lib/modules/" + version);
    if (!IsDir(moddir)) {
      std::cerr << "swctl: no modules directory " << moddir
                << "; give --modules DIR, or --no-modules to import the kernel alone\n";
      return 1;
    }
  }
  std::string name = vm.count("name") ? vm["name"].as<std::string>() : version;
  const std::string ref = "kernels/" + name;
  if (name.find('/') != std::string::npos || !Store::ValidateRefName(ref).ok()) {
    std::cerr << "swctl: bad kernel name '" << name << "': use letters, digits and ._:@+-\n";
    return 2;
  }

  // The modules layer first, then the kernel that links to it, then the ref. A re-import of
  // the same kernel and modules keeps the manifests the ref has (only their creation time would
  // differ), so the ref and the Last-Modified that nodes see stay put.
  std::optional<Manifest> old_kernel, old_modules;
  if (auto old = store->GetRef(ref); old.ok()) {
    if (auto m = store->GetManifest(*old); m.ok()) old_kernel = std::move(*m);
  }
  if (auto link = old_kernel ? old_kernel->Meta("modules") : std::nullopt) {
    if (auto mid = ChunkId::FromHex(*link)) {
      if (auto m = store->GetManifest(*mid); m.ok()) old_modules = std::move(*m);
    }
  }
  std::vector<std::pair<std::string, std::string>> kmeta = {
      {"name", name}, {"kernel_version", version}, {"origin", "import"}, {"source", source}};
  std::string modules_desc = "none";
  if (want_modules) {
    std::string depmod_copy;
    auto entries = ModulesLayerEntries(moddir, version, store->TmpDir(), &depmod_copy);
    scratch.paths.push_back(depmod_copy);
    if (!entries.ok()) return Fail(entries.status());
    ImageBuildOptions bo;
    bo.kind = ArtifactKind::kModules;
    bo.zstd_level = vm["level"].as<int>();
    bo.omit_dirs = {"lib"};
    bo.meta = {{"name", name}, {"kernel_version", version}};
    ProgressLine progress(quiet);
    bo.progress = [&](const BuildProgress& p) {
      progress.Update("modules: " + std::to_string(p.entries_done) + "/" +
                      std::to_string(p.entries_total) + " files, " + HumanBytes(p.bytes_done) +
                      "/" + HumanBytes(p.bytes_total));
    };
    auto r = BuildArtifact(store.get(), std::move(*entries), bo);
    progress.Done();
    if (!r.ok()) return Fail(r.status().WithContext("modules " + moddir));
    bool same = old_modules && r->manifest.SameContentAs(*old_modules);
    kmeta.emplace_back("modules", same ? old_modules->Id().Hex() : r->manifest_id.Hex());
    modules_desc = HumanBytes(r->manifest.total_raw_size) + " in " +
                   std::to_string(r->segments) + " segments (" + std::to_string(r->entries) +
                   " entries, " + std::to_string(r->segments_new) + " new segments)";
  }
  auto kr = StoreBlob(store.get(), kernel_file, ArtifactKind::kKernel, kmeta);
  if (!kr.ok()) return Fail(kr.status().WithContext("kernel " + kernel_file));
  ChunkId kernel_id = kr->manifest_id;
  if (old_kernel && kr->manifest.SameContentAs(*old_kernel)) kernel_id = old_kernel->Id();
  if (Status s = store->SetRef(ref, kernel_id); !s.ok()) return Fail(s);
  if (!quiet) {
    printf("imported kernel '%s' (%s) in %.2fs\n", name.c_str(), version.c_str(),
           static_cast<double>(MonotonicNanos() - t0) / 1e9);
    printf("  kernel   %s\n  modules  %s\n  manifest %s\n",
           HumanBytes(kr->manifest.total_raw_size).c_str(), modules_desc.c_str(),
           kernel_id.Hex().c_str());
    printf("use it with `kernel: {version: %s}` on a node or profile in nodes.conf\n", name.c_str());
  }
  return 0;
}

struct KernelInfo {
  std::string name;
  ChunkId id;
  Manifest kernel;
  std::optional<Manifest> modules;
};

Result<KernelInfo> LoadKernel(const Store& store, const std::string& name, const ChunkId& id) {
  KernelInfo k{name, id, {}, std::nullopt};
  SW_ASSIGN_OR_RETURN(k.kernel, store.GetManifest(id));
  if (auto link = k.kernel.Meta("modules")) {
    auto mid = ChunkId::FromHex(*link);
    if (!mid) return Status::Corruption("kernel " + name + ": bad modules link");
    SW_ASSIGN_OR_RETURN(auto mm, store.GetManifest(*mid));
    k.modules = std::move(mm);
  }
  return k;
}

int List(const std::vector<std::string>& args) {
  po::options_description opts("options");
  AddCommonOptions(&opts);
  opts.add_options()("json", "machine-readable");
  po::variables_map vm;
  if (int rc = ParseArgs(args, "usage: swctl kernel list [--json]", opts, {}, &vm); rc >= 0) {
    return rc;
  }
  auto store = OpenStoreOrDie(vm, false);
  if (!store) return 1;
  auto refs = store->ListRefs("kernels/");
  if (!refs.ok()) return Fail(refs.status());
  bool json = vm.count("json") > 0;
  if (json) {
    printf("[");
  } else {
    printf("%-24s %-24s %10s %10s %s\n", "NAME", "VERSION", "KERNEL", "MODULES", "CREATED");
  }
  bool first = true;
  for (const auto& [ref, id] : *refs) {
    std::string name = ref.substr(8);
    auto k = LoadKernel(*store, name, id);
    if (!k.ok()) {
      if (!json) printf("%-24s (unreadable: %s)\n", name.c_str(), k.status().ToString().c_str());
      continue;
    }
    std::string version(k->kernel.Meta("kernel_version").value_or("?"));
    if (json) {
      printf("%s{\"name\":\"%s\",\"version\":\"%s\",\"kernel_size\":%llu,\"modules_size\":%llu,"
             "\"created\":%lld}",
             first ? "" : ",", name.c_str(), version.c_str(),
             static_cast<unsigned long long>(k->kernel.total_raw_size),
             static_cast<unsigned long long>(k->modules ? k->modules->total_raw_size : 0),
             static_cast<long long>(k->kernel.created_unix));
    } else {
      printf("%-24s %-24s %10s %10s %s\n", name.c_str(), version.c_str(),
             HumanBytes(k->kernel.total_raw_size).c_str(),
             k->modules ? HumanBytes(k->modules->total_raw_size).c_str() : "-",
             HumanTime(k->kernel.created_unix).c_str());
    }
    first = false;
  }
  if (json) printf("]\n");
  return 0;
}

int Show(const std::vector<std::string>& args) {
  po::options_description opts("options");
  po::variables_map vm;
  if (int rc = ParseNameArgs(args, "usage: swctl kernel show NAME", &opts, &vm); rc >= 0) return rc;
  auto store = OpenStoreOrDie(vm, false);
  if (!store) return 1;
  std::string name = vm["name"].as<std::string>();
  auto id = store->GetRef("kernels/" + name);
  if (!id.ok()) return Fail(id.status().WithContext("kernel '" + name + "'"));
  auto k = LoadKernel(*store, name, *id);
  if (!k.ok()) return Fail(k.status());
  std::string version(k->kernel.Meta("kernel_version").value_or("?"));
  printf("kernel    %s\nversion   %s\nsource    %s\nmanifest  %s\ncreated   %s\nsize      %s\n",
         name.c_str(), version.c_str(),
         std::string(k->kernel.Meta("source").value_or("?")).c_str(), id->Hex().c_str(),
         HumanTime(k->kernel.created_unix).c_str(), HumanBytes(k->kernel.total_raw_size).c_str());
  if (k->modules) {
    printf("modules   %s in %zu segments (lib/modules/%s)\n",
           HumanBytes(k->modules->total_raw_size).c_str(), k->modules->chunks.size(),
           version.c_str());
  } else {
    printf("modules   none: nodes need lib/modules/%s in their image\n", version.c_str());
  }
  // Images that carry modules for this version themselves.
  std::string with;
  if (auto refs = store->ListRefs("images/"); refs.ok()) {
    for (const auto& [ref, iid] : *refs) {
      auto m = store->GetManifest(iid);
      if (!m.ok()) continue;
      std::string mv = "," + std::string(m->Meta("module_versions").value_or("")) + ",";
      if (mv.find("," + version + ",") != std::string::npos) with += " " + ref.substr(7);
    }
  }
  printf("images with lib/modules/%s:%s\n", version.c_str(), with.empty() ? " none" : with.c_str());
  return 0;
}

int Delete(const std::vector<std::string>& args) {
  po::options_description opts("options");
  po::variables_map vm;
  if (int rc = ParseNameArgs(args, "usage: swctl kernel delete NAME", &opts, &vm); rc >= 0) return rc;
  auto store = OpenStoreOrDie(vm, false);
  if (!store) return 1;
  std::string name = vm["name"].as<std::string>();
  if (Status s = store->DeleteRef("kernels/" + name); !s.ok()) {
    return Fail(s.WithContext("kernel '" + name + "'"));
  }
  printf("deleted kernel '%s' (run `swctl store gc` to free its chunks)\n", name.c_str());
  return 0;
}

}  // namespace

int RunKernelCommand(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::fputs(kGroupUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  std::vector<std::string> rest(args.begin() + 1, args.end());
  const std::string& cmd = args[0];
  if (cmd == "import") return Import(rest);
  if (cmd == "list" || cmd == "ls") return List(rest);
  if (cmd == "show") return Show(rest);
  if (cmd == "delete" || cmd == "rm") return Delete(rest);
  std::cerr << "swctl kernel: unknown command '" << cmd << "'\n\n" << kGroupUsage;
  return 2;
}

}  // namespace sw
