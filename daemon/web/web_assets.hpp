#pragma once
// The status page's files (daemon/web/*.html|js|css), compiled into the binary so the page needs
// nothing at run time: embed.cmake turns them into a generated web_assets.cpp at build time.
#include <string_view>

namespace sluice {

struct WebAsset {
  std::string_view type;  // Content-Type
  std::string_view body;
};

// "/index.html", "/static/app.js", ...: the file's name under daemon/web, index.html at the
// top and the rest under /static. Null when there is no such file.
const WebAsset* findWebAsset(std::string_view path);

}  // namespace sluice
