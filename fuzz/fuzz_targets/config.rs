//! A dropped `config.json`, then the SVD plan and its summary from it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use svdtune::model::config::ModelConfig;
use svdtune::svd::SvdPlan;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(cfg) = ModelConfig::from_json("config.json", text) {
        let _ = SvdPlan::new(&cfg, 0.1, true);
        let _ = svdtune::svd::summary::PlanSummary::new(&cfg, 0.1, true);
    }
});
