//! The chunk codec: samples of one series, delta-of-delta timestamps and CPU counters,
//! delta working sets, in scaled varints (layout in [`crate::format`]).

use crate::format::{CPU_UNIT, MEM_UNIT, T_UNIT};
use crate::Sample;

/// Appends samples of one series (timestamps strictly increasing) to a growing chunk.
#[derive(Debug, Clone, Default)]
pub struct ChunkEncoder {
    buf: Vec<u8>,
    n: u32,
    last: Option<Sample>,
    last_delta: i64,
    last_cpu_delta: i64,
    t_min: i64,
}

impl ChunkEncoder {
    /// Appends `s`.
    pub fn push(&mut self, s: Sample) {
        match self.last {
            None => {
                put_varint(&mut self.buf, u128::from(zigzag(s.t)));
                put_varint(&mut self.buf, u128::from(s.cpu_ns));
                put_varint(&mut self.buf, u128::from(s.memory));
                self.t_min = s.t;
            }
            Some(p) => {
                let delta = s.t.wrapping_sub(p.t);
                put_scaled(&mut self.buf, delta.wrapping_sub(self.last_delta), T_UNIT);
                let cpu_delta = s.cpu_ns.wrapping_sub(p.cpu_ns) as i64;
                put_scaled(
                    &mut self.buf,
                    cpu_delta.wrapping_sub(self.last_cpu_delta),
                    CPU_UNIT,
                );
                put_scaled(
                    &mut self.buf,
                    s.memory.wrapping_sub(p.memory) as i64,
                    MEM_UNIT,
                );
                self.last_delta = delta;
                self.last_cpu_delta = cpu_delta;
            }
        }
        self.last = Some(s);
        self.n += 1;
    }

    /// Samples in the chunk.
    pub fn len(&self) -> u32 {
        self.n
    }

    /// Whether the chunk is empty.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The encoded bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The first sample's time.
    pub fn t_min(&self) -> i64 {
        self.t_min
    }

    /// The last sample.
    pub fn last(&self) -> Option<Sample> {
        self.last
    }

    /// Bytes held (capacity).
    pub fn heap_bytes(&self) -> usize {
        self.buf.capacity()
    }
}

/// Decodes `n` samples from `bytes`.
///
/// # Errors
///
/// A message saying where the bytes ran out or a value overflowed.
pub fn decode(bytes: &[u8], n: u32) -> Result<Vec<Sample>, String> {
    let mut out: Vec<Sample> = Vec::with_capacity(n.min(1 << 16) as usize);
    let mut pos = 0;
    let mut delta = 0i64;
    let mut cpu_delta = 0i64;
    for i in 0..n {
        let s = if i == 0 {
            let t = unzigzag(get_u64(bytes, &mut pos)?);
            let cpu_ns = get_u64(bytes, &mut pos)?;
            let memory = get_u64(bytes, &mut pos)?;
            Sample { t, cpu_ns, memory }
        } else {
            // `out` holds sample i - 1.
            let p = out[out.len() - 1];
            let dod = get_scaled(bytes, &mut pos, T_UNIT)?;
            delta = delta.wrapping_add(dod);
            cpu_delta = cpu_delta.wrapping_add(get_scaled(bytes, &mut pos, CPU_UNIT)?);
            let dm = get_scaled(bytes, &mut pos, MEM_UNIT)?;
            Sample {
                t: p.t.wrapping_add(delta),
                cpu_ns: p.cpu_ns.wrapping_add(cpu_delta as u64),
                memory: p.memory.wrapping_add(dm as u64),
            }
        };
        out.push(s);
    }
    if pos != bytes.len() {
        return Err(format!("{} bytes after {n} samples", bytes.len() - pos));
    }
    Ok(out)
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put_scaled(buf: &mut Vec<u8>, d: i64, unit: i64) {
    if d % unit == 0 {
        put_varint(buf, u128::from(zigzag(d / unit)) << 1);
    } else {
        put_varint(buf, (u128::from(zigzag(d)) << 1) | 1);
    }
}

fn get_scaled(bytes: &[u8], pos: &mut usize, unit: i64) -> Result<i64, String> {
    let v = get_varint(bytes, pos)?;
    let z = u64::try_from(v >> 1).map_err(|_| format!("value overflows at byte {pos}"))?;
    let d = unzigzag(z);
    if v & 1 == 0 {
        Ok(d.wrapping_mul(unit))
    } else {
        Ok(d)
    }
}

/// Appends `v` as an unsigned LEB128 varint.
pub(crate) fn put_varint(buf: &mut Vec<u8>, mut v: u128) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// Reads a LEB128 varint of at most 19 bytes at `pos`.
pub(crate) fn get_varint(bytes: &[u8], pos: &mut usize) -> Result<u128, String> {
    let mut v = 0u128;
    for shift in (0..133).step_by(7) {
        let Some(&b) = bytes.get(*pos) else {
            return Err(format!("varint runs past the end at byte {pos}"));
        };
        *pos += 1;
        v |= u128::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(format!("varint too long at byte {pos}"))
}

/// Reads a varint that must fit in 64 bits.
pub(crate) fn get_u64(bytes: &[u8], pos: &mut usize) -> Result<u64, String> {
    let v = get_varint(bytes, pos)?;
    u64::try_from(v).map_err(|_| format!("value overflows 64 bits before byte {pos}"))
}

/// Reads a zigzag i64.
pub(crate) fn get_i64(bytes: &[u8], pos: &mut usize) -> Result<i64, String> {
    get_u64(bytes, pos).map(unzigzag)
}

/// Appends a zigzag i64.
pub(crate) fn put_i64(buf: &mut Vec<u8>, v: i64) {
    put_varint(buf, u128::from(zigzag(v)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usual_samples_take_few_bytes() {
        let mut e = ChunkEncoder::default();
        let mut cpu = 5_000_000_000u64;
        let mut mem = 50 << 20;
        for i in 0..240i64 {
            let t = 1_732_320_000_000_000_000 + i * 15_000_000_000 + (i % 3) * 1_000_000;
            cpu += 1_500_000_000 + (i as u64 % 7) * 1_000_000;
            mem += ((i % 5) as u64) * 4096;
            e.push(Sample {
                t,
                cpu_ns: cpu,
                memory: mem,
            });
        }
        let per = e.bytes().len() as f64 / 240.0;
        assert!(per < 5.0, "{per} bytes per sample");
        assert_eq!(decode(e.bytes(), 240).unwrap().len(), 240);
    }

    #[test]
    fn truncated_bytes_are_an_error() {
        let mut e = ChunkEncoder::default();
        e.push(Sample {
            t: 1,
            cpu_ns: 2,
            memory: 3,
        });
        e.push(Sample {
            t: 5,
            cpu_ns: 9,
            memory: 3,
        });
        let b = e.bytes();
        assert!(decode(&b[..b.len() - 1], 2).is_err());
        assert!(decode(b, 1).is_err());
        assert!(decode(&[0xff; 30], 1).is_err());
    }
}
