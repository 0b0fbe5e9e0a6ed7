# SMTP smuggling (CVE-2023-51764 class): no sequence but CRLF.CRLF ends data, so one DATA
# never yields two messages. A bare LF is stored as CRLF (the would-be second message is inert
# text inside the first); a bare CR or NUL refuses the message whole.

=== LF.LF
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
R: Subject: a\r\n\r\nbody\n.\nMAIL FROM:<evil@remote.example>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\nsmuggled\r\n.\r\n
S: 250 2.0.0 Ok: queued as Q1
Q: Subject: a\r\n\r\nbody\r\n.\r\nMAIL FROM:<evil@remote.example>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\nsmuggled\r\n

=== CRLF.LF
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
R: Subject: a\r\n\r\nbody\r\n.\nMAIL FROM:<evil@remote.example>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\nsmuggled\r\n.\r\n
S: 250 2.0.0 Ok: queued as Q1
Q: Subject: a\r\n\r\nbody\r\n\r\nMAIL FROM:<evil@remote.example>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\nsmuggled\r\n

=== LF.CRLF
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
R: Subject: a\r\n\r\nbody\n.\r\nMAIL FROM:<evil@remote.example>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\nsmuggled\r\n.\r\n
S: 250 2.0.0 Ok: queued as Q1
Q: Subject: a\r\n\r\nbody\r\n.\r\nMAIL FROM:<evil@remote.example>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\nsmuggled\r\n

=== CR.CRLF
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
R: Subject: a\r\n\r\nbody\r.\r\nMAIL FROM:<evil@remote.example>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\nsmuggled\r\n.\r\n
S: 550 5.6.0 Message refused: bare CR in message data (RFC 5321 2.3.8); nothing stored

=== CR.CR
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
R: Subject: a\r\n\r\nbody\r.\rMAIL FROM:<evil@remote.example>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\nsmuggled\r\n.\r\n
S: 550 5.6.0 Message refused: bare CR in message data (RFC 5321 2.3.8); nothing stored

=== LF.CR LF
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
R: body\n.\r\r\n.\r\n
S: 550 5.6.0 Message refused: bare CR in message data (RFC 5321 2.3.8); nothing stored

=== bare LF lines alone never end
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
R: body\n.\n
E: eof

=== a Unix text file (LF line ends) is stored with CRLF
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
R: Subject: unix\n\nline one\n.line two\n\r\n.\r\n
S: 250 2.0.0 Ok: queued as Q1
Q: Subject: unix\r\n\r\nline one\r\n.line two\r\n\r\n

=== session continues cleanly after a refused message
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
R: a\r.\rb\r\n.\r\n
S: 550 5.6.0 Message refused: bare CR in message data (RFC 5321 2.3.8); nothing stored
C: MAIL FROM:<a@remote.example>
S: 250 2.1.0 Ok
C: RCPT TO:<alice@example.org>
S: 250 2.1.5 Ok
C: DATA
S: 354 2.0.0 End data with <CR><LF>.<CR><LF>
C: clean
C: .
S: 250 2.0.0 Ok: queued as Q1
Q: clean\r\n
