//! Small dense linear algebra on the host, in f64, for the `k × k` side of the randomized SVD
//! (`k` = rank + oversampling, tens to a few hundred): Cholesky of a Gram matrix, inverse of a
//! triangular factor, Householder QR of a tall matrix, and a one-sided Jacobi SVD.
//!
//! All matrices are row-major `Vec<f64>` with their dimensions passed alongside. The Jacobi SVD
//! works on columns, so it keeps a column-major copy internally for contiguous column access.

/// Upper-triangular `R` (`[k, k]`) with `G = Rᵀ R`, for a symmetric `G` `[k, k]` (only its upper
/// triangle is read). `None` when a pivot is not finite or falls to `rel_tol · max_i G_ii` or
/// below: `G` is (numerically) singular or too ill-conditioned for the caller's purpose.
pub fn cholesky_upper(g: &[f64], k: usize, rel_tol: f64) -> Option<Vec<f64>> {
    let max_diag = (0..k).map(|i| g[i * k + i]).fold(0.0f64, f64::max);
    let floor = rel_tol * max_diag;
    // Right-looking: row j of R comes from row j of the updated trailing block, which is then
    // updated by the outer product of that row (rows stay contiguous).
    let mut r: Vec<f64> = g.to_vec();
    for j in 0..k {
        let d = r[j * k + j];
        if !d.is_finite() || d <= floor || d <= 0.0 {
            return None;
        }
        let rjj = d.sqrt();
        let (head, tail) = r.split_at_mut((j + 1) * k);
        let row = &mut head[j * k..];
        row[..j].fill(0.0);
        row[j] = rjj;
        for x in &mut row[j + 1..] {
            *x /= rjj;
        }
        for i in j + 1..k {
            let f = row[i];
            let target = &mut tail[(i - j - 1) * k..(i - j) * k];
            for (t, &x) in target[i..].iter_mut().zip(&row[i..]) {
                *t -= f * x;
            }
        }
    }
    Some(r)
}

/// `R⁻¹` of a nonsingular upper-triangular `R` `[k, k]` (upper triangular too).
pub fn upper_inverse(r: &[f64], k: usize) -> Vec<f64> {
    // Row i of R⁻¹ from the rows below it: inv[i, :] = (e_i − Σ_{p>i} R[i, p] inv[p, :]) / R[i, i].
    let mut inv = vec![0.0; k * k];
    for i in (0..k).rev() {
        let (head, below) = inv.split_at_mut((i + 1) * k);
        let row = &mut head[i * k..];
        row[i] = 1.0;
        for p in i + 1..k {
            let f = r[i * k + p];
            for (x, &y) in row[p..]
                .iter_mut()
                .zip(&below[(p - i - 1) * k + p..(p - i) * k])
            {
                *x -= f * y;
            }
        }
        let d = r[i * k + i];
        for x in &mut row[i..] {
            *x /= d;
        }
    }
    inv
}

/// `A · B` for `a` `[m, p]` and `b` `[p, n]`.
pub fn matmul(a: &[f64], b: &[f64], m: usize, p: usize, n: usize) -> Vec<f64> {
    let mut c = vec![0.0; m * n];
    for i in 0..m {
        for l in 0..p {
            let x = a[i * p + l];
            if x == 0.0 {
                continue;
            }
            let (row, brow) = (&mut c[i * n..(i + 1) * n], &b[l * n..(l + 1) * n]);
            for (cv, bv) in row.iter_mut().zip(brow) {
                *cv += x * bv;
            }
        }
    }
    c
}

