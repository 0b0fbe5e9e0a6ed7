"""A scriptable SMTP server for tests: plaintext, optionally offering STARTTLS (Python's ssl),
with per-session reply overrides, recording every command and every accepted message.
Used where a real server cannot be made to misbehave on cue (4xx then 250, 5xx, stalls)."""
import socket
import ssl
import threading


class FakeSMTP:
    def __init__(self, starttls_cert=None, script=None, greet_delay=0, tls_max=None, accepted=None):
        """script(session_no, command_upper) -> reply line or None for the default;
        the special reply "HANG" stops answering (the connection stays open). tls_max: the
        newest TLS version STARTTLS negotiates (an ssl.TLSVersion; an old one is offered alone,
        at OpenSSL security level 0, as an outdated server does). accepted(body): called for
        each message accepted, with the lock held, just before its 250 goes out."""
        self.tls_max = tls_max
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.cert = starttls_cert
        self.greet_delay = greet_delay
        self.script = script or (lambda n, cmd: None)
        self.accepted = accepted
        self.sessions = []          # list of lists of received command lines
        self.messages = []          # accepted message bodies (bytes)
        self.lock = threading.Lock()
        self.active = 0
        self.max_active = 0             # most sessions open at the same time
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn):
        with self.lock:
            n = len(self.sessions)
            log = []
            self.sessions.append(log)
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        f = conn.makefile("rb")
        tls = False

        def send(line):
            conn.sendall(line.encode() + b"\r\n")

        try:
            if self.greet_delay:
                threading.Event().wait(self.greet_delay)
            send("220 fake.test ESMTP")
            while True:
                raw = f.readline()
                if not raw:
                    return
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                log.append(line)
                cmd = line.split(" ")[0].upper()
                override = self.script(n, cmd)
                if override == "HANG":
                    threading.Event().wait(60)
                    return
                if override is not None:
                    send(override)
                    if override.startswith("221") or override.startswith("421"):
                        return
                    continue
                if cmd == "EHLO":
                    caps = ["250-fake.test", "250-PIPELINING", "250-8BITMIME"]
                    if self.cert and not tls:
                        caps.append("250-STARTTLS")
                    caps.append("250 SIZE 10000000")
                    send("\r\n".join(caps))
                elif cmd == "STARTTLS" and self.cert and not tls:
                    send("220 2.0.0 go ahead")
                    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                    if self.tls_max is not None:
                        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
                        ctx.minimum_version = ssl.TLSVersion.TLSv1
                        ctx.maximum_version = self.tls_max
                    ctx.load_cert_chain(*self.cert)
                    conn = ctx.wrap_socket(conn, server_side=True)
                    f = conn.makefile("rb")
                    tls = True
                    log.append("<TLS>")
                elif cmd == "DATA":
                    send("354 go ahead")
                    body = b""
                    while True:
                        l2 = f.readline()
                        if not l2 or l2 == b".\r\n":
                            break
                        body += l2
                    if not l2:
                        return
                    o2 = self.script(n, "END")
                    if o2 == "HANG":
                        threading.Event().wait(60)
                        return
                    if o2 is None or o2.startswith("250"):
                        with self.lock:
                            self.messages.append(body)
                            if self.accepted is not None:
                                self.accepted(body)
                    send(o2 or "250 2.0.0 accepted")
                elif cmd == "QUIT":
                    send("221 bye")
                    return
                else:
                    send("250 ok")
        except (OSError, ssl.SSLError):
            return
        finally:
            with self.lock:
                self.active -= 1
            conn.close()

    def commands(self):
        with self.lock:
            return [c for s in self.sessions for c in s]

    def close(self):
        self.stopping = True
        self.sock.close()
