// Fuzzes the push ingress's token check (daemon/ingress.hpp): the Authorization header (Bearer,
// Basic with base64, anything else) and the query's token=, as a sender controls them. The
// input is "<authorization>\n<query>\n<token>"; whatever it holds, the check never crashes,
// and it accepts only a request that presents the token in one of the documented forms.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "daemon/event.hpp"
#include "daemon/ingress.hpp"
#include "tests/fuzz/check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto cut = [&in] { return sluice::fuzz::nextLine(in); };
  sluice::ServerRequest r;
  std::string auth = cut();
  r.query = cut();
  std::string token(in);
  if (!auth.empty()) r.headers["authorization"] = auth;
  bool ok = sluice::Ingress::authorized(r, token);
  if (token.empty() || token.find_first_of(" \t&%+") != std::string::npos) return 0;
  // Each documented form is accepted, whatever else the request holds.
  sluice::ServerRequest bearer = r;
  bearer.headers["authorization"] = "Bearer " + token;
  FUZZ_CHECK(sluice::Ingress::authorized(bearer, token));
  sluice::ServerRequest basic = r;
  basic.headers["authorization"] = "Basic " + sluice::base64Encode("u:" + token);
  FUZZ_CHECK(sluice::Ingress::authorized(basic, token));
  // A token nowhere in the request is refused: it must be in the header, in the header's
  // base64 part (Basic), or in the query (where it may be %-encoded).
  if (ok) {
    std::string a = auth;
    a.erase(0, a.find_first_not_of(" \t"));
    auto space = a.find(' ');
    auto rest = space == std::string::npos ? std::string() : a.substr(space + 1);
    rest.erase(0, rest.find_first_not_of(" \t"));
    rest.erase(rest.find_last_not_of(" \t") + 1);
    auto decoded = sluice::base64Decode(rest).value_or("");
    FUZZ_CHECK(auth.find(token) != std::string::npos || decoded.find(token) != std::string::npos ||
                   r.query.find(token) != std::string::npos ||
                   r.query.find('%') != std::string::npos,
               "accepted without the token");
  }
  return 0;
}
