#include "server/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>

#include "chunkstore/codec.h"

namespace sw {
namespace {
std::string TlsErrors() { return OpenSslErrors("unknown TLS error"); }
}  // namespace

Result<std::shared_ptr<TlsContext>> TlsContext::Create(const std::string& cert_file,
                                                       const std::string& key_file) {
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) return Status::IOError("SSL_CTX_new: " + TlsErrors());
  std::shared_ptr<TlsContext> out(new TlsContext(ctx));
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  // Nodes open one long-lived connection each; resumption tickets would only cost bytes and CPU.
  SSL_CTX_set_num_tickets(ctx, 0);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  // Key first: loading a certificate that does not match it then leaves no key, which the check
  // below reports in words an admin can act on.
  if (SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    return Status::InvalidArgument("TLS key " + key_file + ": " + TlsErrors());
  }
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1) {
    return Status::InvalidArgument("TLS certificate " + cert_file + ": " + TlsErrors());
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return Status::InvalidArgument("TLS key " + key_file + " does not match certificate " +
                                   cert_file + ": " + TlsErrors());
  }
  return out;
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

TlsSession::TlsSession(const TlsContext& ctx) {
  ssl_ = SSL_new(ctx.get());
  rbio_ = BIO_new(BIO_s_mem());
  wbio_ = BIO_new(BIO_s_mem());
  // An empty memory BIO reports "retry" instead of EOF, which is what a socket without data does.
  BIO_set_mem_eof_return(rbio_, -1);
  SSL_set_bio(ssl_, rbio_, wbio_);
  SSL_set_accept_state(ssl_);
}

TlsSession::~TlsSession() { SSL_free(ssl_); }

bool TlsSession::handshake_done() const { return SSL_is_init_finished(ssl_) == 1; }

TlsSession::Event TlsSession::Feed(const char* data, size_t n, std::string* plain) {
  ERR_clear_error();
  if (n > 0 && BIO_write(rbio_, data, static_cast<int>(n)) != static_cast<int>(n)) {
    error_ = "BIO_write failed";
    return Event::kError;
  }
  if (!handshake_done()) {
    int r = SSL_do_handshake(ssl_);
    if (r != 1) {
      int e = SSL_get_error(ssl_, r);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return Event::kOk;
      error_ = "TLS handshake: " + TlsErrors();
      return Event::kError;
    }
  }
  char buf[16384];
  for (;;) {
    int r = SSL_read(ssl_, buf, sizeof(buf));
    if (r > 0) {
      plain->append(buf, static_cast<size_t>(r));
      continue;
    }
    int e = SSL_get_error(ssl_, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return Event::kOk;
    if (e == SSL_ERROR_ZERO_RETURN) return Event::kPeerClosed;
    error_ = "TLS read: " + TlsErrors();
    return Event::kError;
  }
}

bool TlsSession::Write(const char* data, size_t n) {
  ERR_clear_error();
  while (n > 0) {
    int r = SSL_write(ssl_, data, static_cast<int>(std::min<size_t>(n, 1u << 30)));
    if (r <= 0) {
      error_ = "TLS write: " + TlsErrors();
      return false;
    }
    data += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

void TlsSession::Shutdown() {
  ERR_clear_error();
  if (handshake_done()) SSL_shutdown(ssl_);
}

bool TlsSession::TakeOutput(std::string* out) {
  size_t pending = BIO_ctrl_pending(wbio_);
  if (pending == 0) return false;
  size_t old = out->size();
  out->resize(old + pending);
  int r = BIO_read(wbio_, out->data() + old, static_cast<int>(pending));
  out->resize(old + static_cast<size_t>(r > 0 ? r : 0));
  return r > 0;
}

}  // namespace sw
