"""Run python3-aiosmtpd (Debian) as a submission server: STARTTLS required, AUTH (PLAIN, LOGIN)
only inside TLS, one user alice/secret. Prints each message it accepts. Usage:
aiosmtpd_auth.py PORT CERT KEY"""
import ssl
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Handler:
    async def handle_DATA(self, server, session, envelope):
        print(f"MESSAGE from={envelope.mail_from} to={','.join(envelope.rcpt_tos)} auth={bool(session.authenticated)}")
        print(envelope.content.decode("utf-8", "replace"), flush=True)
        return "250 2.0.0 OK"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"alice" and auth_data.password == b"secret"
    return AuthResult(success=ok)


port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)
controller = Controller(Handler(), hostname="127.0.0.1", port=port, tls_context=ctx, require_starttls=True,
                        authenticator=authenticator, auth_require_tls=True)
controller.start()
print("READY", flush=True)
threading.Event().wait()
