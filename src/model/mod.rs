//! Hugging Face models: `config.json` ([`config`]), the tensors a config implies ([`layout`]),
//! safetensors checkpoints read by byte ranges ([`safetensors`], [`source`]), weights on a
//! backend ([`weights`]) and the one walk over them ([`trainables`]), size limits of a config ([`size_limits`]), the forward pass ([`forward`]) and generation with a KV cache
//! ([`generate`]).
pub mod acts;
pub mod batch;
pub mod config;
pub mod forward;
pub mod generate;
pub mod layout;
pub mod load;
pub mod rope;
pub mod safetensors;
pub mod sample;
pub mod size_limits;
pub mod source;
pub mod trainables;
pub mod weights;

pub use config::{Family, ModelConfig, SUPPORTED_MODEL_TYPES};
pub use layout::{LinearKind, LinearSpec};
pub use load::{MemoryFiles, Model, ModelFiles};
pub use safetensors::Checkpoint;
pub use source::{ByteSource, MemorySource};
