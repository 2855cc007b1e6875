#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX, kept out of this header

namespace cell::demo {

// Incremental SHA-256 over OpenSSL EVP so large bodies are hashed piece by piece.
class Sha256 {
 public:
  Sha256();
  void update(const void* data, std::size_t size);
  void update(std::string_view data) { update(data.data(), data.size()); }
  // Lowercase hex digest; the object must not be updated afterwards.
  std::string final_hex();

 private:
  struct ContextDeleter {
    void operator()(evp_md_ctx_st* context) const noexcept;
  };
  std::unique_ptr<evp_md_ctx_st, ContextDeleter> context_;
};

std::string sha256_hex(std::string_view data);

std::string to_hex(const unsigned char* data, std::size_t size);

}  // namespace cell::demo
