//! TSIG (RFC 8945): signing a request and verifying the answer, for all six HMAC
//! algorithms of SPEC §4.
//!
//! One code path for all of them: hickory's `TSigner` only knows HMAC-SHA256/384/512, and
//! MD5 (still the default of many old BIND set-ups), SHA1 and SHA224 must work too. The
//! MAC is computed here with the RustCrypto `hmac` crate over the TSIG variables written
//! byte by byte, so what is signed is visible in this file.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hickory_proto::op::Message;
use hickory_proto::rr::Name;
use hickory_proto::rr::rdata::tsig::{TsigError as WireTsigError, signed_bitmessage_to_buf};
use hmac::{Hmac, KeyInit, Mac};

use crate::model::{TsigAlgorithm, TsigKey};

/// How far apart the two clocks may be (RFC 8945 recommends 300 s).
const FUDGE: u16 = 300;

/// Why signing failed or an answer's signature is not right. The texts never contain the
/// secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TsigError {
    #[error("bad TSIG key name {0:?}")]
    KeyName(String),
    #[error("the TSIG secret is empty")]
    EmptySecret,
    #[error("the TSIG secret is not valid base64")]
    SecretNotBase64,
    #[error("TSIG authentication failed (BADSIG)")]
    BadSig,
    #[error("TSIG authentication failed (BADKEY)")]
    BadKey,
    #[error("TSIG authentication failed (BADTIME)")]
    BadTime,
    #[error("TSIG authentication failed (BADTRUNC)")]
    BadTrunc,
    #[error("TSIG authentication failed (TSIG error {0})")]
    Other(u16),
    #[error("the answer is not TSIG-signed")]
    Unsigned,
    #[error("the answer's TSIG signature is wrong (another key, or altered on the way)")]
    AnswerMac,
    #[error("the answer is signed with another key ({0})")]
    AnswerKey(String),
    #[error("the answer's TSIG time is {0} s away from ours (more than the fudge)")]
    AnswerTime(u64),
    #[error("cannot encode the message: {0}")]
    Encode(String),
}

/// A key ready to sign. `Debug` shows the key name and algorithm, never the secret.
#[derive(Clone)]
pub struct TsigSigner {
    key_name: Name,
    algorithm: TsigAlgorithm,
    secret: Vec<u8>,
}

impl std::fmt::Debug for TsigSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TsigSigner")
            .field("key_name", &self.key_name.to_ascii())
            .field("algorithm", &self.algorithm.name())
            .field("secret", &"***")
            .finish()
    }
}

/// A signed request: its bytes, and its MAC that the answer's MAC covers.
#[derive(Clone, Debug)]
pub struct SignedRequest {
    pub bytes: Vec<u8>,
    mac: Vec<u8>,
}

/// The algorithm's name on the wire (RFC 8945 §6).
pub fn algorithm_wire_name(algorithm: TsigAlgorithm) -> &'static str {
    match algorithm {
        TsigAlgorithm::HmacMd5 => "hmac-md5.sig-alg.reg.int.",
        TsigAlgorithm::HmacSha1 => "hmac-sha1.",
        TsigAlgorithm::HmacSha224 => "hmac-sha224.",
        TsigAlgorithm::HmacSha256 => "hmac-sha256.",
        TsigAlgorithm::HmacSha384 => "hmac-sha384.",
        TsigAlgorithm::HmacSha512 => "hmac-sha512.",
    }
}

