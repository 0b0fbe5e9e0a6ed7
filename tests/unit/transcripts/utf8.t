# RFC 6531 SMTPUTF8.

=== utf8 sender with SMTPUTF8
S: 220 mx.example.org ESMTP mailport
C: EHLO c
S: 250-mx.example.org
S: 250-PIPELINING
S: 250-SIZE 1000
S: 250-ENHANCEDSTATUSCODES
S: 250-8BITMIME
S: 250 SMTPUTF8
C: MAIL FROM:<j\xc3\xb6rg@remote.example> SMTPUTF8
S: 250 2.1.0 Ok
C: RCPT TO:<j\xc3\xb6rg@example.org>
S: 250 2.1.5 Ok

=== utf8 sender without SMTPUTF8
S: 220 mx.example.org ESMTP mailport
C: EHLO c
S: 250-mx.example.org
S: 250-PIPELINING
S: 250-SIZE 1000
S: 250-ENHANCEDSTATUSCODES
S: 250-8BITMIME
S: 250 SMTPUTF8
C: MAIL FROM:<j\xc3\xb6rg@remote.example>
S: 553 5.6.7 Non-ASCII sender address requires SMTPUTF8

=== utf8 recipient without SMTPUTF8 on MAIL
S: 220 mx.example.org ESMTP mailport
C: EHLO c
S: 250-mx.example.org
S: 250-PIPELINING
S: 250-SIZE 1000
S: 250-ENHANCEDSTATUSCODES
S: 250-8BITMIME
S: 250 SMTPUTF8
C: MAIL FROM:<a@remote.example>
S: 250 2.1.0 Ok
C: RCPT TO:<j\xc3\xb6rg@example.org>
S: 553 5.6.7 Non-ASCII recipient needs SMTPUTF8 on MAIL FROM

=== utf8 domain with SMTPUTF8
S: 220 mx.example.org ESMTP mailport
C: EHLO c
S: 250-mx.example.org
S: 250-PIPELINING
S: 250-SIZE 1000
S: 250-ENHANCEDSTATUSCODES
S: 250-8BITMIME
S: 250 SMTPUTF8
C: MAIL FROM:<a@b\xc3\xbccher.example> SMTPUTF8
S: 250 2.1.0 Ok

=== invalid utf8 is a syntax error
S: 220 mx.example.org ESMTP mailport
C: EHLO c
S: 250-mx.example.org
S: 250-PIPELINING
S: 250-SIZE 1000
S: 250-ENHANCEDSTATUSCODES
S: 250-8BITMIME
S: 250 SMTPUTF8
C: MAIL FROM:<bad\xc3\x28@remote.example> SMTPUTF8
S: 501 5.1.7 Bad sender address syntax
C: MAIL FROM:<bad\xff@remote.example> SMTPUTF8
S: 501 5.1.7 Bad sender address syntax
