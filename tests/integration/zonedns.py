"""A DNS server on loopback that answers from a table in the SPF test suites' own form (the
`zonedata:` of RFC 7208's suite, as pyspf's testspf.py reads it), over UDP and TCP, for
the tests that need answers Debian's unbound will not serve from local data: TXT records with
no strings or with NUL octets, names that time out, CNAME chains, a name that answers slowly.

Table: {name: [ {TYPE: value}, ..., "TIMEOUT" ]}. TYPE is A, AAAA, MX ([pref, host]), PTR,
CNAME, TXT or SPF (a string or a list of strings, one record); an SPF record also makes a TXT
record unless the name has TXT records of its own (the suite's convention); "TIMEOUT" before
any record of the asked type, or a record whose value is "TIMEOUT", makes that question fail
(SERVFAIL at once, the resolver's own answer to a server that timed out, so the suites do not
wait out each one; with drop_timeouts, no answer at all); a name not in the table is NXDOMAIN, except error.* which fails.
slow = {name: seconds}: questions for name are answered after that delay, on their own thread.
Every answer has TTL 0 and the RA bit (the server is a resolver to its clients)."""
import socket
import struct
import threading
import time

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.rdata

from harness import free_port


def _strings(v):
    if isinstance(v, str):
        v = [v]
    return [s.encode("utf-8") if isinstance(s, str) else s for s in v]


def load(zonedata):
    """The suite's zonedata as {lowercase name: [("TYPE", value) | "TIMEOUT"]}."""
    zone = {}
    for name, recs in zonedata.items():
        out, gen, has_txt = [], [], any(isinstance(r, dict) and "TXT" in r for r in recs)
        for r in recs:
            if isinstance(r, str):
                out.append(r)
                continue
            for t, v in r.items():
                if v == "NONE" or v == ["NONE"]:
                    continue
                out.append((t, v))
                if t == "SPF" and not has_txt:
                    gen.append(("TXT", v))
        zone[name.lower().rstrip(".")] = out + gen
    return zone


class ZoneDNS:
    def __init__(self, zonedata=None, slow=None, drop_timeouts=False):
        self.zone = load(zonedata or {})
        self.drop_timeouts = drop_timeouts
        self.slow = {k.lower(): v for k, v in (slow or {}).items()}
        self.queries = []               # (name, type) as asked, for tests that count them
        self.lock = threading.Lock()
        self.stopping = False
        self.port = free_port()
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", self.port))
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind(("127.0.0.1", self.port))
        self.tcp.listen(16)
        self.threads = [threading.Thread(target=self._serve_udp, daemon=True),
                        threading.Thread(target=self._serve_tcp, daemon=True)]
        for t in self.threads:
            t.start()

    def set_zone(self, zonedata):
        with self.lock:
            self.zone = load(zonedata)

    # ---- answering ------------------------------------------------------------------------

    def _rdata(self, t, v):
        IN = dns.rdataclass.IN
        if t in ("TXT", "SPF"):
            return dns.rdtypes.ANY.TXT.TXT(IN, dns.rdatatype.from_text(t), _strings(v))
        if t == "MX":
            return dns.rdata.from_text(IN, dns.rdatatype.MX, f"{v[0]} {v[1].rstrip('.')}.")
        if t in ("PTR", "CNAME"):
            return dns.rdata.from_text(IN, dns.rdatatype.from_text(t), v.rstrip(".") + ".")
        return dns.rdata.from_text(IN, dns.rdatatype.from_text(t), v)

    def _lookup(self, name, qtype, depth=0):
        """(rcode, [(owner, type, value)]) as the table says."""
        with self.lock:
            recs = self.zone.get(name)
        if recs is None:
            return (dns.rcode.SERVFAIL if name.startswith("error.") else dns.rcode.NXDOMAIN), []
        seen, out = False, []
        for r in recs:
            if r == "TIMEOUT":
                if not seen:
                    return dns.rcode.SERVFAIL, []
                continue
            t, v = r
            if t == qtype:
                seen = True
                if v == "TIMEOUT":
                    return dns.rcode.SERVFAIL, []
                out.append((name, t, v))
            elif t == "CNAME" and qtype != "CNAME":
                if depth >= 8:              # a loop: what a resolver says of one
                    return dns.rcode.SERVFAIL, []
                rc, more = self._lookup(v.lower().rstrip("."), qtype, depth + 1)
                return rc, [(name, t, v)] + more
        return dns.rcode.NOERROR, out

    def answer(self, wire):
        q = dns.message.from_wire(wire)
        resp = dns.message.make_response(q)
        resp.flags |= dns.flags.RA
        question = q.question[0]
        # the octets of the labels, not the presentation form (which writes a space as \032)
        name = b".".join(label for label in question.name.labels if label).decode("utf-8", "replace").lower()
        qtype = dns.rdatatype.to_text(question.rdtype)
        with self.lock:
            self.queries.append((name, qtype))
        delay = self.slow.get(name)
        if delay:
            time.sleep(delay)
        rcode, recs = self._lookup(name, qtype)
        if rcode == dns.rcode.SERVFAIL and self.drop_timeouts:
            return None
        resp.set_rcode(rcode)
        for owner, t, v in recs:
            rd = self._rdata(t, v)
            rrset = resp.find_rrset(resp.answer, dns.name.from_text(owner), dns.rdataclass.IN, rd.rdtype,
                                    create=True)
            rrset.add(rd, 0)
        return resp.to_wire(max_size=65535)

    # ---- transport -------------------------------------------------------------------------

    def _reply_udp(self, data, peer):
        try:
            out = self.answer(data)
            if out is not None:
                self.udp.sendto(out, peer)
        except Exception:
            pass

    def _serve_udp(self):
        while not self.stopping:
            try:
                data, peer = self.udp.recvfrom(65535)
            except OSError:
                return
            threading.Thread(target=self._reply_udp, args=(data, peer), daemon=True).start()

    def _serve_conn(self, c):
        try:
            c.settimeout(10)
            while True:
                n = c.recv(2)
                if len(n) < 2:
                    return
                want = struct.unpack("!H", n)[0]
                data = b""
                while len(data) < want:
                    chunk = c.recv(want - len(data))
                    if not chunk:
                        return
                    data += chunk
                out = self.answer(data)
                if out is None:
                    return
                c.sendall(struct.pack("!H", len(out)) + out)
        except Exception:
            pass
        finally:
            c.close()

    def _serve_tcp(self):
        while not self.stopping:
            try:
                c, _ = self.tcp.accept()
            except OSError:
                return
            threading.Thread(target=self._serve_conn, args=(c,), daemon=True).start()

    def close(self):
        self.stopping = True
        for s in (self.udp, self.tcp):
            try:
                s.close()
            except OSError:
                pass