/// Seconds since 1970 for the TSIG time field.
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl TsigSigner {
    pub fn new(key: &TsigKey) -> Result<Self, TsigError> {
        let name = key.name.trim();
        let key_name = Name::from_ascii(format!("{}.", name.trim_end_matches('.')))
            .ok()
            .filter(|n| !name.is_empty() && !n.is_root())
            .ok_or_else(|| TsigError::KeyName(name.to_string()))?;
        if key.secret.expose().trim().is_empty() {
            return Err(TsigError::EmptySecret);
        }
        let secret = base64::engine::general_purpose::STANDARD
            .decode(key.secret.expose().trim())
            .map_err(|_| TsigError::SecretNotBase64)?;
        Ok(Self {
            key_name,
            algorithm: key.algorithm,
            secret,
        })
    }

    pub fn algorithm(&self) -> TsigAlgorithm {
        self.algorithm
    }

    /// Signs `message` (which has no TSIG yet) at time `now` (seconds since 1970).
    pub fn sign(&self, message: &Message, now: u64) -> Result<SignedRequest, TsigError> {
        let unsigned = message
            .to_vec()
            .map_err(|e| TsigError::Encode(e.to_string()))?;
        let mac = self.request_mac(&unsigned, now)?;

        let mut bytes = unsigned;
        self.append_record(&mut bytes, now, &mac, message.metadata.id, 0);
        Ok(SignedRequest { bytes, mac })
    }

    /// The MAC of a request, given as the encoded message without its TSIG record (RFC
    /// 8945 §4.3.1: the message, then the TSIG variables), signed at `time`.
    pub fn request_mac(&self, unsigned: &[u8], time: u64) -> Result<Vec<u8>, TsigError> {
        let mut variables = Vec::with_capacity(96);
        self.push_variables(&mut variables, time, 0, &[]);
        compute_mac(self.algorithm, &self.secret, &[unsigned, &variables])
    }

    /// Checks the answer to `request` (RFC 8945 §5.3): the server's TSIG error first (a
    /// server that could not check our MAC answers unsigned), then its MAC and its time.
    /// `parsed` is `answer` already decoded.
    pub fn verify(
        &self,
        request: &SignedRequest,
        answer: &[u8],
        parsed: &Message,
        now: u64,
    ) -> Result<(), TsigError> {
        let Some(record) = parsed.signature() else {
            return Err(TsigError::Unsigned);
        };
        let tsig = &record.data;
        match tsig.error {
            None => {}
            Some(WireTsigError::BadSig) => return Err(TsigError::BadSig),
            Some(WireTsigError::BadKey) => return Err(TsigError::BadKey),
            Some(WireTsigError::BadTime) => return Err(TsigError::BadTime),
            Some(WireTsigError::BadTrunc) => return Err(TsigError::BadTrunc),
            Some(WireTsigError::Unknown(0)) => {}
            Some(WireTsigError::Unknown(code)) => return Err(TsigError::Other(code)),
        }
        let same_key = record.name.eq_ignore_root_case(&self.key_name)
            && wire_name_eq(&tsig.algorithm.to_name(), self.algorithm);
        if !same_key {
            return Err(TsigError::AnswerKey(record.name.to_ascii()));
        }
        // The digest of an answer: the request's MAC, then the answer as it was before the
        // TSIG was added (original id, one additional record less), then the variables.
        let digested =
            digest_input(answer, Some(&request.mac)).map_err(|_| TsigError::AnswerMac)?;
        if !verify_mac(self.algorithm, &self.secret, &digested, &tsig.mac) {
            return Err(TsigError::AnswerMac);
        }
        let skew = now.abs_diff(tsig.time);
        if skew > u64::from(tsig.fudge) {
            return Err(TsigError::AnswerTime(skew));
        }
        Ok(())
    }

    /// Appends the TSIG RR (RFC 8945 §4.2) to an encoded message, always as its last
    /// record, and counts it in the header.
    fn append_record(&self, bytes: &mut Vec<u8>, time: u64, mac: &[u8], id: u16, error: u16) {
        if let Some(count) = bytes.get_mut(10..12) {
            let arcount = u16::from_be_bytes([count[0], count[1]]).wrapping_add(1);
            count.copy_from_slice(&arcount.to_be_bytes());
        }
        push_name(bytes, &self.key_name);
        bytes.extend_from_slice(&250u16.to_be_bytes()); // TYPE TSIG
        bytes.extend_from_slice(&255u16.to_be_bytes()); // CLASS ANY
        bytes.extend_from_slice(&0u32.to_be_bytes()); // TTL
        let mut rdata = Vec::with_capacity(64 + mac.len());
        push_wire_name(&mut rdata, algorithm_wire_name(self.algorithm));
        push_time(&mut rdata, time);
        rdata.extend_from_slice(&FUDGE.to_be_bytes());
        push_len(&mut rdata, mac.len());
        rdata.extend_from_slice(mac);
        rdata.extend_from_slice(&id.to_be_bytes()); // original id
        rdata.extend_from_slice(&error.to_be_bytes());
        rdata.extend_from_slice(&0u16.to_be_bytes()); // other len
        push_len(bytes, rdata.len());
        bytes.extend_from_slice(&rdata);
    }

    /// The TSIG variables of RFC 8945 §4.3.3, names in canonical (lower case, uncompressed)
    /// form.
    fn push_variables(&self, out: &mut Vec<u8>, time: u64, error: u16, other: &[u8]) {
        push_name(out, &self.key_name);
        out.extend_from_slice(&255u16.to_be_bytes()); // CLASS ANY
        out.extend_from_slice(&0u32.to_be_bytes()); // TTL
        push_wire_name(out, algorithm_wire_name(self.algorithm));
        push_time(out, time);
        out.extend_from_slice(&FUDGE.to_be_bytes());
        out.extend_from_slice(&error.to_be_bytes());
        push_len(out, other.len());
        out.extend_from_slice(other);
    }
}

