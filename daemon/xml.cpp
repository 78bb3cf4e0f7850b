#include "daemon/xml.hpp"

#include <expat.h>

#include <cstring>

namespace sluice {
namespace {

constexpr std::size_t kMaxDepth = 64;

struct Builder {
  XmlElement root;
  std::vector<XmlElement*> stack;
  bool too_deep = false;
  XML_Parser parser = nullptr;
};

std::string localName(const char* name) {
  const char* sep = std::strrchr(name, '\x1f');  // expat's namespace separator, set below
  return sep ? sep + 1 : name;
}

void onStart(void* data, const XML_Char* name, const XML_Char**) {
  auto* b = static_cast<Builder*>(data);
  if (b->stack.size() >= kMaxDepth) {
    b->too_deep = true;
    XML_StopParser(b->parser, XML_FALSE);
    return;
  }
  XmlElement* el = nullptr;
  if (b->stack.empty()) {
    el = &b->root;
  } else {
    b->stack.back()->children.push_back(std::make_unique<XmlElement>());
    el = b->stack.back()->children.back().get();
  }
  el->name = localName(name);
  b->stack.push_back(el);
}

void onEnd(void* data, const XML_Char*) {
  auto* b = static_cast<Builder*>(data);
  if (!b->stack.empty()) b->stack.pop_back();
}

void onText(void* data, const XML_Char* s, int len) {
  auto* b = static_cast<Builder*>(data);
  if (!b->stack.empty()) b->stack.back()->text.append(s, static_cast<std::size_t>(len));
}

// No DOCTYPE at all: S3 never sends one, and refusing it rules out entity expansion.
void onDoctype(void* data, const XML_Char*, const XML_Char*, const XML_Char*, int) {
  auto* b = static_cast<Builder*>(data);
  XML_StopParser(b->parser, XML_FALSE);
}

}  // namespace

const XmlElement* XmlElement::child(std::string_view n) const {
  for (auto& c : children)
    if (c->name == n) return c.get();
  return nullptr;
}

std::vector<const XmlElement*> XmlElement::all(std::string_view n) const {
  std::vector<const XmlElement*> out;
  for (auto& c : children)
    if (c->name == n) out.push_back(c.get());
  return out;
}

std::string XmlElement::childText(std::string_view n) const {
  const XmlElement* c = child(n);
  return c ? c->text : std::string();
}

std::optional<XmlElement> parseXml(std::string_view text, std::string* error) {
  Builder b;
  b.parser = XML_ParserCreateNS(nullptr, '\x1f');
  if (!b.parser) {
    *error = "out of memory";
    return std::nullopt;
  }
  XML_SetUserData(b.parser, &b);
  XML_SetElementHandler(b.parser, &onStart, &onEnd);
  XML_SetCharacterDataHandler(b.parser, &onText);
  XML_SetStartDoctypeDeclHandler(b.parser, &onDoctype);
  bool ok =
      XML_Parse(b.parser, text.data(), static_cast<int>(text.size()), XML_TRUE) == XML_STATUS_OK;
  if (!ok || b.too_deep) {
    XML_Error code = XML_GetErrorCode(b.parser);
    *error = b.too_deep ? "XML nests too deep"
             : code == XML_ERROR_ABORTED
                 ? "XML with a DOCTYPE is refused"
                 : std::string("XML: ") + XML_ErrorString(code) + " at line " +
                       std::to_string(XML_GetCurrentLineNumber(b.parser));
    XML_ParserFree(b.parser);
    return std::nullopt;
  }
  XML_ParserFree(b.parser);
  if (b.root.name.empty()) {
    *error = "XML: no element";
    return std::nullopt;
  }
  return std::move(b.root);
}

}  // namespace sluice
