//! Element-wise and row-wise host ops split into blocks on rayon's pool: natively its threads, in
//! wasm the page's Web Workers (feature `threads`) or, without them, the calling thread alone.
//! Blocks are contiguous, so every block writes its own part of the outputs; results do not
//! depend on how the work was split.

/// Calls `f(block_index, a_block, b_block)` for matching blocks of `a` (`a_len` elements each)
/// and `b` (`b_len` each); both must hold the same number of blocks (the last may be shorter).
pub fn blocks2<A: Send, B: Send>(
    a: &mut [A],
    a_len: usize,
    b: &mut [B],
    b_len: usize,
    f: impl Fn(usize, &mut [A], &mut [B]) + Sync + Send,
) {
    if rayon::current_num_threads() < 2 {
        for (i, (x, y)) in a
            .chunks_mut(a_len.max(1))
            .zip(b.chunks_mut(b_len.max(1)))
            .enumerate()
        {
            f(i, x, y);
        }
        return;
    }
    use rayon::prelude::*;
    a.par_chunks_mut(a_len.max(1))
        .zip(b.par_chunks_mut(b_len.max(1)))
        .enumerate()
        .for_each(|(i, (x, y))| f(i, x, y));
}

/// Calls `f(block_index, block)` for blocks of `len` elements of `a`.
pub fn blocks<A: Send>(a: &mut [A], len: usize, f: impl Fn(usize, &mut [A]) + Sync + Send) {
    if rayon::current_num_threads() < 2 {
        for (i, x) in a.chunks_mut(len.max(1)).enumerate() {
            f(i, x);
        }
        return;
    }
    use rayon::prelude::*;
    a.par_chunks_mut(len.max(1))
        .enumerate()
        .for_each(|(i, x)| f(i, x));
}

/// Elements per block of an element-wise op (large enough that scheduling costs nothing).
pub const ELEMENTS: usize = 1 << 15;
/// Rows per block of a row-wise op.
pub const ROWS: usize = 32;
