// bench/bootstorm_http.cc: see bootstorm_http.h.
#include "bench/bootstorm_http.h"

#include <cctype>
#include <cstdlib>

namespace sw::bootstorm {
namespace {

constexpr size_t kMaxHead = 64 * 1024;
constexpr size_t kMaxChunkLine = 4096;

bool IStartsWith(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) !=
        std::tolower(static_cast<unsigned char>(prefix[i]))) {
      return false;
    }
  }
  return true;
}

bool IContains(std::string_view hay, std::string_view needle) {
  if (needle.size() > hay.size()) return false;
  for (size_t i = 0; i + needle.size() <= hay.size(); ++i) {
    if (IStartsWith(hay.substr(i), needle)) return true;
  }
  return false;
}

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace

bool ResponseReader::ParseHead(std::string_view head) {
  size_t eol = head.find('\n');
  std::string_view status_line = TrimSpaces(head.substr(0, eol));
  // "HTTP/1.1 200 OK"
  if (status_line.size() < 12 || !IStartsWith(status_line, "HTTP/1.")) {
    Fail("bad status line");
    return false;
  }
  int minor = status_line[7] - '0';
  status_ = std::atoi(std::string(status_line.substr(9, 3)).c_str());
  if (status_ < 100 || status_ > 999) {
    Fail("bad status code");
    return false;
  }
  bool keep_alive_10 = false;
  bool close = false;
  std::string_view rest = eol == std::string_view::npos ? std::string_view() : head.substr(eol + 1);
  while (!rest.empty()) {
    size_t nl = rest.find('\n');
    std::string_view line = TrimSpaces(rest.substr(0, nl));
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    if (line.empty()) continue;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = line.substr(0, colon);
    std::string_view value = TrimSpaces(line.substr(colon + 1));
    if (name.size() == 14 && IStartsWith(name, "content-length")) {
      char* end = nullptr;
      std::string v(value);
      long long n = std::strtoll(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || n < 0) {
        Fail("bad Content-Length");
        return false;
      }
      content_length_ = n;
    } else if (name.size() == 17 && IStartsWith(name, "transfer-encoding")) {
      chunked_ = IContains(value, "chunked");
    } else if (name.size() == 10 && IStartsWith(name, "connection")) {
      if (IContains(value, "close")) close = true;
      if (IContains(value, "keep-alive")) keep_alive_10 = true;
    } else if (name.size() == 4 && IStartsWith(name, "etag")) {
      etag_ = std::string(value);
    }
  }
  must_close_ = close || (minor == 0 && !keep_alive_10);
  if (status_ == 204 || status_ == 304 || (status_ >= 100 && status_ < 200)) {
    mode_ = BodyMode::kNone;
  } else if (chunked_) {
    mode_ = BodyMode::kChunked;
    chunk_state_ = ChunkState::kSize;
  } else if (content_length_ >= 0) {
    mode_ = content_length_ == 0 ? BodyMode::kNone : BodyMode::kLength;
    remaining_ = static_cast<uint64_t>(content_length_);
  } else {
    mode_ = BodyMode::kUntilClose;
    must_close_ = true;
  }
  return true;
}

void ResponseReader::TakeBody(std::string_view data) {
  body_bytes_ += data.size();
  if (keep_body_ && body_.size() < max_kept_) {
    body_.append(data.substr(0, max_kept_ - body_.size()));
  }
}

