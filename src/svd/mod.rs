//! The SVD method: which layers are decomposed and at what rank ([`plan`]), and the summary
//! shown before training ([`summary`]).
pub mod plan;
pub mod summary;

pub use plan::{PlannedLayer, SvdPlan, rank_for};
pub use summary::PlanSummary;
