// server/tls.h: TLS for stormwulfd's io_uring engine, with OpenSSL driven through memory BIOs.
//
// The engine owns the socket and every read and write on it (io_uring recv/send); OpenSSL only
// transforms bytes: received ciphertext is fed in and comes out as plaintext request bytes, and
// response plaintext goes in and comes out as ciphertext for the engine to send. So TLS
// connections use the same completion-driven state machine as plain ones, without blocking and
// without a second event mechanism. Bodies are encrypted in user space (the kernel's TLS ULP would
// keep splice zero-copy, but it is absent on many kernels, including the CI machines: see
// docs/http-engine.md "TLS").
// Thread-safety: a TlsContext is shared read-only by every loop thread after Create; a
// TlsSession belongs to one connection (one thread).
#pragma once

#include <memory>
#include <string>

#include "common/status.h"

struct ssl_ctx_st;
struct ssl_st;
struct bio_st;

namespace sw {

class TlsContext {
 public:
  // Loads a PEM certificate chain and private key; TLS 1.3 is the minimum version. InvalidArgument
  // naming the file and OpenSSL's reason when either cannot be used or they do not match.
  static Result<std::shared_ptr<TlsContext>> Create(const std::string& cert_file,
                                                    const std::string& key_file);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;
  ssl_ctx_st* get() const { return ctx_; }

 private:
  explicit TlsContext(ssl_ctx_st* ctx) : ctx_(ctx) {}
  ssl_ctx_st* ctx_;
};

class TlsSession {
 public:
  explicit TlsSession(const TlsContext& ctx);  // server side
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  enum class Event { kOk, kPeerClosed, kError };
  // Feeds received ciphertext, advances the handshake and appends any decrypted application data
  // to *plain. kPeerClosed after the peer's close_notify; kError when the handshake or a record
  // fails (error() says why); the connection should then be closed.
  Event Feed(const char* data, size_t n, std::string* plain);
  // Encrypts plaintext application data (after the handshake; before it, OpenSSL queues it).
  // Returns false on a fatal TLS error.
  bool Write(const char* data, size_t n);
  // Queues a close_notify alert.
  void Shutdown();
  // Appends the ciphertext waiting to be sent to *out; true if anything was appended.
  bool TakeOutput(std::string* out);
  bool handshake_done() const;
  const std::string& error() const { return error_; }

 private:
  ssl_st* ssl_ = nullptr;
  bio_st* rbio_ = nullptr;  // network -> OpenSSL (owned by ssl_)
  bio_st* wbio_ = nullptr;  // OpenSSL -> network (owned by ssl_)
  std::string error_;
};

}  // namespace sw
