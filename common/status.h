// common/status.h: Status and Result<T>, the error currency of every library layer.
//
// A Status is OK or carries a code and a message. OK allocates nothing (the rep is a null pointer,
// as in leveldb's Status), so returning Status::OK() on the hot path is free. Library code never
// throws; errors travel as Status / Result<T>. errno becomes a Status only through FromErrno().
//
// Thread-safety: a Status or Result is a value; distinct objects may be used from distinct threads.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "common/log.h"

namespace sw {

class [[nodiscard]] Status {
 public:
  enum class Code : uint8_t {
    kOk = 0,
    kNotFound,
    kCorruption,
    kInvalidArgument,
    kIOError,
    kUnavailable,
    kCancelled,
    kAlreadyExists,
    kNoSpace,
  };

  Status() = default;
  Status(const Status& o) : rep_(o.rep_ ? std::make_unique<Rep>(*o.rep_) : nullptr) {}
  Status& operator=(const Status& o) {
    if (this != &o) {
      rep_ = o.rep_ ? std::make_unique<Rep>(*o.rep_) : nullptr;
    }
    return *this;
  }
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;

  static Status OK() { return Status(); }
  static Status NotFound(std::string_view msg) { return Status(Code::kNotFound, msg); }
  static Status Corruption(std::string_view msg) { return Status(Code::kCorruption, msg); }
  static Status InvalidArgument(std::string_view msg) {
    return Status(Code::kInvalidArgument, msg);
  }
  static Status IOError(std::string_view msg) { return Status(Code::kIOError, msg); }
  static Status Unavailable(std::string_view msg) { return Status(Code::kUnavailable, msg); }
  static Status Cancelled(std::string_view msg) { return Status(Code::kCancelled, msg); }
  static Status AlreadyExists(std::string_view msg) { return Status(Code::kAlreadyExists, msg); }
  static Status NoSpace(std::string_view msg) { return Status(Code::kNoSpace, msg); }

  bool ok() const { return rep_ == nullptr; }
  Code code() const { return rep_ ? rep_->code : Code::kOk; }
  bool IsNotFound() const { return code() == Code::kNotFound; }
  bool IsCorruption() const { return code() == Code::kCorruption; }
  bool IsInvalidArgument() const { return code() == Code::kInvalidArgument; }
  bool IsIOError() const { return code() == Code::kIOError; }
  bool IsUnavailable() const { return code() == Code::kUnavailable; }
  bool IsCancelled() const { return code() == Code::kCancelled; }
  bool IsAlreadyExists() const { return code() == Code::kAlreadyExists; }
  bool IsNoSpace() const { return code() == Code::kNoSpace; }

  // The message alone (empty for OK). Valid while this Status lives and is unmodified.
  std::string_view message() const { return rep_ ? std::string_view(rep_->msg) : std::string_view(); }
  // "OK" or "<CodeName>: <message>".
  std::string ToString() const;
  // Returns a Status with the same code and "<ctx>: <message>". OK stays OK.
  Status WithContext(std::string_view ctx) const;

 private:
  struct Rep {
    Code code;
    std::string msg;
  };
  Status(Code c, std::string_view msg) : rep_(std::make_unique<Rep>(Rep{c, std::string(msg)})) {}
  std::unique_ptr<Rep> rep_;
};

const char* CodeName(Status::Code c);

// Converts an errno value into a Status: ENOENT -> NotFound, ENOSPC/EDQUOT -> NoSpace,
// EEXIST -> AlreadyExists, EINVAL -> InvalidArgument, ECANCELED -> Cancelled, else IOError.
// The message is "<ctx>: <strerror(err)>".
Status FromErrno(std::string_view ctx, int err);

// Result<T>: a T or a non-OK Status. Construct from a T (success) or a Status (must not be OK).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status s) : status_(std::move(s)) {     // NOLINT: implicit by design
    CHECK(!status_.ok()) << "Result constructed from an OK Status";
  }

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  // REQUIRES: ok().
  T& value() & {
    CHECK(ok()) << status_.ToString();
    return *value_;
  }
  const T& value() const& {
    CHECK(ok()) << status_.ToString();
    return *value_;
  }
  T&& value() && {
    CHECK(ok()) << status_.ToString();
    return std::move(*value_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace sw

// Returns early with the Status of `expr` when it is not OK.
#define SW_RETURN_IF_ERROR(expr)           \
  do {                                     \
    ::sw::Status _sw_st = (expr);          \
    if (!_sw_st.ok()) return _sw_st;       \
  } while (0)

#define SW_CONCAT_INNER(a, b) a##b
#define SW_CONCAT(a, b) SW_CONCAT_INNER(a, b)
// SW_ASSIGN_OR_RETURN(auto x, F()): declares x from a Result or returns its Status.
#define SW_ASSIGN_OR_RETURN(lhs, expr) \
  SW_ASSIGN_OR_RETURN_IMPL(SW_CONCAT(_sw_res_, __LINE__), lhs, expr)
#define SW_ASSIGN_OR_RETURN_IMPL(res, lhs, expr) \
  auto res = (expr);                             \
  if (!res.ok()) return res.status();            \
  lhs = std::move(res).value()
