// FNV-1a: tiny, dependency-free, and fast enough for source files (hundreds of MB/s).
#include "common/hash.hpp"

namespace jurigged {

std::uint64_t hash_bytes(std::string_view bytes, std::uint64_t h) {
    for (unsigned char c : bytes) {
        h ^= c;
        h *= 0x100000001b3ULL;
    }
    return h;
}

std::uint64_t hash_mix(std::uint64_t h, std::uint64_t value) {
    for (int i = 0; i < 8; ++i) {
        h ^= (value >> (8 * i)) & 0xffU;
        h *= 0x100000001b3ULL;
    }
    return h;
}

}  // namespace jurigged
