//! The matmul tile size per adapter, measured once and kept in the user's cache directory
//! (`$SVDTUNE_CACHE_DIR`, else `$XDG_CACHE_HOME/svdtune`, else `~/.cache/svdtune`, file
//! `gpu-tiles.json`, keyed by the adapter and this version of svdtune). A hardware GPU opened by
//! `--backend auto|gpu` gets the measured `wide_tiles`; adapters emulated in software keep the
//! defaults (their timings say nothing about a GPU, and measuring them takes minutes). Delete the
//! file to measure again. `svdtune bench --gpu-tuning` still overrides any key.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;
use svdtune::Result;
use svdtune::backend::gpu::GpuBackend;
use svdtune::backend::gpu::autotune::{TILE_SHAPES, TileTiming, choose_wide_min, time_tiles};

/// What the cache keeps for one adapter.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    pub wide_tile_min: usize,
    pub timings: Vec<TileTiming>,
}

/// The cache file, `None` where no directory is known.
pub fn cache_file() -> Option<PathBuf> {
    let dir = std::env::var_os("SVDTUNE_CACHE_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| svdtune::hub::user_cache_root().map(|d| d.join("svdtune")))?;
    Some(dir.join("gpu-tiles.json"))
}

/// The entries in `path` (none when it is missing or unreadable: measuring again repairs it).
pub fn load(path: &Path) -> BTreeMap<String, Entry> {
    std::fs::read(path)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// Adds `entry` under `key` to the file at `path`, creating its directory.
pub fn store(path: &Path, key: &str, entry: Entry) -> std::io::Result<()> {
    let mut all = load(path);
    all.insert(key.to_string(), entry);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_string_pretty(&all).map_err(std::io::Error::other)?;
    std::fs::write(path, text)
}

/// Sets `g`'s tile size from the cache, measuring it first when this adapter has no entry.
pub fn apply(g: &GpuBackend) -> Result<()> {
    if g.context().software_reason().is_some() {
        return Ok(());
    }
    let key = format!(
        "{} | svdtune {}",
        g.context().adapter_key(),
        env!("CARGO_PKG_VERSION")
    );
    let file = cache_file();
    let cached = file.as_deref().and_then(|f| load(f).remove(&key));
    let entry = match cached {
        Some(e) => e,
        None => {
            eprintln!("GPU tiles: timing 64×64 against 128×128 tiles on this adapter (once)…");
            let start = Instant::now();
            let now = || start.elapsed().as_secs_f64() * 1e3;
            let timings = pollster::block_on(time_tiles(g, TILE_SHAPES, (10, 3), &now))?;
            let e = Entry {
                wide_tile_min: choose_wide_min(&timings),
                timings,
            };
            for t in &e.timings {
                eprintln!(
                    "  [{}, {}]·[{}, {}]ᵀ ×10: 64×64 {:.2} ms, 128×128 {:.2} ms",
                    t.m, t.k, t.n, t.k, t.narrow_ms, t.wide_ms
                );
            }
            match &file {
                Some(f) => {
                    if let Err(err) = store(f, &key, e.clone()) {
                        eprintln!(
                            "GPU tiles: could not keep the result in {}: {err}",
                            f.display()
                        );
                    }
                }
                None => eprintln!("GPU tiles: no cache directory (HOME unset); not kept"),
            }
            e
        }
    };
    let mut tuning = g.tuning();
    tuning.wide_tile_min = entry.wide_tile_min;
    g.set_tuning(tuning)?;
    match entry.wide_tile_min {
        0 => eprintln!("GPU tiles: 64×64"),
        n => eprintln!("GPU tiles: 128×128 for outputs from {n} rows and columns, 64×64 below"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_per_adapter_and_a_broken_file_reads_as_empty() {
        let dir = std::env::temp_dir().join(format!("svdtune-tiles-{}", std::process::id()));
        let file = dir.join("sub").join("gpu-tiles.json");
        let timing = TileTiming {
            m: 512,
            n: 1024,
            k: 1024,
            narrow_ms: 2.0,
            wide_ms: 1.5,
        };
        let a = Entry {
            wide_tile_min: 512,
            timings: vec![timing],
        };
        let b = Entry {
            wide_tile_min: 0,
            timings: vec![],
        };
        store(&file, "gpu a", a.clone()).unwrap();
        store(&file, "gpu b", b.clone()).unwrap();
        let all = load(&file);
        assert_eq!(all.get("gpu a"), Some(&a));
        assert_eq!(all.get("gpu b"), Some(&b));
        std::fs::write(&file, "{ not json").unwrap();
        assert!(load(&file).is_empty());
        store(&file, "gpu a", a.clone()).unwrap();
        assert_eq!(load(&file).len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
