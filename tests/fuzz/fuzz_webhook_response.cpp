// Fuzzes how a webhook receiver's answer is judged: the status (classifyHttpStatus, with the
// policy's extra retry/permanent codes) and the Retry-After value (delta-seconds or an
// HTTP-date, judged against `now`), plus the encoding of header values sent to the receiver.
// The sink's own classify() and the HTTP client's header-line split are file-local, so this
// target drives the public pieces they are made of.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>

#include "daemon/delivery.hpp"
#include "sinks/webhook/webhook_sink.hpp"
#include "tests/fuzz/check.hpp"

namespace {

// A realistic clock: 1970 .. 2200 in milliseconds (the daemon reads the system clock).
constexpr std::int64_t kMaxNowMs = 7'258'118'400'000LL;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  // curl reports the status line's three digits (0 when there was none); wider values only
  // exercise the long -> int narrowing in classifyHttpStatus, which real answers never reach.
  long status = in.ConsumeIntegralInRange<long>(-1, 99'999);
  sluice::DeliveryPolicy policy;
  for (int n = in.ConsumeIntegralInRange(0, 3); n > 0; --n)
    policy.retry_statuses.insert(in.ConsumeIntegralInRange(100, 599));
  for (int n = in.ConsumeIntegralInRange(0, 3); n > 0; --n)
    policy.permanent_statuses.insert(in.ConsumeIntegralInRange(100, 599));
  std::int64_t now = in.ConsumeIntegralInRange<std::int64_t>(0, kMaxNowMs);
  std::string value = in.ConsumeRemainingBytesAsString();

  auto after = sluice::parseRetryAfter(value, now);
  if (after)
    FUZZ_CHECK(after->count() >= 0, "Retry-After '%s' gave %lld ms", value.c_str(),
               static_cast<long long>(after->count()));

  sluice::DeliveryResult r = sluice::classifyHttpStatus(status, after, policy);
  int s = static_cast<int>(status);
  bool listed_permanent = static_cast<long>(s) == status && policy.permanent_statuses.count(s);
  if (listed_permanent)
    FUZZ_CHECK(std::holds_alternative<sluice::Dead>(r));
  else if (status >= 200 && status < 300)
    FUZZ_CHECK(std::holds_alternative<sluice::Done>(r));
  else if (status >= 500 && status < 600)
    FUZZ_CHECK(std::holds_alternative<sluice::Retry>(r));
  else if (status == 400 || status == 404 || status == 413 || status < 100 || status > 599)
    FUZZ_CHECK(std::holds_alternative<sluice::Dead>(r) ||
               (static_cast<long>(s) == status && policy.retry_statuses.count(s)));
  if (auto* rt = std::get_if<sluice::Retry>(&r)) FUZZ_CHECK(rt->after == after);
  FUZZ_CHECK(!sluice::describe(r).empty());

  std::string enc = sluice::sinks::webhook::percentEncodeHeaderValue(value);
  for (unsigned char c : enc) FUZZ_CHECK(c > 0x20 && c < 0x7f && c != '"');
  return 0;
}
