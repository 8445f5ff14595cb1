//! HTTP notifications (a web hook, an SMS gateway): GET/POST/PUT, headers, body, basic
//! auth, judged by the request's criteria. The request itself is the shared
//! [`crate::httpclient`], as for HTTP DNS updates.

use super::{BoxFuture, FailureKind, Notifier, NotifyConfig, NotifyError, Stage};
use crate::httpclient::PreparedRequest;
use crate::model::HttpRequest;
use crate::model::tags::TagValues;

/// The header that carries `$MESSAGEID$` (also sent as `Idempotency-Key`).
pub const MESSAGE_ID_HEADER: &str = "X-Standby-Message-ID";

pub struct HttpNotifier {
    request: PreparedRequest,
}

impl HttpNotifier {
    pub fn new(request: &HttpRequest, _config: &NotifyConfig) -> Result<Self, NotifyError> {
        PreparedRequest::new(request)
            .map(|request| Self { request })
            .map_err(|e| NotifyError::settings(format!("HTTP: {e}")))
    }

    async fn deliver(&self, tags: &TagValues) -> Result<String, NotifyError> {
        // The URL without its query names the target in messages (a token may be in it).
        let url = self.request.url(tags);
        let shown = url.split('?').next().unwrap_or_default().to_string();
        // The message's stable id, for receivers that drop duplicates (a delivery that a
        // crash interrupted is sent again with the same id).
        let ids: Vec<(&'static str, String)> = match tags.get("MESSAGEID") {
            Some(id) if !id.is_empty() => vec![
                (MESSAGE_ID_HEADER, id.to_string()),
                ("Idempotency-Key", id.to_string()),
            ],
            _ => Vec::new(),
        };
        match self.request.send_with(tags, None, &ids).await {
            Ok(text) => Ok(format!("{shown}: {text}")),
            Err(failure) => {
                let stage = match failure.kind {
                    FailureKind::Network => Stage::Connecting,
                    _ => Stage::Answer,
                };
                Err(NotifyError::new(
                    failure.kind,
                    stage,
                    format!("{shown}: {}", failure.text),
                ))
            }
        }
    }
}

impl Notifier for HttpNotifier {
    fn send<'a>(&'a self, tags: &'a TagValues) -> BoxFuture<'a, Result<String, NotifyError>> {
        Box::pin(self.deliver(tags))
    }
}
