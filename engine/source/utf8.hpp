// UTF-8 validation shared by the decoder and the tokenizer.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace jurigged::source {

// Length of the valid UTF-8 sequence at `i`, or 0 when it is malformed (overlong forms,
// surrogates and code points past U+10FFFF included).
inline std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
    auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char b = byte(i);
    if (b < 0x80) return 1;
    std::size_t len;
    unsigned char lo = 0x80, hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) {
        len = 2;
    } else if (b >= 0xE0 && b <= 0xEF) {
        len = 3;
        if (b == 0xE0) lo = 0xA0;
        if (b == 0xED) hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
        len = 4;
        if (b == 0xF0) lo = 0x90;
        if (b == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    if (i + len > s.size()) return 0;
    if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
    for (std::size_t k = 2; k < len; ++k)
        if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
    return len;
}

// The message CPython gives for bytes that are not UTF-8.
inline std::string utf8_error_message(unsigned char byte) {
    static const char digits[] = "0123456789abcdef";
    return std::string("(unicode error) 'utf-8' codec can't decode byte 0x") + digits[byte >> 4] +
           digits[byte & 15] + ": invalid start byte";
}

}  // namespace jurigged::source
