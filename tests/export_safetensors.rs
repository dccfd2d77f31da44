//! The streaming safetensors writer: byte-identical to the reference serializer for the same
//! tensors (order, header, padding, `__metadata__`), readable by the crate's loader,
//! round-to-nearest-even for bf16/f16, and clear errors for out-of-order, missing, mis-sized,
//! duplicate, non-finite and out-of-range tensors. Runs natively and in browsers.
mod common;
use safetensors::Dtype;
use std::collections::HashMap;
use svdtune::export::safetensors_writer::{SafetensorsWriter, TensorHeader, write_safetensors};
use svdtune::model::{Checkpoint, MemorySource};

/// Mixed dtypes and shapes, names out of order on purpose.
fn tensors() -> Vec<(TensorHeader, Vec<f32>)> {
    let spec: &[(&str, Dtype, &[usize])] = &[
        ("z.half", Dtype::F16, &[3, 5]),
        ("a.brain", Dtype::BF16, &[7]),
        ("m.single", Dtype::F32, &[2, 3]),
        ("b.single", Dtype::F32, &[1]),
        ("d.double", Dtype::F64, &[4]),
        ("c.brain", Dtype::BF16, &[2, 2]),
    ];
    spec.iter()
        .enumerate()
        .map(|(i, (name, dtype, shape))| {
            let t = TensorHeader::new(*name, *dtype, shape);
            let data = common::rand_vec(t.numel(), i as u64 + 3);
            (t, data)
        })
        .collect()
}

fn bytes_of(dtype: Dtype, data: &[f32]) -> Vec<u8> {
    data.iter()
        .flat_map(|&v| match dtype {
            Dtype::F16 => half::f16::from_f32(v).to_le_bytes().to_vec(),
            Dtype::BF16 => half::bf16::from_f32(v).to_le_bytes().to_vec(),
            Dtype::F64 => f64::from(v).to_le_bytes().to_vec(),
            _ => v.to_le_bytes().to_vec(),
        })
        .collect()
}

fn write(list: &[(TensorHeader, Vec<f32>)]) -> Vec<u8> {
    let mut out = Vec::new();
    write_safetensors(
        "t.safetensors",
        &mut out,
        list.iter().map(|(t, _)| t.clone()).collect(),
        |t| {
            Ok(list
                .iter()
                .find(|(h, _)| h.name == t.name)
                .unwrap()
                .1
                .clone())
        },
    )
    .unwrap();
    out
}

