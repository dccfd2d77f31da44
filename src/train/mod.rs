//! Training: gradient buffers ([`grads`]) and the loss and backward pass ([`backward`]).
pub mod backward;
pub mod grads;
