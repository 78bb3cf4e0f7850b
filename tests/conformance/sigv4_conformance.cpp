// The AWS Signature Version 4 conformance suite, run against sluice's signer (daemon/sigv4.hpp).
//
// Every case folder under $SIGV4_SUITE_DIR (default ../shared/fixtures/aws-sig-v4-test-suite
// next to the repository) that holds <name>.req is signed, and the canonical request, the string
// to sign and the Authorization value are compared with <name>.creq, .sts and .authz. Cases
// dropped into the folder are picked up as they are. Exit 0: all passed; 1: a case failed or
// the folder holds no case; 77 (ctest SKIP_RETURN_CODE): the folder does not exist.
//
// Inputs fixed by the suite: AKIDEXAMPLE / wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, us-east-1,
// service "service", the time in the request's X-Amz-Date. The one input not in the .req is the
// session token of the token cases: signing with it adds the X-Amz-Security-Token header, whose
// value the suite gives in the expected signed request (.sreq).
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "daemon/crypto.hpp"
#include "daemon/sigv4.hpp"

namespace fs = std::filesystem;
using sluice::HttpHeaders;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct RawRequest {
  std::string method, path, query;
  HttpHeaders headers;
  std::string body;
  bool ok = false;
};

// "<METHOD> <target> HTTP/1.1", "Name:value" lines (a line starting with a blank continues the
// previous value: obsolete line folding), an empty line, the body. The target may hold spaces.
RawRequest parseRequest(const std::string& text) {
  RawRequest r;
  std::size_t pos = text.find('\n');
  std::string first = text.substr(0, pos);
  auto sp1 = first.find(' '), sp2 = first.rfind(' ');
  if (sp1 == std::string::npos || sp2 <= sp1) return r;
  r.method = first.substr(0, sp1);
  std::string target = first.substr(sp1 + 1, sp2 - sp1 - 1);
  auto q = target.find('?');
  r.path = target.substr(0, q);
  if (q != std::string::npos) r.query = target.substr(q + 1);
  while (pos != std::string::npos) {
    std::size_t start = pos + 1;
    pos = text.find('\n', start);
    std::string line =
        text.substr(start, pos == std::string::npos ? std::string::npos : pos - start);
    if (line.empty()) {
      if (pos != std::string::npos) r.body = text.substr(pos + 1);
      break;
    }
    if ((line[0] == ' ' || line[0] == '\t') && !r.headers.empty()) {
      r.headers.back().second += "\n" + line;
      continue;
    }
    auto colon = line.find(':');
    if (colon == std::string::npos) return r;
    r.headers.emplace_back(line.substr(0, colon), line.substr(colon + 1));
  }
  r.ok = true;
  return r;
}

std::string headerOf(const HttpHeaders& h, const std::string& lower_name) {
  for (auto& [k, v] : h) {
    std::string n = k;
    for (auto& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (n == lower_name) return v;
  }
  return {};
}

}  // namespace

int main() {
  const char* env = std::getenv("SIGV4_SUITE_DIR");
  fs::path dir = env && *env
                     ? fs::path(env)
                     : fs::path(SLUICE_SOURCE_DIR "/../shared/fixtures/aws-sig-v4-test-suite");
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    std::printf("SKIP: no SigV4 suite at %s (set SIGV4_SUITE_DIR)\n", dir.c_str());
    return 77;
  }
  const sluice::AwsCredentials creds{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
  const sluice::SigV4Scope scope{"us-east-1", "service", false, false};
  int cases = 0, failed = 0;
  std::vector<fs::path> folders;
  for (auto& e : fs::recursive_directory_iterator(dir, ec))
    if (e.is_directory() && fs::exists(e.path() / (e.path().filename().string() + ".req")))
      folders.push_back(e.path());
  std::sort(folders.begin(), folders.end());
  for (const fs::path& f : folders) {
    const std::string name = f.filename().string();
    const fs::path base = f / name;
    ++cases;
    RawRequest r = parseRequest(slurp(base.string() + ".req"));
    auto c = creds;
    std::vector<std::string> why;
    if (!r.ok) why.push_back("cannot read the .req");
    if (headerOf(r.headers, "x-amz-security-token").empty()) {
      RawRequest signed_req = parseRequest(slurp(base.string() + ".sreq"));
      c.session_token = headerOf(signed_req.headers, "x-amz-security-token");
      if (!c.session_token.empty()) r.headers.emplace_back("X-Amz-Security-Token", c.session_token);
    }
    auto p = sluice::sigv4Sign(r.method, r.path, r.query, r.headers,
                               sluice::hexEncode(sluice::sha256(r.body)), c, scope,
                               headerOf(r.headers, "x-amz-date"));
    auto expect = [&](const char* ext, const std::string& got) {
      std::string want = slurp(base.string() + ext);
      if (got != want)
        why.push_back(std::string(ext) + " differs\n--- expected\n" + want + "\n--- got\n" + got);
    };
    expect(".creq", p.canonical_request);
    expect(".sts", p.string_to_sign);
    expect(".authz", p.authorization);
    if (why.empty()) {
      std::printf("PASS %s\n", fs::relative(f, dir).c_str());
    } else {
      ++failed;
      std::printf("FAIL %s\n", fs::relative(f, dir).c_str());
      for (auto& w : why) std::printf("  %s\n", w.c_str());
    }
  }
  std::printf("%d cases, %d failed (%s)\n", cases, failed, dir.c_str());
  return cases > 0 && failed == 0 ? 0 : 1;
}