/// Thin Householder QR of `y` `[rows, cols]`, `rows ≥ cols`: `y = Q R` with `Q` `[rows, cols]`
/// (orthonormal columns, also when `y` is rank-deficient) and `R` `[cols, cols]` upper triangular
/// with a non-negative diagonal.
pub fn householder_qr(y: &[f64], rows: usize, cols: usize) -> (Vec<f64>, Vec<f64>) {
    debug_assert!(rows >= cols && y.len() == rows * cols);
    // Column-major working copy: column j is a[j*rows .. (j+1)*rows].
    let mut a = to_col_major(y, rows, cols);
    // Reflector j is I − τ_j v_j v_jᵀ with v_j[j] = 1, stored below the diagonal of column j.
    let mut tau = vec![0.0; cols];
    let mut diag = vec![0.0; cols];
    for j in 0..cols {
        let col = &mut a[j * rows..(j + 1) * rows];
        let alpha = col[j];
        let tail = sq_norm(&col[j + 1..]);
        if tail == 0.0 {
            // Already zero below the diagonal: no reflection.
            tau[j] = 0.0;
            diag[j] = alpha;
            continue;
        }
        let norm = (alpha * alpha + tail).sqrt();
        let beta = if alpha >= 0.0 { -norm } else { norm };
        let scale = 1.0 / (alpha - beta);
        for x in &mut col[j + 1..] {
            *x *= scale;
        }
        tau[j] = (beta - alpha) / beta;
        diag[j] = beta;
        col[j] = 1.0;
        let (head, rest) = a.split_at_mut((j + 1) * rows);
        let v = &head[j * rows + j..(j + 1) * rows];
        for c in 0..cols - j - 1 {
            let target = &mut rest[c * rows + j..(c + 1) * rows];
            apply_reflector(v, tau[j], target);
        }
    }
    // R: the diagonal from `diag`, the strict upper triangle from the reduced columns.
    let mut r = vec![0.0; cols * cols];
    for j in 0..cols {
        r[j * cols + j] = diag[j];
        for i in 0..j {
            r[i * cols + j] = a[j * rows + i];
        }
    }
    // Q = H_0 H_1 … H_{cols−1} [I; 0], built backwards, column-major.
    let mut q = vec![0.0; rows * cols];
    for j in 0..cols {
        q[j * rows + j] = 1.0;
    }
    for j in (0..cols).rev() {
        if tau[j] == 0.0 {
            continue;
        }
        let mut v = a[j * rows + j..(j + 1) * rows].to_vec();
        v[0] = 1.0;
        for c in j..cols {
            apply_reflector(&v, tau[j], &mut q[c * rows + j..(c + 1) * rows]);
        }
    }
    // Make the diagonal of R non-negative (as a Cholesky factor would be).
    for j in 0..cols {
        if r[j * cols + j] < 0.0 {
            for c in j..cols {
                r[j * cols + c] = -r[j * cols + c];
            }
            for x in &mut q[j * rows..(j + 1) * rows] {
                *x = -*x;
            }
        }
    }
    (from_col_major(&q, rows, cols), r)
}

/// `x ← (I − τ v vᵀ) x` for equally long `v` and `x`.
fn apply_reflector(v: &[f64], tau: f64, x: &mut [f64]) {
    let s = tau * dot(v, x);
    for (xv, vv) in x.iter_mut().zip(v) {
        *xv -= s * vv;
    }
}

/// Thin SVD `A = U diag(s) Vᵀ`: `u` `[rows, r]`, `s` `[r]` (descending, ≥ 0), `v` `[cols, r]`
/// with `r = min(rows, cols)`, all row-major. Columns of `u` and `v` are orthonormal, also for
/// zero singular values (completed with orthonormal directions).
#[derive(Clone, Debug)]
pub struct Svd {
    pub u: Vec<f64>,
    pub s: Vec<f64>,
    pub v: Vec<f64>,
    /// Jacobi sweeps until every column pair was orthogonal to working precision.
    pub sweeps: usize,
}

/// Most sweeps of the Jacobi SVD; convergence is quadratic, well-scaled inputs take 6–10.
const MAX_SWEEPS: usize = 60;

/// One-sided (Hestenes) Jacobi SVD of `a` `[rows, cols]`: plane rotations from the right make
/// the columns mutually orthogonal (`A J = U diag(s)`, `V = J`); the singular values come out
/// with high relative accuracy. Wide inputs are handled through their transpose.
pub fn jacobi_svd(a: &[f64], rows: usize, cols: usize) -> Svd {
    if rows < cols {
        let t = transpose(a, rows, cols);
        let Svd { u, s, v, sweeps } = jacobi_svd(&t, cols, rows);
        return Svd {
            u: v,
            s,
            v: u,
            sweeps,
        };
    }
    let n = cols;
    let mut w = to_col_major(a, rows, cols);
    let mut j = to_col_major(&identity(n), n, n);
    let tol = f64::EPSILON * rows as f64;
    let mut sweeps = 0;
    while sweeps < MAX_SWEEPS {
        sweeps += 1;
        // Squared column norms, recomputed each sweep and updated exactly per rotation between.
        let mut norms: Vec<f64> = (0..n)
            .map(|c| sq_norm(&w[c * rows..(c + 1) * rows]))
            .collect();
        let mut rotated = false;
        for p in 0..n {
            for q in p + 1..n {
                let (alpha, beta) = (norms[p], norms[q]);
                if alpha == 0.0 || beta == 0.0 {
                    continue;
                }
                let (wp, wq) = pair(&mut w, rows, p, q);
                let gamma = dot(wp, wq);
                if gamma.abs() <= tol * (alpha * beta).sqrt() {
                    continue;
                }
                rotated = true;
                let zeta = (beta - alpha) / (2.0 * gamma);
                let t = zeta.signum() / (zeta.abs() + (1.0 + zeta * zeta).sqrt());
                let c = 1.0 / (1.0 + t * t).sqrt();
                let s = c * t;
                rotate(wp, wq, c, s);
                let (jp, jq) = pair(&mut j, n, p, q);
                rotate(jp, jq, c, s);
                norms[p] = (alpha - t * gamma).max(0.0);
                norms[q] = (beta + t * gamma).max(0.0);
            }
        }
        if !rotated {
            break;
        }
    }
    // Order by singular value, normalize the columns into U.
    let sv: Vec<f64> = (0..n)
        .map(|c| sq_norm(&w[c * rows..(c + 1) * rows]).sqrt())
        .collect();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&x, &y| sv[y].total_cmp(&sv[x]));
    let mut u_cols = vec![0.0; rows * n];
    let mut v_cols = vec![0.0; n * n];
    let mut s = vec![0.0; n];
    let mut zero = Vec::new();
    for (dst, &src) in order.iter().enumerate() {
        s[dst] = sv[src];
        v_cols[dst * n..(dst + 1) * n].copy_from_slice(&j[src * n..(src + 1) * n]);
        if sv[src] >= f64::MIN_POSITIVE {
            let inv = 1.0 / sv[src];
            for (o, x) in u_cols[dst * rows..(dst + 1) * rows]
                .iter_mut()
                .zip(&w[src * rows..(src + 1) * rows])
            {
                *o = x * inv;
            }
        } else {
            s[dst] = 0.0;
            zero.push(dst);
        }
    }
    complete_orthonormal(&mut u_cols, rows, n, &zero);
    Svd {
        u: from_col_major(&u_cols, rows, n),
        s,
        v: from_col_major(&v_cols, n, n),
        sweeps,
    }
}

