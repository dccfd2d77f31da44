//! Training: gradient buffers ([`grads`]), the loss and backward pass ([`backward`]), AdamW and
//! schedules ([`optim`]), the memory a run needs ([`memory`]), the optimizer step with gradient
//! accumulation ([`step`]), how a run is set up ([`setup`]) and run step by step ([`run`]), loss
//! passes one batch at a time ([`pass`]) and how long a run will take ([`estimate`]).
pub mod backward;
pub mod checkpoint;
pub mod estimate;
pub mod grads;
pub mod memory;
pub mod optim;
pub mod pass;
pub mod run;
pub mod setup;
pub mod step;
