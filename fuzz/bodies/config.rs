//! Fuzz body: a dropped `config.json`, then the SVD plan and its summary from it.
use svdtune::model::config::ModelConfig;
use svdtune::svd::SvdPlan;
use svdtune::svd::summary::PlanSummary;

pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(cfg) = ModelConfig::from_json("config.json", text) {
        let _ = SvdPlan::new(&cfg, 0.1, true);
        let _ = PlanSummary::new(&cfg, 0.1, true);
    }
}
