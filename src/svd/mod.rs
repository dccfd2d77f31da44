//! The SVD method: which layers are decomposed and at what rank ([`plan`]), the summary shown
//! before training ([`summary`]), and the randomized decomposition of every planned layer
//! ([`decompose`], with [`orth`] and the host-side [`dense`] linear algebra it needs; a whole
//! model's layers side by side in `whole_model.rs`).
pub mod decompose;
pub mod dense;
pub mod orth;
pub mod plan;
pub mod summary;
mod whole_model;

pub use decompose::{DecomposeOptions, LayerInit, decompose_layer, decompose_model};
pub use plan::{PlannedLayer, SvdPlan, rank_for};
pub use summary::PlanSummary;
