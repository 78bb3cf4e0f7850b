#include "sinks/lambda/lambda_function.hpp"

#include <vector>

#include "daemon/sigv4.hpp"

namespace sluice::sinks::lambda {
namespace {

bool wordChars(std::string_view s, std::size_t max) {
  if (s.empty() || s.size() > max) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '_'))
      return false;
  return true;
}

bool isAccount(std::string_view s) {
  if (s.size() != 12) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

bool isRegion(std::string_view s) {  // e.g. eu-west-1, us-gov-east-1
  if (s.size() < 4 || s.size() > 32) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  return s.find('-') != std::string_view::npos;
}

std::vector<std::string_view> split(std::string_view s) {
  std::vector<std::string_view> parts;
  for (std::size_t start = 0;;) {
    auto colon = s.find(':', start);
    parts.push_back(s.substr(start, colon == std::string_view::npos ? colon : colon - start));
    if (colon == std::string_view::npos) return parts;
    start = colon + 1;
  }
}

}  // namespace

bool isQualifier(std::string_view q) { return q == "$LATEST" || wordChars(q, 128); }

std::optional<FunctionRef> parseFunctionRef(std::string_view s, std::string* why) {
  FunctionRef f;
  f.as_given = std::string(s);
  auto parts = split(s);
  std::size_t at = 0;  // where the name is
  if (parts[0] == "arn") {
    // arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]
    if (parts.size() < 7 || parts.size() > 8 || parts[1].rfind("aws", 0) != 0 ||
        parts[2] != "lambda" || parts[5] != "function") {
      *why = "is not a Lambda function ARN (arn:aws:lambda:REGION:ACCOUNT:function:NAME)";
      return std::nullopt;
    }
    if (!isRegion(parts[3])) {
      *why = "has no valid region in its ARN";
      return std::nullopt;
    }
    f.region = std::string(parts[3]);
    f.account = std::string(parts[4]);
    at = 6;
  } else if (parts.size() >= 3 && parts[1] == "function") {
    f.account = std::string(parts[0]);  // ACCOUNT:function:NAME[:QUALIFIER]
    at = 2;
  }
  if (!f.account.empty() && !isAccount(f.account)) {
    *why = "has an account id that is not 12 digits";
    return std::nullopt;
  }
  if (parts.size() > at + 2) {
    *why = "has too many ':'-separated parts";
    return std::nullopt;
  }
  if (!wordChars(parts[at], 64)) {
    *why = "has no valid function name (1-64 letters, digits, '-' or '_')";
    return std::nullopt;
  }
  f.name = std::string(parts[at]);
  if (parts.size() == at + 2) {
    if (!isQualifier(parts[at + 1])) {
      *why = "has an invalid version or alias after the name";
      return std::nullopt;
    }
    f.qualifier = std::string(parts[at + 1]);
  }
  return f;
}

std::string invokePath(std::string_view function) {
  return "/2015-03-31/functions/" + uriEncode(function, false) + "/invocations";
}

}  // namespace sluice::sinks::lambda
