#pragma once
// How the HTTP sinks (webhook, OSCAR, Lambda) turn a receiver's answer into a delivery outcome:
// once, so that every sink retries and gives up for the same reasons.
#include <cstdint>
#include <string>
#include <string_view>

#include "daemon/delivery.hpp"
#include "daemon/http_client.hpp"

namespace sluice {

// The start of a receiver's body for a reason an operator reads in the dead-letter queue:
// at most 200 characters, valid UTF-8, control characters as blanks, trailing blanks cut.
std::string bodySnippet(std::string_view body);

// Transfers cut short by sluice: Retry "aborted at shutdown"; curl errors: Retry when
// transient, else Dead; an HTTP status: classifyHttpStatus() with Retry-After, the body's
// snippet appended to the reason.
DeliveryResult classifyHttpResponse(const HttpResponse& r, const DeliveryPolicy& policy,
                                    std::int64_t now_ms);

// `reason` with ": <snippet of body>" appended when the body says anything.
std::string withBody(std::string reason, std::string_view body);

}  // namespace sluice