/// The server side, for zone transfers (`dnsserve/transfer.rs`): checking a signed
/// request and signing each message of its answer (RFC 8945 §5.2, §5.3.1).
impl TsigSigner {
    /// The TSIG error code of a failed check (RFC 8945 §5.2): BADSIG 16, BADKEY 17,
    /// BADTIME 18.
    pub fn error_code(error: &TsigError) -> u16 {
        match error {
            TsigError::BadKey | TsigError::AnswerKey(_) => 17,
            TsigError::BadTime | TsigError::AnswerTime(_) => 18,
            _ => 16,
        }
    }

    /// Checks a request signed with this key: the key name and algorithm (else BADKEY),
    /// the MAC (constant time; else BADSIG), the time within the fudge (else BADTIME).
    /// Returns the request's MAC, which the answer's first MAC covers.
    pub fn verify_request(
        &self,
        bytes: &[u8],
        parsed: &Message,
        now: u64,
    ) -> Result<Vec<u8>, TsigError> {
        let Some(record) = parsed.signature() else {
            return Err(TsigError::Unsigned);
        };
        let tsig = &record.data;
        let same_key = record.name.eq_ignore_root_case(&self.key_name)
            && wire_name_eq(&tsig.algorithm.to_name(), self.algorithm);
        if !same_key {
            return Err(TsigError::BadKey);
        }
        let digested = digest_input(bytes, None).map_err(|_| TsigError::BadSig)?;
        if !verify_mac(self.algorithm, &self.secret, &digested, &tsig.mac) {
            return Err(TsigError::BadSig);
        }
        if now.abs_diff(tsig.time) > u64::from(tsig.fudge) {
            return Err(TsigError::BadTime);
        }
        Ok(tsig.mac.clone())
    }

    /// Signs one message of an answer (encoded, without TSIG). `prior` is the request's
    /// MAC for the first message and the previous message's MAC for the others; the
    /// first covers all the TSIG variables, later ones the timers only (RFC 8945 §5.3.1).
    /// Returns the signed message and its MAC.
    pub fn sign_answer(
        &self,
        unsigned: &[u8],
        prior: &[u8],
        first: bool,
        now: u64,
    ) -> Result<(Vec<u8>, Vec<u8>), TsigError> {
        let mut prefix = Vec::with_capacity(2);
        push_len(&mut prefix, prior.len());
        let mut variables = Vec::with_capacity(96);
        if first {
            self.push_variables(&mut variables, now, 0, &[]);
        } else {
            push_time(&mut variables, now);
            variables.extend_from_slice(&FUDGE.to_be_bytes());
        }
        let mac = compute_mac(
            self.algorithm,
            &self.secret,
            &[&prefix, prior, unsigned, &variables],
        )?;
        let id = match unsigned {
            [a, b, ..] => u16::from_be_bytes([*a, *b]),
            _ => 0,
        };
        let mut bytes = unsigned.to_vec();
        self.append_record(&mut bytes, now, &mac, id, 0);
        Ok((bytes, mac))
    }

    /// Appends the unsigned TSIG record of an error answer (NOTAUTH with BADSIG, BADKEY
    /// or BADTIME): an empty MAC, the error code (RFC 8945 §5.2).
    pub fn append_error(&self, unsigned: &mut Vec<u8>, error: u16, now: u64) {
        let id = match unsigned.as_slice() {
            [a, b, ..] => u16::from_be_bytes([*a, *b]),
            _ => 0,
        };
        self.append_record(unsigned, now, &[], id, error);
    }
}

/// What a MAC covers (RFC 8945 §4.3): the prior MAC, the message as it was before its TSIG
/// was added, and the variables. hickory finds the parts, but it writes the header again
/// from its parsed fields, which drops what it does not model (the Z bit, unknown opcodes):
/// a correctly signed answer with such a header then failed (found by the `tsig_verify`
/// fuzz target). So the header digested is the one received, with the original id and one
/// additional record less.
fn digest_input(message: &[u8], prior: Option<&[u8]>) -> Result<Vec<u8>, TsigError> {
    let (mut digested, record) =
        signed_bitmessage_to_buf(message, prior, true).map_err(|_| TsigError::Unsigned)?;
    let start = prior.map_or(0, |mac| 2 + mac.len());
    let (Some(received), Some(written)) = (message.get(..12), digested.get_mut(start..start + 12))
    else {
        return Err(TsigError::Unsigned);
    };
    written.copy_from_slice(received);
    written[..2].copy_from_slice(&record.data.oid.to_be_bytes());
    let arcount = u16::from_be_bytes([received[10], received[11]]).saturating_sub(1);
    written[10..12].copy_from_slice(&arcount.to_be_bytes());
    Ok(digested)
}

