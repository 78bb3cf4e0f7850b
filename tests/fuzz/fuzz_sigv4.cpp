// Fuzzes the SigV4 signer (daemon/sigv4.hpp) with hostile request parts: object keys, query
// strings and header values come from storage listings, events and the config. Input lines:
// method, path, query, then "name:value" headers. Whatever they hold, signing never crashes,
// uriEncode() leaves only unreserved bytes and %XX, and the canonical request keeps its shape:
// S3 signs the path byte for byte, and every signed header is one sorted, lower-case line.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "daemon/sigv4.hpp"
#include "tests/fuzz/check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto line = [&in] { return sluice::fuzz::nextLine(in); };
  std::string method = line(), path = line(), query = line();
  sluice::HttpHeaders headers;
  while (!in.empty()) {
    std::string h = line();
    auto colon = h.find(':');
    // Names are tokens (sigv4SignRequest refuses others; see the unit tests).
    if (colon != std::string::npos && sluice::isHttpToken(h.substr(0, colon)))
      headers.emplace_back(h.substr(0, colon), h.substr(colon + 1));
  }
  std::string enc = sluice::uriEncode(path, false);
  for (std::size_t i = 0; i < enc.size(); ++i) {
    char c = enc[i];
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_' || c == '~' || c == '%';
    FUZZ_CHECK(ok, "uriEncode left 0x%02x", static_cast<unsigned char>(c));
  }
  sluice::AwsCredentials creds{"AK", "SK", ""};
  for (bool s3 : {true, false}) {
    std::string wire = "/" + sluice::uriEncode(path, true);
    auto p = sluice::sigv4Sign(method, wire, query, headers, "UNSIGNED-PAYLOAD", creds,
                               {"us-east-1", s3 ? "s3" : "sqs", s3, false}, "20150830T123600Z");
    std::string_view creq = p.canonical_request;
    FUZZ_CHECK(creq.substr(0, method.size() + 1) == method + "\n" ||
               method.find('\n') != std::string::npos);
    if (s3) FUZZ_CHECK(creq.substr(method.size() + 1, wire.size() + 1) == wire + "\n");
    FUZZ_CHECK(p.authorization.rfind("AWS4-HMAC-SHA256 Credential=AK/20150830/us-east-1/", 0) == 0);
    std::string prev;
    std::string_view names = p.signed_headers;
    while (!names.empty()) {
      auto semi = names.find(';');
      std::string n(names.substr(0, semi));
      names = semi == std::string_view::npos ? std::string_view{} : names.substr(semi + 1);
      FUZZ_CHECK(prev.empty() || prev < n, "signed headers out of order: %s, %s", prev.c_str(),
                 n.c_str());
      for (char c : n) FUZZ_CHECK(!(c >= 'A' && c <= 'Z'));
      prev = n;
    }
  }
  return 0;
}
