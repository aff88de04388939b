// agent/provision.h: two-stage boot, `wwclient provision`: materialize the node's whole image
// into a root directory from the chunk store behind stormwulfd, in parallel, verified, cached.
//
// 1. GET /image/<wwid>?manifest=1 returns the image's manifest (the binary format of
//    docs/formats/manifest.md, self-checksummed): the ordered segment ids, sizes and the SHA-256
//    of the whole uncompressed stream.
// 2. N workers claim segments in order, each into a reused buffer from a bounded pool. A segment
//    comes from the cache (<cache>/<2 hex>/<id>: the decoded segment, so a warm boot does not
//    decompress; a stored zstd entry from an older wwclient is decoded) or from GET /chunks/<id>
//    (immutable: any HTTP cache in between may serve it). Its XXH3-128 must equal its id, else it
//    is fetched again once and then the run fails; a fetched segment is written to the cache
//    (temp + rename) only after it verified. Each segment is a complete newc archive, so each
//    worker unpacks its own segments into the root at once (files, hard links, symlinks, devices;
//    a parent that a later segment's directory entry will describe is created on demand).
//    Directory modes, owners and mtimes are applied at the end, deepest first.
// 3. A hasher thread feeds the segments to SHA-256 in manifest order while the workers go on; the
//    run fails if the whole stream's digest differs from the manifest's.
// A second provision after a small image update fetches only the changed segments.
// Thread-safety: Provision runs its own worker threads; call it from one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "agent/http_client.h"
#include "common/status.h"

namespace sw {

struct ProvisionOptions {
  std::string root;        // target directory; created if missing
  std::string cache_dir;   // segment cache; "" = no cache
  std::string query;       // extra query for /image ("assetkey=..&uuid=..")
  int parallel = 4;        // segments in flight
  bool set_owner = true;   // chown and mknod (needs root); off: devices are skipped
  HttpClientOptions http;
  // Called from worker threads (serialize yourself) after each segment.
  std::function<void(uint64_t segments_done, uint64_t segments_total, uint64_t bytes_fetched)>
      progress;
};

struct ProvisionReport {
  uint64_t segments = 0;
  uint64_t fetched = 0;        // segments downloaded
  uint64_t from_cache = 0;     // segments the cache already had (and that verified)
  uint64_t bytes_fetched = 0;  // bytes of those downloads
  uint64_t raw_bytes = 0;      // uncompressed image size
  uint64_t entries = 0;        // files, directories, links written
  uint64_t skipped_devices = 0;
  std::string sha256;          // of the whole uncompressed stream (verified)
};

// NotFound/InvalidArgument for 404/400/401 answers, Unavailable for network trouble, Corruption
// when a segment or the whole stream fails verification.
Status Provision(const HttpUrl& server, const std::string& wwid, const ProvisionOptions& opts,
                 ProvisionReport* report);

}  // namespace sw