async fn same_bytes_as_reference() {
    let list = tensors();
    let ours = write(&list);
    let encoded: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = list
        .iter()
        .map(|(t, d)| {
            (
                t.name.clone(),
                t.dtype,
                t.shape.clone(),
                bytes_of(t.dtype, d),
            )
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = encoded
        .iter()
        .map(|(n, dt, s, b)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(*dt, s.clone(), b).unwrap(),
            )
        })
        .collect();
    let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
    let reference = safetensors::serialize(views, Some(meta)).unwrap();
    assert_eq!(ours, reference);
    let n = u64::from_le_bytes(ours[..8].try_into().unwrap()) as usize;
    assert_eq!(n % 8, 0, "header padded to 8 bytes");
    assert!(
        std::str::from_utf8(&ours[8..8 + n])
            .unwrap()
            .contains(r#""__metadata__":{"format":"pt"}"#)
    );
}
gpu_test!(
    streamed_file_equals_reference_serializer,
    same_bytes_as_reference
);

async fn loader_reads_it_back() {
    let list = tensors();
    let ckpt = Checkpoint::single(MemorySource::new("t.safetensors", write(&list))).unwrap();
    for (t, data) in &list {
        let (entry, _) = ckpt.entry(&t.name).unwrap();
        assert_eq!(
            (entry.dtype, entry.shape.clone()),
            (t.dtype, t.shape.clone())
        );
        let back = ckpt.read_f32(&t.name).unwrap();
        let want: Vec<f32> = match t.dtype {
            Dtype::F16 => data
                .iter()
                .map(|&v| half::f16::from_f32(v).to_f32())
                .collect(),
            Dtype::BF16 => data
                .iter()
                .map(|&v| half::bf16::from_f32(v).to_f32())
                .collect(),
            _ => data.clone(),
        };
        assert_eq!(back, want, "{}", t.name);
    }
}
gpu_test!(crate_loader_reads_written_file, loader_reads_it_back);

/// The stored 16-bit pattern of `v`.
fn stored(dtype: Dtype, v: f32) -> u16 {
    let mut out = Vec::new();
    write_safetensors(
        "r",
        &mut out,
        vec![TensorHeader::new("x", dtype, &[1])],
        |_| Ok(vec![v]),
    )
    .unwrap();
    u16::from_le_bytes(out[out.len() - 2..].try_into().unwrap())
}

async fn nearest_even() {
    let one = 1.0f32;
    // bf16 keeps 7 mantissa bits: ulp(1) = 2^-7.
    assert_eq!(
        stored(Dtype::BF16, one + 2f32.powi(-8)),
        0x3F80,
        "tie → even (down)"
    );
    assert_eq!(
        stored(Dtype::BF16, one + 3.0 * 2f32.powi(-8)),
        0x3F82,
        "tie → even (up)"
    );
    assert_eq!(
        stored(Dtype::BF16, one + 2f32.powi(-8) + 2f32.powi(-20)),
        0x3F81,
        "above tie"
    );
    assert_eq!(stored(Dtype::BF16, -one - 2f32.powi(-8)), 0xBF80);
    // f16 keeps 10 mantissa bits: ulp(1) = 2^-10.
    assert_eq!(
        stored(Dtype::F16, one + 2f32.powi(-11)),
        0x3C00,
        "tie → even (down)"
    );
    assert_eq!(
        stored(Dtype::F16, one + 3.0 * 2f32.powi(-11)),
        0x3C02,
        "tie → even (up)"
    );
    assert_eq!(stored(Dtype::F16, 65504.0), 0x7BFF, "largest f16");
    assert_eq!(
        stored(Dtype::F16, 2f32.powi(-24)),
        0x0001,
        "smallest subnormal"
    );
}
gpu_test!(bf16_and_f16_round_to_nearest_even, nearest_even);

fn err(r: svdtune::Result<()>) -> String {
    match r {
        Ok(()) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

fn assert_has(e: &str, parts: &[&str]) {
    for p in parts {
        assert!(e.contains(p), "error {e:?} lacks {p:?}");
    }
}

async fn refusals() {
    let two = || {
        vec![
            TensorHeader::new("a", Dtype::F32, &[2]),
            TensorHeader::new("b", Dtype::F16, &[2]),
        ]
    };
    // Non-finite and out-of-range values name the tensor and the index.
    let e = err(write_safetensors("f.st", &mut Vec::new(), two(), |t| {
        Ok(if t.name == "b" {
            vec![0.0, f32::NAN]
        } else {
            vec![1.0, 2.0]
        })
    }));
    assert_has(&e, &["f.st", "`b`", "NaN", "index 1", "not finite"]);
    let e = err(write_safetensors("f.st", &mut Vec::new(), two(), |_| {
        Ok(vec![f32::NEG_INFINITY, 0.0])
    }));
    assert_has(&e, &["`a`", "-inf", "index 0"]);
    let e = err(write_safetensors("f.st", &mut Vec::new(), two(), |t| {
        Ok(if t.name == "b" {
            vec![70000.0, 0.0]
        } else {
            vec![1.0, 2.0]
        })
    }));
    assert_has(&e, &["`b`", "70000", "F16", "out of range"]);
    // Wrong length.
    let e = err(write_safetensors("f.st", &mut Vec::new(), two(), |_| {
        Ok(vec![1.0])
    }));
    assert_has(&e, &["`a`", "1 values", "[2]"]);
    // Duplicate names, unsupported dtype.
    let dup = vec![
        TensorHeader::new("a", Dtype::F32, &[1]),
        TensorHeader::new("a", Dtype::F32, &[1]),
    ];
    assert_has(
        &err(SafetensorsWriter::new("f.st", dup).map(|_| ())),
        &["`a`", "twice"],
    );
    let int = vec![TensorHeader::new("i", Dtype::I32, &[1])];
    assert_has(
        &err(SafetensorsWriter::new("f.st", int).map(|_| ())),
        &["`i`", "I32"],
    );
    // Order, header first, completeness.
    let mut w = SafetensorsWriter::new("f.st", two()).unwrap();
    let mut sink = Vec::new();
    assert_has(&err(w.write_f32(&mut sink, "a", &[1.0, 2.0])), &["header"]);
    w.write_header(&mut sink).unwrap();
    assert_has(
        &err(w.write_f32(&mut sink, "b", &[1.0, 2.0])),
        &["`b`", "`a` comes next"],
    );
    w.write_f32(&mut sink, "a", &[1.0, 2.0]).unwrap();
    assert_has(&err(w.finish()), &["incomplete", "`b`"]);
}
gpu_test!(writer_refuses_bad_input_with_the_tensor_named, refusals);
