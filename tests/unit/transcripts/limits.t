# Recipient limits (RFC 5321 4.5.3.1.8) and pipelining (RFC 2920).

=== too many recipients
O: size=1000 rcpts=100 errors=10
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
C: RCPT TO:<alice@example.org>
S: 250 2.1.5 Ok
C: RCPT TO:<bob@example.org>
S: 250 2.1.5 Ok

=== recipient limit counts accepted recipients only
O: size=1000 rcpts=2 errors=10
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
C: RCPT TO:<nobody@example.org>
S: 550 5.1.1 User unknown
C: RCPT TO:<alice@example.org>
S: 250 2.1.5 Ok
C: RCPT TO:<bob@example.org>
S: 250 2.1.5 Ok
C: RCPT TO:<alice+x@example.org>
S: 452 4.5.3 Too many recipients
C: RCPT TO:<bob@example.org>
S: 452 4.5.3 Too many recipients
C: DATA
S: 354 2.0.0 End data with <CR><LF>.<CR><LF>
C: .
S: 250 2.0.0 Ok: queued as Q1
Q:

=== 452 does not count as an error
O: size=1000 rcpts=1 errors=2
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
C: RCPT TO:<alice@example.org>
S: 250 2.1.5 Ok
C: RCPT TO:<bob@example.org>
S: 452 4.5.3 Too many recipients
C: RCPT TO:<bob@example.org>
S: 452 4.5.3 Too many recipients
C: RCPT TO:<bob@example.org>
S: 452 4.5.3 Too many recipients

=== pipelined transaction in one write
S: 220 mx.example.org ESMTP mailport
R: EHLO c\r\nMAIL FROM:<a@remote.example>\r\nRCPT TO:<alice@example.org>\r\nRCPT TO:<nobody@example.org>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n
S: 250-mx.example.org
S: 250-PIPELINING
S: 250-SIZE 1000
S: 250-ENHANCEDSTATUSCODES
S: 250-8BITMIME
S: 250 SMTPUTF8
S: 250 2.1.0 Ok
S: 250 2.1.5 Ok
S: 550 5.1.1 User unknown
S: 250 2.1.5 Ok
S: 354 2.0.0 End data with <CR><LF>.<CR><LF>
R: hello\r\n.\r\nMAIL FROM:<>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\nsecond\r\n.\r\nQUIT\r\n
S: 250 2.0.0 Ok: queued as Q1
S: 250 2.1.0 Ok
S: 250 2.1.5 Ok
S: 354 2.0.0 End data with <CR><LF>.<CR><LF>
S: 250 2.0.0 Ok: queued as Q2
S: 221 2.0.0 Bye
Q: hello\r\n
Q: second\r\n
