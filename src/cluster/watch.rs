//! etcd's watch through the JSON gateway: `POST /v3/watch` with a `create_request` answers
//! with a stream of JSON messages, one per line, each a batch of put/delete events (or a
//! notice: created, progress, canceled).
//!
//! A [`Watcher`] follows one prefix from a start revision. When the stream breaks (a member
//! dies, a network cut that ends in an error) its next call reconnects, to any endpoint,
//! from the last revision seen + 1, so no event is lost or seen twice. When etcd has
//! compacted those revisions the watcher says so ([`EtcdError::Compacted`]): the caller
//! re-reads the prefix (`get_prefix`, which gives the revision it read at) and starts a new
//! watch from that revision + 1.
//!
//! A cut that ends in no error (packets dropped) leaves the stream silent: the caller
//! learns of it from its lease's keep-alive (which has a time-out) and drops the watcher.

use std::sync::atomic::Ordering;

use serde_json::json;

use super::etcd::{
    Etcd, EtcdError, KeyValue, REQUIRE_LEADER, UNAUTHENTICATED, answer, b64, failure, int, kvs,
    no_leader, prefix_end,
};

/// What happened to a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Put,
    Delete,
}

/// One change. For a delete, `kv` holds the key and the revision of the delete
/// (`mod_revision`), with an empty value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchEvent {
    pub kind: EventKind,
    pub kv: KeyValue,
}

impl WatchEvent {
    /// The revision of the change.
    pub fn revision(&self) -> i64 {
        self.kv.mod_revision
    }
}

/// A watch on every key under one prefix. Not `Clone`: one stream, one reader.
pub struct Watcher {
    etcd: Etcd,
    prefix: String,
    /// The first revision not yet delivered: where a reconnect starts.
    next_revision: i64,
    stream: Option<Stream>,
}

struct Stream {
    response: reqwest::Response,
    endpoint: String,
    /// Bytes received past the last complete line.
    buffer: Vec<u8>,
}

impl Etcd {
    /// Watches every key under `prefix` from `start_revision` (0 = changes after now). The
    /// connection is made by the first [`Watcher::next`].
    pub fn watch(&self, prefix: &str, start_revision: i64) -> Watcher {
        Watcher {
            etcd: self.clone(),
            prefix: prefix.to_string(),
            next_revision: start_revision,
            stream: None,
        }
    }
}

impl Watcher {
    /// The next batch of changes (never empty), in revision order. An error ends the
    /// current stream; calling again reconnects from the last revision seen + 1, except
    /// after [`EtcdError::Compacted`], which stays until the caller starts a new watch.
    pub async fn next(&mut self) -> Result<Vec<WatchEvent>, EtcdError> {
        loop {
            if self.stream.is_none() {
                self.stream = Some(self.connect().await?);
            }
            let line = match self.next_line().await {
                Ok(line) => line,
                Err(e) => {
                    self.stream = None;
                    return Err(e);
                }
            };
            match self.read_message(&line) {
                Ok(Some(events)) => return Ok(events),
                Ok(None) => {}
                Err(e) => {
                    self.stream = None;
                    return Err(e);
                }
            }
        }
    }

    /// The first revision that has not been delivered yet.
    pub fn next_revision(&self) -> i64 {
        self.next_revision
    }

    /// One message: events (`Some`), a notice to skip (`None`) or the end of the watch.
    fn read_message(&mut self, line: &[u8]) -> Result<Option<Vec<WatchEvent>>, EtcdError> {
        let text = String::from_utf8_lossy(line);
        let value = match answer(&text) {
            Err(EtcdError::Refused { code, message }) => {
                if code == UNAUTHENTICATED {
                    self.etcd.set_token(None);
                }
                let endpoint = self.stream.as_ref().map_or("", |s| s.endpoint.as_str());
                return Err(no_leader(EtcdError::Refused { code, message }, endpoint));
            }
            other => other?,
        };
        let result = &value["result"];
        let compacted = int(&result["compact_revision"]);
        if compacted > 0 {
            self.next_revision = -1;
            return Err(EtcdError::Compacted {
                compact_revision: compacted,
            });
        }
        if result["canceled"].as_bool().unwrap_or(false) {
            let why = result["cancel_reason"]
                .as_str()
                .unwrap_or("no reason given");
            return Err(EtcdError::Refused {
                code: 0,
                message: format!("watch canceled: {why}"),
            });
        }
        let Some(list) = result["events"].as_array().filter(|l| !l.is_empty()) else {
            // A progress notice: everything up to the header's revision has been sent.
            // (Not the "created" notice: its revision is now, and the events from the
            // start revision are still to come.)
            if !result["created"].as_bool().unwrap_or(false) {
                let at = int(&result["header"]["revision"]);
                self.next_revision = self.next_revision.max(at + 1);
            }
            return Ok(None);
        };
        let mut events = Vec::with_capacity(list.len());
        for event in list {
            let kind = match event["type"].as_str() {
                Some("DELETE") => EventKind::Delete,
                // PUT is the enum's zero, which the gateway leaves out.
                None | Some("PUT") => EventKind::Put,
                Some(other) => {
                    return Err(EtcdError::BadAnswer(format!(
                        "a watch event of type {other}"
                    )));
                }
            };
            let wrapped = json!({ "kvs": [event["kv"].clone()] });
            let Some(kv) = kvs(&wrapped)?.into_iter().next() else {
                return Err(EtcdError::BadAnswer(format!(
                    "a watch event without a key: {event}"
                )));
            };
            self.next_revision = self.next_revision.max(kv.mod_revision + 1);
            events.push(WatchEvent { kind, kv });
        }
        Ok(Some(events))
    }

