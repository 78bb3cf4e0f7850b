// Fuzzes what the invocation sinks read and write: OSCAR's job list (findJobStatus) and job
// names (jobName), Lambda function names (parseFunctionRef) and answers
// (classifyInvokeResponse, fuzzed status, headers and body), and the shell-safe JSON every
// payload format is written in (shellSafeJson over any JSON the input parses to).
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <variant>

#include "daemon/payload_format.hpp"
#include "sinks/lambda/lambda_sink.hpp"
#include "sinks/oscar/oscar_job.hpp"
#include "tests/fuzz/check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace oscar = sluice::sinks::oscar;
  namespace lambda = sluice::sinks::lambda;
  FuzzedDataProvider in(data, size);
  const long status = in.ConsumeIntegralInRange<long>(0, 999);
  const bool event = in.ConsumeBool();
  const std::string header = in.ConsumeRandomLengthString(64);
  const std::string name = in.ConsumeRandomLengthString(300);
  const std::string body = in.ConsumeRemainingBytesAsString();

  // OSCAR: whatever the job list holds, a status found is the named job's; names are valid.
  auto page = oscar::findJobStatus(body, name);
  FUZZ_CHECK(page.error.empty() || !page.status);
  const std::string job = oscar::jobName(name, body, name, 1 + static_cast<int>(status));
  FUZZ_CHECK(oscar::isDns1123Label(job), "job name '%s'", job.c_str());

  // Lambda: an accepted function name has a valid name part and renders into one path segment.
  std::string why;
  if (auto f = lambda::parseFunctionRef(name, &why)) {
    FUZZ_CHECK(!f->name.empty() && f->name.size() <= 64);
    const std::string path = lambda::invokePath(f->as_given);
    FUZZ_CHECK(path.find('/', 22) == path.size() - 12, "path '%s'", path.c_str());
  } else {
    FUZZ_CHECK(!why.empty());
  }
  sluice::HttpResponse r;
  r.status = status;
  r.body = body;
  if (!header.empty())
    r.headers.emplace_back(event ? "x-amzn-errortype" : "x-amz-function-error", header);
  auto res = lambda::classifyInvokeResponse(
      r, event ? lambda::Invocation::Event : lambda::Invocation::RequestResponse,
      sluice::DeliveryPolicy{}, 0);
  if (std::holds_alternative<sluice::Done>(res)) FUZZ_CHECK(status == (event ? 202 : 200));
  if (status >= 500 && status < 600) FUZZ_CHECK(std::holds_alternative<sluice::Retry>(res));
  FUZZ_CHECK(!sluice::describe(res).empty());

  // Shell-safe JSON: the same value back, and nothing a shell or echo would change.
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_discarded()) {
    std::string s;
    try {
      s = sluice::shellSafeJson(j);
    } catch (...) {
      FUZZ_CHECK(false, "shellSafeJson threw");
    }
    for (unsigned char c : s) FUZZ_CHECK(c > 0x20 && c < 0x7f && c != '*' && c != '?');
    FUZZ_CHECK(s.find("\\\\") == std::string::npos);
    auto back = nlohmann::json::parse(s, nullptr, false);
    FUZZ_CHECK(!back.is_discarded());
    if (j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) ==
        j.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict))
      FUZZ_CHECK(back == j, "round trip of %s", body.c_str());
  }
  return 0;
}
