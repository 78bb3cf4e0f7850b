#pragma once
// Plugins register under their config `type` with one line in their own .cpp:
//
//   const bool kRegistered = sluice::registerSink("webhook", &parseWebhookSpec);
//
// All plugin objects are linked whole (an OBJECT library), so no registration can be dropped by
// the linker; registering a type twice aborts start-up. The registry is filled during static
// initialisation and read-only afterwards.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "daemon/config_reader.hpp"
#include "daemon/connector.hpp"
#include "daemon/sink.hpp"

namespace sluice {

// Parse the plugin's own keys (name and type are already read). Collect errors in the reader;
// return a spec even when errors were found (it is discarded).
using SinkParser = std::unique_ptr<SinkSpec> (*)(MapReader& m);
using ConnectorParser = std::unique_ptr<ConnectorSpec> (*)(MapReader& m);

bool registerSink(const std::string& type, SinkParser parser);
bool registerConnector(const std::string& type, ConnectorParser parser);
SinkParser findSink(const std::string& type);
ConnectorParser findConnector(const std::string& type);
std::vector<std::string> sinkTypes();
std::vector<std::string> connectorTypes();

}  // namespace sluice