size_t ResponseReader::Feed(std::string_view data) {
  size_t used = 0;
  while (used < data.size() && (state_ == State::kHead || state_ == State::kBody)) {
    std::string_view rest = data.substr(used);
    if (state_ == State::kHead) {
      // Look for the blank line, allowing the terminator to straddle two Feed() calls.
      size_t old = head_.size();
      size_t take = std::min(rest.size(), kMaxHead + 4 - old);
      head_.append(rest.substr(0, take));
      size_t from = old >= 3 ? old - 3 : 0;
      size_t end = head_.find("\r\n\r\n", from);
      size_t term = 4;
      if (end == std::string::npos) {
        end = head_.find("\n\n", from);
        term = 2;
      }
      if (end == std::string::npos) {
        if (head_.size() > kMaxHead) {
          Fail("response head too large");
          return used + take;
        }
        used += take;
        continue;
      }
      size_t head_len = end + term;
      size_t consumed_here = head_len - old;
      used += consumed_here;
      head_bytes_ += head_len;
      std::string head = std::move(head_);
      head_.clear();
      if (!ParseHead(std::string_view(head).substr(0, end))) return used;
      if (status_ >= 100 && status_ < 200) {
        // Interim response (100 Continue): the real head follows.
        continue;
      }
      state_ = mode_ == BodyMode::kNone ? State::kDone : State::kBody;
      continue;
    }
    used += FeedBody(rest);
  }
  return used;
}

size_t ResponseReader::FeedBody(std::string_view data) {
  switch (mode_) {
    case BodyMode::kNone:
      state_ = State::kDone;
      return 0;
    case BodyMode::kUntilClose:
      TakeBody(data);
      return data.size();
    case BodyMode::kLength: {
      size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, data.size()));
      TakeBody(data.substr(0, n));
      remaining_ -= n;
      if (remaining_ == 0) state_ = State::kDone;
      return n;
    }
    case BodyMode::kChunked:
      break;
  }
  size_t used = 0;
  while (used < data.size() && state_ == State::kBody) {
    std::string_view rest = data.substr(used);
    if (chunk_state_ == ChunkState::kData) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, rest.size()));
      TakeBody(rest.substr(0, n));
      remaining_ -= n;
      used += n;
      if (remaining_ == 0) chunk_state_ = ChunkState::kDataEnd;
      continue;
    }
    // Line-oriented states: size line, CRLF after data, trailer lines.
    size_t nl = rest.find('\n');
    if (nl == std::string_view::npos) {
      line_.append(rest);
      used += rest.size();
      if (line_.size() > kMaxChunkLine) Fail("chunk line too long");
      continue;
    }
    line_.append(rest.substr(0, nl));
    used += nl + 1;
    std::string line = std::move(line_);
    line_.clear();
    if (!line.empty() && line.back() == '\r') line.pop_back();
    switch (chunk_state_) {
      case ChunkState::kSize: {
        char* end = nullptr;
        unsigned long long n = std::strtoull(line.c_str(), &end, 16);
        if (end == line.c_str()) {
          Fail("bad chunk size");
          return used;
        }
        if (n == 0) {
          chunk_state_ = ChunkState::kTrailer;
        } else {
          remaining_ = n;
          chunk_state_ = ChunkState::kData;
        }
        break;
      }
      case ChunkState::kDataEnd:
        if (!line.empty()) {
          Fail("missing CRLF after chunk data");
          return used;
        }
        chunk_state_ = ChunkState::kSize;
        break;
      case ChunkState::kTrailer:
        if (line.empty()) state_ = State::kDone;
        break;
      case ChunkState::kData:
        break;
    }
  }
  return used;
}

uint64_t ResponseReader::SkippableBytes() const {
  if (state_ != State::kBody || keep_body_) return 0;
  if (mode_ == BodyMode::kLength) return remaining_;
  if (mode_ == BodyMode::kChunked && chunk_state_ == ChunkState::kData) return remaining_;
  return 0;
}

void ResponseReader::Skip(uint64_t n) {
  if (n == 0) return;
  body_bytes_ += n;
  remaining_ -= n;
  if (remaining_ == 0) {
    if (mode_ == BodyMode::kLength) {
      state_ = State::kDone;
    } else {
      chunk_state_ = ChunkState::kDataEnd;
    }
  }
}

void ResponseReader::OnEof() {
  if (state_ == State::kBody && mode_ == BodyMode::kUntilClose) {
    state_ = State::kDone;
    must_close_ = true;
    return;
  }
  if (state_ == State::kHead || state_ == State::kBody) {
    Fail(got_any_byte() ? "connection closed mid-response" : "connection closed before response");
  }
}

}  // namespace sw::bootstorm
