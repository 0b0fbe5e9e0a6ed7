# Ordinary sessions: what every client does.

=== greeting then quit
S: 220 mx.example.org ESMTP mailport
C: QUIT
S: 221 2.0.0 Bye

=== ehlo lists extensions
S: 220 mx.example.org ESMTP mailport
C: EHLO client.example
S: 250-mx.example.org
S: 250-PIPELINING
S: 250-SIZE 1000
S: 250-ENHANCEDSTATUSCODES
S: 250-8BITMIME
S: 250 SMTPUTF8

=== helo is one line
S: 220 mx.example.org ESMTP mailport
C: HELO client.example
S: 250 mx.example.org

=== one message
S: 220 mx.example.org ESMTP mailport
C: HELO c
S: 250 mx.example.org
C: MAIL FROM:<sender@remote.example>
S: 250 2.1.0 Ok
C: RCPT TO:<alice@example.org>
S: 250 2.1.5 Ok
C: DATA
S: 354 2.0.0 End data with <CR><LF>.<CR><LF>
C: Subject: hi
C:
C: hello
C: .
S: 250 2.0.0 Ok: queued as Q1
Q: Subject: hi\r\n\r\nhello\r\n
C: QUIT
S: 221 2.0.0 Bye

=== two messages in one session
S: 220 mx.example.org ESMTP mailport
C: EHLO c
S: 250-mx.example.org
S: 250-PIPELINING
S: 250-SIZE 1000
S: 250-ENHANCEDSTATUSCODES
S: 250-8BITMIME
S: 250 SMTPUTF8
C: MAIL FROM:<>
S: 250 2.1.0 Ok
C: RCPT TO:<bob@example.org>
S: 250 2.1.5 Ok
C: DATA
S: 354 2.0.0 End data with <CR><LF>.<CR><LF>
C: one
C: .
S: 250 2.0.0 Ok: queued as Q1
C: MAIL FROM:<a@remote.example>
S: 250 2.1.0 Ok
C: RCPT TO:<alice@example.org>
S: 250 2.1.5 Ok
C: DATA
S: 354 2.0.0 End data with <CR><LF>.<CR><LF>
C: two
C: .
S: 250 2.0.0 Ok: queued as Q2
Q: one\r\n
Q: two\r\n

=== case-insensitive verbs and domain, plus-tag
S: 220 mx.example.org ESMTP mailport
C: helo c
S: 250 mx.example.org
C: mail from:<a@remote.example>
S: 250 2.1.0 Ok
C: rcpt to:<Alice+News@EXAMPLE.ORG>
S: 250 2.1.5 Ok
C: data
S: 354 2.0.0 End data with <CR><LF>.<CR><LF>
C: x
C: .
S: 250 2.0.0 Ok: queued as Q1
Q: x\r\n

=== space after colon is tolerated
S: 220 mx.example.org ESMTP mailport
C: HELO c
S: 250 mx.example.org
C: MAIL FROM: <a@remote.example>
S: 250 2.1.0 Ok
C: RCPT TO: <alice@example.org>
S: 250 2.1.5 Ok

=== address without brackets is tolerated
S: 220 mx.example.org ESMTP mailport
C: HELO c
S: 250 mx.example.org
C: MAIL FROM:a@remote.example
S: 250 2.1.0 Ok
C: RCPT TO:alice@example.org
S: 250 2.1.5 Ok

=== postmaster without domain
S: 220 mx.example.org ESMTP mailport
C: HELO c
S: 250 mx.example.org
C: MAIL FROM:<>
S: 250 2.1.0 Ok
C: RCPT TO:<Postmaster>
S: 250 2.1.5 Ok

=== duplicate recipient delivered once
S: 220 mx.example.org ESMTP mailport
C: HELO c
S: 250 mx.example.org
C: MAIL FROM:<a@remote.example>
S: 250 2.1.0 Ok
C: RCPT TO:<alice@example.org>
S: 250 2.1.5 Ok
C: RCPT TO:<postmaster@example.org>
S: 250 2.1.5 Ok
C: RCPT TO:<ALICE@example.org>
S: 250 2.1.5 Ok
C: DATA
S: 354 2.0.0 End data with <CR><LF>.<CR><LF>
C: .
S: 250 2.0.0 Ok: queued as Q1
Q:

=== rset drops the transaction
S: 220 mx.example.org ESMTP mailport
C: HELO c
S: 250 mx.example.org
C: MAIL FROM:<a@remote.example>
S: 250 2.1.0 Ok
C: RSET
S: 250 2.0.0 Ok
C: RCPT TO:<alice@example.org>
S: 503 5.5.1 Error: need MAIL command
C: MAIL FROM:<a@remote.example>
S: 250 2.1.0 Ok

=== ehlo again resets the transaction
S: 220 mx.example.org ESMTP mailport
C: HELO c
S: 250 mx.example.org
C: MAIL FROM:<a@remote.example>
S: 250 2.1.0 Ok
C: HELO d
S: 250 mx.example.org
C: RCPT TO:<alice@example.org>
S: 503 5.5.1 Error: need MAIL command

=== noop vrfy help
S: 220 mx.example.org ESMTP mailport
C: NOOP
S: 250 2.0.0 Ok
C: NOOP with argument
S: 250 2.0.0 Ok
C: VRFY alice
S: 252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery
C: HELP
S: 214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP

=== input after quit is ignored
S: 220 mx.example.org ESMTP mailport
R: QUIT\r\nNOOP\r\nNOOP\r\n
S: 221 2.0.0 Bye

=== size parameter within limit
S: 220 mx.example.org ESMTP mailport
C: EHLO c
S: 250-mx.example.org
S: 250-PIPELINING
S: 250-SIZE 1000
S: 250-ENHANCEDSTATUSCODES
S: 250-8BITMIME
S: 250 SMTPUTF8
C: MAIL FROM:<a@remote.example> SIZE=1000 BODY=8BITMIME
S: 250 2.1.0 Ok

=== body 7bit accepted
S: 220 mx.example.org ESMTP mailport
C: EHLO c
S: 250-mx.example.org
S: 250-PIPELINING
S: 250-SIZE 1000
S: 250-ENHANCEDSTATUSCODES
S: 250-8BITMIME
S: 250 SMTPUTF8
C: MAIL FROM:<a@remote.example> body=7bit
S: 250 2.1.0 Ok

=== bare LF terminates commands too
S: 220 mx.example.org ESMTP mailport
R: HELO c\nNOOP\n
S: 250 mx.example.org
S: 250 2.0.0 Ok

=== address literal sender
S: 220 mx.example.org ESMTP mailport
C: HELO [192.0.2.1]
S: 250 mx.example.org
C: MAIL FROM:<a@[192.0.2.1]>
S: 250 2.1.0 Ok
C: RCPT TO:<bob@example.org>
S: 250 2.1.5 Ok

=== quoted local part sender
S: 220 mx.example.org ESMTP mailport
C: HELO c
S: 250 mx.example.org
C: MAIL FROM:<"john doe"@remote.example>
S: 250 2.1.0 Ok
