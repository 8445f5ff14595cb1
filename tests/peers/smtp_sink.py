#!/usr/bin/python3
"""A real SMTP server for the notification tests (aiosmtpd, Debian's python3-aiosmtpd).

Runs in the foreground on HOST:PORT and writes every delivered message to DIR as
N.eml (written to a temp name, then renamed, so a reader never sees half a message).
Prints "ready" on stdout once it listens.

  smtp_sink.py HOST PORT DIR [--cert C --key K [--implicit-tls]] [--auth USER:PASSWORD]
              [--fail-first N]

--cert/--key offer STARTTLS (or TLS from the first byte with --implicit-tls);
--auth requires a login (PLAIN or LOGIN) and answers 535 to a wrong one.
--fail-first N answers the first N messages "451 try again later" and keeps each of them
as rejected-N.eml (so a test can compare a retry with the try that failed).
"""
import argparse
import asyncio
import itertools
import os
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Sink:
    def __init__(self, directory, fail_first=0):
        self.directory = directory
        self.counter = itertools.count(1)
        self.rejects = itertools.count(1)
        self.fail_first = fail_first

    async def handle_DATA(self, server, session, envelope):
        if self.fail_first > 0:
            self.fail_first -= 1
            r = next(self.rejects)
            with open(os.path.join(self.directory, f"rejected-{r}.eml"), "wb") as f:
                f.write(envelope.original_content or envelope.content)
            return "451 try again later"
        n = next(self.counter)
        tmp = os.path.join(self.directory, f".{n}.tmp")
        with open(tmp, "wb") as f:
            f.write(b"X-Envelope-From: " + envelope.mail_from.encode() + b"\r\n")
            f.write(b"X-Envelope-To: " + ", ".join(envelope.rcpt_tos).encode() + b"\r\n")
            f.write(envelope.original_content or envelope.content)
        os.rename(tmp, os.path.join(self.directory, f"{n}.eml"))
        return "250 OK stored as message %d" % n


def main():
    p = argparse.ArgumentParser()
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("dir")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--implicit-tls", action="store_true")
    p.add_argument("--auth")
    p.add_argument("--fail-first", type=int, default=0)
    a = p.parse_args()

    context = None
    if a.cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(a.cert, a.key)

    authenticator = None
    if a.auth:
        user, password = a.auth.split(":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = (
                isinstance(auth_data, LoginPassword)
                and auth_data.login.decode() == user
                and auth_data.password.decode() == password
            )
            # handled=False: aiosmtpd then answers 535 itself.
            return AuthResult(success=ok, handled=False)

    handler = Sink(a.dir, a.fail_first)

    def factory():
        return SMTP(
            handler,
            hostname="sink.test",
            tls_context=None if a.implicit_tls else context,
            require_starttls=bool(context) and not a.implicit_tls,
            authenticator=authenticator,
            auth_required=bool(a.auth),
            auth_require_tls=False,
        )

    async def serve():
        server = await asyncio.get_running_loop().create_server(
            factory, a.host, a.port, ssl=context if a.implicit_tls else None
        )
        print("ready", flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


if __name__ == "__main__":
    sys.exit(main())
