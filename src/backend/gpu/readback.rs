//! Reading buffers back to the host: a copy into a `MAP_READ` staging buffer after all recorded
//! work, then a map. Small staging buffers (up to [`KEEP_STAGING_BYTES`]) are kept for the next
//! read, so a training step's loss and gradient-norm reads create no buffer; every staging
//! buffer is counted in the ledger while it exists.
use super::recorder::Recorder;
use crate::error::{Error, Result};

/// Readback staging buffers up to this size are kept for the next read; larger ones are made for
/// one read.
pub const KEEP_STAGING_BYTES: u64 = 1 << 20;

impl Recorder {
    /// A readback buffer of `size` bytes: the kept one when it is large enough and free.
    fn staging(&self, size: u64) -> Result<(u64, wgpu::Buffer)> {
        let mut slot = self.staging.borrow_mut();
        if slot.as_ref().is_some_and(|(_, b)| b.size() >= size)
            && let Some(kept) = slot.take()
        {
            return Ok(kept);
        }
        drop(slot);
        let usage = wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST;
        let keep = size <= KEEP_STAGING_BYTES;
        self.create(
            "readback",
            if keep { size.max(256) } else { size },
            usage,
            None,
        )
    }

    /// Gives a readback buffer back: kept for the next read when small (replacing a smaller
    /// kept one), else released.
    fn return_staging(&self, id: u64, buf: wgpu::Buffer) {
        let mut slot = self.staging.borrow_mut();
        let better = slot.as_ref().is_none_or(|(_, b)| b.size() < buf.size());
        if buf.size() <= KEEP_STAGING_BYTES && better {
            if let Some((old, _)) = slot.replace((id, buf)) {
                self.ledger.release(old);
            }
        } else {
            self.ledger.release(id);
        }
    }

    /// Copies `bytes` bytes of `src` from byte `offset` to the host after all recorded work.
    pub async fn read_bytes(&self, src: &wgpu::Buffer, offset: u64, bytes: u64) -> Result<Vec<u8>> {
        let size = bytes.max(4).div_ceil(4) * 4;
        let (id, staging) = self.staging(size)?;
        let out = self.read_via((src, offset), &staging, size, bytes).await;
        if out.is_ok() {
            self.return_staging(id, staging);
        } else {
            // A failed map may leave the buffer mapped or pending: never reuse it.
            self.ledger.release(id);
        }
        out
    }

    async fn read_via(
        &self,
        (src, offset): (&wgpu::Buffer, u64),
        staging: &wgpu::Buffer,
        size: u64,
        bytes: u64,
    ) -> Result<Vec<u8>> {
        self.with_encoder(|enc| enc.copy_buffer_to_buffer(src, offset, staging, 0, size));
        self.flush()?;
        let (tx, rx) = futures_channel::oneshot::channel();
        staging.map_async(wgpu::MapMode::Read, ..size, move |r| {
            let _ = tx.send(r);
        });
        self.ctx.poll_wait()?;
        let mapped = rx.await;
        self.ctx.check_lost()?;
        mapped
            .map_err(|_| Error::Device("readback was cancelled".into()))?
            .map_err(|e| Error::Device(format!("readback: {e}")))?;
        let out = {
            let view = staging
                .get_mapped_range(..size)
                .map_err(|e| Error::Device(format!("readback: {e:?}")))?;
            view[..bytes as usize].to_vec()
        };
        staging.unmap();
        self.ctx.take_error(self.ledger.live())?;
        Ok(out)
    }
}
