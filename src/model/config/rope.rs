//! The rotary and sliding-window parts of `config.json`: `rope_theta` + `rope_scaling` or the
//! newer `rope_parameters`, and Gemma 3's global/local RoPE pair and sliding layers.
use super::LocalAttention;
use super::fields::Fields;
use crate::error::{Error, Result};
use crate::model::rope::{RopeConfig, RopeScaling, RopeScalingFields};
use serde_json::{Map, Value};

/// The rotary configuration from `rope_theta` + `rope_scaling`, or from `rope_parameters`.
pub(super) fn rope_config(
    f: &Fields,
    head_dim: usize,
    max_position_embeddings: usize,
) -> Result<RopeConfig> {
    let params = match f.get("rope_parameters") {
        Some(Value::Object(m)) => Some(m),
        Some(v) => return Err(f.bad("rope_parameters", "an object", v)),
        None => None,
    };
    let scaling_obj = match f.get("rope_scaling") {
        Some(Value::Object(m)) => Some(m),
        Some(v) => return Err(f.bad("rope_scaling", "an object or null", v)),
        None => params,
    };
    let theta = match f.f64_opt("rope_theta")? {
        Some(t) => t,
        None => match params {
            Some(p) => Fields {
                file: f.file,
                map: p,
            }
            .f64_opt("rope_theta")?
            .unwrap_or(10000.0),
            None => 10000.0,
        },
    };
    let scaling = match scaling_obj {
        None => RopeScaling::None,
        Some(obj) => {
            let s = Fields {
                file: f.file,
                map: obj,
            };
            let rope_type = match s.str_opt("rope_type")? {
                Some(t) => Some(t.to_string()),
                None => s.str_opt("type")?.map(str::to_string),
            };
            let original = match s.usize_opt("original_max_position_embeddings")? {
                Some(o) => Some(o),
                None => f.usize_opt("original_max_position_embeddings")?,
            };
            let fields = RopeScalingFields {
                rope_type,
                factor: s.f64_opt("factor")?,
                low_freq_factor: s.f64_opt("low_freq_factor")?,
                high_freq_factor: s.f64_opt("high_freq_factor")?,
                original_max_position_embeddings: original,
                short_factor: s.f64_list("short_factor")?,
                long_factor: s.f64_list("long_factor")?,
                attention_factor: s.f64_opt("attention_factor")?,
            };
            let scaling = RopeScaling::from_hf(Some(&fields))
                .map_err(|e| Error::input(f.file, format!("rope scaling: {e}")))?;
            if let RopeScaling::LongRope {
                short_factor,
                long_factor,
                ..
            } = &scaling
                && (short_factor.len() != head_dim / 2 || long_factor.len() != head_dim / 2)
            {
                return Err(Error::input(
                    f.file,
                    format!(
                        "longrope short_factor and long_factor need head_dim / 2 = {} entries, found {} and {}",
                        head_dim / 2,
                        short_factor.len(),
                        long_factor.len()
                    ),
                ));
            }
            scaling
        }
    };
    Ok(RopeConfig {
        head_dim,
        theta,
        max_position_embeddings,
        scaling,
    })
}

/// Gemma 3's two RoPEs, global and local: transformers 5's `rope_parameters` keyed by layer type
/// (`full_attention`, `sliding_attention`), or the 4.x keys (`rope_theta` + `rope_scaling` for
/// the global layers, `rope_local_base_freq` for the sliding ones). Defaults as
/// `Gemma3TextConfig`: 1e6 global, 1e4 local.
pub(super) fn gemma_ropes(
    f: &Fields,
    head_dim: usize,
    max_position_embeddings: usize,
) -> Result<(RopeConfig, Option<RopeConfig>)> {
    let by_type = match f.get("rope_parameters") {
        Some(Value::Object(m))
            if m.contains_key("full_attention") || m.contains_key("sliding_attention") =>
        {
            Some(m)
        }
        _ => None,
    };
    let sub = |key: &str, default_theta: f64| -> Result<RopeConfig> {
        let mut map = Map::new();
        if let Some(obj) = by_type.and_then(|m| m.get(key)) {
            map.insert("rope_parameters".into(), obj.clone());
        }
        if !matches!(map.get("rope_parameters"), Some(Value::Object(o)) if o.contains_key("rope_theta"))
        {
            map.insert("rope_theta".into(), Value::from(default_theta));
        }
        let fields = Fields {
            file: f.file,
            map: &map,
        };
        rope_config(&fields, head_dim, max_position_embeddings)
    };
    if by_type.is_some() {
        return Ok((
            sub("full_attention", 1e6)?,
            Some(sub("sliding_attention", 1e4)?),
        ));
    }
    let mut global = rope_config(f, head_dim, max_position_embeddings)?;
    if f.f64_opt("rope_theta")?.is_none() && f.get("rope_parameters").is_none() {
        global.theta = 1e6;
    }
    let local = RopeConfig {
        head_dim,
        theta: f.f64_opt("rope_local_base_freq")?.unwrap_or(1e4),
        max_position_embeddings,
        scaling: RopeScaling::None,
    };
    Ok((global, Some(local)))
}

/// Gemma 3's sliding-window layers: `layer_types`, else every `sliding_window_pattern`-th layer
/// (default 6) is global and the others slide; `sliding_window` defaults to 4096. `None` when no
/// layer slides.
pub(super) fn gemma_local(
    f: &Fields,
    layers: usize,
    rope: RopeConfig,
) -> Result<Option<LocalAttention>> {
    let kinds: Vec<bool> = match f.get("layer_types") {
        Some(Value::Array(types)) => {
            if types.len() != layers {
                return Err(Error::input(
                    f.file,
                    format!(
                        "layer_types has {} entries for {layers} layers",
                        types.len()
                    ),
                ));
            }
            types
                .iter()
                .map(|t| match t.as_str() {
                    Some("sliding_attention") => Ok(true),
                    Some("full_attention") => Ok(false),
                    _ => Err(Error::Unsupported(format!(
                        "{}: layer type {t} is not supported (supported: \"full_attention\", \"sliding_attention\")",
                        f.file
                    ))),
                })
                .collect::<Result<_>>()?
        }
        Some(v) => return Err(f.bad("layer_types", "a list of layer types", v)),
        None => {
            let pattern = match f.usize_opt("sliding_window_pattern")? {
                Some(p) => p,
                None => f.usize_opt("_sliding_window_pattern")?.unwrap_or(6),
            };
            if pattern == 0 {
                return Err(Error::input(f.file, "sliding_window_pattern must be > 0"));
            }
            (0..layers).map(|i| (i + 1) % pattern != 0).collect()
        }
    };
    if !kinds.iter().any(|&k| k) {
        return Ok(None);
    }
    let window = f.usize_opt("sliding_window")?.unwrap_or(4096);
    if window == 0 {
        return Err(Error::input(f.file, "sliding_window must be > 0"));
    }
    Ok(Some(LocalAttention {
        window,
        layers: kinds,
        rope,
    }))
}
