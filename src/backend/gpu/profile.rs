//! Time per kernel from GPU timestamp queries, where the adapter has them
//! (`wgpu::Features::TIMESTAMP_QUERY`; Chrome 121+, most native drivers): while a profile is
//! open, every dispatch runs in a compute pass of its own whose start and end are written to a
//! query set, and [`Recorder::take_profile`] resolves them and sums the durations per kernel.
//! One pass per dispatch costs time of its own, so a profiled step is slower than a plain one:
//! the shares between kernels are what it measures, not the step time.
use super::recorder::Recorder;
use crate::error::{Error, Result};

/// Queries per query set (wgpu's maximum); each dispatch takes two.
const QUERIES_PER_SET: u32 = wgpu::QUERY_SET_MAX_QUERIES;

/// The open profile: query sets filled in order, and the kernel of each dispatch.
pub(super) struct Profile {
    sets: Vec<wgpu::QuerySet>,
    names: Vec<&'static str>,
    capacity: usize,
}

/// GPU time of one kernel over the profiled work.
#[derive(Clone, Debug, serde::Serialize)]
pub struct KernelTime {
    pub kernel: &'static str,
    pub dispatches: u64,
    pub ms: f64,
}

impl Recorder {
    /// Starts timing each dispatch (up to `max_dispatches`; later ones run untimed). False,
    /// and nothing changes, when the device has no timestamp queries.
    pub fn start_profile(&self, max_dispatches: usize) -> bool {
        if !self
            .ctx
            .device
            .features()
            .contains(wgpu::Features::TIMESTAMP_QUERY)
        {
            return false;
        }
        let per_set = (QUERIES_PER_SET / 2) as usize;
        let sets = (0..max_dispatches.div_ceil(per_set).max(1))
            .map(|_| {
                self.ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
                    label: Some("profile"),
                    ty: wgpu::QueryType::Timestamp,
                    count: QUERIES_PER_SET,
                })
            })
            .collect();
        *self.profile.borrow_mut() = Some(Profile {
            sets,
            names: Vec::new(),
            capacity: max_dispatches,
        });
        true
    }

    /// The timestamp writes of the next dispatch of `kernel`, when a profile is open and has
    /// room (the dispatch then gets a pass of its own).
    pub(super) fn profile_slot(&self, kernel: &'static str) -> Option<(wgpu::QuerySet, u32)> {
        let mut slot = self.profile.borrow_mut();
        let p = slot.as_mut()?;
        if p.names.len() >= p.capacity {
            return None;
        }
        let i = p.names.len() as u32;
        p.names.push(kernel);
        let per_set = QUERIES_PER_SET / 2;
        Some((p.sets[(i / per_set) as usize].clone(), 2 * (i % per_set)))
    }

    /// Ends the profile: waits for the recorded work and returns the GPU time per kernel,
    /// longest first (`None` when no profile was open).
    pub async fn take_profile(&self) -> Result<Option<Vec<KernelTime>>> {
        let Some(p) = self.profile.borrow_mut().take() else {
            return Ok(None);
        };
        self.flush()?;
        let per_set = (QUERIES_PER_SET / 2) as usize;
        let mut stamps: Vec<u64> = Vec::with_capacity(2 * p.names.len());
        for (s, set) in p.sets.iter().enumerate() {
            let used = p.names.len().saturating_sub(s * per_set).min(per_set) as u32;
            if used == 0 {
                break;
            }
            let bytes = 2 * used as u64 * 8;
            let usage = wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC;
            let (id, buf) = self.create("profile", bytes, usage, None)?;
            self.with_encoder(|enc| enc.resolve_query_set(set, 0..2 * used, &buf, 0));
            let read = self.read_bytes(&buf, 0, bytes).await;
            self.ledger.release(id);
            stamps.extend(bytemuck::pod_collect_to_vec::<u8, u64>(&read?));
        }
        if stamps.len() != 2 * p.names.len() {
            return Err(Error::Device("profile: timestamps missing".into()));
        }
        let period = self.ctx.queue.get_timestamp_period() as f64;
        let mut out: Vec<KernelTime> = Vec::new();
        for (i, name) in p.names.iter().enumerate() {
            let ns = stamps[2 * i + 1].saturating_sub(stamps[2 * i]) as f64 * period;
            match out.iter_mut().find(|t| t.kernel == *name) {
                Some(t) => {
                    t.dispatches += 1;
                    t.ms += ns / 1e6;
                }
                None => out.push(KernelTime {
                    kernel: name,
                    dispatches: 1,
                    ms: ns / 1e6,
                }),
            }
        }
        out.sort_by(|a, b| b.ms.total_cmp(&a.ms));
        Ok(Some(out))
    }
}
