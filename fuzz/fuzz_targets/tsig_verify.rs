//! The TSIG verifier of DNS updates (RFC 8945 §5.3) against any answer. Two forms: the
//! raw bytes as the answer; or the bytes as an answer that this target signs correctly
//! as a server would (time, error and other data taken from the input). Never a panic;
//! an unsigned or wrongly signed answer never passes; a correctly signed one with no error
//! and a time within the fudge always does.
#![no_main]

use base64::Engine as _;
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};
use libfuzzer_sys::fuzz_target;
use standby::dnsupdate::tsig::{TsigSigner, algorithm_wire_name, compute_mac};
use standby::model::{Secret, TsigAlgorithm, TsigKey};

const NOW: u64 = 1_700_000_000;
const KEY_NAME: &str = "fuzz-key.example.test";
const SECRET: &[u8] = b"standby fuzzing secret, 32 bytes";
const FUDGE: u16 = 300;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let algorithm = TsigAlgorithm::ALL[usize::from(mode >> 1) % TsigAlgorithm::ALL.len()];
    let key = TsigKey {
        name: KEY_NAME.into(),
        algorithm,
        secret: Secret::new(base64::engine::general_purpose::STANDARD.encode(SECRET)),
    };
    let signer = TsigSigner::new(&key).expect("the fuzz key is valid");
    let mut update = Message::new(0x1234, MessageType::Query, OpCode::Update);
    update.add_query(Query::query(
        Name::from_ascii("example.test.").expect("name"),
        RecordType::SOA,
    ));
    let request = signer.sign(&update, NOW).expect("the update signs");
    let request_mac = signer
        .request_mac(&update.to_vec().expect("encodes"), NOW)
        .expect("mac");

    if mode & 1 == 0 {
        // Raw: nobody signed this with our secret (a forged MAC is a 2^-128 chance).
        if let Ok(parsed) = Message::from_vec(rest) {
            let verdict = signer.verify(&request, rest, &parsed, NOW);
            assert!(
                verdict.is_err(),
                "an answer not signed by us passed: {rest:?}"
            );
        }
        return;
    }
    // Signed here: [time offset i16][error u16][other len u8][other...][answer...]
    if rest.len() < 5 {
        return;
    }
    let offset = i64::from(i16::from_be_bytes([rest[0], rest[1]]));
    let error = u16::from_be_bytes([rest[2], rest[3]]);
    let other_len = usize::from(rest[4]).min(rest.len() - 5);
    let other = &rest[5..5 + other_len];
    let body = &rest[5 + other_len..];
    if body.len() < 12 {
        return;
    }
    let time = NOW.saturating_add_signed(offset);
    let mut variables = Vec::new();
    push_name(&mut variables, KEY_NAME);
    variables.extend_from_slice(&255u16.to_be_bytes());
    variables.extend_from_slice(&0u32.to_be_bytes());
    push_name(&mut variables, algorithm_wire_name(algorithm));
    variables.extend_from_slice(&time.to_be_bytes()[2..]);
    variables.extend_from_slice(&FUDGE.to_be_bytes());
    variables.extend_from_slice(&error.to_be_bytes());
    variables.extend_from_slice(&u16::try_from(other.len()).unwrap_or(0).to_be_bytes());
    variables.extend_from_slice(other);
    let mut prior = u16::try_from(request_mac.len())
        .unwrap_or(0)
        .to_be_bytes()
        .to_vec();
    prior.extend_from_slice(&request_mac);
    let mac = compute_mac(algorithm, SECRET, &[&prior, body, &variables]).expect("mac");

    let mut answer = body.to_vec();
    let arcount = u16::from_be_bytes([answer[10], answer[11]]).wrapping_add(1);
    answer[10..12].copy_from_slice(&arcount.to_be_bytes());
    push_name(&mut answer, KEY_NAME);
    answer.extend_from_slice(&250u16.to_be_bytes());
    answer.extend_from_slice(&255u16.to_be_bytes());
    answer.extend_from_slice(&0u32.to_be_bytes());
    let mut rdata = Vec::new();
    push_name(&mut rdata, algorithm_wire_name(algorithm));
    rdata.extend_from_slice(&time.to_be_bytes()[2..]);
    rdata.extend_from_slice(&FUDGE.to_be_bytes());
    rdata.extend_from_slice(&u16::try_from(mac.len()).unwrap_or(0).to_be_bytes());
    rdata.extend_from_slice(&mac);
    rdata.extend_from_slice(&body[..2]); // original id
    rdata.extend_from_slice(&error.to_be_bytes());
    rdata.extend_from_slice(&u16::try_from(other.len()).unwrap_or(0).to_be_bytes());
    rdata.extend_from_slice(other);
    answer.extend_from_slice(&u16::try_from(rdata.len()).unwrap_or(0).to_be_bytes());
    answer.extend_from_slice(&rdata);

    let Ok(parsed) = Message::from_vec(&answer) else {
        return;
    };
    let verdict = signer.verify(&request, &answer, &parsed, NOW);
    // Only when the record hickory found last is the one appended here does the promise hold:
    // its data, and its owner name (bytes at the end of the body can run into the appended
    // name, which then is another name: the verifier rightly refuses that key).
    let ours = parsed.signature().is_some_and(|record| {
        record.data.mac == mac
            && record.data.time == time
            && record
                .name
                .to_ascii()
                .trim_end_matches('.')
                .eq_ignore_ascii_case(KEY_NAME)
    });
    if ours && error == 0 && offset.unsigned_abs() <= u64::from(FUDGE) {
        assert!(
            verdict.is_ok(),
            "a correctly signed answer was refused: {verdict:?}"
        );
    }
    if offset.unsigned_abs() > u64::from(FUDGE) {
        assert!(verdict.is_err(), "an answer signed {offset} s off passed");
    }
    let _ = standby::dnsupdate::rfc2136::judge_answer(
        &answer,
        Some((&request, &signer)),
        "127.0.0.1:53".parse().expect("address"),
        NOW,
    );
});

fn push_name(out: &mut Vec<u8>, name: &str) {
    for label in name.split('.').filter(|l| !l.is_empty()) {
        out.push(u8::try_from(label.len()).unwrap_or(63));
        out.extend(label.bytes().map(|b| b.to_ascii_lowercase()));
    }
    out.push(0);
}
