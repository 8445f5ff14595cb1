//! Short help for each window, opened by F1 or a dialog's ? button.

use eframe::egui;

/// The window the help is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HelpTopic {
    MainWindow,
    Options,
    ServerSet,
    Server,
    Notification,
    DnsServer,
    EmailDefaults,
    Zone,
}

impl HelpTopic {
    pub fn title(self) -> &'static str {
        match self {
            HelpTopic::MainWindow => "Help: Standby",
            HelpTopic::Options => "Help: Options",
            HelpTopic::ServerSet => "Help: Server set properties",
            HelpTopic::Server => "Help: Server properties",
            HelpTopic::Notification => "Help: Notification properties",
            HelpTopic::DnsServer => "Help: DNS server properties",
            HelpTopic::EmailDefaults => "Help: E-mail defaults",
            HelpTopic::Zone => "Help: Zone properties",
        }
    }

    pub fn text(self) -> &'static str {
        match self {
            HelpTopic::MainWindow => {
                "Standby polls every server of each server set, decides which servers work, \
                 and keeps the set's host names in DNS pointing at them.\n\n\
                 Server Sets: the sets and the state of their servers and DNS servers. \
                 New server set, Properties and Delete change the settings.\n\
                 Log: the live log. Problems: the current faults of all sets.\n\
                 File > Options...: settings that apply to every set."
            }
            HelpTopic::Options => {
                "Settings for all server sets. Pick a section on the left.\n\n\
                 Server polling: how many polls may run at once and how long the history is kept.\n\
                 Notification: the default methods, used by every set that says 'use the \
                 default methods'. E-mail defaults: sender, message and SMTP server.\n\
                 DNS updating: the default DNS servers, updated by every set that says so, \
                 and the resolver for name servers the updated server does not know \
                 (propagation; blank = the system's).\n\
                 DNS serving: Standby answers DNS itself for the sets' host names.\n\
                 HTTP API: a REST API for scripts (user admin).\n\
                 Cluster: this instance as one of several that decide together through \
                 etcd (its endpoints, the cluster's and this instance's names, the quorum \
                 rule, the lease).\n\n\
                 Every field is checked as you type; OK stays disabled while one is wrong, \
                 and the reason is shown beside it. Nothing changes until you press OK."
            }
            HelpTopic::ServerSet => {
                "A server set is one service hosted on several servers, in priority order \
                 (the first one is preferred; Move up / Move down change the order).\n\n\
                 Polling method: how each server is checked, with the rules its answer must pass.\n\
                 Polling frequency: intervals, retries before a server counts as failed, and \
                 successful polls before it counts as recovered.\n\
                 DNS data: the host names (the first is the main one), the TTL, which servers' \
                 addresses DNS should give, and what to give if every server fails.\n\
                 Update DNS: the DNS servers whose records Standby keeps right.\n\n\
                 Tags such as $SERVERIP$ are replaced when a command runs; an unknown tag is \
                 flagged in orange and sent as written."
            }
            HelpTopic::Server => {
                "One IP address of the service. The public address is what DNS gets; \
                 'Poll address' is polled instead when the server sits behind NAT.\n\n\
                 Weight: share of answers in weighted round robin.\n\
                 Pause the set if this server fails: notify, update DNS, then pause the set \
                 until an operator resumes it (no automatic failback).\n\
                 Disabled: off line on purpose, treated as not in the set."
            }
            HelpTopic::Notification => {
                "One way to tell someone about events: e-mail, an HTTP request (a web hook), \
                 a command line, or the system log.\n\n\
                 Tick the events it is sent for. Subject, body, URL and arguments take tags \
                 such as $EVENT$, $SETNAME$, $SERVERIP$, $PROBLEM$ and $TIME$."
            }
            HelpTopic::DnsServer => {
                "A name server whose records Standby keeps right.\n\n\
                 Dynamic update (RFC 2136): one atomic UPDATE message; sign it with TSIG \
                 (key name, algorithm and base64 secret as on the DNS server; Generate makes \
                 a new random secret). Without TSIG the updates are unauthenticated.\n\
                 HTTP: a provider's API; Command line: a program of yours. Both take tags such \
                 as $HOST$, $IP$, $IPS$ and $TTL$.\n\n\
                 Setting up the server:\n\
                 - BIND: Generate a secret, Copy the key clause into named.conf, and give \
                 the zone `update-policy { grant KEYNAME zonesub ANY; };`. A signed zone: \
                 `dnssec-policy default; inline-signing yes;`, named signs each update.\n\
                 - Knot: the same key under `key:`, an `acl:` with `action: update` and \
                 that key, and `acl:` in the zone (`dnssec-signing: on` signs it).\n\
                 - PowerDNS: RFC 2136 (`dnsupdate=yes`, `allow-dnsupdate-from` with \
                 Standby's address, `pdnsutil import-tsig-key KEYNAME hmac-sha256 SECRET` \
                 and `pdnsutil set-meta ZONE TSIG-ALLOW-DNSUPDATE KEYNAME`), or the \
                 PowerDNS API method (`api=yes`, `api-key`, `webserver=yes`; URL, server \
                 id, API key).\n\
                 - Windows DNS: secure dynamic updates need Kerberos (GSS-TSIG), which \
                 Standby does not speak: allow nonsecure updates from Standby's address \
                 only, or use Microsoft DNS (dnscmd) on Windows.\n\
                 - Cloudflare: an API token with Zone > Zone > Read and Zone > DNS > Edit \
                 on the zone (not the global API key).\n\
                 - Route 53: an IAM policy allowing route53:ListHostedZonesByName, \
                 route53:ListResourceRecordSets, route53:ChangeResourceRecordSets and \
                 route53:GetChange; the key in the dialog or from the AWS environment or \
                 profile.\n\n\
                 Re-check: the records are compared again every N minutes and put back if \
                 someone else changed them.\n\
                 Propagation: how many of the zone's name servers give the new records \
                 (\"2 of 3, 1 unknown\"); unknown = not resolved or no answer. Names the \
                 server does not know are resolved by Options > DNS updating > Resolver."
            }
            HelpTopic::EmailDefaults => {
                "The sender, message and SMTP server that e-mail notifications use when \
                 they say 'use the defaults'. Subject and body take tags such as $EVENT$, \
                 $SETNAME$ and $SERVERNAME$."
            }
            HelpTopic::Zone => {
                "A zone delegated to Standby: in the parent zone, NS records for the zone \
                 name point at the name servers listed here (Standby's addresses).\n\n\
                 Standby answers the zone with authority: SOA and NS at the apex, the sets' \
                 host names under it with their addresses, NODATA and NXDOMAIN with the SOA \
                 (resolvers remember a negative answer for the SOA minimum).\n\
                 Name servers: one per line, the name then its addresses. A name inside the \
                 zone needs them (glue), or nobody could find it.\n\
                 The serial grows by itself with every change of what the zone answers.\n\n\
                 Transfers: Standby can be the hidden primary of the zone for secondary \
                 servers (a provider's, BIND, Knot): list their networks under May transfer \
                 (AXFR and IXFR over TCP; others are refused) and their addresses under \
                 NOTIFY (told of every change, so they fetch it at once). With Require TSIG, \
                 a transfer must be signed with the key, which the secondaries are given too."
            }
        }
    }
}

