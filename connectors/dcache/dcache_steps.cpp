// Stream events on their way to the queue: attributes asked for in parallel, renames paired,
// events made strictly in stream order against the index (and what uncommitted steps did), and
// committed with the cursor of the last event they cover.
#include <spdlog/logger.h>

#include <algorithm>

#include "connectors/dcache/dcache_connector.hpp"

namespace sluice::connectors::dcache {

void DcacheConnector::addStep(Step s) {
  s.seq = next_seq_++;
  s.seen_ms = ctx_.clock.nowMs();
  if (s.kind == Step::MovedFrom && spec_.emit_moved) {
    // Its other half may come next (or came already: dCache does not order them).
    auto to = std::find_if(steps_.begin(), steps_.end(), [&](const Step& o) {
      return o.kind == Step::MovedTo && !o.paired && o.cookie == s.cookie && !s.cookie.empty();
    });
    if (to != steps_.end()) {
      to->paired = true;
      to->from = s.path;
      to->ready = true;  // waits only for its attributes now
      s.paired = true;
    } else {
      s.ready = false;
    }
  }
  if (s.kind == Step::MovedTo && spec_.emit_moved) {
    auto from = std::find_if(steps_.begin(), steps_.end(), [&](const Step& o) {
      return o.kind == Step::MovedFrom && !o.paired && o.cookie == s.cookie && !s.cookie.empty();
    });
    if (from != steps_.end()) {
      from->paired = true;
      from->ready = true;
      s.paired = true;
      s.from = from->path;
    } else {
      s.ready = false;
    }
  }
  const bool waits_pair = !s.ready;
  const std::uint64_t seq = s.seq;
  const bool needs_stat = s.needs_stat;
  steps_.push_back(std::move(s));
  if (needs_stat) stat(seq);
  if (waits_pair && step_timer_.expiry() <= std::chrono::steady_clock::now()) {
    // (A wait already pending ends no later than this one would: expirePairs re-arms.)
    step_timer_.expires_after(spec_.move_pair);
    step_timer_.async_wait([this, alive = alive_](boost::system::error_code ec) {
      if (!ec && *alive) expirePairs();
    });
  }
  flush();
}

DcacheConnector::Step* DcacheConnector::findStep(std::uint64_t seq) {
  if (steps_.empty() || seq < steps_.front().seq) return nullptr;
  std::size_t i = seq - steps_.front().seq;
  return i < steps_.size() ? &steps_[i] : nullptr;
}

void DcacheConnector::expirePairs() {
  const std::int64_t now = ctx_.clock.nowMs();
  std::int64_t next = -1;
  for (auto& s : steps_) {
    if (s.ready || s.paired) continue;
    if (now - s.seen_ms >= spec_.move_pair.count())
      s.ready = true;  // the other half is outside the watched tree: a creation or a removal
    else if (next < 0 || s.seen_ms < next)
      next = s.seen_ms;
  }
  if (next >= 0) {
    step_timer_.expires_after(std::chrono::milliseconds(next + spec_.move_pair.count() - now));
    step_timer_.async_wait([this, alive = alive_](boost::system::error_code ec) {
      if (!ec && *alive) expirePairs();
    });
  }
  flush();
}

// The file's PNFS-ID, size and modification time: what makes its id, the same a listing sees.
void DcacheConnector::stat(std::uint64_t seq) {
  Step* s = findStep(seq);
  if (!s || stopped_) return;
  if (stats_in_flight_ >= kStatsInFlight) return;  // flush() starts it when one is answered
  s->stat_running = true;
  ++stats_in_flight_;
  HttpRequest req;
  req.method = "GET";
  req.url = pathUrl(spec_.url + "/namespace", s->path);
  req.headers = {{"Accept", "application/json"}};
  request(std::move(req), [this, seq](HttpResponse r) {
    --stats_in_flight_;
    Step* s = findStep(seq);
    if (!s) return;
    s->stat_running = false;
    Listing l = r.status == 200 ? parseListing(r.body) : Listing{};
    if (r.status == 200 && l.error.empty()) {
      s->attrs = l.self;
      s->needs_stat = false;
    } else if (r.status == 404) {
      s->needs_stat = false;  // gone again already (its IN_DELETE follows)
    } else {
      ++s->attempts;
      const std::string why = r.status ? "HTTP " + std::to_string(r.status) : r.error;
      ctx_.log->warn("source {}: cannot read the attributes of {} ({}); trying again", spec_.name,
                     s->path, why);
      if (!running_ && s->attempts >= 3) {
        scan_error_ = "cannot read the attributes of " + s->path + ": " + why;
        s->needs_stat = false;
      } else {
        // A timer of its own: step_timer_ waits for rename halves, and one wait replaces the
        // other.
        auto t = std::make_shared<boost::asio::steady_timer>(
            ctx_.io, std::chrono::milliseconds(500 << std::min(s->attempts, 6)));
        t->async_wait([this, alive = alive_, seq, t](boost::system::error_code ec) {
          if (!ec && *alive) stat(seq);
        });
        return;
      }
    }
    flush();
  });
}

void DcacheConnector::flush() {
  CommitPump::Work w;
  w.batch.source = spec_.name;
  bool any = false;
  while (!steps_.empty() && steps_.front().ready && !steps_.front().needs_stat) {
    Step s = std::move(steps_.front());
    steps_.pop_front();
    materialize(s, w.batch);
    if (s.id) {
      w.batch.cursor = nlohmann::json{{"channel", channel_}, {"last_id", *s.id}}.dump();
    }
    any = true;
  }
  if (any) pump_.enqueue(std::move(w));
  // Attributes not asked for yet (the limit of requests in flight was reached).
  for (auto& s : steps_)
    if (stats_in_flight_ < kStatsInFlight && s.needs_stat && !s.stat_running && s.attempts == 0)
      stat(s.seq);
  pauseIfBehind();
  checkOnceDone();
}

const ObjectVersion* DcacheConnector::known(const std::string& path) const {
  auto o = overlay_.find(path);
  if (o == overlay_.end()) return index_.find(path);
  thread_local ObjectVersion v;  // the overlay keeps fingerprints, not versions
  if (!o->second.first) return nullptr;
  auto parsed = parseFingerprint(*o->second.first);
  if (!parsed) return nullptr;
  v = *parsed;
  return &v;
}

const Tombstone* DcacheConnector::gone(const std::string& path, Tombstone& scratch) const {
  auto o = overlay_.find(path);
  if (o == overlay_.end()) return index_.findGone(path);
  if (!o->second.first) return nullptr;
  auto t = parseTombstone(*o->second.first);
  if (!t) return nullptr;
  scratch = *t;
  return &scratch;
}

ObjectVersion DcacheConnector::lastKnown(const std::string& path) const {
  if (auto* v = known(path)) return *v;
  Tombstone t;
  if (auto* g = gone(path, t)) return g->version;
  return {};
}

void DcacheConnector::note(Batch& b, IndexUpdate u) {
  auto& o = overlay_[u.key];
  o.first = u.fingerprint;
  ++o.second;
  b.index.push_back(std::move(u));
}

void DcacheConnector::stored(const Batch& b) {
  index_.apply(b.index);
  for (auto& u : b.index) {
    auto o = overlay_.find(u.key);
    if (o != overlay_.end() && --o->second.second <= 0) overlay_.erase(o);
  }
}

void DcacheConnector::removeFile(Batch& b, const std::string& path, const std::string& fallback,
                                 const std::string& why) {
  // A removal seen again (a replay, a listing that found it first) names the remembered
  // version, so it gets the same id.
  const bool was_known = known(path) != nullptr;
  const ObjectVersion prev = lastKnown(path);
  if (spec_.emit_removed) {
    Event ev = fileEvent(origin_, EventType::Removed, path, prev, fallback, ctx_.clock.nowMs());
    if (!why.empty()) ev.note = why;
    b.events.push_back(std::move(ev));
  }
  if (was_known) note(b, VersionIndex::removal(path, prev, ctx_.clock.nowMs()));
}

void DcacheConnector::materialize(Step& s, Batch& b) {
  const std::string fallback = channel_ + "#" + s.id.value_or("");
  const std::int64_t now = ctx_.clock.nowMs();
  auto addNative = [&](Event& ev) {
    if (!s.native.is_null()) ev.native = s.native;
  };
  switch (s.kind) {
    case Step::Nothing:
      return;
    case Step::Gap: {
      b.events.push_back(gapEvent(origin_, channel_, last_id_, s.why, now));
      return;
    }
    case Step::Deleted: {
      const std::size_t before = b.events.size();
      removeFile(b, s.path, fallback, "");
      if (b.events.size() > before) addNative(b.events.back());
      return;
    }
    case Step::MovedFrom: {
      if (s.paired) return;  // its MovedTo half reports the rename
      const std::size_t before = b.events.size();
      removeFile(b, s.path, fallback, "moved out of the watched tree");
      if (b.events.size() > before) addNative(b.events.back());
      return;
    }
    case Step::DirGone: {
      std::vector<std::string> under;
      for (auto& [path, v] : index_.objects())
        if (isUnder(path, s.path)) under.push_back(path);
      for (auto& [path, o] : overlay_)
        if (isUnder(path, s.path) && o.first && parseFingerprint(*o.first)) under.push_back(path);
      std::sort(under.begin(), under.end());
      under.erase(std::unique(under.begin(), under.end()), under.end());
      for (auto& path : under)
        if (known(path)) removeFile(b, path, fallback, "its directory " + s.path + " is gone");
      return;
    }
    case Step::Written:
    case Step::MovedTo: {
      const bool moved = s.kind == Step::MovedTo && s.paired && !s.from.empty();
      if (!s.attrs || !s.attrs->regular) {
        if (s.attrs) return;  // a link or a special file
        // Gone before sluice could ask: reported without attributes, with a stable id.
        if (moved) removeFile(b, s.from, fallback, "");
        if (!spec_.emit_created) return;
        Event ev = fileEvent(origin_, EventType::Created, s.path, {}, fallback, now);
        ev.note = "gone before sluice could read its attributes";
        addNative(ev);
        b.events.push_back(std::move(ev));
        return;
      }
      const ObjectVersion v = s.attrs->version;
      if (moved) {
        if (known(s.from)) note(b, {s.from, std::nullopt});
        note(b, {s.path, toFingerprint(v)});
        if (spec_.emit_moved) {
          Event ev = fileEvent(origin_, EventType::Moved, s.path, v, fallback, now, s.from);
          addNative(ev);
          b.events.push_back(std::move(ev));
        }
        return;
      }
      if (const ObjectVersion* k = known(s.path); k && sameVersion(*k, v)) return;  // a replay
      if (spec_.emit_created) {
        Event ev = fileEvent(origin_, EventType::Created, s.path, v, fallback, now);
        addNative(ev);
        b.events.push_back(std::move(ev));
      }
      note(b, {s.path, toFingerprint(v)});
      return;
    }
  }
}

void DcacheConnector::pauseIfBehind() {
  const bool behind = steps_.size() + pump_.size() >= kHighWater;
  if (behind && !paused_) {
    paused_ = true;  // TCP flow control holds dCache back; it buffers for the channel
    if (streaming_ && stream_id_ != 0) ctx_.http->pause(stream_id_);
  }
}

void DcacheConnector::drained() {
  if (paused_ && steps_.size() + pump_.size() < kHighWater / 2) {
    paused_ = false;
    if (streaming_ && stream_id_ != 0) ctx_.http->resume(stream_id_);
  }
  checkOnceDone();
}

}  // namespace sluice::connectors::dcache
