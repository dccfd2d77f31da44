//! Golden-file helpers shared by the training tests: tensors from safetensors goldens, and
//! installing the golden script's factored layers (`W'`, `U`, `V`, `Σ`) into a loaded model.
use svdtune::backend::Backend;
use svdtune::backend::svd_linear::svd_linear;
use svdtune::model::MemoryFiles;
use svdtune::model::Model;
use svdtune::model::layout;
use svdtune::model::weights::Linear;
use svdtune::train::optim::{AdamWConfig, Decay, Schedule};
use svdtune::train::step::{HostBatch, Trainer};

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

/// A trainer for batches `[2, 12]` with norms trained, AdamW at a constant 1e-2, on the qwen2
/// test model whose layers named by `pick` are factored as the golden script factored them.
pub fn qwen2_trainer<B: Backend>(be: &B, pick: impl Fn(&str) -> bool) -> Trainer<B> {
    let mut files = MemoryFiles::new();
    let config = include_bytes!("../fixtures/models/qwen2/config.json");
    let weights = include_bytes!("../fixtures/models/qwen2/model.safetensors");
    files.insert("config.json", config.to_vec());
    files.insert("model.safetensors", weights.to_vec());
    let mut model = Model::load(be, &files, |_, _, _| {}).unwrap();
    let factors = include_bytes!("../fixtures/train/qwen2/factors.safetensors");
    install_factors_where(be, &mut model, factors, pick);
    let schedule = Schedule {
        peak_lr: 1e-2,
        warmup_steps: 0,
        total_steps: 100,
        decay: Decay::Constant,
    };
    Trainer::new(be, model, 2, 12, true, schedule, AdamWConfig::default()).unwrap()
}

/// The batch `[2, 12]` of a training golden file (one conversation per row of 12), owned.
pub struct GoldenBatch {
    pub ids: Vec<u32>,
    pub targets: Vec<u32>,
    pub weights: Vec<f32>,
    pub positions: Vec<u32>,
    pub starts: Vec<u32>,
}

impl GoldenBatch {
    pub fn new(golden: &[u8]) -> Self {
        let gold = safetensors::SafeTensors::deserialize(golden).unwrap();
        GoldenBatch {
            ids: ids(&gold, "input_ids"),
            targets: ids(&gold, "targets"),
            weights: f32s(&gold, "weights"),
            positions: (0..24).map(|r| r % 12).collect(),
            starts: vec![0; 24],
        }
    }

    pub fn host(&self) -> HostBatch<'_> {
        HostBatch {
            input_ids: &self.ids,
            target_ids: &self.targets,
            loss_weights: &self.weights,
            position_ids: &self.positions,
            window_start: &self.starts,
        }
    }
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
        // The golden's layer `x W'ᵀ + ((x V) ⊙ Σ) Uᵀ` is the delta form
        // `x Wᵀ + ((x V) ⊙ (Σ − Σ₀)) Uᵀ` with `W = W'` and `Σ₀ = 0`: the same ops, and the
        // values the golden script used (it stores a perturbed Σ, not its Σ₀).
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
        let (w, u, v) = (t("w_res", &[m, n]), t("u", &[m, q]), t("v", &[n, q]));
        let mut layer = svd_linear(be, w, u, v, &vec![0.0; q], bias).unwrap();
        be.write(&mut layer.sigma, &sigma).unwrap();
        *lin = Linear::Svd(layer);
    }
}
