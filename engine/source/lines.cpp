// Line starts and strict UTF-8, a word (or 16 bytes) at a time: files are mostly ASCII
// with short lines, where a call of memchr per line costs more than the scan.
#include "source/lines.hpp"

#include <cstring>

#include "source/utf8.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace jurigged::source {

void append_line_starts(std::string_view text, std::uint32_t base, std::vector<std::uint32_t>& out) {
    const char* data = text.data();
    std::size_t size = text.size(), i = 0;
#if defined(__SSE2__)
    const __m128i newline = _mm_set1_epi8('\n');
    for (; i + 16 <= size; i += 16) {
        __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + i));
        unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(block, newline)));
        for (; mask; mask &= mask - 1)
            out.push_back(base + static_cast<std::uint32_t>(i + static_cast<std::size_t>(__builtin_ctz(mask)) + 1));
    }
#endif
    for (; i < size; ++i)
        if (data[i] == '\n') out.push_back(base + static_cast<std::uint32_t>(i + 1));
}

bool is_strict_utf8(std::string_view text) {
    std::size_t size = text.size(), i = 0;
    while (i < size) {
#if defined(__SSE2__)
        if (i + 32 <= size) {  // two blocks of ASCII at once
            const auto* at = reinterpret_cast<const __m128i*>(text.data() + i);
            if (_mm_movemask_epi8(_mm_or_si128(_mm_loadu_si128(at), _mm_loadu_si128(at + 1))) == 0) {
                i += 32;
                continue;
            }
        }
#endif
        std::uint64_t word;
        if (i + 8 <= size) {
            std::memcpy(&word, text.data() + i, 8);
            if ((word & 0x8080808080808080ULL) == 0) {
                i += 8;
                continue;
            }
        }
        std::size_t length = utf8_sequence_length(text, i);
        if (length == 0) return false;
        i += length;
    }
    return true;
}

}  // namespace jurigged::source
