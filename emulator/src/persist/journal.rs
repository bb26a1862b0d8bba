//! The journal's framing: each record is `len (u32 LE) | crc32 (u32 LE) |
//! payload`. Reading stops at the first record that is short or whose
//! checksum does not match: that is a torn or corrupt tail, and everything
//! before it is intact.

use std::fs::File;
use std::io::{self, Read};

/// A record larger than this is corruption, not data (an import of a large
/// world is the biggest legitimate record).
pub const MAX_RECORD: usize = 256 << 20;

/// Appends one framed record to `out` (one `write` call when `out` is a file).
pub fn frame(payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// The intact records of a journal, and where the intact part ends.
#[derive(Debug, Default)]
pub struct Contents {
    pub records: Vec<Vec<u8>>,
    /// Bytes of intact records; the file is cut here before appending.
    pub valid_len: u64,
    /// Bytes after `valid_len` (a torn or corrupt tail), 0 when clean.
    pub dropped: u64,
}

/// Reads every intact record of `bytes`.
pub fn parse(bytes: &[u8]) -> Contents {
    let mut out = Contents::default();
    let mut at = 0usize;
    while bytes.len() - at >= 8 {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().expect("4 bytes"));
        let start = at + 8;
        if len > MAX_RECORD || bytes.len() - start < len {
            break;
        }
        let payload = &bytes[start..start + len];
        if crc32fast::hash(payload) != crc {
            break;
        }
        out.records.push(payload.to_vec());
        at = start + len;
    }
    out.valid_len = at as u64;
    out.dropped = (bytes.len() - at) as u64;
    out
}

/// Reads a journal file (a missing file is an empty journal).
pub fn read(path: &std::path::Path) -> io::Result<Contents> {
    let mut bytes = Vec::new();
    match File::open(path) {
        Ok(mut f) => {
            f.read_to_end(&mut bytes)?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    Ok(parse(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn journal(records: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for r in records {
            frame(r, &mut out);
        }
        out
    }

    #[test]
    fn intact_records_read_back() {
        let bytes = journal(&[b"one", b"", b"three"]);
        let r = parse(&bytes);
        assert_eq!(r.records, vec![b"one".to_vec(), vec![], b"three".to_vec()]);
        assert_eq!((r.valid_len, r.dropped), (bytes.len() as u64, 0));
    }

    #[test]
    fn a_torn_tail_is_cut_at_every_length() {
        let bytes = journal(&[b"first record", b"second record"]);
        let first_end = 8 + b"first record".len();
        for cut in 0..bytes.len() {
            let r = parse(&bytes[..cut]);
            let expected = if cut < first_end { 0 } else { 1 };
            assert_eq!(r.records.len(), expected, "cut at {cut}");
            assert_eq!(r.valid_len as usize + r.dropped as usize, cut);
        }
    }

    #[test]
    fn a_flipped_bit_ends_the_journal_there() {
        let bytes = journal(&[b"alpha", b"beta", b"gamma"]);
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x40;
            let r = parse(&bad);
            // Whatever is returned is a prefix of what was written.
            let good = parse(&bytes).records;
            assert!(r.records.len() < 3, "flip at {i} went unnoticed");
            assert_eq!(r.records[..], good[..r.records.len()]);
        }
    }

    #[test]
    fn an_absurd_length_is_corruption() {
        let mut bytes = journal(&[b"ok"]);
        bytes.extend_from_slice(&u32::MAX.to_le_bytes());
        bytes.extend_from_slice(&[0; 12]);
        let r = parse(&bytes);
        assert_eq!(r.records.len(), 1);
        assert_eq!(r.dropped, 16);
    }
}
