//! Every dataset format parses from a fixture file, is detected per file and becomes the same
//! token ids and masks as the equivalent `messages` record; JSON arrays and JSON Lines alike;
//! files are read incrementally. Runs natively and in headless Chromium.
mod data_common;

use data_common::*;
use svdtune::data::encode::encode_sample;
use svdtune::data::reader::Container;
use svdtune::data::{Conversation, Format, LossMode, Message, Sample};

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

fn encode(
    model: &svdtune::data::ModelText,
    msgs: Vec<Message>,
    train_from: usize,
) -> (Vec<u32>, Vec<u8>) {
    let e = encode_sample(
        &Sample::Chat(Conversation {
            messages: msgs,
            train_from,
        }),
        &model.template,
        &model.tokenizer,
        LossMode::Assistant,
    )
    .unwrap();
    (e.input_ids, e.loss_mask)
}

fn trained_text(model: &svdtune::data::ModelText, ids: &[u32], mask: &[u8]) -> String {
    let kept: Vec<u32> = ids
        .iter()
        .zip(mask)
        .filter(|(_, m)| **m == 1)
        .map(|(i, _)| *i)
        .collect();
    model.tokenizer.decode(&kept).unwrap()
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn messages_jsonl() {
    let m = smol();
    let ds = load(MESSAGES, &m);
    assert_eq!(ds.format, Format::Messages);
    assert_eq!(ds.container, Container::JsonLines);
    assert_eq!(ds.format_line, 1);
    assert_eq!(ds.stats.records, 2, "the blank line is not a record");
    assert_eq!(ds.examples.len(), 2);
    assert_eq!(ds.examples[1].line, 3);
    let ex = &ds.examples[1];
    assert_eq!(
        trained_text(&m, &ex.input_ids, &ex.loss_mask),
        "4<|im_end|>\n6<|im_end|>\n",
        "both assistant turns with their end-of-turn, nothing else"
    );
    let (ids, mask) = encode(
        &m,
        vec![
            Message::system("Be brief."),
            Message::user("Hi"),
            Message::assistant("Hello."),
        ],
        0,
    );
    assert_eq!(
        (
            ds.examples[0].input_ids.clone(),
            ds.examples[0].loss_mask.clone()
        ),
        (ids, mask)
    );
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn sharegpt_json_array() {
    let m = smol();
    let ds = load(SHAREGPT, &m);
    assert_eq!(ds.format, Format::ShareGpt);
    assert_eq!(ds.container, Container::JsonArray);
    assert_eq!(ds.examples.len(), 2);
    assert_eq!((ds.examples[0].line, ds.examples[1].line), (2, 3));
    let msgs = load(MESSAGES, &m);
    assert_eq!(ds.examples[0].input_ids, msgs.examples[0].input_ids);
    assert_eq!(ds.examples[0].loss_mask, msgs.examples[0].loss_mask);
    let ex = &ds.examples[1];
    assert_eq!(
        trained_text(&m, &ex.input_ids, &ex.loss_mask),
        "Blue [sic] {ok}<|im_end|>\n",
        "brackets inside strings do not end the record"
    );
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn alpaca_instruction_input_output() {
    let m = smol();
    let ds = load(ALPACA, &m);
    assert_eq!(ds.format, Format::Alpaca);
    let (ids, mask) = encode(
        &m,
        vec![
            Message::user("Translate to French.\n\ncat"),
            Message::assistant("chat"),
        ],
        0,
    );
    assert_eq!(ds.examples[0].input_ids, ids);
    assert_eq!(ds.examples[0].loss_mask, mask);
    let (ids, _) = encode(
        &m,
        vec![Message::user("Say hello."), Message::assistant("Hello!")],
        0,
    );
    assert_eq!(ds.examples[1].input_ids, ids, "an empty input adds nothing");
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn prompt_completion_trains_only_the_completion() {
    let m = smol();
    let ds = load(PROMPT_COMPLETION, &m);
    assert_eq!(ds.format, Format::PromptCompletion);
    assert_eq!(ds.examples.len(), 2);
    let ex = &ds.examples[0];
    assert_eq!(
        trained_text(&m, &ex.input_ids, &ex.loss_mask),
        "B.<|im_end|>\n"
    );
    // The same conversation as messages trains both assistant turns.
    let (ids, mask) = encode(
        &m,
        vec![
            Message::user("Say A."),
            Message::assistant("A."),
            Message::user("Say B."),
            Message::assistant("B."),
        ],
        0,
    );
    assert_eq!(ids, ex.input_ids);
    assert_eq!(
        trained_text(&m, &ids, &mask),
        "A.<|im_end|>\nB.<|im_end|>\n"
    );
    // String prompt/completion: raw text + EOS, the prompt's tokens not trained.
    let ex = &ds.examples[1];
    assert_eq!(
        m.tokenizer.decode(&ex.input_ids).unwrap(),
        "The sky is blue.<|im_end|>"
    );
    assert_eq!(
        trained_text(&m, &ex.input_ids, &ex.loss_mask),
        " blue.<|im_end|>"
    );
    assert_eq!(ex.loss_mask[0], 0);
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn plain_text_trains_every_token() {
    let m = smol();
    let ds = load(TEXT, &m);
    assert_eq!(ds.format, Format::Text);
    let ex = &ds.examples[1];
    assert_eq!(
        m.tokenizer.decode(&ex.input_ids).unwrap(),
        "It learned to talk.<|im_end|>"
    );
    assert!(ex.loss_mask.iter().all(|&b| b == 1));
    assert_eq!(ds.stats.tokens, ds.stats.trained_tokens);
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn format_detected_from_first_known_record() {
    let m = smol();
    let data = b"{\"id\": 1, \"note\": \"no known fields\"}\n\
{\"instruction\": \"Say hi.\", \"output\": \"hi\"}\n\
{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}, {\"role\": \"assistant\", \"content\": \"y\"}]}\n";
    let ds = load(data, &m);
    assert_eq!(ds.format, Format::Alpaca);
    assert_eq!(ds.format_line, 2);
    assert_eq!(ds.examples.len(), 1);
    assert_eq!(ds.skips.len(), 2);
    assert_eq!(ds.skips[0].line, 1);
    assert!(
        ds.skips[0].reason.contains("no known fields"),
        "{}",
        ds.skips[0]
    );
    assert!(ds.skips[0].reason.contains("[id, note]"), "{}", ds.skips[0]);
    assert_eq!(ds.skips[1].line, 3);
    assert!(
        ds.skips[1].reason.contains("missing field 'instruction'"),
        "{}",
        ds.skips[1]
    );
    assert!(ds.skips[1].reason.contains("Alpaca"), "{}", ds.skips[1]);
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn bom_crlf_and_all_tokens_mode() {
    let m = smol();
    let mut data = vec![0xEF, 0xBB, 0xBF];
    data.extend_from_slice(b"{\"text\": \"a\"}\r\n{\"text\": \"b\"}\r\n");
    let ds = load(&data, &m);
    assert_eq!(ds.examples.len(), 2);
    let opts = svdtune::data::DatasetOptions {
        loss: LossMode::All,
        ..Default::default()
    };
    let ds = svdtune::data::Dataset::from_bytes(MESSAGES, &m, &opts).unwrap();
    assert_eq!(ds.stats.tokens, ds.stats.trained_tokens);
}

/// A file larger than the reader's chunk, from disk, gives the same result as from memory.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn large_file_read_incrementally_from_disk() {
    let m = smol();
    let mut data = Vec::new();
    for i in 0..2000 {
        data.extend_from_slice(
            format!(
                "{{\"messages\": [{{\"role\": \"user\", \"content\": \"Question {i}?\"}}, {{\"role\": \"assistant\", \"content\": \"Answer {i}.\"}}]}}\n"
            )
            .as_bytes(),
        );
    }
    assert!(data.len() > 200_000);
    let path = std::env::temp_dir().join(format!("svdtune-data-{}.jsonl", std::process::id()));
    std::fs::write(&path, &data).unwrap();
    let opts = svdtune::data::DatasetOptions::default();
    let from_disk = svdtune::data::Dataset::from_path(&path, &m, &opts).unwrap();
    std::fs::remove_file(&path).unwrap();
    let in_memory = load(&data, &m);
    assert_eq!(from_disk.examples, in_memory.examples);
    assert_eq!(from_disk.examples.len(), 2000);
    assert_eq!(from_disk.examples[1999].line, 2000);
}