/// Fills the columns listed in `missing` of the column-major `cols` `[rows, n]` with unit vectors
/// orthogonal to every other column (Gram–Schmidt, twice, against the coordinate axes).
fn complete_orthonormal(cols: &mut [f64], rows: usize, n: usize, missing: &[usize]) {
    let mut filled: Vec<usize> = (0..n).filter(|c| !missing.contains(c)).collect();
    let mut axis = 0;
    for &m in missing {
        while axis < rows {
            let mut x = vec![0.0; rows];
            x[axis] = 1.0;
            axis += 1;
            for _ in 0..2 {
                for &f in &filled {
                    let col = &cols[f * rows..(f + 1) * rows];
                    let d = dot(col, &x);
                    for (xv, cv) in x.iter_mut().zip(col) {
                        *xv -= d * cv;
                    }
                }
            }
            let norm = sq_norm(&x).sqrt();
            if norm > 0.5 {
                for (o, xv) in cols[m * rows..(m + 1) * rows].iter_mut().zip(&x) {
                    *o = xv / norm;
                }
                filled.push(m);
                break;
            }
        }
    }
}

fn rotate(x: &mut [f64], y: &mut [f64], c: f64, s: f64) {
    for (a, b) in x.iter_mut().zip(y.iter_mut()) {
        let (xa, yb) = (*a, *b);
        *a = c * xa - s * yb;
        *b = s * xa + c * yb;
    }
}

/// Columns `p < q` of a column-major matrix with columns of length `len`, both mutable.
fn pair(a: &mut [f64], len: usize, p: usize, q: usize) -> (&mut [f64], &mut [f64]) {
    let (head, tail) = a.split_at_mut(q * len);
    (&mut head[p * len..(p + 1) * len], &mut tail[..len])
}

fn sq_norm(x: &[f64]) -> f64 {
    dot(x, x)
}

/// `Σ x_i y_i` over equally long slices, with four partial sums so that it vectorizes (a single
/// running sum has to be added in order).
fn dot(x: &[f64], y: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let (xc, yc) = (x.chunks_exact(4), y.chunks_exact(4));
    let tail: f64 = xc
        .remainder()
        .iter()
        .zip(yc.remainder())
        .map(|(a, b)| a * b)
        .sum();
    for (a, b) in xc.zip(yc) {
        for l in 0..4 {
            acc[l] += a[l] * b[l];
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// The `n × n` identity, row-major.
pub fn identity(n: usize) -> Vec<f64> {
    let mut m = vec![0.0; n * n];
    for i in 0..n {
        m[i * n + i] = 1.0;
    }
    m
}

/// Transpose of a row-major `[rows, cols]` matrix (row-major `[cols, rows]`).
pub fn transpose(a: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    let mut t = vec![0.0; rows * cols];
    for i in 0..rows {
        for j in 0..cols {
            t[j * rows + i] = a[i * cols + j];
        }
    }
    t
}

fn to_col_major(a: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    transpose(a, rows, cols)
}

fn from_col_major(a: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    transpose(a, cols, rows)
}
