#include "agent/runtime_client.h"

#include <libdeflate.h>
#include <sys/stat.h>
#include <zstd.h>

#include <cstring>
#include <memory>

#include "chunkstore/codec.h"
#include "chunkstore/newc.h"
#include "common/fs_util.h"
#include "common/hex.h"

namespace sw {
namespace {

std::string Trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  while (!s.empty() && s.front() == ' ') s.erase(0, 1);
  return s;
}

// Query component escaping for the few characters an asset tag or uuid may hold.
std::string QueryEscape(std::string_view s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace

Result<NodeIdentity> ReadIdentity(const std::string& cmdline_path, const std::string& sys_root) {
  SW_ASSIGN_OR_RETURN(std::string cmdline, ReadFileToString(cmdline_path));
  NodeIdentity id;
  size_t pos = 0;
  while (pos < cmdline.size()) {
    size_t end = cmdline.find_first_of(" \t\n", pos);
    if (end == std::string::npos) end = cmdline.size();
    std::string_view arg(cmdline.data() + pos, end - pos);
    if (arg.substr(0, 5) == "wwid=") id.wwid = std::string(arg.substr(5));
    pos = end + 1;
  }
  if (id.wwid.empty()) return Status::NotFound("no wwid= on the kernel command line");
  if (id.wwid.size() > 2 && id.wwid.front() == '[' && id.wwid.back() == ']') {
    std::string dev = id.wwid.substr(1, id.wwid.size() - 2);
    if (dev.find('/') != std::string::npos) return Status::InvalidArgument("bad wwid device");
    SW_ASSIGN_OR_RETURN(std::string mac,
                        ReadFileToString(sys_root + "/class/net/" + dev + "/address"));
    id.wwid = Trimmed(mac);
  }
  if (auto uuid = ReadFileToString(sys_root + "/class/dmi/id/product_uuid"); uuid.ok()) {
    id.uuid = Trimmed(*uuid);
  }
  if (auto tag = ReadFileToString(sys_root + "/class/dmi/id/chassis_asset_tag"); tag.ok()) {
    std::string t = Trimmed(*tag);
    for (char& c : t) {
      if (c == ' ') c = '_';
    }
    id.assetkey = t;
  }
  return id;
}

Result<std::string> DecodeBody(const std::string& body, const std::string& compress) {
  if (compress.empty()) return body;
  std::string out;
  if (compress == "zstd") {
    std::unique_ptr<ZSTD_DCtx, decltype(&ZSTD_freeDCtx)> dctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
    ZSTD_inBuffer in{body.data(), body.size(), 0};
    std::string buf(1 << 17, '\0');
    size_t last = 0;
    // Concatenated frames decode back to back; `last` is 0 exactly when the input ended on a
    // frame boundary.
    for (;;) {
      ZSTD_outBuffer o{buf.data(), buf.size(), 0};
      last = ZSTD_decompressStream(dctx.get(), &o, &in);
      if (ZSTD_isError(last)) {
        return Status::Corruption(std::string("zstd: ") + ZSTD_getErrorName(last));
      }
      out.append(buf.data(), o.pos);
      if (in.pos == in.size && o.pos < o.size) break;
    }
    if (last != 0) return Status::Corruption("zstd: truncated frame");
    return out;
  }
  if (compress == "gz") {
    std::unique_ptr<libdeflate_decompressor, decltype(&libdeflate_free_decompressor)> d(
        libdeflate_alloc_decompressor(), libdeflate_free_decompressor);
    size_t in_pos = 0;
    while (in_pos < body.size()) {
      size_t cap = std::max<size_t>(4096, (body.size() - in_pos) * 4);
      for (;;) {
        std::string member(cap, '\0');
        size_t in_used = 0, out_used = 0;
        auto r = libdeflate_gzip_decompress_ex(d.get(), body.data() + in_pos, body.size() - in_pos,
                                               member.data(), member.size(), &in_used, &out_used);
        if (r == LIBDEFLATE_INSUFFICIENT_SPACE && cap < (1ull << 34)) {
          cap *= 2;
          continue;
        }
        if (r != LIBDEFLATE_SUCCESS) return Status::Corruption("gzip: bad member");
        out.append(member.data(), out_used);
        in_pos += in_used;
        break;
      }
    }
    return out;
  }
  return Status::InvalidArgument("unknown compression: " + compress);
}

Result<std::vector<OverlayEntry>> ParseNewcStream(std::string_view raw) {
  SW_ASSIGN_OR_RETURN(auto entries, ParseNewc(raw));
  std::vector<OverlayEntry> out;
  out.reserve(entries.size());
  for (auto& e : entries) {
    std::string name = std::move(e.name);
    while (name.size() >= 2 && name.compare(0, 2, "./") == 0) name.erase(0, 2);
    if (name == "." || name.empty()) continue;
    uint32_t type = e.h.mode & S_IFMT;
    if (type != S_IFREG && type != S_IFDIR && type != S_IFLNK) {
      return Status::InvalidArgument("overlay entry " + name + ": unsupported type");
    }
    if (type == S_IFREG && e.h.nlink > 1) {
      return Status::InvalidArgument("overlay entry " + name + ": hard links are not supported");
    }
    out.push_back(OverlayEntry{std::move(name), e.h.mode, e.h.uid, e.h.gid,
                               static_cast<int64_t>(e.h.mtime), std::string(e.data)});
  }
  return out;
}

RuntimeClient::RuntimeClient(HttpClient* http, NodeIdentity id, RuntimeClientOptions opts)
    : http_(http), id_(std::move(id)), opts_(std::move(opts)) {}

Status RuntimeClient::RunCycle(CycleResult* result) {
  *result = CycleResult{};
  std::string path = "/runtime/" + id_.wwid + "?assetkey=" + QueryEscape(id_.assetkey);
  if (!opts_.compress.empty()) path += "&compress=" + opts_.compress;
  path += "&uuid=" + QueryEscape(id_.uuid);
  std::vector<std::pair<std::string, std::string>> headers;
  if (!etag_.empty()) headers.emplace_back("If-None-Match", etag_);
  std::string body;
  HttpResult http;
  SW_RETURN_IF_ERROR(http_->GetToString(path, headers, &body, &http, opts_.max_overlay_bytes));
  result->http_status = http.status;
  result->body_bytes = http.body_bytes;
  if (std::string ra = http.Header("retry-after"); !ra.empty()) {
    result->retry_after_seconds = atoi(ra.c_str());
  }
  if (http.status == 304) {
    result->outcome = CycleOutcome::kNotModified;
    return Status::OK();
  }
  if (http.status >= 500 || http.status == 429) {
    return Status::Unavailable("server answered " + std::to_string(http.status));
  }
  if (http.status != 200) {
    return Status::InvalidArgument("server refused the runtime overlay: HTTP " +
                                   std::to_string(http.status));
  }
  SW_ASSIGN_OR_RETURN(std::string raw, DecodeBody(body, opts_.compress));
  auto sha = Sha256Of(ByteSpan(reinterpret_cast<const uint8_t*>(raw.data()), raw.size()));
  std::string digest = HexEncode(sha.data(), sha.size());
  std::string etag = http.Header("etag");
  // stormwulfd's ETag is "\"<sha256 hex prefix>-<representation>\"": verify before applying.
  // The digest is of the artifact's stream, which is what the zst and raw representations decode
  // to; the gz one holds the same entries as one cpio archive (for Warewulf's `cpio -i` clients),
  // so it is checked only by gzip's CRCs. zstd, the default, is verified end to end.
  if (etag.size() > 2 && etag.front() == '"') {
    std::string inner = etag.substr(1, etag.size() - 2);
    size_t dash = inner.find('-');
    std::string prefix = inner.substr(0, dash);
    bool gz_form = dash != std::string::npos && inner.compare(dash + 1, std::string::npos, "gz") == 0;
    if (!gz_form && prefix.size() >= 16 && prefix.size() <= 64 &&
        prefix.find_first_not_of("0123456789abcdef") == std::string::npos &&
        digest.compare(0, prefix.size(), prefix) != 0) {
      return Status::Corruption("runtime overlay does not match its ETag digest");
    }
  }
  if (digest == last_digest_) {
    etag_ = etag;
    result->outcome = CycleOutcome::kUnchanged;
    return Status::OK();
  }
  SW_ASSIGN_OR_RETURN(auto entries, ParseNewcStream(raw));
  SW_RETURN_IF_ERROR(ApplyOverlay(entries, opts_.apply, &result->apply));
  etag_ = etag;
  last_digest_ = digest;
  result->outcome = CycleOutcome::kApplied;
  return Status::OK();
}

}  // namespace sw
