//! The reference pages made from the code's own lists, so that they cannot drift from it:
//! the tags (from `model::tags`) and the problem codes (from `engine::problem_codes`).

use std::fmt::Write as _;

use crate::engine::problem_codes;
use crate::model::tags::{NOTIFY_TAGS, POLL_TAGS, UPDATE_TAGS};

/// What a tag is replaced by; `None` for a tag this table does not know yet (a test fails).
pub fn tag_meaning(tag: &str) -> Option<&'static str> {
    Some(match tag {
        "SERVERIP" => "the server's poll address (its public address unless a poll address is set)",
        "PUBLICIP" => "the server's public address (what DNS gets)",
        "SERVERNAME" => "the server's display name, or its address",
        "PORT" => "the port the poll uses",
        "HOST" => "the set's main host name (in a DNS update: the host name being updated)",
        "DOM" => "the same as $HOST$ (the first generation's name)",
        "SETNAME" => "the server set's name",
        "TIMEOUT" => "the poll's time-out in seconds",
        "ZONE" => "the zone of the host name (found by SOA lookup)",
        "IP" => "the first wanted address",
        "IPS" => "every wanted address, comma-separated",
        "IPV4" => "the wanted IPv4 addresses, comma-separated",
        "IPV6" => "the wanted IPv6 addresses, comma-separated",
        "IPS_JSON" => "every wanted address as a JSON array of strings",
        "IPV4_JSON" => "the wanted IPv4 addresses as a JSON array",
        "IPV6_JSON" => "the wanted IPv6 addresses as a JSON array",
        "TTL" => "the records' TTL in seconds",
        "DNSSERVER" => "the DNS server (its name or address)",
        "EVENT" => "what happened, e.g. Server failed",
        "STATUS" => "the server's status (OK, failed...)",
        "RESPONSE" => "the last response text, e.g. 200 OK or timeout after 10 s",
        "PROBLEM" => "the problem's text",
        "PCODE" => "the problem's three-digit code (see Problem codes)",
        "OLDIPS" => "the addresses DNS gave before",
        "NEWIPS" => "the addresses DNS gives now",
        "TIME" => "the time of the event, local time",
        "TIMEUTC" => "the time of the event, UTC",
        "COMPUTER" => "this computer's name",
        "COUNT" => "how many times the event happened in the coalescing window",
        "MESSAGEID" => "a stable id of this message (the same at every retry)",
        "PROBLEMID" => {
            "a stable id of the problem (the same for its failure, reminders and resolution)"
        }
        "RESOLVES" => "what a recovery resolves, e.g. Server failed at 13:03 UTC (blank otherwise)",
        "DURATION" => "how long the resolved or current problem lasted",
        "SEVERITY" => "critical, error, warning or info",
        _ => return None,
    })
}

/// Where each list of tags works.
pub const TAG_PLACES: [(&str, &[&str], &str); 3] = [
    (
        "Polling",
        POLL_TAGS,
        "a command-line poll's arguments; an HTTP poll's header values and body",
    ),
    (
        "DNS updates",
        UPDATE_TAGS,
        "an HTTP update's URL (values URL-encoded), headers and body; a command-line \
         update's arguments (each one argument, never split)",
    ),
    (
        "Notifications",
        NOTIFY_TAGS,
        "an e-mail's subject and body (also in the E-mail defaults); an HTTP notification's \
         URL, headers and body; a command-line notification's arguments; the texts of the \
         chat and paging presets",
    ),
];

/// The tags page, in the help's markdown.
pub fn tags_page() -> String {
    let mut page = String::from(
        "# Tags\n\nA tag is `$NAME$` in capitals. Where a field takes tags, each is replaced \
         by its value when the poll, update or message is made. An unknown tag (or one of \
         another list) is left as written and flagged in orange beside the field. In a URL \
         the values are URL-encoded; in a JSON body JSON-escaped (a tag ending in `_JSON` \
         is JSON already); in a form body form-encoded; command arguments are passed as \
         separate items, never through a shell.\n\n",
    );
    for (place, tags, fields) in TAG_PLACES {
        let _ = write!(
            page,
            "## {place}\n\nWorks in: {fields}.\n\n| Tag | Value |\n|---|---|\n"
        );
        for tag in tags {
            let meaning = tag_meaning(tag).unwrap_or("");
            let _ = writeln!(page, "| `${tag}$` | {meaning} |");
        }
        page.push('\n');
    }
    page
}

/// The problem codes page, in the help's markdown.
pub fn problem_codes_page() -> String {
    let mut page = String::from(
        "# Problem codes\n\nEvery problem has a three-digit code. The first digit is the \
         area: 1 polling, 2 DNS check or update, 3 notification. The second is the kind: \
         1 network error, 2 time-out, 3 connection closed early, 4 wrong or unexpected \
         answer, 5 this monitor's own resources. The third is the stage: for polling 1 \
         connecting to 7 judging the response; for DNS 1 asking the records, 2 finding the \
         zone, 3 sending the update, 4 verifying. The problem's text says exactly what \
         happened (`REFUSED`, `BADSIG`, `HTTP 403`, `exit code 2`...).\n\n\
         | Code | Meaning | What to check |\n|---|---|---|\n",
    );
    for info in problem_codes::catalogue() {
        let _ = writeln!(
            page,
            "| {} | {} | {} |",
            info.code, info.meaning, info.check
        );
    }
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tag_has_a_meaning_and_a_row() {
        let page = tags_page();
        for (_, tags, _) in TAG_PLACES {
            for tag in tags {
                assert!(tag_meaning(tag).is_some(), "${tag}$ has no meaning");
                assert!(page.contains(&format!("| `${tag}$` |")), "${tag}$ missing");
            }
        }
    }

    #[test]
    fn every_problem_code_has_a_row() {
        let page = problem_codes_page();
        for info in problem_codes::catalogue() {
            assert!(
                page.contains(&format!("| {} | {} |", info.code, info.meaning)),
                "{} missing",
                info.code
            );
        }
    }
}
