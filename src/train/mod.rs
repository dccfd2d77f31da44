//! Training: gradient buffers ([`grads`]), the loss and backward pass ([`backward`]), AdamW and
//! schedules ([`optim`]), the memory a run needs ([`memory`]), and the optimizer step with
//! gradient accumulation ([`step`]).
pub mod backward;
pub mod checkpoint;
pub mod grads;
pub mod memory;
pub mod optim;
pub mod run;
pub mod step;
