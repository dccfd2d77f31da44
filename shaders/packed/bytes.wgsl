// packed/bytes: byte-level reads of the `packed: array<u32>` binding, composed before every
// shaders/packed/<type>.wgsl snippet (the kernel that uses a snippet declares `packed`), after
// shaders/common/f16.wgsl (`f16_bits_to_f32`).
//
// `packed` holds a GGUF tensor's bytes as stored in the file (little-endian), padded with zeros
// to a multiple of 4. Blocks of 18, 20, 22, 34 or 210 bytes are not u32-aligned, so every field
// is read at its byte offset `o`. f16 fields sit at even offsets in every block type.

// The byte at offset `o` (0..=255).
fn packed_byte(o: u32) -> u32 {
    return (packed[o >> 2u] >> ((o & 3u) << 3u)) & 0xFFu;
}

// The byte at offset `o` as a signed i8 (-128..=127).
fn packed_i8(o: u32) -> i32 {
    return (i32(packed_byte(o)) << 24u) >> 24u;
}

// The u16 at the even offset `o`.
fn packed_u16(o: u32) -> u32 {
    return (packed[o >> 2u] >> ((o & 2u) << 3u)) & 0xFFFFu;
}

// The f16 at the even offset `o` as f32.
fn packed_f16(o: u32) -> f32 {
    return f16_bits_to_f32(packed_u16(o));
}

// The 4 bytes at any offset `o` as a little-endian u32 (`o + 3` inside the tensor).
fn packed_u32_at(o: u32) -> u32 {
    let w = o >> 2u;
    let s = (o & 3u) << 3u;
    if (s == 0u) {
        return packed[w];
    }
    return (packed[w] >> s) | (packed[w + 1u] << (32u - s));
}

// Byte `k` (0..4) of `w` as a signed i8.
fn packed_i8_of(w: u32, k: u32) -> i32 {
    return (i32(w) << (24u - 8u * k)) >> 24u;
}

// Nibble or bit field of each byte of `w`: `(byte k >> shift) & mask` for k = 0..4.
fn packed_fields(w: u32, shift: u32, mask: u32) -> vec4<u32> {
    return (vec4<u32>(w, w >> 8u, w >> 16u, w >> 24u) >> vec4<u32>(shift)) & vec4<u32>(mask);
}
