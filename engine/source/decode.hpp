// Source bytes as read from disk into the text the tokenizer reads: UTF-8 without a
// BOM, every line ending as '\n'. Follows PEP 263 (coding cookies) and PEP 3120.
#pragma once

#include <string>
#include <string_view>

#include "source/model.hpp"

namespace jurigged::source {

// Fills `text` and returns true, or fills `error` and returns false. An encoding this
// decoder does not know is an error starting "unknown encoding: ". `as_is`: whether the
// text is `raw` byte for byte (UTF-8 without a BOM or a '\r'; not checked for validity).
bool decode_source(std::string_view raw, std::string& text, SyntaxError& error, bool* as_is = nullptr);

// Text that is UTF-8 already (decoded by Python, for instance): only line endings fold.
void normalize_utf8(std::string_view raw, std::string& text);

}  // namespace jurigged::source
