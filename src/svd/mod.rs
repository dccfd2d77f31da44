//! The SVD method: which layers are decomposed and at what rank ([`plan`]).
pub mod plan;

pub use plan::{PlannedLayer, SvdPlan, rank_for};
