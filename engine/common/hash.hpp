// Content hashing shared by the engine: the watcher compares file contents, the
// source model hashes token streams. Stable within one process, not across versions.
#pragma once

#include <cstdint>
#include <string_view>

namespace jurigged {

inline constexpr std::uint64_t hash_seed = 0xcbf29ce484222325ULL;

// 64-bit FNV-1a over bytes, continuing from `h` so that pieces can be chained.
std::uint64_t hash_bytes(std::string_view bytes, std::uint64_t h = hash_seed);

// Mixes a value into a running hash (order matters).
std::uint64_t hash_mix(std::uint64_t h, std::uint64_t value);

}  // namespace jurigged
