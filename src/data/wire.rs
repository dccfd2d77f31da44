//! A read dataset as bytes, so that it can cross from the page's data worker (which renders
//! the untrusted chat template and tokenizes) to the engine worker (which only trains).
//! [`encode`] and [`decode`] are exact inverses; [`decode`] checks everything it reads, as the
//! bytes come from another wasm instance, and fails with an [`Error::Input`] naming `what`.
//!
//! Layout, little-endian:
//! ```text
//! "SVDD" u32 version
//! u32 max_tokens (u32::MAX = none)  u8 loss (0 assistant, 1 all)
//! u8 container  u8 format  u32 format_line
//! u64 × 8 stats (records, examples, skipped, tokens, trained_tokens, truncated, longest, longest_line)
//! u32 skips, each: u32 line, u32 len, len bytes UTF-8 reason
//! u32 examples, each: u32 line, u32 full_len, u32 n, n × u32 input_ids, n × u8 loss_mask (0/1)
//! ```
use super::reader::Container;
use super::{Dataset, Example, Format, LossMode, Skip, Stats};
use crate::{Error, Result};

const MAGIC: &[u8; 4] = b"SVDD";
const VERSION: u32 = 1;

/// A dataset with the options it was read with (they decide truncation and the loss mask).
#[derive(Clone, Debug)]
pub struct Encoded {
    pub dataset: Dataset,
    /// The cut applied to every example (`DatasetOptions::max_tokens`).
    pub max_tokens: Option<usize>,
    pub loss: LossMode,
}

fn container_code(c: Container) -> u8 {
    match c {
        Container::JsonLines => 0,
        Container::JsonArray => 1,
    }
}

fn format_code(f: Format) -> u8 {
    match f {
        Format::Messages => 0,
        Format::ShareGpt => 1,
        Format::Alpaca => 2,
        Format::PromptCompletion => 3,
        Format::Text => 4,
    }
}

fn put32(out: &mut Vec<u8>, v: usize) {
    out.extend_from_slice(&(v.min(u32::MAX as usize) as u32).to_le_bytes());
}

/// `e` as bytes (see the module docs for the layout).
pub fn encode(e: &Encoded) -> Vec<u8> {
    let ds = &e.dataset;
    let tokens: usize = ds.examples.iter().map(|x| x.input_ids.len()).sum();
    let mut out = Vec::with_capacity(128 + tokens * 5 + ds.examples.len() * 12);
    out.extend_from_slice(MAGIC);
    put32(&mut out, VERSION as usize);
    put32(&mut out, e.max_tokens.unwrap_or(u32::MAX as usize));
    out.push(match e.loss {
        LossMode::Assistant => 0,
        LossMode::All => 1,
    });
    out.push(container_code(ds.container));
    out.push(format_code(ds.format));
    put32(&mut out, ds.format_line);
    let s = &ds.stats;
    for v in [
        s.records,
        s.examples,
        s.skipped,
        s.tokens,
        s.trained_tokens,
        s.truncated,
        s.longest,
        s.longest_line,
    ] {
        out.extend_from_slice(&(v as u64).to_le_bytes());
    }
    put32(&mut out, ds.skips.len());
    for k in &ds.skips {
        put32(&mut out, k.line);
        put32(&mut out, k.reason.len());
        out.extend_from_slice(k.reason.as_bytes());
    }
    put32(&mut out, ds.examples.len());
    for x in &ds.examples {
        put32(&mut out, x.line);
        put32(&mut out, x.full_len);
        put32(&mut out, x.input_ids.len());
        for id in &x.input_ids {
            out.extend_from_slice(&id.to_le_bytes());
        }
        out.extend_from_slice(&x.loss_mask);
    }
    out
}

/// Reads bytes front to back; every read is checked.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    what: &'a str,
}

impl<'a> Reader<'a> {
    fn bad(&self, why: &str) -> Error {
        Error::input(
            self.what,
            format!("not an encoded dataset ({why} at byte {})", self.at),
        )
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| self.bad("cut short"))?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<usize> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }
    fn u64(&mut self) -> Result<usize> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        usize::try_from(u64::from_le_bytes(a)).map_err(|_| self.bad("a count too large"))
    }
    /// A count of items of at least `min_bytes` each, checked against the bytes left.
    fn count(&mut self, min_bytes: usize) -> Result<usize> {
        let n = self.u32()?;
        if n.saturating_mul(min_bytes) > self.bytes.len() - self.at {
            return Err(self.bad("a count past the end"));
        }
        Ok(n)
    }
}

