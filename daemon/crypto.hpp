#pragma once
// The few hashing primitives sluice needs (OpenSSL underneath), in one place: SigV4, webhook
// signatures, ingress tokens and event ids all use these.
#include <string>
#include <string_view>

namespace sluice {

std::string sha256(std::string_view data);                            // 32 raw bytes
std::string hmacSha256(std::string_view key, std::string_view data);  // 32 raw bytes
std::string hexEncode(std::string_view bytes);                        // lower-case
// Equal contents, in time that depends on neither content (both are hashed first, so the
// length of a secret does not leak either). For comparing presented tokens with secrets.
bool constantTimeEqual(std::string_view a, std::string_view b);

}  // namespace sluice
