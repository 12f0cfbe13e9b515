//! The wire check (`--wire serde`, [`ModelConfig::wire`](crate::protocol::ModelConfig::wire)):
//! every message a node or client sends is encoded with the codec its protocol declares
//! ([`Protocol::wire_codec`](crate::Protocol::wire_codec)), checked, and decoded, and the
//! receiver gets the decoded copy, never the sender's value. What a real network would do to a
//! protocol that only ever ran in one address space then surfaces in the simulation:
//!
//! - shared pointers: an `Rc`/`Arc` the sender keeps and the receiver holds is no longer the same
//!   allocation, so a protocol that works only because both ends see each other's writes fails;
//! - codec bugs: a `#[serde(skip)]` field arrives as its default, a custom `Serialize` that loses
//!   data delivers the loss; and a codec that is not stable (`encode(decode(encode(m)))` differs
//!   from `encode(m)`, byte for byte) fails the run at once, naming the message. No `PartialEq`
//!   is needed on the message type.
//!
//! The check draws no randomness and adds nothing to the fingerprint: for a protocol whose
//! behaviour depends only on its messages' values, a run with the check takes exactly the path
//! (and has the fingerprint) of the same run without it.
use serde::{de::DeserializeOwned, Serialize};

/// How a protocol's messages cross the wire: an encoder and a decoder, named.
///
/// ```
/// use faultline::wire::WireCodec;
/// #[derive(serde::Serialize, serde::Deserialize, Debug)]
/// enum Msg { Put(String, u64) }
/// let codec = WireCodec::<Msg>::serde();
/// let (copy, bytes) = codec.round_trip(&Msg::Put("k".into(), 7)).unwrap();
/// assert!(matches!(copy, Msg::Put(k, 7) if k == "k"));
/// assert!(bytes > 0);
/// ```
pub struct WireCodec<M> {
    name: &'static str,
    encode: fn(&M) -> Result<Vec<u8>, String>,
    decode: fn(&[u8]) -> Result<M, String>,
}

impl<M> Clone for WireCodec<M> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<M> Copy for WireCodec<M> {}

/// Why a message failed the wire check.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    /// The codec could not encode the message.
    #[error("cannot encode it: {0}")]
    Encode(String),
    /// The codec could not decode what it had just encoded.
    #[error("cannot decode its own encoding ({bytes}): {error}")]
    Decode {
        /// The encoding, as text (lossy).
        bytes: String,
        /// What the decoder said.
        error: String,
    },
    /// Encoding the decoded copy gave other bytes: the codec loses or invents data.
    #[error("the codec is not stable: encode(decode(encode(m))) differs from encode(m) at byte {at}: first {first}, then {second}")]
    Unstable {
        /// The first differing byte's offset.
        at: usize,
        /// The first encoding, as text (lossy).
        first: String,
        /// The second encoding, as text (lossy).
        second: String,
    },
}

/// At most this much of an encoding is shown in an error.
const SHOWN: usize = 300;

fn show(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(SHOWN)]).into_owned();
    if bytes.len() > SHOWN {
        format!("`{text}...` ({} bytes)", bytes.len())
    } else {
        format!("`{text}`")
    }
}

fn json_encode<M: Serialize>(m: &M) -> Result<Vec<u8>, String> {
    serde_json::to_vec(m).map_err(|e| e.to_string())
}

fn json_decode<M: DeserializeOwned>(b: &[u8]) -> Result<M, String> {
    serde_json::from_slice(b).map_err(|e| e.to_string())
}

impl<M: Serialize + DeserializeOwned> WireCodec<M> {
    /// The ready-made serde codec: JSON (`serde_json`), which every `Serialize +
    /// DeserializeOwned` message type supports. Maps must have string or integer keys, and a
    /// `HashMap` in a message makes the encoding unstable (its order is not canonical): use a
    /// `BTreeMap`.
    pub fn serde() -> WireCodec<M> {
        WireCodec {
            name: "serde_json",
            encode: json_encode::<M>,
            decode: json_decode::<M>,
        }
    }
}

impl<M> WireCodec<M> {
    /// A codec of one's own (a binary format, a hand-written framing), named `name` in findings.
    ///
    /// ```
    /// use faultline::wire::WireCodec;
    /// let le = WireCodec::<u32>::new(
    ///     "u32-le",
    ///     |m| Ok(m.to_le_bytes().to_vec()),
    ///     |b| b.try_into().map(u32::from_le_bytes).map_err(|_| "not 4 bytes".to_string()),
    /// );
    /// assert_eq!(le.round_trip(&7).unwrap(), (7, 4));
    /// ```
    pub fn new(
        name: &'static str,
        encode: fn(&M) -> Result<Vec<u8>, String>,
        decode: fn(&[u8]) -> Result<M, String>,
    ) -> WireCodec<M> {
        WireCodec {
            name,
            encode,
            decode,
        }
    }

    /// The codec's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Encodes `msg`, decodes the bytes and checks that the copy encodes to the same bytes:
    /// the copy and the encoding's length, or why the message cannot cross the wire.
    pub fn round_trip(&self, msg: &M) -> Result<(M, usize), WireError> {
        let first = (self.encode)(msg).map_err(WireError::Encode)?;
        let copy = (self.decode)(&first).map_err(|error| WireError::Decode {
            bytes: show(&first),
            error,
        })?;
        let second = (self.encode)(&copy).map_err(WireError::Encode)?;
        if first != second {
            let at = first
                .iter()
                .zip(&second)
                .position(|(a, b)| a != b)
                .unwrap_or(first.len().min(second.len()));
            return Err(WireError::Unstable {
                at,
                first: show(&first),
                second: show(&second),
            });
        }
        Ok((copy, first.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Serialize, Deserialize, Debug, Default)]
    struct Put {
        key: String,
        #[serde(skip)]
        value: u64,
    }

    #[test]
    fn a_skipped_field_arrives_as_its_default() {
        let (copy, n) = WireCodec::serde()
            .round_trip(&Put {
                key: "k".into(),
                value: 9,
            })
            .unwrap();
        assert_eq!((copy.key.as_str(), copy.value), ("k", 0));
        assert_eq!(n, br#"{"key":"k"}"#.len());
    }

    #[test]
    fn a_lossy_codec_is_unstable() {
        // Decodes only the first byte back: the copy encodes shorter.
        let lossy = WireCodec::<Vec<u8>>::new("lossy", |m| Ok(m.clone()), |b| Ok(b[..1].to_vec()));
        let err = lossy.round_trip(&vec![1, 2, 3]).unwrap_err();
        assert!(matches!(err, WireError::Unstable { at: 1, .. }), "{err}");
        assert_eq!(lossy.round_trip(&vec![5]).unwrap(), (vec![5], 1));
    }

    #[test]
    fn undecodable_and_unencodable_messages_are_errors() {
        let bad = WireCodec::<u8>::new("bad", |_| Ok(vec![1]), |_| Err("no".into()));
        assert!(matches!(bad.round_trip(&1), Err(WireError::Decode { .. })));
        let map: std::collections::BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into();
        assert!(matches!(
            WireCodec::serde().round_trip(&map),
            Err(WireError::Encode(_))
        ));
    }
}
