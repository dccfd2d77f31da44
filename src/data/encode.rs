//! One [`Sample`] → `input_ids` and `loss_mask` (1 = the model is trained to predict this token).
//!
//! Chat samples: the whole conversation is rendered once with the template
//! (`add_generation_prompt=false`) and tokenized once. With [`LossMode::Assistant`] (the default)
//! the trained text of assistant turn `i` is found by rendering prefixes, never by searching for
//! role strings, so it works for any template:
//! - it starts where `render(messages[..i], add_generation_prompt=true)` stops matching the full
//!   text (the generation prompt, e.g. `<|im_start|>assistant\n`, is not trained);
//! - it ends where `render(messages[..=i])` stops matching the full text, so whatever the template
//!   writes to close the turn (`<|im_end|>\n`, `<|eot_id|>`, `<|end|>\n`, a final EOS) is trained.
//!
//! A token is trained when its first byte lies inside such a span. For a conversation with one
//! final assistant turn this is exactly TRL's `completion_only_loss` mask (`[0] × len(prompt_ids)
//! + [1] × rest`, with the prompt rendered with `add_generation_prompt=True`); with several
//! assistant turns every turn is masked that way. Only turns at index `>= train_from` count.
//!
//! Text samples follow TRL's non-conversational path: `tokenizer(prompt + completion + eos)` with
//! the tokenizer's own special tokens; the first `len(tokenizer(prompt))` tokens are not trained.
use super::{ChatTemplate, Conversation, Role, Sample, TextTokenizer};
use crate::{Error, Result};

/// Which tokens count in the loss.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LossMode {
    /// Assistant turns only (completions for prompt/completion data; all tokens for plain text).
    #[default]
    Assistant,
    /// Every token.
    All,
}

/// A tokenized sample.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encoded {
    /// The text that was tokenized (the rendered conversation, or prompt + completion + EOS).
    pub text: String,
    pub input_ids: Vec<u32>,
    /// 0/1 per token.
    pub loss_mask: Vec<u8>,
}

fn err(message: impl Into<String>) -> Error {
    Error::param("encode", message)
}

/// Tokenizes one sample and builds its loss mask.
pub fn encode_sample(
    sample: &Sample,
    template: &ChatTemplate,
    tok: &TextTokenizer,
    mode: LossMode,
) -> Result<Encoded> {
    match sample {
        Sample::Chat(c) => encode_chat(c, template, tok, mode),
        Sample::Text { prompt, completion } => encode_text(prompt, completion, tok, mode),
    }
}

/// Byte spans of `full` that assistant turns produce (see the module docs).
pub fn assistant_spans(
    conv: &Conversation,
    template: &ChatTemplate,
    full: &str,
) -> Result<Vec<(usize, usize)>> {
    let mut spans = Vec::new();
    for (i, m) in conv.messages.iter().enumerate() {
        if m.role != Role::Assistant || i < conv.train_from {
            continue;
        }
        let before = template.render(&conv.messages[..i], true)?;
        let upto = template.render(&conv.messages[..=i], false)?;
        let start = common_prefix(&before, full);
        let end = common_prefix(&upto, full);
        if end > start {
            spans.push((start, end));
        }
    }
    Ok(spans)
}

fn encode_chat(
    conv: &Conversation,
    template: &ChatTemplate,
    tok: &TextTokenizer,
    mode: LossMode,
) -> Result<Encoded> {
    let full = template.render(&conv.messages, false)?;
    let (ids, offsets) = tok.encode_with_offsets(&full)?;
    let loss_mask = match mode {
        LossMode::All => vec![1; ids.len()],
        LossMode::Assistant => {
            let spans = assistant_spans(conv, template, &full)?;
            offsets
                .iter()
                .map(|&(s, _)| u8::from(spans.iter().any(|&(a, b)| s >= a && s < b)))
                .collect()
        }
    };
    if !loss_mask.contains(&1) {
        return Err(err(
            "the conversation renders to zero trained tokens (the chat template drops the assistant turns)",
        ));
    }
    Ok(Encoded {
        text: full,
        input_ids: ids,
        loss_mask,
    })
}

fn encode_text(
    prompt: &str,
    completion: &str,
    tok: &TextTokenizer,
    mode: LossMode,
) -> Result<Encoded> {
    let mut text = format!("{prompt}{completion}");
    if let Some(eos) = tok.eos_token()
        && !text.ends_with(eos)
    {
        text.push_str(eos);
    }
    let ids = tok.encode_with_special(&text)?;
    let n_prompt = if prompt.is_empty() || mode == LossMode::All {
        0
    } else {
        tok.encode_with_special(prompt)?.len().min(ids.len())
    };
    let mut loss_mask = vec![1u8; ids.len()];
    loss_mask[..n_prompt].fill(0);
    if !loss_mask.contains(&1) {
        return Err(err("the record tokenizes to zero trained tokens"));
    }
    Ok(Encoded {
        text,
        input_ids: ids,
        loss_mask,
    })
}

/// Length in bytes of the longest common prefix of `a` and `b`, on a char boundary.
fn common_prefix(a: &str, b: &str) -> usize {
    let mut n = a
        .as_bytes()
        .iter()
        .zip(b.as_bytes())
        .take_while(|(x, y)| x == y)
        .count();
    while !a.is_char_boundary(n) {
        n -= 1;
    }
    n
}
