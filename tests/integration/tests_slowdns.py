"""Time limits belong to a lookup and to a message, never to the whole server: a sender who owns
a domain whose DNS answers slowly (or never) gets temperror for its own mail, and every other
sender's mail, sent just after or at the same time, is checked in full (here: SPF fail and
DMARC p=reject, refused under dmarc_reject). Only a resolver that does not answer a question of
mailport's own (the root's NS) makes mail be checked without DNS for a while. DNS is
zonedns.py on loopback; the client is python3 smtplib."""
import smtplib
import threading
import time

from harness import Server
from zonedns import ZoneDNS

ZONE = {
    "forged.example": [{"TXT": "v=spf1 -all"}],
    "_dmarc.forged.example": [{"TXT": "v=DMARC1; p=reject"}],
    "good.example": [{"TXT": "v=spf1 ip4:127.0.0.0/8 -all"}],
    "slow.example": [{"TXT": "v=spf1 -all"}],
    "_dmarc.slow.example": [{"TXT": "v=DMARC1; p=reject"}],
}


def message(domain, subject):
    return (f"From: <x@{domain}>\r\nTo: <bob@example.test>\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject.replace(' ', '.')}@{domain}>\r\n\r\nhi\r\n").encode()


def send(srv, domain, subject):
    """The reply to the end of DATA: (code, text)."""
    with smtplib.SMTP(srv.host, srv.port, timeout=90) as s:
        s.ehlo("client.example")
        s.mail(f"x@{domain}")
        s.rcpt("bob@example.test")
        return s.data(message(domain, subject))


def start(dns):
    srv = Server(sender_checks=True, resolver=f"127.0.0.1:{dns.port}", extra="\n[smtp]\ndmarc_reject = yes\n")
    srv.start()
    return srv


def test_a_slow_domain_degrades_only_its_own_checks():
    # slow.example's questions are answered after 30 s: longer than one lookup (5 s) and one
    # message's lookups (20 s) may take
    dns = ZoneDNS(ZONE, slow={"slow.example": 30, "_dmarc.slow.example": 30})
    srv = start(dns)
    try:
        t0 = time.time()
        code, _ = send(srv, "slow.example", "slow one")
        waited = time.time() - t0
        assert code == 250, code             # temperror for SPF and DMARC: never a refusal
        # right after it, a forged sender is judged in full: SPF fail, DMARC fail, p=reject
        code, text = send(srv, "forged.example", "forged after")
        assert code == 550 and b"5.7.1" in text, (code, text)
        code, _ = send(srv, "good.example", "good after")
        assert code == 250, code
        # and while another slow message waits for its lookups
        box = {}
        th = threading.Thread(target=lambda: box.update(slow=send(srv, "slow.example", "slow two")))
        asked = dns.queries.count(("slow.example", "TXT"))
        th.start()
        # the forged one goes while the slow one's SPF lookup is under way
        deadline = time.time() + 30
        while dns.queries.count(("slow.example", "TXT")) == asked and time.time() < deadline:
            time.sleep(0.05)
        assert dns.queries.count(("slow.example", "TXT")) > asked, dns.queries
        code, text = send(srv, "forged.example", "forged during")
        assert code == 550 and b"5.7.1" in text, (code, text)
        th.join(90)
        assert box["slow"][0] == 250, box
        log = srv.log()
        assert "took over" in log and "other mail is checked as usual" in log, log[-3000:]
        assert "does not answer" not in log, log[-3000:]
        msgs = srv.wait_messages("bob", 3)
        slow = [m for m in msgs if b"Subject: slow one" in m][0]
        assert b"spf=temperror" in slow, slow[:600]
        # the lookups' limits, not the 30 s the DNS server takes, are what the slow sender waited
        assert waited < 25, waited
        srv.stop()
        srv.check_sanitizers()
    finally:
        srv.cleanup()
        dns.close()


def test_a_dead_resolver_is_noticed_once():
    # every question times out: the root's NS too, so the resolver itself is dead
    dns = ZoneDNS(ZONE, slow={"forged.example": 60, "": 60, "_dmarc.forged.example": 60})
    srv = start(dns)
    try:
        code, _ = send(srv, "forged.example", "first")
        assert code == 250, code             # temperror: accepted, never refused on a DNS failure
        asked = len(dns.queries)
        code, _ = send(srv, "forged.example", "second")
        assert code == 250, code
        # checked without DNS: not one question asked, so nothing waited for it again
        assert len(dns.queries) == asked, dns.queries[asked:]
        log = srv.log()
        assert "does not answer; for the next 30 s mail is checked without DNS" in log, log[-3000:]
        srv.stop()
        srv.check_sanitizers()
    finally:
        srv.cleanup()
        dns.close()