/// The dataset in `bytes` (made by [`encode`]); `what` names the bytes in errors.
pub fn decode(bytes: &[u8], what: &str) -> Result<Encoded> {
    let mut r = Reader { bytes, at: 0, what };
    if r.take(4)? != MAGIC {
        return Err(r.bad("no SVDD header"));
    }
    let version = r.u32()?;
    if version != VERSION as usize {
        return Err(r.bad(&format!("version {version}, expected {VERSION}")));
    }
    let max_tokens = match r.u32()? {
        m if m == u32::MAX as usize => None,
        m => Some(m),
    };
    let loss = match r.u8()? {
        0 => LossMode::Assistant,
        1 => LossMode::All,
        _ => return Err(r.bad("an unknown loss mode")),
    };
    let container = match r.u8()? {
        0 => Container::JsonLines,
        1 => Container::JsonArray,
        _ => return Err(r.bad("an unknown container")),
    };
    let format = match r.u8()? {
        0 => Format::Messages,
        1 => Format::ShareGpt,
        2 => Format::Alpaca,
        3 => Format::PromptCompletion,
        4 => Format::Text,
        _ => return Err(r.bad("an unknown format")),
    };
    let format_line = r.u32()?;
    let mut s = [0usize; 8];
    for v in &mut s {
        *v = r.u64()?;
    }
    let stats = Stats {
        records: s[0],
        examples: s[1],
        skipped: s[2],
        tokens: s[3],
        trained_tokens: s[4],
        truncated: s[5],
        longest: s[6],
        longest_line: s[7],
    };
    let n = r.count(8)?;
    let mut skips = Vec::with_capacity(n);
    for _ in 0..n {
        let line = r.u32()?;
        let len = r.u32()?;
        let reason = std::str::from_utf8(r.take(len)?)
            .map_err(|_| r.bad("a reason that is not UTF-8"))?
            .to_string();
        skips.push(Skip { line, reason });
    }
    let n = r.count(12)?;
    let mut examples = Vec::with_capacity(n);
    for _ in 0..n {
        let line = r.u32()?;
        let full_len = r.u32()?;
        let len = r.u32()?;
        let ids = r.take(len.checked_mul(4).ok_or_else(|| r.bad("a length"))?)?;
        let input_ids = ids
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let loss_mask = r.take(len)?.to_vec();
        if loss_mask.iter().any(|&m| m > 1) || full_len < len {
            return Err(r.bad("an example out of range"));
        }
        examples.push(Example {
            line,
            input_ids,
            loss_mask,
            full_len,
        });
    }
    if r.at != bytes.len() {
        return Err(r.bad("bytes after the end"));
    }
    if examples.is_empty() || stats.examples != examples.len() {
        return Err(r.bad("a count of examples that does not match"));
    }
    Ok(Encoded {
        dataset: Dataset {
            container,
            format,
            format_line,
            examples,
            skips,
            stats,
        },
        max_tokens,
        loss,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Encoded {
        let examples = vec![
            Example {
                line: 1,
                input_ids: vec![5, 6, 70000],
                loss_mask: vec![0, 1, 1],
                full_len: 3,
            },
            Example {
                line: 4,
                input_ids: vec![9, u32::MAX - 1],
                loss_mask: vec![1, 0],
                full_len: 11,
            },
        ];
        Encoded {
            dataset: Dataset {
                container: Container::JsonArray,
                format: Format::PromptCompletion,
                format_line: 1,
                stats: Stats {
                    records: 4,
                    examples: 2,
                    skipped: 2,
                    tokens: 5,
                    trained_tokens: 3,
                    truncated: 1,
                    longest: 11,
                    longest_line: 4,
                },
                skips: vec![
                    Skip {
                        line: 2,
                        reason: "chat template: ünïcode".into(),
                    },
                    Skip {
                        line: 3,
                        reason: String::new(),
                    },
                ],
                examples,
            },
            max_tokens: Some(2),
            loss: LossMode::All,
        }
    }

    #[test]
    fn decode_inverts_encode() {
        let e = sample();
        let bytes = encode(&e);
        let d = decode(&bytes, "data").unwrap();
        assert_eq!(d.dataset.examples, e.dataset.examples);
        assert_eq!(d.dataset.skips, e.dataset.skips);
        assert_eq!(d.dataset.stats, e.dataset.stats);
        assert_eq!(d.dataset.container, e.dataset.container);
        assert_eq!(d.dataset.format, e.dataset.format);
        assert_eq!((d.max_tokens, d.loss), (Some(2), LossMode::All));
        assert_eq!(encode(&d), bytes);
    }

    #[test]
    fn every_cut_and_a_flipped_header_are_errors() {
        let bytes = encode(&sample());
        for n in 0..bytes.len() {
            let e = decode(&bytes[..n], "data.jsonl").unwrap_err();
            assert!(
                matches!(e, Error::Input { ref file, .. } if file == "data.jsonl"),
                "{e}"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(&longer, "x").is_err());
        let mut bad = bytes.clone();
        bad[13] = 9; // the container
        assert!(
            decode(&bad, "x")
                .unwrap_err()
                .to_string()
                .contains("container")
        );
        let mut count = bytes;
        let at = count.len() - 4 * 2 - 2 - 12 - 4 * 3 - 3 - 12 - 4;
        count[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode(&count, "x").is_err());
    }
}
