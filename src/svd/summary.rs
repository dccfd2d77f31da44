//! What `svdtune inspect` and the web page show about a model before any weight is read: its
//! shape, the SVD plan grouped by layer kind, trainable totals for several rank fractions, and
//! LoRA counts over the same layers. Serializable, so the page gets the same numbers as JSON.
use super::plan::{PlannedLayer, SvdPlan};
use crate::error::Result;
use crate::model::{LinearKind, ModelConfig};
use serde::Serialize;

/// Rank fractions every summary lists (plus the requested one).
pub const STANDARD_FRACTIONS: [f64; 3] = [0.1, 0.2, 0.5];
/// LoRA ranks listed for comparison.
pub const LORA_RANKS: [usize; 3] = [8, 16, 32];

/// Planned layers of one kind and shape, across decoder layers.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayerGroup {
    /// Module name (`q_proj`, …, `lm_head`).
    pub module: &'static str,
    pub m: usize,
    pub n: usize,
    pub q: usize,
    /// How many layers share this row (decoder layers, or 1 for `lm_head`).
    pub count: usize,
    /// Σ entries of the group: `q · count`.
    pub sigma: usize,
}

/// Trainable counts at one rank fraction.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FractionTotal {
    pub rank_fraction: f64,
    pub sigma: usize,
    /// Σ plus the norm weights unless frozen.
    pub trainable: usize,
    /// Share of the model's parameters, in percent.
    pub percent_of_model: f64,
    /// What `svd-training` 0.0.2 reports as trainable: it also leaves the embedding trainable.
    pub reference_library_trainable: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LoraCount {
    pub rank: usize,
    pub params: u64,
}

/// Everything shown about a model and its plan.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlanSummary {
    pub model_type: &'static str,
    pub num_layers: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
    pub vocab_size: usize,
    pub tie_word_embeddings: bool,
    pub max_position_embeddings: usize,
    pub model_params: u64,
    /// Token embedding entries (frozen).
    pub embedding_params: usize,
    pub norm_params: usize,
    pub train_norms: bool,
    pub rank_fraction: f64,
    pub layer_count: usize,
    pub groups: Vec<LayerGroup>,
    pub layers: Vec<PlannedLayer>,
    pub totals: Vec<FractionTotal>,
    pub lora: Vec<LoraCount>,
}

fn groups(plan: &SvdPlan) -> Vec<LayerGroup> {
    let mut out: Vec<LayerGroup> = Vec::new();
    for l in &plan.layers {
        let module = l.kind.module();
        match out
            .iter_mut()
            .find(|g| g.module == module && g.m == l.m && g.n == l.n && g.q == l.q)
        {
            Some(g) => {
                g.count += 1;
                g.sigma += l.q;
            }
            None => out.push(LayerGroup {
                module,
                m: l.m,
                n: l.n,
                q: l.q,
                count: 1,
                sigma: l.q,
            }),
        }
    }
    out
}

impl PlanSummary {
    pub fn new(cfg: &ModelConfig, rank_fraction: f64, train_norms: bool) -> Result<PlanSummary> {
        let plan = SvdPlan::new(cfg, rank_fraction, train_norms)?;
        let model_params = plan.model_params(cfg);
        let mut fractions: Vec<f64> = STANDARD_FRACTIONS.to_vec();
        if !fractions.contains(&plan.rank_fraction) {
            fractions.push(plan.rank_fraction);
            fractions.sort_by(f64::total_cmp);
        }
        let totals = fractions
            .into_iter()
            .map(|f| {
                let p = SvdPlan::new(cfg, f, train_norms)?;
                Ok(FractionTotal {
                    rank_fraction: f,
                    sigma: p.sigma_params,
                    trainable: p.trainable_params(),
                    percent_of_model: 100.0 * p.trainable_params() as f64 / model_params as f64,
                    reference_library_trainable: p.sigma_params
                        + p.norm_params
                        + p.embedding_params,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(PlanSummary {
            model_type: cfg.family.model_type(),
            num_layers: cfg.num_layers,
            hidden_size: cfg.hidden_size,
            intermediate_size: cfg.intermediate_size,
            num_heads: cfg.num_heads,
            num_kv_heads: cfg.num_kv_heads,
            head_dim: cfg.head_dim,
            vocab_size: cfg.vocab_size,
            tie_word_embeddings: cfg.tie_word_embeddings,
            max_position_embeddings: cfg.max_position_embeddings,
            model_params,
            embedding_params: plan.embedding_params,
            norm_params: plan.norm_params,
            train_norms,
            rank_fraction: plan.rank_fraction,
            layer_count: plan.layers.len(),
            groups: groups(&plan),
            lora: LORA_RANKS
                .iter()
                .map(|&r| LoraCount {
                    rank: r,
                    params: plan.lora_params(r),
                })
                .collect(),
            totals,
            layers: plan.layers,
        })
    }

    /// The total for the requested rank fraction.
    pub fn selected(&self) -> Option<&FractionTotal> {
        self.totals
            .iter()
            .find(|t| t.rank_fraction == self.rank_fraction)
    }
}

impl Serialize for LinearKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.module())
    }
}
