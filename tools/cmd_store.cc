// swctl store: stats, gc, fsck, optimize, gzip.
#include <cstdio>
#include <iostream>

#include "chunkstore/codec.h"
#include "chunkstore/maintenance.h"
#include "tools/cli.h"
#include "tools/cli_util.h"

namespace sw {
namespace {

constexpr char kUsage[] =
    "usage: swctl store <command> [options]\n\n"
    "commands:\n"
    "  init                  create an empty store (idempotent; import does it too)\n"
    "  stats [--json]        chunk count, stored and logical bytes, dedup ratio\n"
    "  gc [--dry-run]        delete chunks and manifests no ref reaches (waits for writers)\n"
    "  fsck [--repair]       re-hash every chunk, check every manifest's SHA-256 and every ref\n"
    "  optimize [--level N]  recompress chunks at a high zstd level, in place, while serving\n"
    "  gzip                  build the compress=gz encoding of every live chunk now, so that the\n"
    "                        first boot storm with Warewulf's template does not wait for it\n";

int Init(const std::vector<std::string>& args) {
  po::options_description opts("options");
  AddCommonOptions(&opts);
  po::variables_map vm;
  if (int rc = ParseArgs(args, "usage: swctl store init [--store DIR]", opts, {}, &vm); rc >= 0) return rc;
  auto store = OpenStoreOrDie(vm, /*create=*/true);
  if (!store) return 1;
  printf("store ready at %s\n", store->root().c_str());
  return 0;
}

int Stats(const std::vector<std::string>& args) {
  po::options_description opts("options");
  AddCommonOptions(&opts);
  opts.add_options()("json", "machine-readable output");
  po::variables_map vm;
  if (int rc = ParseArgs(args, "usage: swctl store stats [--json]", opts, {}, &vm); rc >= 0) return rc;
  auto store = OpenStoreOrDie(vm, false);
  if (!store) return 1;
  auto s = ComputeStats(store.get());
  if (!s.ok()) {
    std::cerr << "swctl: " << s.status().ToString() << "\n";
    return 1;
  }
  if (vm.count("json")) {
    printf("{\"chunks\":%llu,\"stored_bytes\":%llu,\"derived_bytes\":%llu,\"logical_bytes\":%llu,"
           "\"unique_raw_bytes\":%llu,\"manifests\":%llu,\"refs\":%llu,\"dedup_ratio\":%.4f,"
           "\"compression_ratio\":%.4f}\n",
           (unsigned long long)s->chunks, (unsigned long long)s->stored_bytes,
           (unsigned long long)s->derived_bytes, (unsigned long long)s->logical_bytes,
           (unsigned long long)s->unique_raw_bytes, (unsigned long long)s->manifests,
           (unsigned long long)s->refs, s->dedup_ratio, s->compression_ratio);
    return 0;
  }
  printf("store        %s\n", store->root().c_str());
  printf("refs         %llu (%llu manifests)\n", (unsigned long long)s->refs,
         (unsigned long long)s->manifests);
  printf("chunks       %llu, %s stored (+%s derived gzip/raw encodings)\n",
         (unsigned long long)s->chunks, HumanBytes(s->stored_bytes).c_str(),
         HumanBytes(s->derived_bytes).c_str());
  printf("logical      %s referenced, %s unique\n", HumanBytes(s->logical_bytes).c_str(),
         HumanBytes(s->unique_raw_bytes).c_str());
  printf("dedup        %.2fx   compression %.2fx   overall %.2fx\n", s->dedup_ratio,
         s->compression_ratio,
         s->stored_bytes ? static_cast<double>(s->logical_bytes) / static_cast<double>(s->stored_bytes)
                         : 0.0);
  return 0;
}

int Gc(const std::vector<std::string>& args) {
  po::options_description opts("options");
  AddCommonOptions(&opts);
  opts.add_options()("dry-run,n", "report only");
  po::variables_map vm;
  if (int rc = ParseArgs(args, "usage: swctl store gc [--dry-run]", opts, {}, &vm); rc >= 0) return rc;
  auto store = OpenStoreOrDie(vm, false);
  if (!store) return 1;
  auto r = CollectGarbage(store.get(), GcOptions{vm.count("dry-run") > 0});
  if (!r.ok()) {
    std::cerr << "swctl: " << r.status().ToString() << "\n";
    return 1;
  }
  printf("%s %llu chunks, %llu manifests, %llu derived files, %llu temps; %s freed; %llu chunks kept\n",
         vm.count("dry-run") ? "would remove" : "removed", (unsigned long long)r->chunks_removed,
         (unsigned long long)r->manifests_removed, (unsigned long long)r->derived_removed,
         (unsigned long long)r->temps_removed, HumanBytes(r->bytes_freed).c_str(),
         (unsigned long long)r->chunks_kept);
  return 0;
}

int FsckCmd(const std::vector<std::string>& args) {
  po::options_description opts("options");
  AddCommonOptions(&opts);
  opts.add_options()("repair", "remove corrupt chunks, bad derived files and stray temps")(
      "threads", po::value<int>()->default_value(0), "threads (0 = one per core)");
  po::variables_map vm;
  if (int rc = ParseArgs(args, "usage: swctl store fsck [--repair]", opts, {}, &vm); rc >= 0) return rc;
  auto store = OpenStoreOrDie(vm, false);
  if (!store) return 1;
  auto r = Fsck(store.get(), FsckOptions{vm.count("repair") > 0, vm["threads"].as<int>()});
  if (!r.ok()) {
    std::cerr << "swctl: " << r.status().ToString() << "\n";
    return 1;
  }
  for (const auto& e : r->errors) printf("ERROR   %s\n", e.c_str());
  for (const auto& w : r->warnings) printf("warning %s\n", w.c_str());
  for (const auto& x : r->repaired) printf("repair  %s\n", x.c_str());
  printf("checked %llu chunk files, %llu manifests, %llu refs: %zu errors, %zu warnings\n",
         (unsigned long long)r->chunks_checked, (unsigned long long)r->manifests_checked,
         (unsigned long long)r->refs_checked, r->errors.size(), r->warnings.size());
  if (!r->ok() && !r->repaired.empty()) {
    printf("corrupt chunks were removed: re-import the affected images to restore them\n");
  }
  return r->ok() ? 0 : 1;
}

int OptimizeCmd(const std::vector<std::string>& args) {
  po::options_description opts("options");
  AddCommonOptions(&opts);
  opts.add_options()("level", po::value<int>()->default_value(kOptimizeZstdLevel), "zstd level")(
      "threads", po::value<int>()->default_value(0), "threads (0 = one per core)")(
      "quiet,q", "no progress");
  po::variables_map vm;
  if (int rc = ParseArgs(args, "usage: swctl store optimize [--level N]", opts, {}, &vm); rc >= 0) {
    return rc;
  }
  auto store = OpenStoreOrDie(vm, false);
  if (!store) return 1;
  ProgressLine progress(vm.count("quiet") > 0);
  auto r = Optimize(store.get(), vm["level"].as<int>(), vm["threads"].as<int>(),
                    [&](uint64_t done, uint64_t total) {
                      progress.Update("optimizing: " + std::to_string(done) + "/" +
                                      std::to_string(total) + " chunks");
                    });
  progress.Done();
  if (!r.ok()) {
    std::cerr << "swctl: " << r.status().ToString() << "\n";
    return 1;
  }
  printf("optimized %llu chunks (%llu rewritten): %s -> %s\n", (unsigned long long)r->chunks_seen,
         (unsigned long long)r->chunks_rewritten, HumanBytes(r->bytes_before).c_str(),
         HumanBytes(r->bytes_after).c_str());
  return 0;
}

int GzipCmd(const std::vector<std::string>& args) {
  po::options_description opts("options");
  AddCommonOptions(&opts);
  opts.add_options()("threads", po::value<int>()->default_value(0), "threads (0 = one per core)")(
      "quiet,q", "no progress");
  po::variables_map vm;
  if (int rc = ParseArgs(args, "usage: swctl store gzip [--threads N] [--quiet]", opts, {}, &vm);
      rc >= 0) {
    return rc;
  }
  auto store = OpenStoreOrDie(vm, false);
  if (!store) return 1;
  const bool quiet = vm.count("quiet") > 0;
  ProgressLine progress(quiet);
  auto r = BuildGzipEncodings(store.get(), vm["threads"].as<int>(), [&](uint64_t done, uint64_t total) {
    progress.Update("gzip: " + std::to_string(done) + "/" + std::to_string(total) + " chunks");
  });
  progress.Done();
  if (!r.ok()) {
    std::cerr << "swctl: " << r.status().ToString() << "\n";
    return 1;
  }
  if (!quiet) {
    printf("gzip encodings: %llu live chunks, %llu built now (%s), the rest already had one\n",
           (unsigned long long)r->chunks_live, (unsigned long long)r->built,
           HumanBytes(r->bytes_built).c_str());
  }
  return 0;
}

}  // namespace

int RunStoreCommand(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::cout << kUsage;
    return args.empty() ? 2 : 0;
  }
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "init") return Init(rest);
  if (args[0] == "stats") return Stats(rest);
  if (args[0] == "gc") return Gc(rest);
  if (args[0] == "fsck") return FsckCmd(rest);
  if (args[0] == "optimize") return OptimizeCmd(rest);
  if (args[0] == "gzip") return GzipCmd(rest);
  std::cerr << "swctl store: unknown command '" << args[0] << "'\n\n" << kUsage;
  return 2;
}

}  // namespace sw
