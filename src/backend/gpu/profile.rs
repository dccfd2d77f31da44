//! Time per kernel over a stretch of work, by one of two clocks:
//! - GPU timestamps, where the adapter has them (`wgpu::Features::TIMESTAMP_QUERY`; Chrome 121+,
//!   most native drivers): every dispatch runs in a compute pass of its own whose start and end
//!   are written to a query set, and [`Recorder::take_profile`] resolves them.
//! - Natively without them, the wall clock: every dispatch is submitted alone and waited for,
//!   less the round trip of an empty submission measured when the profile opens. An estimate:
//!   it holds the driver's launch cost of one dispatch, which a step spreads over many.
//!
//! Either way the profiled work is slower than plain work (a pass, or a submission, per
//! dispatch): the shares between kernels are what a profile measures, not the step time. In
//! browsers without timestamps there is no clock (the page cannot wait for the GPU in a loop).
use super::recorder::Recorder;
use crate::error::{Error, Result};

/// Queries per query set (wgpu's maximum); each dispatch takes two.
const QUERIES_PER_SET: u32 = wgpu::QUERY_SET_MAX_QUERIES;

/// Empty submissions timed when a wall-clock profile opens (their median is the baseline).
#[cfg(not(target_arch = "wasm32"))]
const BASELINE_ROUNDS: usize = 15;

/// Which clock times the kernels of a profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum KernelClock {
    /// GPU timestamps around each dispatch's own pass.
    Timestamps,
    /// Natively: each dispatch submitted alone and waited for, less an empty submission's time.
    WallClock,
}

impl KernelClock {
    /// How the figures were taken, for reports.
    pub fn describe(self) -> &'static str {
        match self {
            KernelClock::Timestamps => "timestamp queries, a pass per dispatch",
            KernelClock::WallClock => {
                "wall clock of each dispatch submitted and waited for alone, less an empty \
                 submission's round trip: an estimate"
            }
        }
    }
}

/// The open profile: the kernel of each timed dispatch, and what its clock keeps.
pub(super) struct Profile {
    names: Vec<&'static str>,
    capacity: usize,
    clock: Clock,
}

enum Clock {
    /// Query sets filled in order.
    Timestamps(Vec<wgpu::QuerySet>),
    /// Milliseconds per timed dispatch, and the empty round trip subtracted from each.
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    Wall { ms: Vec<f64>, baseline_ms: f64 },
}

/// GPU time of one kernel over the profiled work.
#[derive(Clone, Debug, serde::Serialize)]
pub struct KernelTime {
    pub kernel: &'static str,
    pub dispatches: u64,
    pub ms: f64,
}

impl Recorder {
    /// Starts timing each dispatch (up to `max_dispatches`; later ones run untimed) with the
    /// best clock this device has; `None`, and nothing changes, when it has none.
    pub fn start_profile(&self, max_dispatches: usize) -> Result<Option<KernelClock>> {
        let clock = if self.has_timestamps() {
            KernelClock::Timestamps
        } else {
            KernelClock::WallClock
        };
        Ok(self
            .start_profile_with(max_dispatches, clock)?
            .then_some(clock))
    }

    fn has_timestamps(&self) -> bool {
        self.ctx
            .device
            .features()
            .contains(wgpu::Features::TIMESTAMP_QUERY)
    }

