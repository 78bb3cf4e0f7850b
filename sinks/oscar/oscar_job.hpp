#pragma once
// Pure parts of talking to OSCAR about jobs (COMPAT.md §3.2): the deterministic job names sent
// in X-Delegated-Job-ID, and OSCAR's answers that say what became of a job.
#include <optional>
#include <string>
#include <string_view>

namespace sluice::sinks::oscar {

// A Kubernetes Job name (DNS-1123 label, at most 63 characters) for the `try_no`-th job of an
// event at a sink: "<service, cut to 24>-<20 hex of sha256(sink, event id)>-<try_no>". The same
// inputs always give the same name, so a redelivered event finds the job it already started.
std::string jobName(std::string_view service, std::string_view sink, std::string_view event_id,
                    int try_no);
bool isDns1123Label(std::string_view s);

// OSCAR answers a name collision (a job with that name exists) with 500 and Kubernetes' text
// `jobs.batch "NAME" already exists`.
bool isNameCollision(long status, std::string_view body);

// GET /system/logs/{service}: {"jobs": {"<name>": {"status": ...}}, "next_page": "..."}.
struct JobListPage {
  std::optional<std::string> status;  // of the job looked for, when on this page
  std::string next_page;              // "" on the last page
  std::string error;                  // the body is not a job list
};
JobListPage findJobStatus(std::string_view body, std::string_view job);

}  // namespace sluice::sinks::oscar
