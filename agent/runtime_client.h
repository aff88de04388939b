// agent/runtime_client.h: one wwclient refresh cycle, and the identity a node presents.
//
// A cycle sends `GET /runtime/<wwid>?assetkey=..&compress=zstd&uuid=..` with If-None-Match of the
// version it applied last; a 304 ends the cycle. A 200 body is decompressed, its SHA-256 checked
// against the ETag when the server's ETag carries one (stormwulfd: "<sha256 hex prefix>-<repr>"),
// parsed as concatenated newc archives and applied with ApplyOverlay. Against a server that sends
// no ETag (Warewulf), the digest of the body is compared with the last one applied instead, so an
// unchanged overlay is still not re-applied.
// Thread-safety: a RuntimeClient is used by one thread.
#pragma once

#include <cstdint>
#include <string>

#include "agent/http_client.h"
#include "agent/overlay_apply.h"
#include "common/status.h"

namespace sw {

struct NodeIdentity {
  std::string wwid;      // the node id the server knows (a MAC, or a name)
  std::string uuid;      // SMBIOS system UUID, may be empty
  std::string assetkey;  // SMBIOS chassis asset tag (spaces -> '_'), may be empty
};

// Reads wwid= from the kernel command line file (`wwid=[eth0]` means the MAC of eth0, read from
// <sys_root>/class/net/eth0/address), the SMBIOS uuid and chassis asset tag from
// <sys_root>/class/dmi/id/. NotFound if there is no wwid.
Result<NodeIdentity> ReadIdentity(const std::string& cmdline_path, const std::string& sys_root);

enum class CycleOutcome { kApplied, kNotModified, kUnchanged };

struct CycleResult {
  CycleOutcome outcome = CycleOutcome::kNotModified;
  int http_status = 0;
  uint64_t body_bytes = 0;
  int retry_after_seconds = -1;  // from a Retry-After header, else -1
  ApplyReport apply;
};

struct RuntimeClientOptions {
  std::string compress = "zstd";  // "zstd", "gz" or "" (uncompressed)
  ApplyOptions apply;
  uint64_t max_overlay_bytes = 1ull << 30;
};

class RuntimeClient {
 public:
  RuntimeClient(HttpClient* http, NodeIdentity id, RuntimeClientOptions opts);

  // One cycle. Unavailable: network trouble or a 5xx/429 (retry with backoff); PermissionDenied-
  // like refusals (401/403) are InvalidArgument with the status in the message; Corruption: the
  // body failed verification (nothing was applied).
  Status RunCycle(CycleResult* result);

  const std::string& applied_etag() const { return etag_; }

 private:
  HttpClient* http_;
  NodeIdentity id_;
  RuntimeClientOptions opts_;
  std::string etag_;         // ETag of the version applied last ("" = none)
  std::string last_digest_;  // SHA-256 hex of the last applied raw stream
};

// Decodes a response body into the raw stream: zstd frames, gzip members, or identity.
Result<std::string> DecodeBody(const std::string& body, const std::string& compress);

// Parses a stream of concatenated newc archives (each ending in TRAILER!!!) into overlay entries.
// Corruption on malformed input; InvalidArgument for hard links (not used in overlays) or devices.
Result<std::vector<OverlayEntry>> ParseNewcStream(std::string_view raw);

}  // namespace sw
