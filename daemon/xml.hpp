#pragma once
// A small element tree read with expat, for the XML that S3-style APIs answer with (listings,
// errors, multipart results). Namespaces are dropped from names ("ListBucketResult"); text is
// the concatenated character data of an element, unescaped. Entities other than XML's five
// are refused by expat, and DTDs are not loaded, so a hostile body cannot expand or fetch.
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

struct XmlElement {
  std::string name;
  std::string text;
  std::vector<std::unique_ptr<XmlElement>> children;

  const XmlElement* child(std::string_view n) const;  // the first of that name
  std::vector<const XmlElement*> all(std::string_view n) const;
  std::string childText(std::string_view n) const;  // "" when absent
};

// nullopt with `error` set when the text is not well-formed XML (or nests deeper than 64).
std::optional<XmlElement> parseXml(std::string_view text, std::string* error);

}  // namespace sluice