/// The help window; closes itself by its Close button or title bar.
pub fn show(ctx: &egui::Context, help: &mut Option<HelpTopic>) {
    let Some(topic) = *help else {
        return;
    };
    let mut open = true;
    let mut close = false;
    egui::Window::new(topic.title())
        .id(egui::Id::unique("help window"))
        .open(&mut open)
        .collapsible(false)
        .resizable(false)
        .default_width(460.0)
        .order(egui::Order::Foreground)
        .show(ctx, |ui| {
            // The DNS server's guide is long: it scrolls on a small screen.
            egui::ScrollArea::vertical()
                .max_height(420.0)
                .show(ui, |ui| {
                    ui.label(topic.text());
                });
            ui.add_space(6.0);
            if ui.button("Close help").clicked() {
                close = true;
            }
        });
    if !open || close {
        *help = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The DNS server dialog's F1 help is the short form of README's setup guide: every
    /// server and provider, with the piece each one needs.
    #[test]
    fn the_dns_server_help_guides_every_server_and_provider() {
        let text = HelpTopic::DnsServer.text();
        for needed in [
            "BIND",
            "key clause",
            "update-policy",
            "Knot",
            "action: update",
            "PowerDNS",
            "TSIG-ALLOW-DNSUPDATE",
            "PowerDNS API",
            "Windows DNS",
            "dnscmd",
            "Cloudflare",
            "Zone > Zone > Read and Zone > DNS > Edit",
            "Route 53",
            "route53:ListHostedZonesByName",
            "route53:ListResourceRecordSets",
            "route53:ChangeResourceRecordSets",
            "route53:GetChange",
        ] {
            assert!(text.contains(needed), "the help lacks {needed:?}");
        }
    }
}
