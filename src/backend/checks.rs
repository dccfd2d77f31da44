//! Shape checks for every op, written once and run at op entry by the provided methods of
//! [`super::Backend`], before any backend kernel. Each returns the dimensions the kernel needs,
//! or an `Error::Shape` (`Error::Param` for an index out of range) naming the tensor.
use super::shape::{expect, expect_len, expect_numel};
use super::{AttentionDims, CachedAttentionDims, Matmul, Shape};
use crate::error::{Error, Result};

/// Fails unless host data of `len` elements fills a tensor of `expected` elements.
pub fn data_len(op: &'static str, len: usize, expected: usize) -> Result<()> {
    expect_len(op, "data", len, expected)
}

/// `(m, n, k)` of `op(A)[m, k] · op(B)[k, n] = C[m, n]`.
pub fn matmul(a: &Shape, b: &Shape, c: &Shape, spec: Matmul) -> Result<(usize, usize, usize)> {
    let (ar, ac) = a.matrix("matmul", "a")?;
    let (br, bc) = b.matrix("matmul", "b")?;
    let (m, k) = if spec.trans_a { (ac, ar) } else { (ar, ac) };
    let (kb, n) = if spec.trans_b { (bc, br) } else { (br, bc) };
    if kb != k {
        return Err(Error::Shape {
            op: "matmul",
            what: "b",
            expected: format!("inner dimension {k} (a is {a}, trans_a={})", spec.trans_a),
            found: format!("{b} (trans_b={})", spec.trans_b),
        });
    }
    expect("matmul", "c", c, &[m, n])?;
    Ok((m, n, k))
}

/// `(m, n, k, q)` of a paired product (see `Backend::matmul_pair`): the first product as
/// [`matmul`] checks it (`a` untransposed), a2 and scratch `[m, q]`, b2 `[n, q]`, the scales `[q]`.
pub fn matmul_pair(
    [a, b, c]: [&Shape; 3],
    [a2, b2, scratch]: [&Shape; 3],
    scale: Option<(&Shape, &Shape)>,
    spec: Matmul,
) -> Result<(usize, usize, usize, usize)> {
    if spec.trans_a {
        return Err(Error::param(
            "matmul_pair",
            "the first product's a must be untransposed",
        ));
    }
    let (m, n, k) = matmul(a, b, c, spec)?;
    let (_, q) = a2.matrix("matmul_pair", "a2")?;
    expect("matmul_pair", "a2", a2, &[m, q])?;
    expect("matmul_pair", "b2", b2, &[n, q])?;
    expect("matmul_pair", "scratch", scratch, &[m, q])?;
    if let Some((s, s_add)) = scale {
        expect("matmul_pair", "scale", s, &[q])?;
        expect("matmul_pair", "scale_add", s_add, &[q])?;
    }
    Ok((m, n, k, q))
}

/// Row width of a row-range copy.
pub fn copy_rows(
    src: &Shape,
    src_row: usize,
    dst: &Shape,
    dst_row: usize,
    rows: usize,
) -> Result<usize> {
    let w = src.row_width();
    if dst.row_width() != w {
        return Err(Error::Shape {
            op: "copy_rows",
            what: "dst",
            expected: format!("rows of {w} elements like src {src}"),
            found: dst.to_string(),
        });
    }
    if src_row + rows > src.rows() || dst_row + rows > dst.rows() {
        return Err(Error::param(
            "copy_rows",
            format!(
                "rows {src_row}+{rows} of {src} into rows {dst_row}+{rows} of {dst} is out of range"
            ),
        ));
    }
    Ok(w)
}

/// `(rows, src_cols, dst_cols)` of a column-window copy.
pub fn copy_cols(
    src: &Shape,
    src_col: usize,
    dst: &Shape,
    dst_col: usize,
    width: usize,
) -> Result<(usize, usize, usize)> {
    let (rows, cs) = src.matrix("copy_cols", "src")?;
    let (rd, cd) = dst.matrix("copy_cols", "dst")?;
    expect_len("copy_cols", "dst rows", rd, rows)?;
    if src_col + width > cs || dst_col + width > cd {
        return Err(Error::param(
            "copy_cols",
            format!(
                "columns {src_col}+{width} of {src} into columns {dst_col}+{width} of {dst} is out of range"
            ),
        ));
    }
    Ok((rows, cs, cd))
}

