# DATA: unstuffing, limits, and the only end of data, CRLF.CRLF.

=== dot stuffing removed
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
C: DATA
S: 354 2.0.0 End data with <CR><LF>.<CR><LF>
C: ..leading dot
C: ...
C: middle.dot
C: .
S: 250 2.0.0 Ok: queued as Q1
Q: .leading dot\r\n..\r\nmiddle.dot\r\n

=== empty message
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
C: DATA
S: 354 2.0.0 End data with <CR><LF>.<CR><LF>
C: .
S: 250 2.0.0 Ok: queued as Q1
Q:

=== 8bit content kept
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
C: DATA
S: 354 2.0.0 End data with <CR><LF>.<CR><LF>
C: caf\xc3\xa9
C: .
S: 250 2.0.0 Ok: queued as Q1
Q: caf\xc3\xa9\r\n

=== message too large
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
C: DATA
S: 354 2.0.0 End data with <CR><LF>.<CR><LF>
R: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n
C: .
S: 552 5.3.4 Message size exceeds fixed limit of 1000 octets; nothing stored
C: NOOP
S: 250 2.0.0 Ok

=== message at the limit
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
C: DATA
S: 354 2.0.0 End data with <CR><LF>.<CR><LF>
R: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n
C: .
S: 250 2.0.0 Ok: queued as Q1
Q: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n

=== declared size over the limit
S: 220 mx.example.org ESMTP mailport
C: EHLO c
S: 250-mx.example.org
S: 250-PIPELINING
S: 250-SIZE 1000
S: 250-ENHANCEDSTATUSCODES
S: 250-8BITMIME
S: 250 SMTPUTF8
C: MAIL FROM:<a@remote.example> SIZE=1001
S: 552 5.3.4 Message size exceeds fixed limit of 1000 octets
C: MAIL FROM:<a@remote.example> SIZE=99999999999999999999
S: 552 5.3.4 Message size exceeds fixed limit of 1000 octets

=== spool refuses to open
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
E: fail-begin
C: DATA
S: 451 4.3.0 Local error: cannot queue now, try again later
C: DATA
S: 354 2.0.0 End data with <CR><LF>.<CR><LF>
C: .
S: 250 2.0.0 Ok: queued as Q1
Q:

=== write error means 451 and nothing stored
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
C: DATA
S: 354 2.0.0 End data with <CR><LF>.<CR><LF>
E: fail-write
C: some text
C: .
S: 451 4.3.0 Local error in processing; message not stored, try again later

=== commit error means 451
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
C: DATA
S: 354 2.0.0 End data with <CR><LF>.<CR><LF>
E: fail-commit
C: some text
C: .
S: 451 4.3.0 Local error: message not queued, try again later
C: MAIL FROM:<a@remote.example>
S: 250 2.1.0 Ok

=== no space while writing means 452 4.3.1
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
C: DATA
S: 354 2.0.0 End data with <CR><LF>.<CR><LF>
E: full-write
C: some text
C: .
S: 452 4.3.1 Insufficient system storage; message not stored, try again later

=== no space at the commit means 452 4.3.1
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
C: DATA
S: 354 2.0.0 End data with <CR><LF>.<CR><LF>
E: full-commit
C: some text
C: .
S: 452 4.3.1 Insufficient system storage; message not queued, try again later
C: MAIL FROM:<a@remote.example>
S: 250 2.1.0 Ok

=== NUL in data is refused
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
C: DATA
S: 354 2.0.0 End data with <CR><LF>.<CR><LF>
R: a\0b\r\n.\r\n
S: 550 5.6.0 Message refused: NUL octet in message data (RFC 5321 2.3.8); nothing stored

=== pipelined commands after the end marker
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
C: DATA
S: 354 2.0.0 End data with <CR><LF>.<CR><LF>
R: body\r\n.\r\nNOOP\r\nQUIT\r\n
S: 250 2.0.0 Ok: queued as Q1
S: 250 2.0.0 Ok
S: 221 2.0.0 Bye
Q: body\r\n

=== a line with only spaces and a dot is content
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
C: DATA
S: 354 2.0.0 End data with <CR><LF>.<CR><LF>
C:  .
C: . 
C: .
S: 250 2.0.0 Ok: queued as Q1
Q:  .\r\n \r\n

=== sender policy refusal leaves no transaction
S: 220 mx.example.org ESMTP mailport
C: EHLO c
S: 250-mx.example.org
S: 250-PIPELINING
S: 250-SIZE 1000
S: 250-ENHANCEDSTATUSCODES
S: 250-8BITMIME
S: 250 SMTPUTF8
C: MAIL FROM:<full@remote.example>
S: 452 4.3.1 Insufficient system storage
C: RCPT TO:<alice@example.org>
S: 503 5.5.1 Error: need MAIL command
C: MAIL FROM:<a@remote.example>
S: 250 2.1.0 Ok

=== no space at DATA
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
E: full-begin
C: DATA
S: 452 4.3.1 Insufficient system storage, try again later
C: RSET
S: 250 2.0.0 Ok
