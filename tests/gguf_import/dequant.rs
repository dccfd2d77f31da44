//! `types.gguf`: one tensor of every supported type (random blocks) dequantized bitwise as
//! `gguf.quants.dequantize` does, and one metadata key of every value type.
use super::{assert_bitwise, fixture, safetensors_f32, source};
use svdtune::gguf::metadata::{Value, ValueType};
use svdtune::gguf::{GgmlType, GgufFile};

#[test]
fn every_type_dequantizes_bitwise_like_gguf_py() {
    let src = source("types.gguf");
    let file = GgufFile::read(&src).unwrap();
    let expected = safetensors_f32(&fixture("types_expected.safetensors"));
    assert_eq!(file.tensors.len(), expected.len());
    let mut types = Vec::new();
    for (name, shape, want) in &expected {
        let t = file
            .tensor(name)
            .unwrap_or_else(|| panic!("no tensor {name}"));
        assert_eq!(&t.shape(), shape, "{name}: shape");
        assert_eq!(t.ggml_type.name().to_lowercase(), *name, "{name}: type");
        let got = file.read_f32(&src, t).unwrap();
        assert_bitwise(name, &got, want);
        types.push(t.ggml_type);
    }
    types.sort();
    let mut supported = GgmlType::SUPPORTED.to_vec();
    supported.sort();
    assert_eq!(types, supported, "the fixture covers every supported type");
}

#[test]
fn metadata_of_every_value_type() {
    let file = GgufFile::read(&source("types.gguf")).unwrap();
    let m = &file.metadata;
    let get = |k: &str| m.get(k).unwrap_or_else(|| panic!("no {k}")).clone();
    assert_eq!(get("test.u8"), Value::U8(200));
    assert_eq!(get("test.i8"), Value::I8(-100));
    assert_eq!(get("test.u16"), Value::U16(60000));
    assert_eq!(get("test.i16"), Value::I16(-30000));
    assert_eq!(get("test.u32"), Value::U32(4_000_000_000));
    assert_eq!(get("test.i32"), Value::I32(-2_000_000_000));
    assert_eq!(get("test.f32"), Value::F32(0.1));
    assert_eq!(get("test.bool"), Value::Bool(true));
    assert_eq!(get("test.string"), Value::String("héllo ✓".into()));
    assert_eq!(get("test.u64"), Value::U64((1 << 63) + 5));
    assert_eq!(get("test.i64"), Value::I64(-(1 << 62)));
    assert_eq!(get("test.f64"), Value::F64(0.1));
    assert_eq!(
        get("test.array_i32"),
        Value::Array(
            ValueType::I32,
            vec![Value::I32(1), Value::I32(-2), Value::I32(3)]
        )
    );
    assert_eq!(
        get("test.array_f32"),
        Value::Array(ValueType::F32, vec![Value::F32(0.5), Value::F32(-1.25)])
    );
    assert_eq!(
        m.str_array("test.array_str").unwrap().unwrap(),
        vec!["a", "", "ü b"]
    );
    assert_eq!(
        get("test.array_bool"),
        Value::Array(ValueType::Bool, vec![Value::Bool(true), Value::Bool(false)])
    );
    assert_eq!(m.int_array("test.array_u8").unwrap().unwrap(), vec![1, 255]);
    assert_eq!(
        m.int_array("test.array_u64").unwrap().unwrap(),
        vec![7, 1 << 40]
    );
    assert_eq!(
        get("test.array_f64"),
        Value::Array(ValueType::F64, vec![Value::F64(1e-300)])
    );
    assert_eq!(m.str("general.architecture").unwrap(), Some("none"));
    assert_eq!(file.version, 3);
    assert_eq!(file.alignment, 32);
    assert_eq!(file.data_offset % 32, 0);
    // Typed look-ups name the key and the type found.
    let e = m.str("test.u8").unwrap_err().to_string();
    assert!(
        e.contains("`test.u8` should be a string, found a uint8"),
        "{e}"
    );
    let e = m.usize("test.i8").unwrap_err().to_string();
    assert!(
        e.contains("`test.i8` should be a non-negative integer"),
        "{e}"
    );
}

#[test]
fn dequantize_refuses_mismatched_lengths() {
    use svdtune::gguf::dequant::dequantize;
    let e = dequantize(GgmlType::Q4_0, &[0; 17], 32).unwrap_err();
    assert!(
        e.contains("17 bytes of Q4_0 data cannot hold 32 values"),
        "{e}"
    );
    let e = dequantize(GgmlType::Q6_K, &[0; 210], 255).unwrap_err();
    assert!(e.contains("cannot hold 255 values"), "{e}");
    let e = dequantize(GgmlType(16), &[0; 66], 256).unwrap_err();
    assert!(e.contains("IQ2_XXS is not supported"), "{e}");
    assert_eq!(
        dequantize(GgmlType::Q8_0, &[], 0).unwrap(),
        Vec::<f32>::new()
    );
}
