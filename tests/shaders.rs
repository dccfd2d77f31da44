//! Every WGSL kernel parses and validates with naga (no GPU needed), and keeps its contract:
//! entry point named like the file, Params uniform at binding 0, storage bindings 1..=N with the
//! access the registry declares, at most 8 storage buffers and 256 invocations per workgroup.
//! Composed kernels (a `shaders/packed/<type>.wgsl` snippet before a kernel file) are checked as
//! composed, and every snippet must be used by one.
#![cfg(not(target_arch = "wasm32"))]

use naga::valid::{Capabilities, ValidationFlags, Validator};
use svdtune::backend::gpu::kernels::{ALL, Access, DEQUANT_ROWS, Kernel, PACKED, frozen};

/// Every kernel, plain and composed.
fn every_kernel() -> impl Iterator<Item = &'static Kernel> {
    ALL.iter().chain(DEQUANT_ROWS).copied().chain(frozen())
}

fn parse(name: &str, src: &str) -> naga::Module {
    let module = naga::front::wgsl::parse_str(src)
        .unwrap_or_else(|e| panic!("{name}.wgsl does not parse:\n{}", e.emit_to_string(src)));
    Validator::new(ValidationFlags::all(), Capabilities::empty())
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name}.wgsl does not validate:\n{}", e.emit_to_string(src)));
    module
}

#[test]
fn every_shader_validates_with_naga() {
    for k in every_kernel() {
        parse(k.name, k.source);
    }
}

/// `src`, a variant of kernel `name`, parses and validates with `caps` (and, with subgroup
/// capabilities, subgroup arithmetic in compute shaders).
fn validate_variant(name: &str, what: &str, src: &str, caps: Capabilities) {
    let module = naga::front::wgsl::parse_str(src)
        .unwrap_or_else(|e| panic!("{name} ({what}) does not parse:\n{}", e.emit_to_string(src)));
    let mut validator = Validator::new(ValidationFlags::all(), caps);
    if caps.contains(Capabilities::SUBGROUP) {
        use naga::valid::{ShaderStages, SubgroupOperationSet};
        validator
            .subgroup_stages(ShaderStages::COMPUTE)
            .subgroup_operations(SubgroupOperationSet::BASIC | SubgroupOperationSet::ARITHMETIC);
    }
    validator.validate(&module).unwrap_or_else(|e| {
        panic!(
            "{name} ({what}) does not validate:\n{}",
            e.emit_to_string(src)
        )
    });
}

/// The f16-tile source of every tiled kernel (GPU tuning `f16_tiles`) validates with the
/// `shader-f16` capability, and the tiled kernels are the ones expected.
#[test]
fn every_tiled_shader_validates_with_f16_tiles() {
    let mut tiled = 0;
    for k in every_kernel().filter(|k| k.has_tiles()) {
        tiled += 1;
        let src = k.source_variant(true, false);
        assert!(src.contains("vec4<f16>"), "{}: tiles not swapped", k.name);
        validate_variant(k.name, "f16 tiles", &src, Capabilities::SHADER_FLOAT16);
    }
    let want = every_kernel()
        .filter(|k| k.entry.starts_with("matmul") && k.entry != "matmul_rows")
        .count();
    assert_eq!(tiled, want, "every tiled product, and only those");
}

/// The subgroup source of every kernel with workgroup reductions (GPU tuning `subgroup_reduce`)
/// validates with subgroup operations, and those kernels are the row reductions expected.
#[test]
fn every_reducing_shader_validates_with_subgroups() {
    let mut names = Vec::new();
    for k in every_kernel().filter(|k| k.has_workgroup_reduce()) {
        names.push(k.name);
        let src = k.source_variant(false, true);
        assert!(
            src.contains("subgroupAdd"),
            "{}: reductions not swapped",
            k.name
        );
        validate_variant(k.name, "subgroups", &src, Capabilities::SUBGROUP);
    }
    names.sort();
    assert_eq!(
        names,
        [
            "cross_entropy",
            "reduce_partial",
            "rmsnorm_backward",
            "rmsnorm_forward"
        ]
    );
}

