#include "sinks/oscar/oscar_job.hpp"

#include <nlohmann/json.hpp>

#include "daemon/crypto.hpp"

namespace sluice::sinks::oscar {

bool isDns1123Label(std::string_view s) {
  if (s.empty() || s.size() > 63 || s.front() == '-' || s.back() == '-') return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  return true;
}

std::string jobName(std::string_view service, std::string_view sink, std::string_view event_id,
                    int try_no) {
  std::string prefix;
  for (char c : service.substr(0, 24)) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    prefix += ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) ? c : '-';
  }
  while (!prefix.empty() && prefix.front() == '-') prefix.erase(0, 1);
  while (!prefix.empty() && prefix.back() == '-') prefix.pop_back();
  if (prefix.empty()) prefix = "sluice";
  std::string key(sink);
  key += '\0';
  key += event_id;
  return prefix + "-" + hexEncode(sha256(key)).substr(0, 20) + "-" + std::to_string(try_no);
}

bool isNameCollision(long status, std::string_view body) {
  return status == 500 && body.find("already exists") != std::string_view::npos;
}

JobListPage findJobStatus(std::string_view body, std::string_view job) {
  JobListPage page;
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("jobs") || !j["jobs"].is_object()) {
    page.error = "not an OSCAR job list (no \"jobs\" object)";
    return page;
  }
  auto it = j["jobs"].find(std::string(job));
  if (it != j["jobs"].end() && it->is_object() && it->contains("status") &&
      (*it)["status"].is_string())
    page.status = (*it)["status"].get<std::string>();
  if (auto np = j.find("next_page"); np != j.end() && np->is_string())
    page.next_page = np->get<std::string>();
  return page;
}

}  // namespace sluice::sinks::oscar
