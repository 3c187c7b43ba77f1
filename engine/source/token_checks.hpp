// Syntax errors visible from a statement's tokens alone, without an expression
// parser: two operands in a row (Python 2's `print x`), a dangling operator, a keyword
// where an operand must be. Catches the common invalid sources, not all of them.
#pragma once

#include <optional>
#include <string_view>

#include "source/model.hpp"
#include "source/tokenizer.hpp"

namespace jurigged::source {

// Checks the tokens [first, last) of one simple statement, or of a clause header
// between its keyword and its colon (then `is_header` is true).
std::optional<SyntaxError> check_tokens(std::string_view text, const Token* first,
                                        const Token* last, bool is_header);

// Checks a def's parameter list: tokens strictly between its parentheses.
std::optional<SyntaxError> check_parameters(std::string_view text, const Token* first,
                                            const Token* last);

}  // namespace jurigged::source
