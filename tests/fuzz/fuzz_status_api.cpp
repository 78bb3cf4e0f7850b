// Fuzzes what the status page's API reads from a request (daemon/status_api.hpp): the replay
// body (JSON), /api/dead's query, the admin token's Authorization header and the WebSocket's
// Origin against Host. The input is "<body>\n<query>\n<authorization>\n<origin>\n<host>\n<token>".
// Whatever it holds nothing crashes, a replay always selects dead letters of a named sink, a
// limit stays within its cap, and the admin check lets through only the configured token.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

#include "daemon/status_api.hpp"
#include "tests/fuzz/check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto cut = [&in] { return sluice::fuzz::nextLine(in); };
  const std::string body = cut(), query = cut(), auth = cut(), origin = cut(), host = cut();
  const std::string token(in);

  if (auto sel = sluice::replaySelector(body)) {
    FUZZ_CHECK(sel->state == "dead" && sel->sink.has_value());
    // What it read is what the body said: the same selection written back reads the same.
    nlohmann::json again = {{"sink", *sel->sink}};
    if (sel->event_id) again["event_id"] = *sel->event_id;
    if (sel->subject_prefix) again["prefix"] = *sel->subject_prefix;
    if (sel->since_ms) again["since_ms"] = *sel->since_ms;
    if (sel->until_ms) again["until_ms"] = *sel->until_ms;
    auto back = sluice::replaySelector(again.dump());
    FUZZ_CHECK(back && back->sink == sel->sink && back->event_id == sel->event_id &&
               back->subject_prefix == sel->subject_prefix && back->since_ms == sel->since_ms &&
               back->until_ms == sel->until_ms);
  }

  auto dead = sluice::deadSelector(query, 1000);
  if (auto* sel = std::get_if<sluice::Selector>(&dead))
    FUZZ_CHECK(sel->state == "dead" && sel->limit >= 1 && sel->limit <= 1000);

  sluice::ServerRequest r;
  if (!auth.empty()) r.headers["authorization"] = auth;
  if (!origin.empty()) r.headers["origin"] = origin;
  if (!host.empty()) r.headers["host"] = host;
  (void)sluice::sameOrigin(r);
  const int status = sluice::adminCheck(r, token);
  if (token.empty()) {
    FUZZ_CHECK(status == 403);
  } else if (status == 0) {
    FUZZ_CHECK(auth.find(token) != std::string::npos);  // never let through without the token
  } else {
    FUZZ_CHECK(status == 401);
  }
  if (!token.empty() && token.find_first_of(" \t") == std::string::npos) {
    sluice::ServerRequest ok = r;
    ok.headers["authorization"] = "Bearer " + token;
    FUZZ_CHECK(sluice::adminCheck(ok, token) == 0);
  }
  if (!host.empty()) {
    sluice::ServerRequest same = r;
    same.headers["origin"] = "http://" + host;
    FUZZ_CHECK(sluice::sameOrigin(same));
  }
  return 0;
}