/// Element count of `x += y`.
pub fn same(op: &'static str, x: &Shape, y: &Shape) -> Result<usize> {
    expect(op, "y", y, x.dims())?;
    Ok(x.numel())
}

/// `(rows, cols)` of a row-broadcast op: y `[T, C]`, v `[C]`.
pub fn row_broadcast(op: &'static str, y: &Shape, v: &Shape) -> Result<(usize, usize)> {
    let (rows, cols) = y.matrix(op, "y")?;
    expect(op, "vector", v, &[cols])?;
    Ok((rows, cols))
}

/// `(m, k)` of `Backend::matmul_multi`: a `[m, k]`, one to three `b_i` `[k, n_i]` with their
/// `c_i` `[m, n_i]`.
pub fn matmul_multi(a: &Shape, bs: &[&Shape], cs: &[&Shape]) -> Result<(usize, usize)> {
    let op = "matmul_multi";
    if bs.is_empty() || bs.len() > 3 || bs.len() != cs.len() {
        return Err(Error::param(
            op,
            format!(
                "one to three products, one output each ({} and {})",
                bs.len(),
                cs.len()
            ),
        ));
    }
    let (m, k) = a.matrix(op, "a")?;
    for (b, c) in bs.iter().zip(cs) {
        matmul(a, b, c, Matmul::NN)?;
    }
    Ok((m, k))
}

/// `(t, q, m, blocks)` of `Backend::matmul_col_dot`: k = g · u as [`matmul`] checks it, h like k,
/// partials `[q_p ≥ q, blocks ≥ ⌈t / 64⌉]`.
pub fn matmul_col_dot(
    [g, u, k]: [&Shape; 3],
    h: &Shape,
    partials: &Shape,
) -> Result<(usize, usize, usize, usize)> {
    let op = "matmul_col_dot";
    let (t, q, m) = matmul(g, u, k, Matmul::NN)?;
    expect(op, "h", h, &[t, q])?;
    let (qp, blocks) = partials.matrix(op, "partials")?;
    let need = t.div_ceil(super::DSIGMA_BLOCK_ROWS);
    if qp < q || blocks < need {
        return Err(Error::Shape {
            op,
            what: "partials",
            expected: format!("at least [{q}, {need}] (q, row blocks of {t} rows)"),
            found: partials.to_string(),
        });
    }
    Ok((t, q, m, blocks))
}

/// `(n, blocks)` of `Backend::sum_blocks`: partials `[n_p ≥ n, blocks]`, out `[n]`.
pub fn sum_blocks(partials: &Shape, out: &Shape) -> Result<(usize, usize)> {
    let op = "sum_blocks";
    let (np, blocks) = partials.matrix(op, "partials")?;
    let n = out.numel();
    expect(op, "out", out, &[n])?;
    if np < n {
        return Err(Error::Shape {
            op,
            what: "partials",
            expected: format!("at least {n} rows (one per element of out)"),
            found: partials.to_string(),
        });
    }
    Ok((n, blocks))
}

/// `(rows, cols)` of `dst = src ⊙ (s + s_add)`.
pub fn mul_cols(
    src: &Shape,
    s: &Shape,
    s_add: Option<&Shape>,
    dst: &Shape,
) -> Result<(usize, usize)> {
    let rc = row_broadcast("mul_cols", src, s)?;
    if let Some(a) = s_add {
        expect("mul_cols", "s_add", a, s.dims())?;
    }
    expect("mul_cols", "dst", dst, src.dims())?;
    Ok(rc)
}

/// `(rows, cols)` of a column dot product.
pub fn col_dot(
    a: &Shape,
    b: &Shape,
    row_scale: Option<&Shape>,
    out: &Shape,
) -> Result<(usize, usize)> {
    let (rows, cols) = a.matrix("col_dot", "a")?;
    expect("col_dot", "b", b, &[rows, cols])?;
    if let Some(s) = row_scale {
        expect("col_dot", "row_scale", s, &[rows])?;
    }
    expect("col_dot", "out", out, &[cols])?;
    Ok((rows, cols))
}

