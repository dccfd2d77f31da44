mod common;
use common::*;
use svdtune::backend::{Backend, Matmul};
#[test]
fn timing() {
    pollster::block_on(async {
        let g = gpu().await;
        let (m, n, k) = (512usize, 576usize, 576usize);
        let a = g.tensor(&rand_vec(m * k, 1), &[m, k]).unwrap();
        let b = g.tensor(&rand_vec(n * k, 2), &[n, k]).unwrap();
        let mut c = g.zeros(&[m, n]).unwrap();
        for _ in 0..3 {
            let t = std::time::Instant::now();
            g.matmul(&a, &b, &mut c, Matmul::NT).unwrap();
            g.read(&c).await.unwrap();
            let e = t.elapsed();
            eprintln!("matmul {:?} {:.2} GFLOP/s", e, 2.0 * (m * n * k) as f64 / e.as_secs_f64() / 1e9);
        }
    });
}
