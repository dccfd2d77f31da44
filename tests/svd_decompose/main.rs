//! The randomized truncated SVD: the host linear algebra it rests on (Jacobi SVD, Householder QR,
//! Cholesky) against matrices built with a known spectrum; single layers against an exact SVD
//! (singular values, singular subspaces, orthonormal U and V, exact merge), exact at full rank,
//! rank-deficient and broken weights, seeding, both orthonormalization paths, GPU against CPU;
//! and whole tiny models whose logits must not change when every layer is decomposed.
#[path = "../common/mod.rs"]
mod common;
pub(crate) use common::*;
pub(crate) use svdtune::backend::SvdLinear;
pub(crate) use svdtune::backend::cpu::{CpuBackend, CpuTensor};
pub(crate) use svdtune::backend::{Backend, TensorInfo};
pub(crate) use svdtune::model::weights::Linear;
pub(crate) use svdtune::model::{MemoryFiles, Model};
pub(crate) use svdtune::svd::SvdPlan;
pub(crate) use svdtune::svd::decompose::{
    DecomposeOptions, decompose_layer, decompose_layer_traced, decompose_model, gaussian,
    layer_seed,
};
pub(crate) use svdtune::svd::dense::{
    Svd, cholesky_upper, householder_qr, identity, jacobi_svd, matmul, transpose, upper_inverse,
};
pub(crate) use svdtune::svd::orth::{OrthMethod, OrthStrategy, basis, orthonormalize};

mod dense;
mod helpers;
mod layer;
mod model;
