//! Whole-object digests (SPEC §10.2): CRC-32C (feature `crc32c`) and SHA-256 (feature
//! `sha256`), computed over every data byte in order, by the sender as it reads and by the
//! receiver as it writes.
//!
//! Each algorithm is behind its own feature so that firmware pays only for what it uses; with
//! neither, [`Hasher`] has no variant and takes no space in the engines.

use core::fmt;

/// A digest algorithm, by its SPEC §10 code.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DigestAlgorithm {
    /// CRC-32C (Castagnoli), code 1: 4 bytes, little-endian on the wire.
    Crc32c,
    /// SHA-256, code 2: 32 bytes.
    Sha256,
}

impl DigestAlgorithm {
    /// The algorithm whose SPEC code is `code`.
    pub const fn from_code(code: u8) -> Option<DigestAlgorithm> {
        match code {
            1 => Some(DigestAlgorithm::Crc32c),
            2 => Some(DigestAlgorithm::Sha256),
            _ => None,
        }
    }

    /// The SPEC code.
    pub const fn code(self) -> u8 {
        match self {
            DigestAlgorithm::Crc32c => 1,
            DigestAlgorithm::Sha256 => 2,
        }
    }

    /// The length of its value: 4 or 32 bytes.
    pub const fn value_len(self) -> usize {
        match self {
            DigestAlgorithm::Crc32c => 4,
            DigestAlgorithm::Sha256 => 32,
        }
    }

    /// Whether this build can compute it (its feature is on).
    pub const fn is_supported(self) -> bool {
        match self {
            DigestAlgorithm::Crc32c => cfg!(feature = "crc32c"),
            DigestAlgorithm::Sha256 => cfg!(feature = "sha256"),
        }
    }
}

impl fmt::Display for DigestAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DigestAlgorithm::Crc32c => "CRC-32C",
            DigestAlgorithm::Sha256 => "SHA-256",
        })
    }
}

/// The longest digest value.
pub const MAX_DIGEST_LEN: usize = 32;

/// A finished digest: 4 or 32 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DigestValue {
    bytes: [u8; MAX_DIGEST_LEN],
    len: u8,
}

impl DigestValue {
    /// The value's bytes, as they go on the wire.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len).min(MAX_DIGEST_LEN)]
    }

    #[cfg_attr(not(any(feature = "crc32c", feature = "sha256")), allow(dead_code))]
    fn new(value: &[u8]) -> DigestValue {
        let mut bytes = [0; MAX_DIGEST_LEN];
        let len = value.len().min(MAX_DIGEST_LEN);
        bytes[..len].copy_from_slice(&value[..len]);
        DigestValue { bytes, len: len as u8 }
    }
}

/// A 256-entry table: 1 KiB of flash, one lookup per byte.
#[cfg(all(feature = "crc32c", not(feature = "crc32c-fast")))]
type Crc32cTable = crc::Table<1>;

/// 16 tables of 256 entries (feature `crc32c-fast`): 16 KiB, 16 bytes per step.
#[cfg(feature = "crc32c-fast")]
type Crc32cTable = crc::Table<16>;

/// CRC-32C with the table the features chose.
#[cfg(feature = "crc32c")]
static CRC32C: crc::Crc<u32, Crc32cTable> = crc::Crc::<u32, Crc32cTable>::new(&crc::CRC_32_ISCSI);

/// A running digest.
#[derive(Clone)]
pub enum Hasher {
    /// CRC-32C.
    #[cfg(feature = "crc32c")]
    Crc32c(crc::Digest<'static, u32, Crc32cTable>),
    /// SHA-256.
    #[cfg(feature = "sha256")]
    Sha256(sha2::Sha256),
}

impl Hasher {
    /// A new digest of `algorithm`, or `None` when this build cannot compute it.
    pub fn new(algorithm: DigestAlgorithm) -> Option<Hasher> {
        match algorithm {
            #[cfg(feature = "crc32c")]
            DigestAlgorithm::Crc32c => Some(Hasher::Crc32c(CRC32C.digest())),
            #[cfg(feature = "sha256")]
            DigestAlgorithm::Sha256 => Some(Hasher::Sha256(<sha2::Sha256 as sha2::Digest>::new())),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    /// Its algorithm.
    pub fn algorithm(&self) -> DigestAlgorithm {
        match *self {
            #[cfg(feature = "crc32c")]
            Hasher::Crc32c(_) => DigestAlgorithm::Crc32c,
            #[cfg(feature = "sha256")]
            Hasher::Sha256(_) => DigestAlgorithm::Sha256,
        }
    }

    /// Takes more bytes.
    #[cfg_attr(not(any(feature = "crc32c", feature = "sha256")), allow(unused_variables))]
    pub fn update(&mut self, bytes: &[u8]) {
        match *self {
            #[cfg(feature = "crc32c")]
            Hasher::Crc32c(ref mut digest) => digest.update(bytes),
            #[cfg(feature = "sha256")]
            Hasher::Sha256(ref mut digest) => sha2::Digest::update(digest, bytes),
        }
    }

    /// The digest of everything so far (the hasher goes on unchanged).
    pub fn value(&self) -> DigestValue {
        match *self {
            #[cfg(feature = "crc32c")]
            Hasher::Crc32c(ref digest) => DigestValue::new(&digest.clone().finalize().to_le_bytes()),
            #[cfg(feature = "sha256")]
            Hasher::Sha256(ref digest) => DigestValue::new(&sha2::Digest::finalize(digest.clone())),
        }
    }
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hasher({})", self.algorithm())
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Hasher {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "Hasher({})", self.algorithm())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for alg in [DigestAlgorithm::Crc32c, DigestAlgorithm::Sha256] {
            assert_eq!(DigestAlgorithm::from_code(alg.code()), Some(alg));
        }
        assert_eq!(DigestAlgorithm::from_code(0), None);
        assert_eq!(DigestAlgorithm::from_code(3), None);
    }

    #[cfg(feature = "crc32c")]
    #[test]
    fn crc32c_spec_vector() {
        // SPEC §10.3: CRC-32C("123456789") = 0xE3069283, `83 92 06 e3` on the wire.
        let mut h = Hasher::new(DigestAlgorithm::Crc32c).unwrap();
        h.update(b"1234");
        h.update(b"56789");
        assert_eq!(h.value().as_bytes(), &[0x83, 0x92, 0x06, 0xe3]);
    }

    #[cfg(feature = "crc32c")]
    #[test]
    fn crc32c_rfc3720_vectors_longer_than_one_table_step() {
        // RFC 3720 B.4, 32 bytes each (the 16-table variant takes 16 bytes a step).
        let incrementing: [u8; 32] = core::array::from_fn(|i| i as u8);
        let vectors: [([u8; 32], u32); 3] =
            [([0; 32], 0x8a91_36aa), ([0xff; 32], 0x62a8_ab43), (incrementing, 0x46dd_794e)];
        for (data, crc) in vectors {
            let mut h = Hasher::new(DigestAlgorithm::Crc32c).unwrap();
            h.update(&data[..5]);
            h.update(&data[5..]);
            assert_eq!(h.value().as_bytes(), crc.to_le_bytes());
        }
    }

    #[cfg(feature = "sha256")]
    #[test]
    fn sha256_vector() {
        let mut h = Hasher::new(DigestAlgorithm::Sha256).unwrap();
        h.update(b"abc");
        // FIPS 180-2 example: SHA-256("abc").
        assert_eq!(
            h.value().as_bytes(),
            &[
                0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22,
                0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00,
                0x15, 0xad
            ]
        );
    }
}
