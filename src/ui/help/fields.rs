//! A line of help for every field of the dialogs, by the field's label (without its colon),
//! shown when the pointer rests on the label. One table, so that the lines are found and
//! kept in one place; a test reads the dialogs' sources and fails for a field without one.

/// The help line of the field labelled `label` (`"Port:"` and `"Port"` alike). Labels
/// made at run time find the line of their stem: a row of a list (`"Body rule 2"` →
/// `"Body rule"`) and a preset's default (`"Port (blank = 21)"` → `"Port"`).
pub fn field_help(label: &str) -> Option<&'static str> {
    let key = label.trim().trim_end_matches(':').trim();
    let lookup = |key: &str| {
        FIELDS
            .binary_search_by(|(name, _)| name.cmp(&key))
            .ok()
            .map(|i| FIELDS[i].1)
    };
    lookup(key)
        .or_else(|| {
            let stem = key.trim_end_matches(|c: char| c.is_ascii_digit());
            (stem.len() < key.len())
                .then(|| lookup(stem.trim_end()))
                .flatten()
        })
        .or_else(|| {
            key.split_once(" (blank = ")
                .and_then(|(stem, _)| lookup(stem))
        })
}

/// Label → help, sorted by label (a test checks the order, so lookups can bisect).
const FIELDS: &[(&str, &str)] = &[
    (
        "API URL",
        "The base URL of the provider's API; change it only for a proxy or a test server.",
    ),
    (
        "API key",
        "The PowerDNS `api-key` of pdns.conf, sent as X-API-Key.",
    ),
    (
        "API password of admin",
        "The remote engine's API password (user admin), sent over TLS to the pinned certificate only; kept for this window's reconnections, never saved.",
    ),
    (
        "API token",
        "A Cloudflare API token with Zone:Read and DNS:Edit on the zone (never the global API key).",
    ),
    (
        "Access key id (blank = environment / profile)",
        "The AWS access key id; blank = AWS_ACCESS_KEY_ID or the shared credentials file.",
    ),
    (
        "Algorithm",
        "The TSIG HMAC algorithm; it must be the one the DNS server has for this key.",
    ),
    (
        "Also NOTIFY the name servers' glue addresses (port 53)",
        "Tell the zone's own name servers of every change, at the addresses given with them.",
    ),
    (
        "Also write the log to files",
        "Besides the Log tab, write every line to files in the log directory.",
    ),
    (
        "Answer DNS queries for the sets' host names",
        "Standby itself answers A/AAAA queries for every set's host names with the addresses it decides.",
    ),
    (
        "Answer must be authoritative (AA flag)",
        "The poll fails unless the answer has the AA flag (the server is authoritative for the name).",
    ),
    (
        "Answers per second per client network",
        "Rate limit of the built-in DNS server per client network (/24 or /56); 0 = no limit.",
    ),
    (
        "Arguments (one per line)",
        "Each line is one argument, passed as it is (never through a shell); tags are replaced in each.",
    ),
    (
        "Authentication",
        "How the HTTP poll logs in: none, Basic (user and password) or a Bearer token.",
    ),
    (
        "Basic authentication",
        "Send a user and password as HTTP Basic authentication.",
    ),
    (
        "Body",
        "The text sent (HTTP) or the message body (e-mail); tags are replaced.",
    ),
    (
        "Body rule",
        "A rule the response body must pass: starts with, contains or matches a regular expression (or the opposite); (no rule) removes it.",
    ),
    (
        "Body type",
        "How tag values are written into the body: as they are, JSON-escaped or form-encoded (and the Content-Type sent).",
    ),
    (
        "CA file (blank = system's)",
        "The PEM file of the CA that signed etcd's certificate; blank = the system's roots.",
    ),
    (
        "CSV file",
        "Where Save CSV... writes the rows or events shown, when no file dialog can open (else the dialog asks).",
    ),
    (
        "Certificate warning (days)",
        "Raise a warning (problem 149) this many days before the HTTPS certificate expires; 0 = never.",
    ),
    (
        "Clear RD in forwarded requests and RA in their answers",
        "For a forwarder that must not recurse: clears the recursion flags both ways.",
    ),
    (
        "Client certificate",
        "A PEM certificate this instance shows etcd (client certificate authentication); blank = none.",
    ),
    (
        "Client key",
        "The private key (PEM) of the client certificate.",
    ),
    (
        "Close idle TCP connections after (s)",
        "A DNS client's TCP connection with no query for this long is closed.",
    ),
    (
        "Closing the window hides it to the tray",
        "The window's close button hides it; the engine keeps running and the tray icon brings it back.",
    ),
    (
        "Cluster name",
        "The name the instances of one cluster share in etcd.",
    ),
    (
        "Coalesce repeats within (s)",
        "Repeats of the same event for the same subject within this time go out as one message.",
    ),
    (
        "Contact (e-mail)",
        "The zone's SOA contact address (the @ becomes a dot in the record).",
    ),
    (
        "Content length",
        "The response's length must be equal to, not equal to, less or greater than this many bytes; (no rule) = any length.",
    ),
    (
        "Cut off when failing (0 = more than half)",
        "How many reference targets must fail for this monitor to count as cut off (problem 151, no server judged failed); 0 = more than half.",
    ),
    (
        "DNS port",
        "The port the DNS poll sends its query to (53 for a normal server).",
    ),
    (
        "DNS server (name or IP)",
        "The name server whose records Standby keeps right: an address or a host name.",
    ),
    (
        "Desktop notification on problems",
        "Show a desktop notification (the tray balloon) when a problem appears.",
    ),
    (
        "Disabled (off line on purpose)",
        "The server is treated as not in the set: not polled, never published.",
    ),
    (
        "Display name",
        "A name shown instead of the address in lists, logs and messages ($SERVERNAME$).",
    ),
    (
        "Enable the HTTP API",
        "Serve the REST/JSON API (and /metrics) on the listen address.",
    ),
    (
        "Endpoint",
        "The Route 53 API endpoint; change it only for an emulator or a proxy.",
    ),
    (
        "Exit code must be",
        "How the program's exit code is judged: equal to, not equal to, less or greater than a number; (any exit code) = not judged.",
    ),
    (
        "Expected address",
        "The answer must contain this address; blank = any valid answer passes.",
    ),
    (
        "Expire (s)",
        "SOA expire: how long secondaries keep serving the zone without reaching Standby.",
    ),
    (
        "Explicit FTPS (AUTH TLS)",
        "Switch to TLS with AUTH TLS before sending the user and password.",
    ),
    ("FTP password", "The password of the FTP login check."),
    (
        "FTP user",
        "Log in with this user and then QUIT; the poll fails if the login is refused.",
    ),
    (
        "Fallback addresses (one per line)",
        "The addresses DNS gives while every server has failed (a \"sorry\" server).",
    ),
    (
        "Follow redirects (at most)",
        "Follow this many redirects before judging the answer; 0 = the redirect itself is judged.",
    ),
    (
        "Follow redirects only on the URL's host",
        "A redirect to another host fails the poll instead of being followed.",
    ),
    (
        "Forward for clients in",
        "Networks (CIDR, one per line) whose other queries are forwarded; others are refused.",
    ),
    (
        "Forward other queries",
        "Queries for names of no set go to the forwarder instead of being refused.",
    ),
    (
        "Forward to",
        "The DNS server that answers the queries Standby does not answer itself.",
    ),
    (
        "Forward to port",
        "The forwarder's port (53 for a normal server).",
    ),
    ("From", "The sender address of the e-mail."),
    (
        "From (HH:MM)",
        "When the maintenance window starts, in its time zone.",
    ),
    (
        "From (YYYY-MM-DD)",
        "The first day (UTC) of the rows shown and of the SLA report; blank = no bound (the report: the last 30 days).",
    ),
    (
        "Give the addresses of",
        "Which servers DNS gives: the first functional one, all functional ones, or all by weighted round robin.",
    ),
    (
        "Give the lower TTL while a server has failed",
        "While any server of the set has failed, DNS gets the lower TTL, so that clients come back soon after it recovers.",
    ),
    (
        "Greeting",
        "What the server's first line (or reply to the text sent) must be: starts with, contains, matches...; (no rule) = the preset's rule.",
    ),
    (
        "Greeting time-out",
        "How long to wait for the greeting (first line or 100 bytes): 500ms, 10s.",
    ),
    (
        "Headers (Name: value)",
        "Extra request headers, one per line as Name: value; the values take tags.",
    ),
    (
        "History: store only changes of status",
        "Keep only the polls whose status changed, not every poll.",
    ),
    (
        "Host names (one per line)",
        "The set's host names: the first is the main one, the others are aliases with the same records; *.example.com is a wildcard.",
    ),
    (
        "If all servers fail",
        "What DNS gives when every server failed: as if the first (or all) worked, fallback addresses, or nothing changed.",
    ),
    (
        "Ignore the TTL when comparing records",
        "Records that differ only in their TTL count as matched (no update for a TTL).",
    ),
    (
        "Instances needed (N)",
        "How many instances must see a server failed before it counts as failed.",
    ),
    (
        "JSON rule",
        "A JSON Pointer into the response body (/status), a test (exists, equals, does not equal, contains) and a JSON value (\"UP\", 3, true).",
    ),
    (
        "Keep raw polls for (hours)",
        "Every poll is kept this long; older ones are rolled up per server and minute.",
    ),
    (
        "Key name",
        "The TSIG key's name, exactly as the DNS server knows it (like a user name).",
    ),
    (
        "Kind",
        "Show the events of one kind only: DNS updates, notifications sent or failed, pauses, overrides, settings changes.",
    ),
    (
        "Lease (s)",
        "The etcd lease of this instance: when it stops renewing, the others take over after this long.",
    ),
    (
        "Lines kept in memory",
        "How many log lines the Log tab and the API keep.",
    ),
    (
        "Listen on (address:port)",
        "Where the HTTP API listens; 127.0.0.1 keeps it on this machine.",
    ),
    (
        "Listen on address",
        "The address the built-in DNS server answers on (0.0.0.0 = every IPv4 address).",
    ),
    (
        "Listen on port",
        "The port the built-in DNS server answers on (53 needs privileges).",
    ),
    ("Log directory", "Where the log files are written."),
    ("Log every request", "Write each API request to the log."),
    (
        "Log in to the FTP server",
        "Check a login (user and password) besides the greeting.",
    ),
    (
        "Log in to the SMTP server",
        "Authenticate to the SMTP server with a user and password.",
    ),
    (
        "Lower TTL (s), 0 = off",
        "A lower TTL while the set is unsettled (a failure, a recent change), so that clients follow the next change soon; 0 = always the normal TTL.",
    ),
    (
        "Lower TTL after a change for",
        "How long after the addresses changed DNS keeps the lower TTL: 5m, 1h.",
    ),
    (
        "Max concurrent polls",
        "The most polls in flight at once, over all sets.",
    ),
    (
        "Max concurrent updates",
        "The most DNS checks and updates running at once.",
    ),
    (
        "May transfer (networks)",
        "Networks (CIDR, one per line) allowed to transfer the zone (AXFR/IXFR over TCP).",
    ),
    (
        "Method",
        "How this notification is sent: e-mail, HTTP, command line, system log or a chat/paging service.",
    ),
    (
        "Minimum / negative TTL (s)",
        "SOA minimum: how long resolvers remember that a name does not exist.",
    ),
    (
        "Most TCP connections",
        "The most DNS client TCP connections open at once.",
    ),
    (
        "Most forwards in flight",
        "The most queries waiting for the forwarder at once; more are refused.",
    ),
    (
        "NOTIFY",
        "Addresses (host:port) told of every change of the zone, so that they transfer it at once.",
    ),
    (
        "Name servers",
        "One per line: the name, then its addresses (glue is needed for a name inside the zone).",
    ),
    ("New file", "Start a new log file every hour, day or month."),
    (
        "Notes",
        "Free text for the operators; Standby does nothing with it.",
    ),
    (
        "Once a server failed, every",
        "The interval between polls while any server of the set has failed.",
    ),
    (
        "One-off from",
        "A maintenance window that happens once: its start (date and time).",
    ),
    (
        "Only changes of status",
        "Show only the polls whose status differed from the poll before.",
    ),
    (
        "Outcome",
        "Every poll, only the successful ones, or only the failed ones.",
    ),
    (
        "Own CA or client certificate for etcd",
        "TLS to etcd with your own CA and, optionally, a client certificate and key.",
    ),
    (
        "Own SMTP server (else the default)",
        "Send through this SMTP server instead of the E-mail defaults' one.",
    ),
    (
        "Own sender (else the default)",
        "Use this sender instead of the E-mail defaults' one.",
    ),
    (
        "Own subject and body (else the default)",
        "Use this subject and body instead of the E-mail defaults' ones.",
    ),
    (
        "Password",
        "The password sent with the user (Basic authentication).",
    ),
    (
        "Password of admin",
        "The API password of user admin; blank = no password (only safe on 127.0.0.1).",
    ),
    (
        "Pause the set if this server fails",
        "When it fails: notify, update DNS, then pause the whole set until an operator resumes it.",
    ),
    (
        "Play a sound on problems",
        "Play a sound when a problem appears.",
    ),
    (
        "Poll IP address",
        "The address polled instead of the public one (e.g. the server's address behind NAT).",
    ),
    (
        "Poll a different IP address (NAT)",
        "Poll another address than the one DNS gets.",
    ),
    (
        "Poll each every",
        "The time between polls of each reference target; keep it no longer than the servers' interval.",
    ),
    (
        "Poll every",
        "The interval between polls while every server is OK: 60s, 5m.",
    ),
    (
        "Poll sequentially and stop at the first server that succeeds",
        "Lower-priority servers are not polled while a higher one works (they show as skipped).",
    ),
    (
        "Polling method",
        "How every server of the set is checked: ping, HTTP(S), TCP or a preset, DNS, or a command.",
    ),
    ("Port", "The TCP or UDP port (53 for DNS)."),
    (
        "Primary name server",
        "The SOA's primary name server (MNAME).",
    ),
    (
        "Priority",
        "The service's priority of the message (where it has one).",
    ),
    (
        "Profile (blank = AWS_PROFILE or default)",
        "The profile of the AWS credentials file, when no key is given.",
    ),
    (
        "Program",
        "The program to run: a path, or a name looked up in PATH.",
    ),
    (
        "Public IP address",
        "The address DNS gets for this server (IPv4 → A record, IPv6 → AAAA record).",
    ),
    (
        "Purge history after (days)",
        "History (rollups included) older than this is deleted.",
    ),
    (
        "Query host name",
        "The name the DNS poll asks the server for.",
    ),
    (
        "Quorum of instances",
        "How many instances must agree that a server failed: a majority, all, or N.",
    ),
    (
        "Re-check every (minutes)",
        "Compare the records again this often, and put them back if someone changed them.",
    ),
    (
        "Record type",
        "Ask for the A (IPv4) or AAAA (IPv6) records.",
    ),
    (
        "Recursion desired (RD flag)",
        "Set RD in the query (for a resolver); clear it to ask an authoritative server.",
    ),
    (
        "Reference targets (one IP per line)",
        "Addresses that tell this monitor's own network from the servers' (the gateway, resolvers, another site); none = no guard.",
    ),
    (
        "Refresh (s)",
        "SOA refresh: how often secondaries check the zone's serial.",
    ),
    (
        "Remind every N minutes while a problem lasts (0 = never)",
        "Send the problem's message again this often until it is resolved.",
    ),
    (
        "Report file",
        "Where the SLA report goes when no file dialog can open (else the dialog asks); the extension follows the format, .html or .csv.",
    ),
    (
        "Request",
        "The HTTP method: GET, HEAD (no body to judge), POST or PUT (send the body).",
    ),
    (
        "Require TSIG on transfers",
        "A transfer must be signed with this key; give it to the secondaries too.",
    ),
    (
        "Resolver for name servers (blank = system's)",
        "Resolves the names of the zone's name servers for the propagation check; blank = the system's resolver.",
    ),
    (
        "Response time-out",
        "How long one poll may take before it fails: 10s, 800ms.",
    ),
    (
        "Response-time limit",
        "A poll slower than this fails with code 128 even if the answer is right; 0s = no limit.",
    ),
    (
        "Retry (s)",
        "SOA retry: how soon a secondary tries again after a failed refresh.",
    ),
    (
        "Retry a failed poll (times)",
        "A failed poll is retried this many times before the server counts as failed.",
    ),
    ("Retry every", "The time between those retries."),
    (
        "Run as one instance of a cluster (coordinated through etcd)",
        "Several Standby instances in different networks agree before a failover; one leader writes DNS.",
    ),
    ("SMTP password", "The password of the SMTP login."),
    (
        "SMTP port",
        "25 (relay), 587 (submission with STARTTLS) or 465 (TLS).",
    ),
    (
        "SMTP server",
        "The mail server that sends the notifications.",
    ),
    ("SMTP user", "The user of the SMTP login."),
    (
        "Secret (base64)",
        "The TSIG secret in base64, as on the DNS server; Generate makes a random one.",
    ),
    ("Secret access key", "The secret of the AWS access key id."),
    (
        "Security",
        "None, STARTTLS (upgrade on the same port) or TLS from the start.",
    ),
    (
        "Send",
        "A text sent right after connecting (escapes \\r \\n \\xNN...); blank = the preset's, shown in the label; the reply is judged by the greeting rule.",
    ),
    (
        "Send after connecting",
        "A text sent right after connecting (escapes \\r \\n \\t \\0 \\\\ \\xNN); the reply is then judged by the greeting rule.",
    ),
    (
        "Server",
        "One server's rows (blank = every server of the chosen set).",
    ),
    (
        "Server URL",
        "The service's URL (e.g. your ntfy or Gotify server).",
    ),
    (
        "Server id",
        "The PowerDNS server id in the API's paths (PowerDNS's is localhost).",
    ),
    (
        "Service",
        "The chat or paging service; its documented request is built for you.",
    ),
    (
        "Set",
        "The server set whose rows are shown (All sets = every one).",
    ),
    (
        "Set name",
        "A unique name; the API and the logs know the set by it.",
    ),
    (
        "Show",
        "Polls (each poll's result) or events (DNS updates, notifications, pauses, overrides, settings changes).",
    ),
    (
        "Sign updates with TSIG",
        "Sign every update with a TSIG key; without it the updates are unauthenticated.",
    ),
    (
        "Sound file (blank = built-in)",
        "A sound file played on problems; blank = the built-in sound.",
    ),
    (
        "Standard output",
        "A rule on what the program printed (starts with, contains, matches...); (no rule) = not judged.",
    ),
    ("Start at login", "Start Standby when you log in."),
    (
        "Start in the tray",
        "Start with the window hidden in the tray.",
    ),
    (
        "Status codes",
        "Accepted HTTP status codes, comma-separated (200 by default).",
    ),
    ("Subject", "The e-mail's subject; tags are replaced."),
    (
        "Successful polls to recover",
        "Successful polls in a row before a failed server counts as recovered (against flapping).",
    ),
    (
        "TTL (s)",
        "The TTL of the records Standby writes or serves.",
    ),
    (
        "TTL of SOA, NS and glue (s)",
        "The TTL of the zone's own records.",
    ),
    ("Text", "The message's text; tags are replaced."),
    (
        "This instance's name",
        "A name unique in the cluster, shown in the Cluster view.",
    ),
    (
        "Time stamps in UTC",
        "Write the log's time stamps in UTC instead of local time.",
    ),
    (
        "Time zone",
        "The time zone of the maintenance window (blank = this computer's).",
    ),
    ("Time-out", "How long one poll may take: 2s, 500ms."),
    ("Time-out (s)", "How long the request or program may take."),
    ("Title", "The message's title (where the service has one)."),
    ("To", "When the one-off maintenance window ends."),
    (
        "To (HH:MM)",
        "When the weekly maintenance window ends, in its time zone.",
    ),
    (
        "To (YYYY-MM-DD)",
        "The last day (UTC), included whole; blank = up to now.",
    ),
    ("To (one per line)", "The recipients, one address per line."),
    ("Token", "The Bearer token sent as Authorization: Bearer."),
    (
        "UDP threads (0 = one per core)",
        "Threads answering UDP queries of the built-in DNS server.",
    ),
    (
        "URL",
        "The URL; tags are replaced and their values URL-encoded.",
    ),
    (
        "Update DNS servers",
        "Keep the DNS servers' records right for this set; off = monitoring only.",
    ),
    (
        "Update method",
        "How this DNS server is updated: RFC 2136, HTTP, command line, a provider's API, or dnscmd.",
    ),
    (
        "Update the default DNS servers (Options)",
        "Update the default DNS servers of the Options as well as the set's own.",
    ),
    (
        "Use EDNS0",
        "Send EDNS0 in the lookups (larger answers over UDP).",
    ),
    (
        "Use the default notification methods",
        "Send this set's events through the Options' default methods too.",
    ),
    (
        "User",
        "The user name sent with the password (Basic authentication).",
    ),
    (
        "Verify the HTTPS certificate",
        "Check the certificate's chain and name; off only for a self-signed server.",
    ),
    (
        "Verify the server's certificate",
        "Check the FTPS certificate (chain and the set's main host name) before sending the password.",
    ),
    (
        "Wait at most (s)",
        "How long the program may run before it is stopped and judged failed.",
    ),
    (
        "Wait for the program to end and judge it",
        "Judge the exit code and output; off = a started program counts as success.",
    ),
    (
        "Wait until Route 53 says INSYNC (shown as propagation)",
        "After a change, wait until Route 53 reports it in sync.",
    ),
    (
        "Weekly on",
        "The days of the week the maintenance window recurs on.",
    ),
    (
        "Weight",
        "The server's share of answers in weighted round robin; 0 drains it.",
    ),
    (
        "Zone (blank = found by SOA)",
        "The zone dnscmd updates; blank = found by an SOA lookup.",
    ),
    (
        "Zone name",
        "The zone delegated to Standby, e.g. failover.example.com.",
    ),
    (
        "etcd endpoints (one per line)",
        "The etcd servers' URLs, e.g. https://127.0.0.1:2379.",
    ),
    ("etcd password", "The etcd user's password."),
    (
        "etcd user (blank = none)",
        "The etcd user, if etcd requires authentication.",
    ),
];

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_and_each_label_once() {
        for pair in FIELDS.windows(2) {
            assert!(
                pair[0].0 < pair[1].0,
                "{:?} before {:?}",
                pair[0].0,
                pair[1].0
            );
        }
        assert_eq!(field_help("Port:"), field_help("Port"));
        assert!(field_help("No such field").is_none());
        // Labels made at run time find their stem's line.
        assert_eq!(field_help("Body rule 12:"), field_help("Body rule"));
        assert!(field_help("Body rule").is_some());
        assert_eq!(field_help("Port (blank = 21):"), field_help("Port"));
        assert!(field_help("No such field 2").is_none());
    }

    /// Every field a dialog draws has a help line: the dialogs' sources are read, so a new
    /// field without one fails here. Fields are found as drawn through the `Form`, through
    /// the helpers that take a label (the rule editors, the History dialog's lists and
    /// fields), as checkboxes, and as labels made at run time (`format!("Body rule {}:")`,
    /// a match arm giving `"Port:"` or `"Port (blank = {port}):"`), looked up with `1` in
    /// place of each `{...}`.
    #[test]
    fn every_field_of_the_dialogs_has_a_help_line() {
        let literal = r#""((?:[^"\\]|\\.)*)""#;
        // A text made at run time is a label only when it ends with a colon.
        let label_literal = r#""((?:[^"\\]|\\.)*:)""#;
        let patterns = [
            format!(
                r#"\bform\s*\.\s*(?:text|multiline|number|duration|port|lines|secret|combo|check|parsed|row)\s*\(\s*(?:&mut\s+)?\w+\s*,\s*{literal}"#
            ),
            format!(
                r#"\b(?:optional_text_rule|length_rule|exit_code_rule|path_field|labelled|choose|help_label)\s*\(\s*(?:(?:&mut\s+)?[\w.]+\s*,\s*)*{literal}"#
            ),
            format!(r#"\bcheckbox\s*\(\s*&mut\s+[\w.]+\s*,\s*{literal}"#),
            format!(r#"(?:label\s*=\s*|=>\s*)format!\(\s*{label_literal}"#),
            format!(r#"=>\s*{label_literal}\.to_string\(\)"#),
        ];
        let calls: Vec<regex::Regex> = patterns
            .iter()
            .map(|p| regex::Regex::new(p).unwrap())
            .collect();
        let placeholder = regex::Regex::new(r"\{[^}]*\}").unwrap();
        let ui = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/ui");
        let mut files = vec![ui.clone()];
        let mut labels = std::collections::BTreeSet::new();
        let mut sources = 0;
        while let Some(path) = files.pop() {
            if path.is_dir() {
                for entry in std::fs::read_dir(&path).unwrap() {
                    files.push(entry.unwrap().path());
                }
            } else if path.extension().is_some_and(|e| e == "rs") {
                sources += 1;
                let text = std::fs::read_to_string(&path).unwrap();
                for found in calls.iter().flat_map(|call| call.captures_iter(&text)) {
                    let label = placeholder.replace_all(&found[1], "1");
                    let label = label.trim().trim_end_matches(':').to_string();
                    if !label.is_empty() {
                        labels.insert(label);
                    }
                }
            }
        }
        assert!(
            sources > 20 && labels.len() > 100,
            "the sources were not read"
        );
        // Each way of drawing a field is seen (a pattern that stopped matching would hide
        // its fields from this test).
        for drawn in [
            "URL",
            "Standard output",
            "Only changes of status",
            "CSV file",
            "Body rule 1",
            "Port (blank = 1)",
            "Send after connecting",
        ] {
            assert!(labels.contains(drawn), "{drawn:?} was not found");
        }
        let missing: Vec<_> = labels.iter().filter(|l| field_help(l).is_none()).collect();
        assert!(
            missing.is_empty(),
            "fields without a help line: {missing:#?}"
        );
    }
}
