//! Chat data: whatever chat file a user drops in → the exact token ids and loss masks the Hugging
//! Face ecosystem produces for the same model → training batches. Pure Rust, the same
//! natively and in wasm.
//!
//! Pipeline (one module per step):
//! - [`reader`]: bytes or a native file → records (JSONL or a JSON array, read incrementally),
//!   each with its line number; invalid UTF-8, invalid JSON and oversized lines become skips.
//! - [`formats`]: per-file format detection (OpenAI/TRL `messages`, ShareGPT `conversations`,
//!   Alpaca, TRL prompt/completion, plain `text`) and conversion to [`Sample`]s.
//! - [`template`]: the model's own Jinja chat template, rendered like transformers.
//! - [`tokenizer`]: `tokenizer.json` through the `tokenizers` crate (no special tokens added:
//!   the template already holds them).
//! - [`encode`]: a sample → `input_ids` + `loss_mask` (assistant turns only by default, spans
//!   found by rendering the conversation prefix by prefix).
//! - [`dataset`]: the whole file → examples, skip reports, truncation, statistics, split.
//! - [`cut`]: a read dataset cut to a shorter sequence length; the length most examples fit.
//! - [`pack`] and [`batch`]: examples → rows of `seq_len` tokens → `[batch, width]` batches,
//!   each as wide as its longest row.
//! - [`model_files`]: the text side of a model folder (template + tokenizer) in one value.
//! - [`wire`]: a read dataset as bytes (the page reads data in a worker of its own).

pub mod batch;
pub mod cut;
pub mod dataset;
pub mod encode;
pub mod formats;
pub mod model_files;
pub mod pack;
pub mod reader;
pub mod template;
pub mod tokenizer;
pub mod wire;

mod py_methods;
mod pyjson;
pub(crate) mod strftime;

pub use batch::{Batch, WIDTH_STEP, Width, make_batches, make_batches_as};
pub use dataset::{Dataset, DatasetOptions, Example, Skip, Split, Stats};
pub use encode::{Encoded, LossMode};
pub use formats::Format;
pub use model_files::ModelText;
pub use pack::{PackedRow, Segment};
pub use template::ChatTemplate;
pub use tokenizer::TextTokenizer;

/// The speaker of one chat turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    System,
    User,
    Assistant,
}

impl Role {
    /// The role string chat templates expect (`"system"`, `"user"`, `"assistant"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }

    /// Parses an OpenAI/TRL role name; `None` for anything else.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "system" => Some(Role::System),
            "user" => Some(Role::User),
            "assistant" => Some(Role::Assistant),
            _ => None,
        }
    }
}

/// One chat turn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

impl Message {
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Message {
            role,
            content: content.into(),
        }
    }
    pub fn system(content: impl Into<String>) -> Self {
        Self::new(Role::System, content)
    }
    pub fn user(content: impl Into<String>) -> Self {
        Self::new(Role::User, content)
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new(Role::Assistant, content)
    }
}

/// A conversation to train on. Assistant turns at index `>= train_from` are trained (with the
/// default [`LossMode::Assistant`]); `train_from` is 0 for `messages`/ShareGPT/Alpaca records and
/// the prompt length for TRL prompt/completion records, so only the completion is trained there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conversation {
    pub messages: Vec<Message>,
    pub train_from: usize,
}

impl Conversation {
    /// A conversation whose every assistant turn is trained.
    pub fn new(messages: Vec<Message>) -> Self {
        Conversation {
            messages,
            train_from: 0,
        }
    }
}

/// One usable record, before tokenization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sample {
    /// Rendered with the chat template.
    Chat(Conversation),
    /// Plain text, tokenized as transformers' `tokenizer(text)` does (the tokenizer's own special
    /// tokens, e.g. a BOS, are added) with the EOS token appended, as TRL does for
    /// non-conversational data. Tokens of `prompt` are not trained; `completion` (and the EOS) is.
    /// A plain `text` record has an empty prompt.
    Text { prompt: String, completion: String },
}
