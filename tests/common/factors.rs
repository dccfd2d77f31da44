//! Golden-file helpers shared by the training tests: tensors from safetensors goldens, and
//! installing the golden script's factored layers (`W'`, `U`, `V`, `Σ`) into a loaded model.
use svdtune::backend::Backend;
use svdtune::backend::svd_linear::SvdLinear;
use svdtune::model::Model;
use svdtune::model::layout;
use svdtune::model::weights::Linear;

pub fn f32s(st: &safetensors::SafeTensors, name: &str) -> Vec<f32> {
    let t = st
        .tensor(name)
        .unwrap_or_else(|_| panic!("no tensor {name}"));
    t.data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

pub fn ids(st: &safetensors::SafeTensors, name: &str) -> Vec<u32> {
    st.tensor(name)
        .unwrap()
        .data()
        .chunks_exact(8)
        .map(|b| i64::from_le_bytes(b.try_into().unwrap()) as u32)
        .collect()
}

/// Replaces every dense linear layer by the golden script's factored one.
pub fn install_factors<B: Backend>(be: &B, model: &mut Model<B>, factors: &[u8]) {
    install_factors_where(be, model, factors, |_| true)
}

/// Like [`install_factors`], only for the layers whose module name passes `pick`.
pub fn install_factors_where<B: Backend>(
    be: &B,
    model: &mut Model<B>,
    factors: &[u8],
    pick: impl Fn(&str) -> bool,
) {
    let st = safetensors::SafeTensors::deserialize(factors).unwrap();
    let specs = layout::linear_layers(&model.cfg);
    let linears = model.weights.linears_mut();
    assert_eq!(specs.len(), linears.len());
    for (spec, (_, _, lin)) in specs.iter().zip(linears) {
        if !pick(&spec.module) {
            continue;
        }
        let (m, n) = (spec.out_features, spec.in_features);
        let sigma = f32s(&st, &format!("{}.sigma", spec.module));
        let q = sigma.len();
        let t = |suffix: &str, shape: &[usize]| {
            be.tensor(&f32s(&st, &format!("{}.{suffix}", spec.module)), shape)
                .unwrap()
        };
        let bias = match std::mem::replace(
            lin,
            Linear::Dense {
                w: be.zeros(&[1, 1]).unwrap(),
                bias: None,
            },
        ) {
            Linear::Dense { bias, .. } => bias,
            Linear::Svd(s) => s.bias,
        };
        *lin = Linear::Svd(SvdLinear {
            w_res: t("w_res", &[m, n]),
            u: t("u", &[m, q]),
            v: t("v", &[n, q]),
            sigma: be.tensor(&sigma, &[q]).unwrap(),
            bias,
        });
    }
}
