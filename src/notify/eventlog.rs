//! The Windows Event Log: one entry in the Application log under the source `Standby`.
//!
//! `windows-sys` is called directly (the `windows-eventlog` crate does not exist, and the
//! `eventlog`/`winlog` crates are `log` back-ends that would take over the process logger).
//! Without a registered message file Event Viewer shows the text with a short preamble;
//! registering one needs an installer with admin rights.
#![expect(
    unsafe_code,
    reason = "the Win32 event log API is only reachable through FFI"
)]

use windows_sys::Win32::System::EventLog::{
    DeregisterEventSource, EVENTLOG_WARNING_TYPE, RegisterEventSourceW, ReportEventW,
};

use super::{BoxFuture, FailureKind, Notifier, NotifyError, Stage};
use crate::model::tags::{Encoding, TagValues, expand};

/// The text written for every event.
const TEMPLATE: &str =
    "$EVENT$: set $SETNAME$ ($HOST$), server $SERVERNAME$ $SERVERIP$: $STATUS$ $RESPONSE$";

pub struct EventLogNotifier;

fn wide(text: &str) -> Vec<u16> {
    text.encode_utf16().chain(std::iter::once(0)).collect()
}

fn report(text: &str) -> Result<(), NotifyError> {
    let source = wide("Standby");
    let message = wide(text);
    let strings = [message.as_ptr()];
    // SAFETY: every pointer is to a NUL-terminated UTF-16 buffer that outlives the calls;
    // the handle is checked before use and always deregistered.
    unsafe {
        let handle = RegisterEventSourceW(std::ptr::null(), source.as_ptr());
        if handle.is_null() {
            return Err(NotifyError::new(
                FailureKind::Network,
                Stage::Connecting,
                format!("event log: {}", std::io::Error::last_os_error()),
            ));
        }
        let ok = ReportEventW(
            handle,
            EVENTLOG_WARNING_TYPE,
            0,
            1000,
            std::ptr::null_mut(),
            1,
            0,
            strings.as_ptr(),
            std::ptr::null(),
        );
        let error = std::io::Error::last_os_error();
        DeregisterEventSource(handle);
        if ok == 0 {
            return Err(NotifyError::new(
                FailureKind::WrongAnswer,
                Stage::Sending,
                format!("event log: {error}"),
            ));
        }
    }
    Ok(())
}

impl Notifier for EventLogNotifier {
    fn send<'a>(&'a self, tags: &'a TagValues) -> BoxFuture<'a, Result<String, NotifyError>> {
        Box::pin(async move {
            let text = expand(TEMPLATE, tags, Encoding::Plain);
            tokio::task::spawn_blocking(move || report(&text))
                .await
                .map_err(|e| {
                    NotifyError::new(
                        FailureKind::Network,
                        Stage::Sending,
                        format!("event log: {e}"),
                    )
                })??;
            Ok("written to the Windows Event Log".into())
        })
    }
}
