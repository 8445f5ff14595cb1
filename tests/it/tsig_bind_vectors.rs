//! Known TSIG vectors from an independent implementation: BIND's `nsupdate` signs an update
//! with each of the six algorithms; a fake server catches the bytes, and our signer must
//! compute the very MAC nsupdate sent over the same message and time.

use std::time::Duration;

use base64::Engine as _;
use hickory_proto::op::Message;
use standby::dnsupdate::tsig::TsigSigner;
use standby::model::{Secret, TsigAlgorithm, TsigKey};
use tokio::io::AsyncWriteExt;
use tokio::net::UdpSocket;
use tokio::process::Command;

const KEY_NAME: &str = "vector-key.example.test";

/// The first UPDATE nsupdate sends, signed with `algorithm` and `secret`.
async fn capture_nsupdate(algorithm: TsigAlgorithm, secret: &str) -> Vec<u8> {
    let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = server.local_addr().unwrap().port();
    let mut child = Command::new("nsupdate")
        .args(["-y", &format!("{}:{KEY_NAME}:{secret}", algorithm.name())])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("nsupdate runs (bind9-dnsutils)");
    let script = format!(
        "server 127.0.0.1 {port}\nzone example.test\n\
         update delete www.example.test A\n\
         update add www.example.test 60 A 192.0.2.1\nsend\n"
    );
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(script.as_bytes()).await.unwrap();
    drop(stdin);
    let mut buffer = vec![0u8; 4096];
    let (len, _) = tokio::time::timeout(Duration::from_secs(10), server.recv_from(&mut buffer))
        .await
        .expect("nsupdate sent nothing")
        .unwrap();
    buffer.truncate(len);
    buffer
}

#[tokio::test]
async fn our_macs_equal_nsupdates_for_all_six_algorithms() {
    tokio::time::timeout(Duration::from_secs(60), async {
        for algorithm in TsigAlgorithm::ALL {
            let secret = algorithm.generate_secret().expose().to_string();
            let sent = capture_nsupdate(algorithm, &secret).await;
            let parsed = Message::from_vec(&sent).unwrap();
            let tsig = parsed.signature().expect("nsupdate signs").data.clone();

            // The message as it was before nsupdate added its TSIG: BIND writes the TSIG
            // owner uncompressed, so it starts where the key name, type TSIG, class ANY do.
            let mut pattern = Vec::new();
            for label in KEY_NAME.split('.') {
                pattern.push(label.len() as u8);
                pattern.extend_from_slice(label.as_bytes());
            }
            pattern.extend_from_slice(&[0, 0, 250, 0, 255]);
            let start = (0..sent.len() - pattern.len())
                .rev()
                .find(|&i| sent[i..].starts_with(&pattern))
                .expect("the TSIG record");
            let mut unsigned = sent[..start].to_vec();
            let arcount = u16::from_be_bytes([unsigned[10], unsigned[11]]) - 1;
            unsigned[10..12].copy_from_slice(&arcount.to_be_bytes());

            let signer = TsigSigner::new(&TsigKey {
                name: KEY_NAME.into(),
                algorithm,
                secret: Secret::new(secret.clone()),
            })
            .unwrap();
            assert_eq!(tsig.fudge, 300, "nsupdate's fudge is ours");
            let ours = signer.request_mac(&unsigned, tsig.time).unwrap();
            let b64 = base64::engine::general_purpose::STANDARD;
            assert_eq!(
                b64.encode(&ours),
                b64.encode(&tsig.mac),
                "{}",
                algorithm.name()
            );
        }
    })
    .await
    .expect("test took too long");
}
