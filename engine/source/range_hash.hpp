// Hashes of token ranges in O(1) each, from prefix sums of a polynomial hash. Every
// token lies in the ranges of all its enclosing nodes, so hashing each range token by
// token would cost the file's size times its nesting depth.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "common/hash.hpp"
#include "source/tokenizer.hpp"

namespace jurigged::source {

class RangeHasher {
public:
    RangeHasher(std::string_view text, const std::vector<Token>& tokens) {
        std::size_t n = tokens.size();
        powers.resize(n + 1);
        content_sums.resize(n + 1);
        line_sums.resize(n + 1);
        col_sums.resize(n + 1);
        placed_sums.resize(n + 1);
        powers[0] = 1;
        for (std::size_t k = 0; k < n; ++k) {
            const Token& t = tokens[k];
            std::uint64_t token = hash_bytes(t.text(text), hash_mix(hash_seed, static_cast<std::uint64_t>(t.kind)));
            // a Dedent sits where the next statement starts, after any blank lines, so
            // its position is not part of the layout
            bool placed = t.kind != TokenKind::Dedent;
            powers[k + 1] = powers[k] * base;
            content_sums[k + 1] = content_sums[k] * base + token;
            line_sums[k + 1] = line_sums[k] * base + (placed ? static_cast<std::uint64_t>(t.line) : 0);
            col_sums[k + 1] = col_sums[k] * base + (placed ? static_cast<std::uint64_t>(t.col) : 0);
            placed_sums[k + 1] = placed_sums[k] * base + (placed ? 1 : 0);
        }
    }

    // The kinds and texts of tokens [begin, end).
    std::uint64_t content(std::size_t begin, std::size_t end) const {
        return finish(raw(content_sums, begin, end), end - begin);
    }

    // Kinds, texts and positions of tokens [begin, end), lines counted from base_line.
    std::uint64_t layout(std::size_t begin, std::size_t end, int base_line) const {
        std::uint64_t lines = raw(line_sums, begin, end) -
                              static_cast<std::uint64_t>(base_line) * raw(placed_sums, begin, end);
        std::uint64_t sum = raw(content_sums, begin, end) + line_weight * lines +
                            col_weight * raw(col_sums, begin, end);
        return finish(sum, end - begin);
    }

    // The content of several ranges in order, as if they were one.
    class Concatenation {
    public:
        explicit Concatenation(const RangeHasher& hasher) : hasher(hasher) {}
        void add(std::size_t begin, std::size_t end) {
            sum = sum * hasher.powers[end - begin] + hasher.raw(hasher.content_sums, begin, end);
            length += end - begin;
        }
        std::uint64_t value() const { return finish(sum, length); }

    private:
        const RangeHasher& hasher;
        std::uint64_t sum = 0;
        std::size_t length = 0;
    };

private:
    static constexpr std::uint64_t base = 0x9e3779b97f4a7c15ULL;  // odd, so invertible mod 2^64
    static constexpr std::uint64_t line_weight = 0xc2b2ae3d27d4eb4fULL;
    static constexpr std::uint64_t col_weight = 0x165667b19e3779f9ULL;

    std::vector<std::uint64_t> powers, content_sums, line_sums, col_sums, placed_sums;

    std::uint64_t raw(const std::vector<std::uint64_t>& sums, std::size_t begin, std::size_t end) const {
        return sums[end] - sums[begin] * powers[end - begin];
    }

    // Scrambles the (linear) polynomial sum so that similar ranges get unrelated hashes.
    static std::uint64_t finish(std::uint64_t sum, std::size_t length) {
        std::uint64_t h = sum ^ (static_cast<std::uint64_t>(length) * 0xff51afd7ed558ccdULL);
        h ^= h >> 33;
        h *= 0xff51afd7ed558ccdULL;
        h ^= h >> 33;
        h *= 0xc4ceb9fe1a85ec53ULL;
        h ^= h >> 33;
        return h;
    }
};

}  // namespace jurigged::source
