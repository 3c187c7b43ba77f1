// Hashes of token ranges in O(1) each, from prefix sums of a polynomial hash. Every
// token lies in the ranges of all its enclosing nodes, so hashing each range token by
// token would cost the file's size times its nesting depth.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "source/tokenizer.hpp"

namespace jurigged::source {

class RangeHasher {
public:
    RangeHasher(std::string_view text, const std::vector<Token>& tokens) {
        sums.reserve(tokens.size() + 1);
        sums.push_back({1, 0, 0, 0});
        for (const Token& t : tokens) {
            const Sums& before = sums.back();
            // a Dedent sits where the next statement starts, after any blank lines, so
            // its position is not part of the layout
            bool placed = t.kind != TokenKind::Dedent;
            sums.push_back({before.power * base, before.content * base + token_hash(t.kind, t.text(text)),
                            before.position * base + (placed ? position(t.line, t.col) : 0),
                            before.placed * base + (placed ? 1 : 0)});
        }
    }

    // The kinds and texts of tokens [begin, end).
    std::uint64_t content(std::size_t begin, std::size_t end) const {
        return finish(raw(&Sums::content, begin, end), end - begin);
    }

    // Kinds, texts and positions of tokens [begin, end), lines counted from base_line.
    std::uint64_t layout(std::size_t begin, std::size_t end, int base_line) const {
        std::uint64_t positions = raw(&Sums::position, begin, end) -
                                  position(base_line, 0) * raw(&Sums::placed, begin, end);
        return finish(raw(&Sums::content, begin, end) + position_weight * positions, end - begin);
    }

    // Sums of tokens [0, k).
    const TokenSums& prefix(std::size_t k) const { return sums[k]; }

    // The sums of two runs of tokens, one after the other.
    static TokenSums concatenate(const TokenSums& first, const TokenSums& second) {
        return {first.power * second.power, first.content * second.power + second.content,
                first.position * second.power + second.position, first.placed * second.power + second.placed};
    }

    // The sums of tokens [begin, end) from the prefix sums up to each.
    static TokenSums between(const TokenSums& begin, const TokenSums& end) {
        std::uint64_t power = end.power * inverse(begin.power);
        return {power, end.content - begin.content * power, end.position - begin.position * power,
                end.placed - begin.placed * power};
    }

    // The same tokens, `lines` lines further down.
    static TokenSums shifted(TokenSums sums, int lines) {
        sums.position += (static_cast<std::uint64_t>(static_cast<std::int64_t>(lines)) << 24) * sums.placed;
        return sums;
    }

    // content() and layout() of a run of `length` tokens with these sums.
    static std::uint64_t content_of(const TokenSums& s, std::size_t length) { return finish(s.content, length); }
    static std::uint64_t layout_of(const TokenSums& s, std::size_t length, int base_line) {
        return finish(s.content + position_weight * (s.position - position(base_line, 0) * s.placed), length);
    }

    // The content of several ranges in order, as if they were one.
    class Concatenation {
    public:
        explicit Concatenation(const RangeHasher& hasher) : hasher(hasher) {}
        void add(std::size_t begin, std::size_t end) {
            sum = sum * hasher.sums[end - begin].power + hasher.raw(&Sums::content, begin, end);
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
    static constexpr std::uint64_t position_weight = 0xc2b2ae3d27d4eb4fULL;

    // Prefix sums up to each token (and base's powers), kept together for locality.
    using Sums = TokenSums;
    std::vector<Sums> sums;

    // x^-1 mod 2^64 for odd x (every power of the odd base), by Newton's iteration.
    static std::uint64_t inverse(std::uint64_t x) {
        std::uint64_t y = x;  // right to 3 bits; each step doubles them
        for (int step = 0; step < 5; ++step) y *= 2 - x * y;
        return y;
    }

    // Linear in the line, so that sums can be rebased to another first line.
    static std::uint64_t position(int line, int col) {
        return (static_cast<std::uint64_t>(line) << 24) + static_cast<std::uint64_t>(col);
    }

    // Kind and text of one token, eight bytes at a time.
    static std::uint64_t token_hash(TokenKind kind, std::string_view text) {
        std::uint64_t h = (static_cast<std::uint64_t>(kind) + 1) * 0x9e3779b97f4a7c15ULL ^ text.size();
        std::size_t i = 0;
        auto mix = [&](std::uint64_t word) {
            h = (h ^ word) * 0xff51afd7ed558ccdULL;
            h ^= h >> 29;
        };
        for (; i + 8 <= text.size(); i += 8) {
            std::uint64_t word;
            std::memcpy(&word, text.data() + i, 8);
            mix(word);
        }
        if (i < text.size()) {
            std::uint64_t word = 0;  // byte by byte: a library call costs more for < 8 bytes
            for (std::size_t k = i; k < text.size(); ++k)
                word |= static_cast<std::uint64_t>(static_cast<unsigned char>(text[k])) << (8 * (k - i));
            mix(word);
        }
        return h;
    }

    std::uint64_t raw(std::uint64_t Sums::*field, std::size_t begin, std::size_t end) const {
        return sums[end].*field - sums[begin].*field * sums[end - begin].power;
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