/// `(m, n, q)` of a merge.
pub fn svd_merge(
    w_res: &Shape,
    u: &Shape,
    sigma: &Shape,
    v: &Shape,
    out: &Shape,
) -> Result<(usize, usize, usize)> {
    let (m, n) = w_res.matrix("svd_merge", "w_res")?;
    let q = sigma.numel();
    expect("svd_merge", "sigma", sigma, &[q])?;
    expect("svd_merge", "u", u, &[m, q])?;
    expect("svd_merge", "v", v, &[n, q])?;
    expect("svd_merge", "out", out, &[m, n])?;
    Ok((m, n, q))
}

/// `(rows, vocab, cols)` of an embedding lookup.
pub fn embedding(table: &Shape, ids: usize, out: &Shape) -> Result<(usize, usize, usize)> {
    let (vocab, cols) = table.matrix("embedding", "table")?;
    expect("embedding", "out", out, &[ids, cols])?;
    Ok((ids, vocab, cols))
}

/// `(rows, cols)` of RMSNorm: x `[T, C]`, w `[C]`, rstd `[T]`, and any more `[T, C]` tensors.
pub fn rmsnorm(
    x: &Shape,
    w: &Shape,
    rstd: &Shape,
    others: &[(&'static str, &Shape)],
) -> Result<(usize, usize)> {
    let (rows, cols) = x.matrix("rmsnorm", "x")?;
    expect("rmsnorm", "w", w, &[cols])?;
    expect("rmsnorm", "rstd", rstd, &[rows])?;
    for (what, s) in others {
        expect("rmsnorm", what, s, &[rows, cols])?;
    }
    Ok((rows, cols))
}

/// `(rows, cols)` of RMSNorm backward: as [`rmsnorm`] with the `[T, C]` gradients, and dw `[C]`
/// when given.
pub fn rmsnorm_backward(
    x: &Shape,
    w: &Shape,
    rstd: &Shape,
    grads: [(&'static str, &Shape); 2],
    dw: Option<&Shape>,
) -> Result<(usize, usize)> {
    let (rows, cols) = rmsnorm(x, w, rstd, &grads)?;
    if let Some(dw) = dw {
        expect("rmsnorm", "dw", dw, &[cols])?;
    }
    Ok((rows, cols))
}

/// `(rows, table_positions)` of rotary embedding.
pub fn rope(
    x: &Shape,
    positions: usize,
    cos: &Shape,
    sin: &Shape,
    n_heads: usize,
    head_dim: usize,
) -> Result<(usize, usize)> {
    if head_dim == 0 || !head_dim.is_multiple_of(2) {
        return Err(Error::param(
            "rope",
            format!("head_dim must be even and > 0, got {head_dim}"),
        ));
    }
    let rows = x.rows();
    expect("rope", "x", x, &[rows, n_heads * head_dim])?;
    expect_len("rope", "positions", positions, rows)?;
    let (p, half) = cos.matrix("rope", "cos")?;
    expect("rope", "cos", cos, &[p, head_dim / 2])?;
    expect("rope", "sin", sin, &[p, half])?;
    Ok((rows, p))
}

/// Checks q/k/v/out/lse against the attention geometry; returns the number of rows `B·S`.
pub fn attention(
    q: &Shape,
    k: &Shape,
    v: &Shape,
    window_start: usize,
    d: &AttentionDims,
    out: &Shape,
    lse: &Shape,
) -> Result<usize> {
    if d.n_heads == 0
        || d.n_kv_heads == 0
        || !d.n_heads.is_multiple_of(d.n_kv_heads)
        || d.head_dim == 0
    {
        return Err(Error::param(
            "attention",
            format!(
                "{} query heads cannot share {} key/value heads of dim {}",
                d.n_heads, d.n_kv_heads, d.head_dim
            ),
        ));
    }
    let rows = d.batch * d.seq;
    expect("attention", "q", q, &[rows, d.n_heads * d.head_dim])?;
    expect("attention", "k", k, &[rows, d.n_kv_heads * d.head_dim])?;
    expect("attention", "v", v, &[rows, d.n_kv_heads * d.head_dim])?;
    expect_len("attention", "window_start", window_start, rows)?;
    expect("attention", "out", out, &[rows, d.n_heads * d.head_dim])?;
    expect("attention", "lse", lse, &[rows, d.n_heads])?;
    Ok(rows)
}

/// Checks attention against a key/value cache; returns the cache rows in use.
pub fn attention_cached(
    q: &Shape,
    k_cache: &Shape,
    v_cache: &Shape,
    d: &CachedAttentionDims,
    out: &Shape,
) -> Result<usize> {
    let op = "attention_cached";
    if d.n_heads == 0
        || d.n_kv_heads == 0
        || !d.n_heads.is_multiple_of(d.n_kv_heads)
        || d.head_dim == 0
    {
        return Err(Error::param(
            op,
            format!(
                "{} query heads cannot share {} key/value heads of dim {}",
                d.n_heads, d.n_kv_heads, d.head_dim
            ),
        ));
    }
    expect(op, "q", q, &[d.rows, d.n_heads * d.head_dim])?;
    expect(op, "out", out, &[d.rows, d.n_heads * d.head_dim])?;
    let (cap, width) = k_cache.matrix(op, "k_cache")?;
    expect(op, "k_cache", k_cache, &[cap, d.n_kv_heads * d.head_dim])?;
    expect(op, "v_cache", v_cache, &[cap, width])?;
    let used = d.q_offset + d.rows;
    if used > cap {
        return Err(Error::param(
            op,
            format!(
                "query rows end at position {used}, past the {cap} rows of the key/value cache"
            ),
        ));
    }
    Ok(used)
}

/// Checks the backward pass: inputs as in forward, and dq/dk/dv/dout shaped like q/k/v/out.
#[allow(clippy::too_many_arguments)]
pub fn attention_backward(
    q: &Shape,
    k: &Shape,
    v: &Shape,
    window_start: usize,
    d: &AttentionDims,
    out: &Shape,
    lse: &Shape,
    grads: [&Shape; 4],
) -> Result<usize> {
    let rows = attention(q, k, v, window_start, d, out, lse)?;
    let [dq, dk, dv, dout] = grads;
    attention(dq, dk, dv, window_start, d, dout, lse)?;
    Ok(rows)
}

/// `(rows, cols)` of SwiGLU; all tensors `[T, I]`.
pub fn swiglu(gate: &Shape, others: &[(&'static str, &Shape)]) -> Result<(usize, usize)> {
    let (rows, cols) = gate.matrix("swiglu", "gate")?;
    for (what, s) in others {
        expect("swiglu", what, s, &[rows, cols])?;
    }
    Ok((rows, cols))
}

/// `(chunk_rows, vocab, total_rows)` of cross-entropy on a chunk of rows.
pub fn cross_entropy(
    logits: &Shape,
    targets: usize,
    weights: &Shape,
    row_offset: usize,
    losses: &Shape,
) -> Result<(usize, usize, usize)> {
    let (n, vocab) = logits.matrix("cross_entropy", "logits")?;
    let total = targets;
    expect("cross_entropy", "weights", weights, &[total])?;
    expect("cross_entropy", "losses", losses, &[total])?;
    if row_offset + n > total {
        return Err(Error::param(
            "cross_entropy",
            format!("rows {row_offset}+{n} exceed the {total} targets"),
        ));
    }
    Ok((n, vocab, total))
}

/// Fails unless `out` is a one-element tensor.
pub fn scalar(op: &'static str, out: &Shape) -> Result<()> {
    expect_numel(op, "out", out, 1)
}

/// Element count of an AdamW update.
pub fn adamw(
    param: &Shape,
    grad: &Shape,
    m: &Shape,
    v: &Shape,
    grad_norm: &Shape,
) -> Result<usize> {
    expect("adamw", "grad", grad, param.dims())?;
    expect("adamw", "m", m, param.dims())?;
    expect("adamw", "v", v, param.dims())?;
    expect_numel("adamw", "grad_norm", grad_norm, 1)?;
    Ok(param.numel())
}
