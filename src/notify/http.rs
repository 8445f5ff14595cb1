//! HTTP notifications (a web hook, an SMS gateway): GET/POST/PUT, headers, body, basic
//! auth, judged by the request's criteria. The request itself is the shared
//! [`crate::httpclient`], as for HTTP DNS updates.

use super::{BoxFuture, FailureKind, Notifier, NotifyConfig, NotifyError, Stage};
use crate::httpclient::PreparedRequest;
use crate::model::HttpRequest;
use crate::model::tags::TagValues;

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
        match self.request.send(tags, None).await {
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
