#!/usr/bin/env bash
# Starts Dovecot (POP3 + IMAP) in the foreground for the probe tests.
#   tests/peers/dovecot.sh DIR IP POP3_PORT IMAP_PORT
# DIR is an empty temp dir that receives the config, state and mail; the process is
# replaced by dovecot, so the caller stops it by the PID it started. User `standby`,
# password `secret`. As root (CI) dovecot drops to its own users (dovecot, dovenull),
# which Debian's package creates.
set -euo pipefail
dir=$1 ip=$2 pop3=$3 imap=$4
mkdir -p "$dir/run" "$dir/state" "$dir/mail"
echo 'standby:{PLAIN}secret' > "$dir/users"
if [ "$(id -u)" -eq 0 ]; then
    chown nobody:nogroup "$dir/mail"
    user=nobody group=nogroup
else
    user=$(id -un) group=$(id -gn)
fi
cat > "$dir/dovecot.conf" <<CONF
base_dir = $dir/run
state_dir = $dir/state
log_path = /dev/stderr
protocols = pop3 imap
listen = $ip
ssl = no
auth_mechanisms = plain
disable_plaintext_auth = no
login_greeting = Dovecot ready.
passdb {
  driver = passwd-file
  args = $dir/users
}
userdb {
  driver = static
  args = uid=$user gid=$group home=$dir/mail/%u
}
mail_location = maildir:$dir/mail/%u
service imap-login {
  inet_listener imap {
    port = $imap
  }
  inet_listener imaps {
    port = 0
  }
}
service pop3-login {
  inet_listener pop3 {
    port = $pop3
  }
  inet_listener pop3s {
    port = 0
  }
}
CONF
exec dovecot -F -c "$dir/dovecot.conf"
