// bench/bootstorm_http.h: an incremental HTTP/1.x response reader for bootstorm's clients.
//
// Feed it bytes as they arrive; it parses the head (status, Content-Length, Transfer-Encoding:
// chunked, Connection, ETag), then frames the body by Content-Length, chunked encoding, or (for
// neither) the connection close, and counts body bytes. Body bytes are only kept when asked (the
// iPXE script); large artifacts are counted and dropped. One object per request.
//
// Thread-safety: none; one object belongs to one connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sw::bootstorm {

class ResponseReader {
 public:
  enum class State { kHead, kBody, kDone, kError };

  // keep_body: store up to max_kept body bytes in body().
  explicit ResponseReader(bool keep_body = false, size_t max_kept = 1 << 20)
      : keep_body_(keep_body), max_kept_(max_kept) {}

  // Consumes bytes from `data`; returns how many were used (less than data.size() only once the
  // response is complete: the rest belongs to the next response). Check state() afterwards.
  size_t Feed(std::string_view data);
  // Body bytes the caller may drop without looking at them (inside a Content-Length body or a
  // chunk's data, when the body is not kept): it can discard them in the kernel with
  // recv(MSG_TRUNC) and then report them with Skip(). 0 when the next bytes need parsing.
  uint64_t SkippableBytes() const;
  // REQUIRES: n <= SkippableBytes().
  void Skip(uint64_t n);
  // The peer closed the connection. Completes a close-delimited body; otherwise an error.
  void OnEof();

  State state() const { return state_; }
  bool done() const { return state_ == State::kDone; }
  bool failed() const { return state_ == State::kError; }
  const std::string& error() const { return error_; }
  int status() const { return status_; }
  // True if the connection cannot carry another request after this response.
  bool must_close() const { return must_close_; }
  const std::string& etag() const { return etag_; }
  uint64_t body_bytes() const { return body_bytes_; }
  uint64_t head_bytes() const { return head_bytes_; }
  bool got_any_byte() const { return head_bytes_ > 0 || !head_.empty(); }
  int64_t content_length() const { return content_length_; }
  bool chunked() const { return chunked_; }
  const std::string& body() const { return body_; }

 private:
  enum class BodyMode { kLength, kChunked, kUntilClose, kNone };
  enum class ChunkState { kSize, kData, kDataEnd, kTrailer };

  bool ParseHead(std::string_view head);
  size_t FeedBody(std::string_view data);
  void TakeBody(std::string_view data);
  void Fail(std::string msg) {
    state_ = State::kError;
    error_ = std::move(msg);
  }

  bool keep_body_;
  size_t max_kept_;
  State state_ = State::kHead;
  std::string error_;
  std::string head_;
  uint64_t head_bytes_ = 0;
  int status_ = 0;
  bool must_close_ = false;
  bool chunked_ = false;
  int64_t content_length_ = -1;
  std::string etag_;
  BodyMode mode_ = BodyMode::kNone;
  uint64_t remaining_ = 0;  // kLength: body bytes left; kChunked: chunk data left
  ChunkState chunk_state_ = ChunkState::kSize;
  std::string line_;  // partial chunk-size or trailer line
  uint64_t body_bytes_ = 0;
  std::string body_;
};

}  // namespace sw::bootstorm
