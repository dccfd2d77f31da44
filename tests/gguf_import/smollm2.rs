//! SmolLM2-135M-Instruct (opt-in: `SVDTUNE_SMOLLM2_GGUF` = the Q4_1 GGUF, `SVDTUNE_SMOLLM2_DIR` =
//! the folder `tests/fixtures/smollm2/convert_smollm2.py` converted from that same file with
//! transformers): every imported tensor equals the converted one within 1e-6, the next-token logits
//! of a chat prompt agree within 1e-4 on the CPU backend, and chat prompts rendered and tokenized
//! by the data pipeline give identical ids and loss masks from both folders.
use svdtune::backend::cpu::CpuBackend;
use svdtune::data::encode::encode_sample;
use svdtune::data::{Conversation, LossMode, Message, ModelText, Sample};
use svdtune::gguf::GgufModel;
use svdtune::model::load::{DirFiles, open_checkpoint};
use svdtune::model::source::FileSource;
use svdtune::model::{Model, ModelFiles};

fn conversations() -> Vec<Conversation> {
    vec![
        Conversation::new(vec![
            Message::user("What is the capital of France?"),
            Message::assistant("The capital of France is Paris."),
        ]),
        Conversation::new(vec![
            Message::system("You answer in one word."),
            Message::user("2 + 2 = ? Reply with digits: 12345."),
            Message::assistant("4"),
            Message::user("naïve café — 東京 😀  spaces\n\nnew lines"),
            Message::assistant("Noted."),
        ]),
    ]
}

#[test]
fn smollm2_gguf_import_matches_the_transformers_conversion() {
    let (Ok(gguf), Ok(dir)) = (
        std::env::var("SVDTUNE_SMOLLM2_GGUF"),
        std::env::var("SVDTUNE_SMOLLM2_DIR"),
    ) else {
        eprintln!(
            "SVDTUNE_SMOLLM2_GGUF / SVDTUNE_SMOLLM2_DIR not set: SmolLM2 GGUF import check not run (opt-in)"
        );
        return;
    };
    let imported = GgufModel::open(FileSource::open(gguf.as_ref()).unwrap()).unwrap();
    let ours = imported.hf_files(|_, _, _| {}).unwrap();
    let theirs = DirFiles::new(&dir).unwrap();

    let a = open_checkpoint(&ours).unwrap();
    let b = open_checkpoint(&theirs).unwrap();
    let mut names: Vec<&str> = a.names().collect();
    names.sort();
    let mut want: Vec<&str> = b.names().filter(|n| *n != "lm_head.weight").collect();
    want.sort();
    assert_eq!(names, want, "tensor names");
    for name in names {
        let (x, y) = (a.read_f32(name).unwrap(), b.read_f32(name).unwrap());
        crate::common::assert_close(name, &x, &y, 1e-6, 0.0);
    }

    let text_ours = ModelText::from_model_files(&ours).unwrap();
    let text_theirs = ModelText::from_model_files(&theirs).unwrap();
    for conv in conversations() {
        let sample = Sample::Chat(conv);
        let x = encode_sample(
            &sample,
            &text_ours.template,
            &text_ours.tokenizer,
            LossMode::Assistant,
        )
        .unwrap();
        let y = encode_sample(
            &sample,
            &text_theirs.template,
            &text_theirs.tokenizer,
            LossMode::Assistant,
        )
        .unwrap();
        assert_eq!(x.text, y.text, "rendered chat");
        assert_eq!(x.input_ids, y.input_ids, "ids of {:?}", x.text);
        assert_eq!(x.loss_mask, y.loss_mask, "loss mask of {:?}", x.text);
    }
    assert_eq!(
        text_ours.tokenizer.eos_token_ids(),
        text_theirs.tokenizer.eos_token_ids()
    );

    let prompt = text_ours
        .template
        .render(&conversations()[0].messages[..1], true)
        .unwrap();
    let ids = text_ours.tokenizer.encode(&prompt).unwrap();
    let be = CpuBackend;
    let mut m_ours = Model::load(&be, &ours, |_, _, _| {}).unwrap();
    let mut m_theirs = Model::load(&be, &theirs, |_, _, _| {}).unwrap();
    assert!(ours.has("tokenizer_config.json"));
    let lo = pollster::block_on(svdtune::model::generate::prompt_logits(
        &be,
        &mut m_ours,
        &ids,
    ))
    .unwrap();
    let lt = pollster::block_on(svdtune::model::generate::prompt_logits(
        &be,
        &mut m_theirs,
        &ids,
    ))
    .unwrap();
    crate::common::assert_close("SmolLM2 next-token logits", &lo, &lt, 1e-4, 0.0);
}