#[test]
fn every_shader_keeps_its_binding_contract() {
    for k in every_kernel() {
        let module = parse(k.name, k.source);
        assert_eq!(
            module.entry_points.len(),
            1,
            "{}: one entry point per file",
            k.name
        );
        let ep = &module.entry_points[0];
        assert_eq!(
            ep.name, k.entry,
            "{}: entry point must be named like the op's file",
            k.name
        );
        assert_eq!(ep.stage, naga::ShaderStage::Compute);
        let invocations: u32 = ep.workgroup_size.iter().product();
        assert!(
            invocations <= 256,
            "{}: {invocations} invocations per workgroup (max 256)",
            k.name
        );
        assert!(
            k.storage.len() <= 8,
            "{}: {} storage buffers (max 8)",
            k.name,
            k.storage.len()
        );

        let mut seen = vec![false; k.storage.len() + 1];
        for (_, var) in module.global_variables.iter() {
            let Some(rb) = &var.binding else { continue };
            assert_eq!(rb.group, 0, "{}: everything lives in bind group 0", k.name);
            let b = rb.binding as usize;
            assert!(
                b < seen.len(),
                "{}: binding {b} is not in the registry ({} storage buffers)",
                k.name,
                k.storage.len()
            );
            seen[b] = true;
            match var.space {
                naga::AddressSpace::Uniform => {
                    assert_eq!(b, 0, "{}: the Params uniform is binding 0", k.name)
                }
                naga::AddressSpace::Storage { access } => {
                    assert!(b > 0, "{}: binding 0 must be the Params uniform", k.name);
                    let writes = access.contains(naga::StorageAccess::STORE);
                    let want = k.storage[b - 1] == Access::ReadWrite;
                    assert_eq!(
                        writes, want,
                        "{}: binding {b} access differs from the registry",
                        k.name
                    );
                }
                other => panic!("{}: binding {b} in unexpected space {other:?}", k.name),
            }
        }
        assert!(
            seen.iter().all(|s| *s),
            "{}: registry declares bindings the shader lacks: {seen:?}",
            k.name
        );
    }
}

#[test]
fn every_shader_file_is_registered() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/shaders");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "wgsl") {
            continue; // shaders/README.md
        }
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        assert!(
            every_kernel().any(|k| k.entry == stem),
            "shaders/{stem}.wgsl is not in the kernel registry"
        );
    }
}

#[test]
fn every_packed_snippet_is_composed() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/shaders/packed");
    let mut stems = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        assert_eq!(
            path.extension().and_then(|e| e.to_str()),
            Some("wgsl"),
            "shaders/packed/ holds only snippets"
        );
        if stem != "bytes" {
            stems.push(stem);
        }
    }
    assert_eq!(
        stems.len(),
        PACKED.len(),
        "snippets {stems:?} vs the registry"
    );
    for stem in &stems {
        let name = format!("dequant_rows_{stem}");
        assert!(
            DEQUANT_ROWS.iter().any(|k| k.name == name),
            "shaders/packed/{stem}.wgsl has no dequant_rows kernel"
        );
    }
    // Each snippet alone (with the byte readers and a `packed` binding) defines `packed_value`
    // and `packed_value4`.
    for (ty, snippet) in PACKED {
        let src = format!(
            "{snippet}\n@group(0) @binding(1) var<storage, read> packed: array<u32>;\n\
             @group(0) @binding(2) var<storage, read_write> out: array<f32>;\n\
             @compute @workgroup_size(1) fn main() {{ out[0] = packed_value(7u) + packed_value4(8u).w; }}"
        );
        parse(&ty.name(), &src);
    }
}

#[test]
fn every_packed_format_has_its_frozen_kernels() {
    use svdtune::backend::ALL_FORMATS;
    use svdtune::backend::gpu::kernels::{EMBEDDING_BY_TABLE, MATMUL_BY_B, MATMUL_ROWS_BY_B};
    for (op, v) in [
        ("matmul", MATMUL_BY_B),
        ("matmul_rows", MATMUL_ROWS_BY_B),
        ("embedding", EMBEDDING_BY_TABLE),
    ] {
        for f in ALL_FORMATS.into_iter().filter(|f| f.is_packed()) {
            let name = format!("{op}_{}", f.name().to_ascii_lowercase());
            assert_eq!(v.get(f).name, name, "{op} for {f}");
        }
    }
}