    /// As [`Recorder::start_profile`] with this clock; false when the device cannot give it
    /// (timestamps without the feature; the wall clock in a browser).
    pub fn start_profile_with(&self, max_dispatches: usize, clock: KernelClock) -> Result<bool> {
        let clock = match clock {
            KernelClock::Timestamps if self.has_timestamps() => {
                let per_set = (QUERIES_PER_SET / 2) as usize;
                Clock::Timestamps(
                    (0..max_dispatches.div_ceil(per_set).max(1))
                        .map(|_| {
                            self.ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
                                label: Some("profile"),
                                ty: wgpu::QueryType::Timestamp,
                                count: QUERIES_PER_SET,
                            })
                        })
                        .collect(),
                )
            }
            #[cfg(not(target_arch = "wasm32"))]
            KernelClock::WallClock => {
                self.drain()?;
                let mut rounds: Vec<f64> = (0..BASELINE_ROUNDS)
                    .map(|_| self.round_trip_ms())
                    .collect::<Result<_>>()?;
                rounds.sort_by(f64::total_cmp);
                Clock::Wall {
                    ms: Vec::new(),
                    baseline_ms: rounds[rounds.len() / 2],
                }
            }
            _ => return Ok(false),
        };
        *self.profile.borrow_mut() = Some(Profile {
            names: Vec::new(),
            capacity: max_dispatches,
            clock,
        });
        Ok(true)
    }

    /// Submits what is recorded and waits for it (natively; a no-op wait on the web).
    fn drain(&self) -> Result<()> {
        self.flush()?;
        self.ctx.poll_wait()
    }

    /// Milliseconds to submit what is recorded and wait for it.
    #[cfg(not(target_arch = "wasm32"))]
    fn round_trip_ms(&self) -> Result<f64> {
        let t = std::time::Instant::now();
        self.drain()?;
        Ok(t.elapsed().as_secs_f64() * 1e3)
    }

    /// Whether the next dispatch of `kernel` is timed (a profile is open and has room), and
    /// for timestamps the writes around its pass. A dispatch timed by the wall clock runs
    /// between [`Recorder::wall_clock_before`] and [`Recorder::wall_clock_after`].
    pub(super) fn profile_slot(
        &self,
        kernel: &'static str,
    ) -> Option<Option<(wgpu::QuerySet, u32)>> {
        let mut slot = self.profile.borrow_mut();
        let p = slot.as_mut()?;
        if p.names.len() >= p.capacity {
            return None;
        }
        let i = p.names.len() as u32;
        p.names.push(kernel);
        match &p.clock {
            Clock::Timestamps(sets) => {
                let per_set = QUERIES_PER_SET / 2;
                Some(Some((
                    sets[(i / per_set) as usize].clone(),
                    2 * (i % per_set),
                )))
            }
            Clock::Wall { .. } => Some(None),
        }
    }

    /// Before a dispatch timed by the wall clock: the work recorded before it finishes first.
    pub(super) fn wall_clock_before(&self) -> Result<()> {
        self.drain()
    }

    /// After recording a dispatch timed by the wall clock: submits it alone, waits, and keeps
    /// its time less the empty round trip.
    pub(super) fn wall_clock_after(&self) -> Result<()> {
        #[cfg(not(target_arch = "wasm32"))]
        {
            let ms = self.round_trip_ms()?;
            if let Some(Profile {
                clock:
                    Clock::Wall {
                        ms: times,
                        baseline_ms,
                    },
                ..
            }) = self.profile.borrow_mut().as_mut()
            {
                times.push((ms - *baseline_ms).max(0.0));
            }
        }
        Ok(())
    }

    /// Ends the profile: waits for the recorded work and returns the time per kernel, longest
    /// first (`None` when no profile was open).
    pub async fn take_profile(&self) -> Result<Option<Vec<KernelTime>>> {
        let Some(p) = self.profile.borrow_mut().take() else {
            return Ok(None);
        };
        self.flush()?;
        let ms: Vec<f64> = match p.clock {
            Clock::Timestamps(sets) => self.resolve(&sets, p.names.len()).await?,
            Clock::Wall { ms, .. } => ms,
        };
        if ms.len() != p.names.len() {
            return Err(Error::Device("profile: times missing".into()));
        }
        let mut out: Vec<KernelTime> = Vec::new();
        for (name, ms) in p.names.iter().zip(ms) {
            match out.iter_mut().find(|t| t.kernel == *name) {
                Some(t) => {
                    t.dispatches += 1;
                    t.ms += ms;
                }
                None => out.push(KernelTime {
                    kernel: name,
                    dispatches: 1,
                    ms,
                }),
            }
        }
        out.sort_by(|a, b| b.ms.total_cmp(&a.ms));
        Ok(Some(out))
    }

    /// Milliseconds of each of the first `n` timed dispatches, from the query sets.
    async fn resolve(&self, sets: &[wgpu::QuerySet], n: usize) -> Result<Vec<f64>> {
        let per_set = (QUERIES_PER_SET / 2) as usize;
        let mut stamps: Vec<u64> = Vec::with_capacity(2 * n);
        for (s, set) in sets.iter().enumerate() {
            let used = n.saturating_sub(s * per_set).min(per_set) as u32;
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
        if stamps.len() != 2 * n {
            return Err(Error::Device("profile: timestamps missing".into()));
        }
        let period = self.ctx.queue.get_timestamp_period() as f64;
        Ok(stamps
            .chunks(2)
            .map(|s| s[1].saturating_sub(s[0]) as f64 * period / 1e6)
            .collect())
    }
}