fn wire_name_eq(name: &Name, algorithm: TsigAlgorithm) -> bool {
    Name::from_ascii(algorithm_wire_name(algorithm))
        .map(|ours| ours.eq_ignore_root_case(name))
        .unwrap_or(false)
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    // Every length here (a MAC, TSIG rdata, other data) is far below 64 KiB.
    out.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes());
}

/// The 48-bit time field.
fn push_time(out: &mut Vec<u8>, time: u64) {
    out.extend_from_slice(&time.to_be_bytes()[2..]);
}

/// A name in canonical wire form: lower case, uncompressed, ending with the root label.
fn push_name(out: &mut Vec<u8>, name: &Name) {
    for label in name.iter() {
        out.push(u8::try_from(label.len()).unwrap_or(63));
        out.extend(label.iter().map(u8::to_ascii_lowercase));
    }
    out.push(0);
}

fn push_wire_name(out: &mut Vec<u8>, name: &str) {
    for label in name.split('.').filter(|l| !l.is_empty()) {
        out.push(u8::try_from(label.len()).unwrap_or(63));
        out.extend(label.bytes().map(|b| b.to_ascii_lowercase()));
    }
    out.push(0);
}

fn hmac_of<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> Result<Vec<u8>, TsigError> {
    // HMAC takes a key of any length, so this error cannot happen; still not a panic.
    let mut mac = <M as KeyInit>::new_from_slice(key)
        .map_err(|_| TsigError::Encode("HMAC refused the key length".into()))?;
    for part in parts {
        mac.update(part);
    }
    Ok(mac.finalize().into_bytes().to_vec())
}

fn hmac_verify<M: Mac + KeyInit>(key: &[u8], data: &[u8], tag: &[u8]) -> bool {
    match <M as KeyInit>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            // Constant time: an attacker learns nothing from how long a wrong MAC takes.
            mac.verify_slice(tag).is_ok()
        }
        Err(_) => false,
    }
}

/// The HMAC of the concatenated `parts` with `algorithm`.
pub fn compute_mac(
    algorithm: TsigAlgorithm,
    key: &[u8],
    parts: &[&[u8]],
) -> Result<Vec<u8>, TsigError> {
    match algorithm {
        TsigAlgorithm::HmacMd5 => hmac_of::<Hmac<md5::Md5>>(key, parts),
        TsigAlgorithm::HmacSha1 => hmac_of::<Hmac<sha1::Sha1>>(key, parts),
        TsigAlgorithm::HmacSha224 => hmac_of::<Hmac<sha2::Sha224>>(key, parts),
        TsigAlgorithm::HmacSha256 => hmac_of::<Hmac<sha2::Sha256>>(key, parts),
        TsigAlgorithm::HmacSha384 => hmac_of::<Hmac<sha2::Sha384>>(key, parts),
        TsigAlgorithm::HmacSha512 => hmac_of::<Hmac<sha2::Sha512>>(key, parts),
    }
}

fn verify_mac(algorithm: TsigAlgorithm, key: &[u8], data: &[u8], tag: &[u8]) -> bool {
    // A truncated MAC (RFC 8945 §5.2.2.1) is not accepted: we never ask for one.
    match algorithm {
        TsigAlgorithm::HmacMd5 => hmac_verify::<Hmac<md5::Md5>>(key, data, tag),
        TsigAlgorithm::HmacSha1 => hmac_verify::<Hmac<sha1::Sha1>>(key, data, tag),
        TsigAlgorithm::HmacSha224 => hmac_verify::<Hmac<sha2::Sha224>>(key, data, tag),
        TsigAlgorithm::HmacSha256 => hmac_verify::<Hmac<sha2::Sha256>>(key, data, tag),
        TsigAlgorithm::HmacSha384 => hmac_verify::<Hmac<sha2::Sha384>>(key, data, tag),
        TsigAlgorithm::HmacSha512 => hmac_verify::<Hmac<sha2::Sha512>>(key, data, tag),
    }
}

#[cfg(test)]
#[path = "tsig_tests.rs"]
mod tests;
