#!/usr/bin/env bash
# Starts BIND 9 in the foreground for the DNS probe tests: authoritative for example.test,
# no recursion, on IP (an address an interface carries, e.g. 127.0.0.1) and PORT.
#   tests/peers/named_probe.sh DIR IP PORT
# DIR is an empty temp dir for the config and zone; the process is replaced by named, so
# the caller stops it by the PID it started.
set -euo pipefail
dir=$1 ip=$2 port=$3
{
    echo '$TTL 60'
    echo '@ IN SOA ns1.example.test. hostmaster.example.test. 1 3600 600 86400 60'
    echo '@ IN NS ns1'
    echo "ns1 IN A $ip"
    echo 'www IN A 192.0.2.10'
    echo 'www IN AAAA 2001:db8::10'
    # More A records than fit a 512-byte UDP answer: the answer comes truncated.
    for i in $(seq 1 40); do echo "big IN A 198.51.100.$i"; done
} > "$dir/example.test.db"
cat > "$dir/named.conf" <<CONF
options {
    directory "$dir";
    pid-file "$dir/named.pid";
    listen-on port $port { $ip; };
    listen-on-v6 { none; };
    recursion no;
    allow-query { any; };
    dnssec-validation no;
};
controls { };
zone "example.test" { type primary; file "$dir/example.test.db"; };
CONF
exec named -g -c "$dir/named.conf"