    /// Opens the stream at the first endpoint that answers, from the last good one.
    async fn connect(&mut self) -> Result<Stream, EtcdError> {
        if self.next_revision < 0 {
            return Err(EtcdError::Compacted {
                compact_revision: 0,
            });
        }
        self.etcd.ensure_token().await?;
        let body = json!({ "create_request": {
            "key": b64(&self.prefix),
            "range_end": b64(&prefix_end(&self.prefix)),
            "start_revision": self.next_revision.to_string(),
        }});
        let endpoints = self.etcd.endpoints.clone();
        let count = endpoints.len();
        let first = self.etcd.current.load(Ordering::Relaxed) % count;
        let mut last = None;
        for i in 0..count {
            let at = (first + i) % count;
            let endpoint = &endpoints[at];
            let mut request = self
                .etcd
                .stream_client
                .post(format!("{endpoint}/v3/watch"))
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                // A member that loses its leader ends the stream (etcd's stream
                // interceptor), so a watch never hangs on the minority side.
                .header(REQUIRE_LEADER.0, REQUIRE_LEADER.1)
                .body(body.to_string());
            if let Some(token) = self.etcd.token() {
                request = request.header(reqwest::header::AUTHORIZATION, token);
            }
            match request.send().await {
                Ok(response) => {
                    self.etcd.current.store(at, Ordering::Relaxed);
                    return Ok(Stream {
                        response,
                        endpoint: endpoint.clone(),
                        buffer: Vec::new(),
                    });
                }
                Err(e) => last = Some(failure(endpoint, &e)),
            }
        }
        Err(last.unwrap_or_else(|| EtcdError::Setup("no etcd endpoint".into())))
    }

    /// The next complete line of the stream.
    async fn next_line(&mut self) -> Result<Vec<u8>, EtcdError> {
        let Some(stream) = self.stream.as_mut() else {
            return Err(EtcdError::Setup("no watch stream".into()));
        };
        loop {
            if let Some(end) = stream.buffer.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = stream.buffer.drain(..=end).collect();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return Ok(line);
            }
            match stream.response.chunk().await {
                Ok(Some(chunk)) => stream.buffer.extend_from_slice(&chunk),
                Ok(None) => {
                    // A last message without its newline, then the end.
                    if !stream.buffer.iter().all(u8::is_ascii_whitespace) {
                        return Ok(std::mem::take(&mut stream.buffer));
                    }
                    return Err(EtcdError::Unreachable {
                        endpoint: stream.endpoint.clone(),
                        reason: "the watch stream ended".into(),
                    });
                }
                Err(e) => return Err(failure(&stream.endpoint, &e)),
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::model::Cluster;

    fn watcher() -> Watcher {
        let etcd = Etcd::new(&Cluster::default(), std::time::Duration::from_secs(1)).unwrap();
        etcd.watch("/standby/t/", 5)
    }

    #[test]
    fn messages_are_read_as_events_notices_and_compaction() {
        let mut w = watcher();
        // The created notice says nothing about delivered revisions.
        let created = br#"{"result":{"header":{"revision":"9"},"created":true}}"#;
        assert_eq!(w.read_message(created).unwrap(), None);
        assert_eq!(w.next_revision(), 5);
        let batch = br#"{"result":{"header":{"revision":"7"},"events":[{"kv":{"key":"L3N0YW5kYnkvdC9h","create_revision":"6","mod_revision":"6","version":"1","value":"dXA="}},{"type":"DELETE","kv":{"key":"L3N0YW5kYnkvdC9i","mod_revision":"7"}}]}}"#;
        let events = w.read_message(batch).unwrap().unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].kind, EventKind::Put);
        assert_eq!(
            (events[0].kv.key.as_str(), events[0].kv.value.as_slice()),
            ("/standby/t/a", &b"up"[..])
        );
        assert_eq!(events[1].kind, EventKind::Delete);
        assert_eq!(events[1].revision(), 7);
        assert_eq!(w.next_revision(), 8);
        // A progress notice moves the start of a reconnect.
        let progress = br#"{"result":{"header":{"revision":"12"}}}"#;
        assert_eq!(w.read_message(progress).unwrap(), None);
        assert_eq!(w.next_revision(), 13);
        let compacted =
            br#"{"result":{"header":{"revision":"20"},"canceled":true,"compact_revision":"15"}}"#;
        assert_eq!(
            w.read_message(compacted),
            Err(EtcdError::Compacted {
                compact_revision: 15
            })
        );
    }
}
