//! Which adapters are GPUs emulated on the CPU (Mesa's llvmpipe/lavapipe, Chromium's SwiftShader,
//! Windows' WARP, or any adapter that reports itself as a CPU). Training on one is one to two
//! orders of magnitude slower than the CPU backend on the same machine (SmolLM2-135M: about
//! 900 s of decomposition on llvmpipe against 2 s on the CPU backend), so the automatic backend
//! choice never picks one.

/// Names (lower case) that software renderers put in their adapter or driver strings.
const SOFTWARE_NAMES: [&str; 5] = ["llvmpipe", "lavapipe", "swiftshader", "warp", "softpipe"];

/// Why `info` is a software adapter, or `None` for a hardware GPU (or one that does not say).
pub fn software_reason(info: &wgpu::AdapterInfo) -> Option<String> {
    if info.device_type == wgpu::DeviceType::Cpu {
        return Some(format!(
            "{} reports itself as a CPU device (a GPU emulated in software)",
            display_name(info)
        ));
    }
    let strings = [&info.name, &info.driver, &info.driver_info];
    let lower: Vec<String> = strings.iter().map(|s| s.to_lowercase()).collect();
    SOFTWARE_NAMES.iter().find_map(|soft| {
        lower
            .iter()
            .any(|s| {
                s.split(|c: char| !c.is_ascii_alphanumeric())
                    .any(|w| w == *soft)
            })
            .then(|| {
                format!(
                    "{} is a software renderer ({soft}: a GPU emulated on the CPU)",
                    display_name(info)
                )
            })
    })
}

/// The adapter's name, or its driver's when the name is empty.
fn display_name(info: &wgpu::AdapterInfo) -> &str {
    [&info.name, &info.driver, &info.driver_info]
        .into_iter()
        .find(|s| !s.is_empty())
        .map_or("the adapter", |s| s.as_str())
}

#[cfg(test)]
mod tests {
    use super::software_reason;

    fn info(name: &str, driver: &str, device_type: wgpu::DeviceType) -> wgpu::AdapterInfo {
        wgpu::AdapterInfo {
            name: name.into(),
            driver: driver.into(),
            ..wgpu::AdapterInfo::new(device_type, wgpu::Backend::Vulkan)
        }
    }

    #[test]
    fn software_adapters_are_recognised() {
        use wgpu::DeviceType::*;
        let llvmpipe = info("llvmpipe (LLVM 15.0.6, 256 bits)", "llvmpipe", Cpu);
        assert!(software_reason(&llvmpipe).unwrap().contains("llvmpipe"));
        // Named software renderers are recognised whatever type they report.
        for (name, driver) in [
            ("SwiftShader Device (Subzero)", "SwiftShader driver"),
            ("Microsoft Basic Render Driver", "warp"),
            ("lavapipe", ""),
        ] {
            let a = info(name, driver, IntegratedGpu);
            assert!(software_reason(&a).is_some(), "{name}");
        }
        for (name, driver, t) in [
            ("NVIDIA H100 80GB HBM3", "NVIDIA", DiscreteGpu),
            ("AMD Radeon Graphics (RADV RENOIR)", "radv", IntegratedGpu),
            ("Apple M2", "", IntegratedGpu),
            // A word that merely contains a renderer's name is not one.
            ("Warpspeed 9000", "", DiscreteGpu),
        ] {
            assert_eq!(software_reason(&info(name, driver, t)), None, "{name}");
        }
    }
}
