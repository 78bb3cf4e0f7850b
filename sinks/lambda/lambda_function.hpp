#pragma once
// A Lambda function as users name it (PROTOCOLS.md §5): "name", "name:qualifier", a partial ARN
// "123456789012:function:name[:qualifier]" or a full ARN
// "arn:aws:lambda:eu-west-1:123456789012:function:name[:qualifier]".
#include <optional>
#include <string>
#include <string_view>

namespace sluice::sinks::lambda {

struct FunctionRef {
  std::string as_given;   // sent as FunctionName (percent-encoded into the path)
  std::string name;       // the bare function name
  std::string qualifier;  // from the name, "" when none
  std::string region;     // from a full ARN
  std::string account;    // from an ARN
};

// nullopt and `why` when `s` is none of the forms (names: 1-64 of [A-Za-z0-9_-]; qualifiers:
// $LATEST or 1-128 of [A-Za-z0-9_-]; accounts: 12 digits).
std::optional<FunctionRef> parseFunctionRef(std::string_view s, std::string* why);
bool isQualifier(std::string_view q);

// "/2015-03-31/functions/<FunctionName, every byte but A-Za-z0-9-._~ as %XX>/invocations",
// as botocore renders it.
std::string invokePath(std::string_view function);

}  // namespace sluice::sinks::lambda
