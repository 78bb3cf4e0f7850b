#pragma once
// The figures every remote change-stream source publishes, under one set of names so that one
// dashboard reads dCache, Onedata and later sources alike (label `source` = the source's name):
//   sluice_source_connected                     1 while the change stream is open
//   sluice_source_reconnects_total              streams opened again after one ended
//   sluice_source_gaps_total                    times changes may have been lost
//   sluice_source_reconciliations_total         listings of the watched tree
//   sluice_source_reconciliation_found_total{kind="created"|"removed"}  what only a listing found
//   sluice_source_bad_events_total              stream input sluice could not read (skipped)
#include <string>

#include "daemon/metrics.hpp"

namespace sluice {

struct SourceMetrics {
  SourceMetrics(Metrics& m, const std::string& source);

  Gauge& connected;
  Counter& reconnects;
  Counter& gaps;
  Counter& reconciliations;
  Counter& found_created;
  Counter& found_removed;
  Counter& bad_events;
};

}  // namespace sluice
