#pragma once
// What `systemctl status sluice` shows on its "Status:" line (sd_notify STATUS=): the queue
// depth and each source's state, on one line, short enough for a terminal.
#include <string>
#include <vector>

#include "daemon/health.hpp"
#include "daemon/queue.hpp"

namespace sluice {

// "STATUS=12 pending, 1 dead; sources: inbox ok, dc degraded (stream closed: 503)", for the
// config's `sources` in their order, each as sourceHealth() sums it up.
std::string notifyStatus(const QueueStats& stats, const std::vector<Health::Component>& health,
                         const std::vector<std::string>& sources);

}  // namespace sluice
