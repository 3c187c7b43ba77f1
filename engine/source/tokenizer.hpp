// Python tokens from decoded source text: what the definition tree is built from and
// what its hashes cover. Comments and non-logical newlines are dropped.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "source/model.hpp"

namespace jurigged::source {

enum class TokenKind : std::uint8_t {
    Name,     // identifiers and keywords
    Number,
    String,   // one literal with its prefix; an f-string is a single token
    Op,       // operators and delimiters
    Newline,  // end of a logical line
    Indent,
    Dedent,
    End,
};

struct Token {
    TokenKind kind;
    int line, col, end_line, end_col;  // like ast: 1-based lines, 0-based byte columns
    std::uint32_t begin, end;          // byte range in the text

    std::string_view text(std::string_view source) const {
        return source.substr(begin, end - begin);
    }
};

struct TokenizeResult {
    std::vector<Token> tokens;  // ends with End; on error, End marks where it happened
    std::optional<SyntaxError> error;
    // CPython looks for most tokenizer errors in the rest of the file before reporting
    // a plain "invalid syntax"; not for indentation errors, met only in order.
    bool error_overrides_invalid_syntax = false;
    int line_count = 0;
};

// `text` must be decoded (see decode.hpp): UTF-8, '\n' line endings. `python_minor`
// picks the rules where CPython 3.9-3.13 tokenize differently.
TokenizeResult tokenize(std::string_view text, int python_minor = newest_python_minor);

bool is_keyword(std::string_view name);

}  // namespace jurigged::source
