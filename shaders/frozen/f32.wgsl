// frozen/f32: the frozen operand of a composed kernel (B of matmul, the embedding table) as
// plain f32 at storage binding 2. Defines `frozen_value(e)`: element e in row-major order.
@group(0) @binding(2) var<storage, read> frozen: array<f32>;

fn frozen_value(e: u32) -> f32 {
    return frozen[e];
}
