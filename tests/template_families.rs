//! The real chat templates of the Qwen3 (Qwen/Qwen3-0.6B) and Gemma 3 (google/gemma-3-1b-it)
//! families render every golden conversation exactly as transformers does with the real
//! tokenizer, with and without the generation prompt, and refuse where transformers refuses
//! (Gemma 3 raises on roles that do not alternate). Goldens and templates come from
//! `tests/fixtures/data/templates/make_template_goldens.py` (their tokenizers are too large to
//! commit, so token ids are not compared here). Runs natively and in headless Chromium.
use serde_json::Value;
use svdtune::data::{ChatTemplate, Message, Role};

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

macro_rules! family {
    ($name:literal) => {
        (
            $name,
            include_str!(concat!(
                "fixtures/data/templates/",
                $name,
                "/tokenizer_config.json"
            )),
            include_str!(concat!(
                "fixtures/data/templates/",
                $name,
                "/chat_template.jinja"
            )),
            include_str!(concat!("fixtures/data/templates/", $name, "/golden.json")),
        )
    };
}

fn check((name, config, jinja, golden): (&str, &str, &str, &str)) {
    let t = ChatTemplate::from_files(config, Some(jinja)).unwrap();
    let golden: Value = serde_json::from_str(golden).unwrap();
    assert_eq!(t.bos_token(), golden["bos_token"].as_str(), "{name}: bos");
    assert_eq!(t.eos_token(), golden["eos_token"].as_str(), "{name}: eos");
    let records = golden["records"].as_array().unwrap();
    assert_eq!(records.len(), 8, "{name}");
    for rec in records {
        let what = format!("{name}/{}", rec["name"].as_str().unwrap());
        let messages: Vec<Message> = rec["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| Message {
                role: Role::parse(m["role"].as_str().unwrap()).unwrap(),
                content: m["content"].as_str().unwrap().to_string(),
            })
            .collect();
        if let Some(error) = rec["error"].as_str() {
            let e = t.render(&messages, false).unwrap_err().to_string();
            assert!(e.contains(error), "{what}: {e}");
            continue;
        }
        let text = t.render(&messages, false).unwrap();
        assert_eq!(text, rec["text"].as_str().unwrap(), "{what}: text");
        let gen_text = t.render(&messages, true).unwrap();
        assert_eq!(gen_text, rec["gen_text"].as_str().unwrap(), "{what}: gen");
    }
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn qwen3_template_matches_transformers() {
    check(family!("qwen3"));
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn gemma3_template_matches_transformers() {
    check(family!("gemma3"));
}
