//! PROXY protocol v2 headers as an NLB sends them for PrivateLink traffic:
//! the consumer's address and port, the endpoint ENI's address and listener
//! port, AWS's TLV 0xEA (subtype 0x01: the endpoint id), and a CRC32C TLV.
//! Clients of the NLB itself come through no endpoint: no 0xEA TLV.

use std::net::SocketAddrV4;

const SIGNATURE: [u8; 12] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A];
const PP2_TYPE_CRC32C: u8 = 0x03;
const PP2_TYPE_AWS: u8 = 0xEA;
const PP2_SUBTYPE_AWS_VPCE_ID: u8 = 0x01;

/// A PROXY v2 header for a TCP-over-IPv4 connection, through an endpoint
/// when `endpoint_id` is given.
pub fn header(source: SocketAddrV4, destination: SocketAddrV4, endpoint_id: Option<&str>) -> Vec<u8> {
    let id = endpoint_id.map(str::as_bytes);
    let aws_len = 1 + id.map_or(0, <[u8]>::len);
    let body_len = 12 + (3 + 4) + id.map_or(0, |_| 3 + aws_len);
    let mut h = Vec::with_capacity(16 + body_len);
    h.extend_from_slice(&SIGNATURE);
    h.push(0x21); // version 2, PROXY command
    h.push(0x11); // AF_INET, STREAM
    h.extend_from_slice(&(body_len as u16).to_be_bytes());
    h.extend_from_slice(&source.ip().octets());
    h.extend_from_slice(&destination.ip().octets());
    h.extend_from_slice(&source.port().to_be_bytes());
    h.extend_from_slice(&destination.port().to_be_bytes());
    // The checksum covers the whole header with its own value zeroed.
    h.push(PP2_TYPE_CRC32C);
    h.extend_from_slice(&4u16.to_be_bytes());
    let crc_at = h.len();
    h.extend_from_slice(&[0; 4]);
    if let Some(id) = id {
        h.push(PP2_TYPE_AWS);
        h.extend_from_slice(&(aws_len as u16).to_be_bytes());
        h.push(PP2_SUBTYPE_AWS_VPCE_ID);
        h.extend_from_slice(id);
    }
    let crc = crc32c(&h);
    h[crc_at..crc_at + 4].copy_from_slice(&crc.to_be_bytes());
    h
}

/// CRC-32C (Castagnoli), bitwise: headers are small.
pub fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0x82F6_3B78 } else { crc >> 1 };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_check_value() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn layout_matches_aws() {
        let h = header(
            "10.24.20.251:40000".parse().unwrap(),
            "10.24.20.69:80".parse().unwrap(),
            Some("vpce-08d2bf15fac5001c9"),
        );
        assert_eq!(&h[..12], &SIGNATURE);
        assert_eq!((h[12], h[13]), (0x21, 0x11));
        let len = u16::from_be_bytes([h[14], h[15]]) as usize;
        assert_eq!(h.len(), 16 + len);
        assert_eq!(&h[16..20], &[10, 24, 20, 251]);
        assert_eq!(&h[20..24], &[10, 24, 20, 69]);
        assert_eq!(u16::from_be_bytes([h[24], h[25]]), 40000);
        assert_eq!(u16::from_be_bytes([h[26], h[27]]), 80);
        // CRC TLV, then AWS's TLV: 0xEA, length 1 + 22, subtype 1, the id.
        assert_eq!(&h[28..31], &[0x03, 0x00, 0x04]);
        assert_eq!(&h[35..39], &[0xEA, 0x00, 0x17, 0x01]);
        assert_eq!(&h[39..], b"vpce-08d2bf15fac5001c9");
        let mut zeroed = h.clone();
        zeroed[31..35].copy_from_slice(&[0; 4]);
        assert_eq!(crc32c(&zeroed).to_be_bytes(), h[31..35]);
    }

    #[test]
    fn without_an_endpoint_no_aws_tlv() {
        let h = header("10.0.5.9:40000".parse().unwrap(), "10.0.0.6:80".parse().unwrap(), None);
        let len = u16::from_be_bytes([h[14], h[15]]) as usize;
        assert_eq!((len, h.len()), (12 + 7, 16 + 12 + 7));
        let mut zeroed = h.clone();
        zeroed[31..35].copy_from_slice(&[0; 4]);
        assert_eq!(crc32c(&zeroed).to_be_bytes(), h[31..35]);
    }
}
