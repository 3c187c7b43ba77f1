// What the incremental parse (incremental.cpp) shares with the whole-file one (tree.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "source/model.hpp"

namespace jurigged::source {

// Source bytes into the tokenizer's text (decode.hpp), for both kinds of source.
// `as_is`: the text is the source bytes (see decode_source).
bool decode(std::string_view source, bool utf8, std::string& text, SyntaxError& error, bool& as_is);

// The whole-file parse of decoded text; the tree keeps the text.
ParseResult parse_decoded(std::string text, int python_minor);

// A fresh Tree::id.
std::uint64_t next_tree_id();

// Whether the tokenizer, reaching `byte` (a line start holding a statement), is in the
// state it starts a file in whatever came before: the line is not continued from the
// previous one by a backslash.
bool tokenizer_starts_clean(std::string_view text, std::size_t byte);

}  // namespace jurigged::source
