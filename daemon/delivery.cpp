#include "daemon/delivery.hpp"

#include <algorithm>
#include <cmath>
#include <ctime>

namespace sluice {

Duration backoffDelay(const BackoffPolicy& p, int attempt, std::mt19937_64& rng) {
  double ceiling = static_cast<double>(p.initial.count()) *
                   std::pow(p.multiplier, std::max(0, attempt - 1));
  ceiling = std::min(ceiling, static_cast<double>(p.max.count()));
  auto cap = static_cast<std::int64_t>(ceiling);
  if (!p.full_jitter || cap <= 0) return Duration(std::max<std::int64_t>(cap, 0));
  std::uniform_int_distribution<std::int64_t> dist(0, cap);
  return Duration(dist(rng));
}

Duration retryDelay(const BackoffPolicy& p, int attempt, std::optional<Duration> retry_after,
                    std::mt19937_64& rng) {
  Duration delay = backoffDelay(p, attempt, rng);
  if (retry_after && *retry_after > delay) delay = std::min(*retry_after, p.max);
  return delay;
}

DeliveryResult classifyHttpStatus(long status, std::optional<Duration> retry_after,
                                  const DeliveryPolicy& policy) {
  std::string reason = "HTTP " + std::to_string(status);
  int s = static_cast<int>(status);
  if (policy.permanent_statuses.count(s)) return Dead{reason};
  if (status >= 200 && status < 300) return Done{};
  if (status == 408 || status == 425 || status == 429 || (status >= 500 && status < 600) ||
      policy.retry_statuses.count(s))
    return Retry{retry_after, reason};
  if (status == 413) return Dead{reason + " (payload too large for the receiver)"};
  return Dead{reason};
}

std::optional<Duration> parseRetryAfter(std::string_view value, std::int64_t now_ms) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\r')) value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (value.size() > 9) return Duration(999'999'999'000LL);
    return Duration(std::stoll(std::string(value)) * 1000);
  }
  std::tm tm{};  // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
  std::string s(value);
  if (!strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm)) return std::nullopt;
  std::int64_t at = static_cast<std::int64_t>(timegm(&tm)) * 1000;
  return Duration(std::max<std::int64_t>(0, at - now_ms));
}

DeliveryPolicy parseDeliveryPolicy(MapReader& m, const DeliveryPolicy& base) {
  DeliveryPolicy p = base;
  p.max_attempts = static_cast<int>(m.integer("max_attempts", base.max_attempts, 1, 1'000'000));
  p.max_age = m.duration("max_age", base.max_age);
  p.timeout = m.duration("timeout", base.timeout);
  p.shutdown_grace = m.duration("shutdown_grace", base.shutdown_grace);
  p.concurrency = static_cast<int>(m.integer("concurrency", base.concurrency, 1, 4096));
  if (m.has("backoff")) {
    auto b = m.map("backoff");
    p.backoff.initial = b.duration("initial", base.backoff.initial);
    p.backoff.max = b.duration("max", base.backoff.max);
    p.backoff.multiplier = b.number("multiplier", base.backoff.multiplier, 1.0, 100.0);
    p.backoff.full_jitter =
        b.choice("jitter", {"full", "none"}, base.backoff.full_jitter ? "full" : "none") == "full";
    if (p.backoff.max < p.backoff.initial) b.error("max", "must not be smaller than initial");
    b.finish();
  } else {
    m.map("backoff");
  }
  auto codes = [&](const char* key, std::set<int>& out) {
    for (auto& c : m.stringList(key)) {
      char* end = nullptr;
      long v = std::strtol(c.c_str(), &end, 10);
      if (c.empty() || *end || v < 100 || v > 599)
        m.error(key, "must list HTTP status codes (got \"" + c + "\")");
      else
        out.insert(static_cast<int>(v));
    }
  };
  codes("retry_on", p.retry_statuses);
  codes("permanent_on", p.permanent_statuses);
  if (p.timeout.count() <= 0) m.error("timeout", "must be positive");
  return p;
}

std::string describe(const DeliveryResult& r) {
  if (std::holds_alternative<Done>(r)) return "done";
  if (auto* rt = std::get_if<Retry>(&r)) return "retry: " + rt->reason;
  return "dead: " + std::get<Dead>(r).reason;
}

}  // namespace sluice
