//! Bad records are skipped and reported with their line number and reason; a file with no usable
//! record is an error; invalid UTF-8, broken arrays and huge lines never crash. Runs natively and
//! in headless Chromium.
mod data_common;

use data_common::*;
use svdtune::data::{Dataset, DatasetOptions};

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

fn reason_at(ds: &Dataset, line: usize) -> &str {
    &ds.skips
        .iter()
        .find(|s| s.line == line)
        .unwrap_or_else(|| panic!("no skip at line {line}: {:?}", ds.skips))
        .reason
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn every_bad_record_kind_is_reported_with_its_line() {
    let ds = load(BAD, &smol());
    assert_eq!(ds.stats.records, 11, "the blank line 11 is not a record");
    assert_eq!(
        ds.examples.iter().map(|e| e.line).collect::<Vec<_>>(),
        vec![1, 12]
    );
    assert_eq!(ds.stats.skipped, 9);
    let expect = [
        (2, "invalid JSON: EOF while parsing a list"),
        (3, "messages message 1 has no 'content'"),
        (4, "unknown role 'tool' in messages message 1"),
        (5, "empty assistant turn (message 2)"),
        (6, "no assistant turn to train on"),
        (7, "invalid UTF-8 at byte 47 of the record"),
        (
            8,
            "missing field 'messages' (the file's format, detected at line 1, is OpenAI/TRL messages",
        ),
        (9, "a record must be a JSON object, found an array"),
        (
            10,
            "field 'messages' must be a list of messages, found a string",
        ),
    ];
    for (line, want) in expect {
        let got = reason_at(&ds, line);
        assert!(
            got.contains(want),
            "line {line}: got {got:?}, want {want:?}"
        );
    }
    assert_eq!(
        ds.skips[0].to_string(),
        format!("line 2: {}", ds.skips[0].reason)
    );
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn only_the_first_skips_are_kept_but_all_are_counted() {
    let opts = DatasetOptions {
        max_reported_skips: 3,
        ..Default::default()
    };
    let ds = Dataset::from_bytes(BAD, &smol(), &opts).unwrap();
    assert_eq!(ds.skips.len(), 3);
    assert_eq!(ds.stats.skipped, 9);
    assert_eq!(
        ds.skips.iter().map(|s| s.line).collect::<Vec<_>>(),
        vec![2, 3, 4]
    );
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn zero_trained_tokens_is_skipped() {
    // A template that drops assistant turns leaves nothing to train on.
    let m = smol_with_template(
        "{% for m in messages %}{% if m.role == 'user' %}{{ m.content }}\n{% endif %}{% endfor %}",
    );
    let data = b"{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"assistant\", \"content\": \"b\"}]}\n\
{\"text\": \"x\"}\n";
    let err = Dataset::from_bytes(data, &m, &DatasetOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no usable record (2 read, 2 skipped)"),
        "{err}"
    );
    assert!(
        err.contains("line 1: encode: the conversation renders to zero trained tokens"),
        "{err}"
    );
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn template_exception_is_a_skip_reason() {
    let m = smol_with_template(
        "{% for m in messages %}{% if (m.role == 'user') != (loop.index0 % 2 == 0) %}\
{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}\
{% endif %}{{ m.role + ': ' + m.content + '\\n' }}{% endfor %}",
    );
    let data = b"{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"assistant\", \"content\": \"b\"}]}\n\
{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"user\", \"content\": \"b\"}, {\"role\": \"assistant\", \"content\": \"c\"}]}\n";
    let ds = load(data, &m);
    assert_eq!(ds.examples.len(), 1);
    assert_eq!(
        reason_at(&ds, 2),
        "chat template: Conversation roles must alternate user/assistant/user/assistant/..."
    );
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn huge_lines_are_skipped_without_losing_line_numbers() {
    let good = "{\"text\": \"fine\"}";
    let huge = format!("{{\"text\": \"{}\"}}", "x".repeat(5000));
    let data = format!("{good}\n{huge}\n{good}\n");
    let opts = DatasetOptions {
        max_record_bytes: 1000,
        ..Default::default()
    };
    let ds = Dataset::from_bytes(data.as_bytes(), &smol(), &opts).unwrap();
    assert_eq!(
        ds.examples.iter().map(|e| e.line).collect::<Vec<_>>(),
        vec![1, 3]
    );
    assert_eq!(
        reason_at(&ds, 2),
        "record is 5012 bytes, more than the limit of 1000 bytes"
    );
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn broken_json_arrays() {
    let m = smol();
    // An unterminated last record and a missing ']'.
    let data = b"[\n {\"text\": \"one\"},\n {\"text\": \"two\"\n";
    let ds = load(data, &m);
    assert_eq!(ds.examples.len(), 1);
    assert_eq!(
        reason_at(&ds, 3),
        "record is not terminated: the file ends inside it"
    );
    assert!(reason_at(&ds, 4).contains("not closed"), "{:?}", ds.skips);
    // Garbage after the array; a scalar element.
    let data = b"[{\"text\": \"one\"}, 42]\nextra";
    let ds = load(data, &m);
    assert_eq!(ds.examples.len(), 1);
    assert_eq!(
        reason_at(&ds, 1),
        "a record must be a JSON object, found a number"
    );
    assert_eq!(
        reason_at(&ds, 2),
        "unexpected data after the end of the JSON array"
    );
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn no_usable_record_is_an_error() {
    let m = smol();
    let err = Dataset::from_bytes(b"", &m, &DatasetOptions::default())
        .unwrap_err()
        .to_string();
    assert_eq!(err, "dataset: no usable record (0 read, 0 skipped)");
    let err = Dataset::from_bytes(b"{\xff garbage\nnot json\n", &m, &DatasetOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(
            "dataset: no usable record (2 read, 2 skipped); line 1: invalid UTF-8 at byte 2"
        ),
        "{err}"
    );
    assert!(
        err.contains("line 2: invalid JSON: expected ident"),
        "{err}"
    );
}

/// Regression found by fuzzing `tokenizer.json` (`fuzz/`): a lone surrogate escape inside the
/// decoder made the tokenizers crate panic; it is now a message naming the file.
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn malformed_tokenizer_json_is_an_error_not_a_panic() {
    let good = include_str!("fixtures/tiny-chat/tokenizer.json");
    let at = good.find("\"decoder\"").expect("the fixture has a decoder");
    let bad = format!(
        "{}\"decoder\": {{\"type\": \"Byte\\ud800Level\"}}, \"x{}",
        &good[..at],
        &good[at + 1..]
    );
    let err = svdtune::data::ModelText::from_files(bad.as_bytes(), None, None, None)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("tokenizer.json is not valid JSON"), "{err}");
}

/// A file that is not text (an image renamed `.jsonl`, UTF-16) is one error, not a bad record
/// per line; invalid UTF-8 further in stays one bad record.
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn a_binary_file_is_not_a_text_file() {
    let m = smol();
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.extend(std::iter::repeat_n(b'\n', 30));
    let utf16 = b"\xff\xfe{\0\"\0";
    let latin1 = b"\xe9t\xe9\n{}\n";
    for (bytes, why) in [
        (&png[..], "byte 8 is a NUL byte"),
        (&utf16[..], "byte 3 is a NUL byte"),
        (&latin1[..], "byte 0, 0xe9, is not UTF-8"),
    ] {
        let err = Dataset::from_bytes(bytes, &m, &DatasetOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("dataset: not a text file ("), "{err}");
        assert!(err.contains(why), "{err}");
    }
    // A NUL byte past the first 8 KiB is a bad record, not a binary file.
    let mut late = BAD.to_vec();
    late.extend(std::iter::repeat_n(b' ', 9000));
    late.extend(b"\n{\"text\": \"a\0b\"}\n");
    assert!(load(&late, &m).stats.skipped > 0);
}
