// Lookup of the single-byte encodings (other than latin-1) that source files may declare.
#pragma once

#include <string_view>

namespace jurigged::source {

// The code points of bytes 0x80-0xFF for a canonical encoding name ("cp1252",
// "iso-8859-15", "iso-8859-5", "koi8-r"), or nullptr when not one of those.
const char32_t* single_byte_charset(std::string_view canonical_name);

}  // namespace jurigged::source
