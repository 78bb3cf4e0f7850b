#pragma once
// Stage-in: the name a triggering object gets inside a job's TMP_INPUT_DIR.
//
// The object's key or path is the storage's (or an uploader's) choice; the file name inside
// the job folder is not: whatever the key holds ("../../etc/passwd", an absolute path, NUL,
// newlines, a trailing '/'), the name is one path component that stays inside the folder. The
// original key still reaches the job unchanged in STORAGE_OBJECT_KEY and EVENT.
#include <filesystem>
#include <string>
#include <string_view>

#include "daemon/event.hpp"

namespace sluice::sinks::supervisor {

// The last segment of `key`, with control characters (NUL, newlines, …) and '\' replaced by
// '_', at most 200 bytes (cut at a UTF-8 character boundary, keeping a short extension);
// "input" when nothing usable is left (empty, ".", "..").
std::string stageName(std::string_view key);

// Where the object of `ev` is staged: `input_dir` / stageName(its key, else its path).
std::filesystem::path stagePath(const std::filesystem::path& input_dir, const Event& ev);

}  // namespace sluice::sinks::supervisor
