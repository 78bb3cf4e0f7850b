#include "daemon/source_metrics.hpp"

namespace sluice {

SourceMetrics::SourceMetrics(Metrics& m, const std::string& source)
    : connected(m.gauge("sluice_source_connected", "1 while the source's change stream is open",
                        {{"source", source}})),
      reconnects(m.counter("sluice_source_reconnects_total",
                           "change streams opened again after they ended", {{"source", source}})),
      gaps(m.counter("sluice_source_gaps_total",
                     "times the source may have lost changes (a reconciliation follows)",
                     {{"source", source}})),
      reconciliations(m.counter("sluice_source_reconciliations_total",
                                "listings of the watched tree against the source index",
                                {{"source", source}})),
      found_created(m.counter("sluice_source_reconciliation_found_total",
                              "changes only a reconciliation found",
                              {{"source", source}, {"kind", "created"}})),
      found_removed(m.counter("sluice_source_reconciliation_found_total",
                              "changes only a reconciliation found",
                              {{"source", source}, {"kind", "removed"}})),
      bad_events(m.counter("sluice_source_bad_events_total",
                           "stream input sluice could not read (logged, skipped)",
                           {{"source", source}})) {}

}  // namespace sluice
