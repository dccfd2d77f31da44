//! An f32 copy of a packed frozen weight, made on the backend with the embedding gather (which
//! accepts a packed table): row `i` of the copy is row `i` of the weight. For the few places that
//! need a weight as f32 for a moment, one layer at a time: the randomized SVD, which uses it as
//! the A operand of its products, and the merge of the export.
use super::{Backend, TensorInfo};
use crate::error::Result;

/// `t` as an f32 tensor of the same shape `[rows, cols]`: a copy when `t` is packed, `None`
/// when it is f32 already (use `t` itself).
pub fn unpacked<B: Backend>(be: &B, t: &B::Tensor) -> Result<Option<B::Tensor>> {
    if !t.format().is_packed() {
        return Ok(None);
    }
    let (rows, cols) = t.shape().matrix("unpack", "t")?;
    let ids: Vec<u32> = (0..rows)
        .map(|r| {
            u32::try_from(r).map_err(|_| {
                crate::error::Error::param("unpack", format!("{rows} rows exceed 32-bit ids"))
            })
        })
        .collect::<Result<_>>()?;
    let ids = be.ids(&ids)?;
    let mut out = be.zeros_large(&[rows, cols])?;
    be.embedding(t, &ids, &mut out)?;
    Ok(Some(out))
}

/// `t`'s values as f32 on the host, whether it is f32 or packed (through [`unpacked`]).
pub async fn read_f32<B: Backend>(be: &B, t: &B::Tensor) -> Result<Vec<f32>> {
    match unpacked(be, t)? {
        Some(t32) => {
            be.flush()?;
            be.read(&t32).await
        }
        None => be.read(t).await,
    }
}
