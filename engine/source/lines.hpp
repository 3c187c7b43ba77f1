// Where lines start and whether text is UTF-8 as Python's strict codec reads it: for the
// line table a save's SourceLines reads (built with the tree, off the GIL, and carried
// across an incremental parse instead of rescanned).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace jurigged::source {

// Appends `base` + one past each '\n' of `text`.
void append_line_starts(std::string_view text, std::uint32_t base, std::vector<std::uint32_t>& out);

// Whether `text` decodes as strict UTF-8 (no surrogates, overlong forms or bytes past
// U+10FFFF): what Python's bytes.decode("utf-8") accepts.
bool is_strict_utf8(std::string_view text);

}  // namespace jurigged::source
