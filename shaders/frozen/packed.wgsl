// frozen/packed: the frozen operand of a composed kernel (B of matmul, the embedding table) kept
// in its stored precision at storage binding 2 as `packed: array<u32>`, read through the
// `packed_value(e)` of the shaders/packed/ snippet composed before this file (f16, bf16, GGUF
// blocks). Defines `frozen_value(e)`: element e in row-major order, as f32.
@group(0) @binding(2) var<storage, read> packed: array<u32>;

fn frozen_value(e: u32) -> f32 {
    return packed_value(e);
}
