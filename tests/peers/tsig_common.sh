# Sourced by bind.sh and knot.sh (not run on its own): what a primary of the test zone
# example.test writes on its first run, the same for both servers so that the tests (and
# tests/peers/mod.rs, which reads keys.txt) treat them alike.

# make_tsig_keys KEYS_TXT ADD_KEY
# Makes one random TSIG key per algorithm (all six; each secret as long as its hash) and
# writes KEYS_TXT, one "ALGORITHM KEY-NAME BASE64-SECRET" line per key. Calls
# `ADD_KEY ALGORITHM KEY-NAME SECRET` for each, so the server script can add it to its own
# configuration.
make_tsig_keys() {
    local keys_txt=$1 add_key=$2 alg len secret name
    : >"$keys_txt"
    for alg in hmac-md5 hmac-sha1 hmac-sha224 hmac-sha256 hmac-sha384 hmac-sha512; do
        case $alg in
            hmac-md5) len=16 ;; hmac-sha1) len=20 ;; hmac-sha224) len=28 ;;
            hmac-sha256) len=32 ;; hmac-sha384) len=48 ;; hmac-sha512) len=64 ;;
        esac
        secret=$(head -c "$len" /dev/urandom | base64 -w0)
        name="key-$alg"
        echo "$alg $name $secret" >>"$keys_txt"
        "$add_key" "$alg" "$name" "$secret"
    done
}

# write_zone FILE ADDR
# The zone file of example.test, with its name server ns1 at ADDR.
write_zone() {
    cat >"$1" <<ZONE
\$TTL 60
@       IN SOA  ns1 hostmaster 1 3600 600 86400 60
        IN NS   ns1
ns1     IN A    $2
www     IN A    192.0.2.10
www     IN AAAA 2001:db8::10
*.wild  IN A    192.0.2.20
; a child zone served elsewhere (a referral)
sub     IN NS   ns.elsewhere.test.
ZONE
}
