#include "daemon/http_delivery.hpp"

#include "daemon/event.hpp"

namespace sluice {
namespace {
constexpr std::size_t kReasonBodyChars = 200;
}  // namespace

std::string bodySnippet(std::string_view body) {
  std::string s = toUtf8Lossy(body.substr(0, kReasonBodyChars));
  for (auto& ch : s)
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ch = ' ';
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

std::string withBody(std::string reason, std::string_view body) {
  if (auto snippet = bodySnippet(body); !snippet.empty()) reason += ": " + snippet;
  return reason;
}

DeliveryResult classifyHttpResponse(const HttpResponse& r, const DeliveryPolicy& policy,
                                    std::int64_t now_ms) {
  if (r.cancelled) return Retry{std::nullopt, "aborted at shutdown"};
  if (r.curl_code != 0) {
    std::string reason = "curl: " + r.error;
    if (isTransientCurlError(r.curl_code)) return Retry{std::nullopt, std::move(reason)};
    return Dead{std::move(reason)};
  }
  std::optional<Duration> after;
  if (const std::string* h = r.header("retry-after")) after = parseRetryAfter(*h, now_ms);
  DeliveryResult res = classifyHttpStatus(r.status, after, policy);
  if (auto* rt = std::get_if<Retry>(&res)) rt->reason = withBody(std::move(rt->reason), r.body);
  if (auto* d = std::get_if<Dead>(&res)) d->reason = withBody(std::move(d->reason), r.body);
  return res;
}

}  // namespace sluice
