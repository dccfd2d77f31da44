//! The zip export the page downloads: the merged model and the adapter written through
//! `ZipTarget` hold exactly the files (names, order, bytes) the in-memory export writes, stored
//! uncompressed, and read back with a zip reader; misuse of the target is an error, not a panic.
#![cfg(not(target_arch = "wasm32"))]
use std::io::{Cursor, Read};
use svdtune::backend::cpu::CpuBackend;
use svdtune::backend::{Backend, TensorInfo};
use svdtune::export::{
    AdapterOptions, ByteSink, ExportTarget, MemoryTarget, ZipTarget, export_adapter, export_merged,
};
use svdtune::model::load::open_checkpoint;
use svdtune::model::{MemoryFiles, Model};
use svdtune::svd::SvdPlan;
use svdtune::svd::decompose::{DecomposeOptions, decompose_model};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tiny-chat");

fn tiny_chat() -> MemoryFiles {
    let mut files = MemoryFiles::new();
    for name in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "generation_config.json",
    ] {
        files.insert(name, std::fs::read(format!("{DIR}/{name}")).unwrap());
    }
    files
}

fn unzip(bytes: Vec<u8>) -> Vec<(String, Vec<u8>)> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    (0..zip.len())
        .map(|i| {
            let mut f = zip.by_index(i).unwrap();
            let name = f.name().unwrap().to_string();
            assert_eq!(f.compression(), zip::CompressionMethod::Stored, "{name}");
            let mut data = Vec::new();
            f.read_to_end(&mut data).unwrap();
            (name, data)
        })
        .collect()
}

#[test]
fn zipped_exports_equal_the_memory_exports() {
    pollster::block_on(async {
        let be = CpuBackend;
        let files = tiny_chat();
        let mut model = Model::load(&be, &files, |_, _, _| {}).unwrap();
        let plan = SvdPlan::new(&model.cfg, 0.5, true).unwrap();
        let cfg = model.cfg.clone();
        let opts = DecomposeOptions::default();
        let inits = decompose_model(&be, &cfg, &mut model.weights, &plan, &opts, |_, _, _| {})
            .await
            .unwrap();
        // Move Σ away from Σ₀ so the adapter is not zero.
        for (_, _, lin) in model.weights.linears_mut() {
            if let svdtune::model::weights::Linear::Svd(s) = lin {
                let q = s.sigma.shape().numel();
                s.sigma = be.tensor(&vec![0.5; q], &[q]).unwrap();
            }
        }
        let ckpt = open_checkpoint(&files).unwrap();

        let mut mem = MemoryTarget::new();
        let exported = export_merged(
            &be,
            &cfg,
            &model.weights,
            &ckpt,
            &files,
            &mut mem,
            |_, _, _| {},
        )
        .await
        .unwrap();
        let mut zip = ZipTarget::new("model.zip", Vec::new());
        export_merged(
            &be,
            &cfg,
            &model.weights,
            &ckpt,
            &files,
            &mut zip,
            |_, _, _| {},
        )
        .await
        .unwrap();
        assert_eq!(zip.files(), exported.files.as_slice());
        let entries = unzip(zip.finish_archive().unwrap());
        let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, exported.files);
        assert!(names.contains(&"model.safetensors") && names.contains(&"tokenizer.json"));
        for (name, data) in &entries {
            assert_eq!(Some(data.as_slice()), mem.get(name), "{name}");
        }

        let sigma0: Vec<(String, Vec<f32>)> =
            inits.into_iter().map(|l| (l.module, l.sigma0)).collect();
        let aopts = AdapterOptions {
            base_model: "tiny-chat".into(),
            include_norms: true,
        };
        let mut mem = MemoryTarget::new();
        export_adapter(&be, &cfg, &model.weights, &sigma0, &aopts, &mut mem)
            .await
            .unwrap();
        let mut zip = ZipTarget::new("adapter.zip", Vec::new());
        export_adapter(&be, &cfg, &model.weights, &sigma0, &aopts, &mut zip)
            .await
            .unwrap();
        let entries = unzip(zip.finish_archive().unwrap());
        assert_eq!(entries.len(), mem.files.len());
        for (name, data) in &entries {
            assert_eq!(Some(data.as_slice()), mem.get(name), "{name}");
        }
    });
}

#[test]
fn misuse_is_an_error() {
    let mut zip = ZipTarget::new("a.zip", Vec::new());
    let err = zip.create("../evil").err().unwrap().to_string();
    assert!(err.contains("plain file name"), "{err}");
    let mut f = zip.create("one.txt").unwrap();
    f.write_all(b"hello").unwrap();
    let err = zip.create("two.txt").err().unwrap().to_string();
    assert!(err.contains("one.txt is still being written"), "{err}");
    let mut b = ZipTarget::new("b.zip", Vec::new());
    drop(b.create("x.txt").unwrap());
    let msg = b.finish_archive().err().unwrap().to_string();
    assert!(
        msg.contains("x.txt") && msg.contains("never finished"),
        "{msg}"
    );
    zip.finish(f).unwrap();
    let entries = unzip(zip.finish_archive().unwrap());
    assert_eq!(entries, vec![("one.txt".to_string(), b"hello".to_vec())]);
}

/// The entries of `bytes` with their dates `(year, month, day, hour, minute, second)`.
fn dates(bytes: Vec<u8>) -> Vec<(u16, u8, u8, u8, u8, u8)> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    (0..zip.len())
        .map(|i| {
            let d = zip.by_index(i).unwrap().last_modified().unwrap();
            (
                d.year(),
                d.month(),
                d.day(),
                d.hour(),
                d.minute(),
                d.second(),
            )
        })
        .collect()
}

fn one_entry(zip: ZipTarget<Vec<u8>>) -> Vec<u8> {
    let mut zip = zip;
    let mut f = zip.create("one.txt").unwrap();
    f.write_all(b"hello").unwrap();
    zip.finish(f).unwrap();
    zip.finish_archive().unwrap()
}

/// Entries are dated when the archive is made (not zip's default, 1980-01-01).
#[test]
fn entries_are_dated_now() {
    let unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let now = dates(one_entry(ZipTarget::new("a.zip", Vec::new())));
    let want = dates(one_entry(ZipTarget::new("b.zip", Vec::new()).dated(unix)));
    assert!(now[0].0 >= 2025, "{now:?}");
    // Same day and hour (zip dates have 2-second steps; the two archives are seconds apart).
    let day_hour = |d: &(u16, u8, u8, u8, u8, u8)| (d.0, d.1, d.2, d.3);
    assert_eq!(day_hour(&now[0]), day_hour(&want[0]));
    // 2026-12-05 01:09:58 UTC.
    let fixed = dates(one_entry(
        ZipTarget::new("c.zip", Vec::new()).dated(1796432998),
    ));
    assert_eq!(fixed, [(2026, 12, 5, 1, 9, 58)]);
}
