# Bad input: the right code, the session goes on (or closes cleanly).

=== unknown command
S: 220 mx.example.org ESMTP mailport
C: FOO bar
S: 500 5.5.1 Unknown command
C: GET / HTTP/1.1
S: 500 5.5.1 Unknown command

=== empty line
S: 220 mx.example.org ESMTP mailport
C:
S: 500 5.5.1 Unknown command

=== helo without argument
S: 220 mx.example.org ESMTP mailport
C: HELO
S: 501 5.5.4 Syntax: HELO hostname
C: EHLO
S: 501 5.5.4 Syntax: EHLO hostname

=== mail before helo
S: 220 mx.example.org ESMTP mailport
C: MAIL FROM:<a@remote.example>
S: 503 5.5.1 Error: send HELO/EHLO first

=== rcpt before mail
S: 220 mx.example.org ESMTP mailport
C: HELO c
S: 250 mx.example.org
C: RCPT TO:<alice@example.org>
S: 503 5.5.1 Error: need MAIL command

=== data before mail
S: 220 mx.example.org ESMTP mailport
C: HELO c
S: 250 mx.example.org
C: DATA
S: 503 5.5.1 Error: need MAIL command

=== data without valid recipients
S: 220 mx.example.org ESMTP mailport
C: HELO c
S: 250 mx.example.org
C: MAIL FROM:<a@remote.example>
S: 250 2.1.0 Ok
C: RCPT TO:<nobody@example.org>
S: 550 5.1.1 User unknown
C: DATA
S: 554 5.5.1 Error: no valid recipients

=== nested mail
S: 220 mx.example.org ESMTP mailport
C: HELO c
S: 250 mx.example.org
C: MAIL FROM:<a@remote.example>
S: 250 2.1.0 Ok
C: MAIL FROM:<b@remote.example>
S: 503 5.5.1 Error: nested MAIL command

=== mail syntax
S: 220 mx.example.org ESMTP mailport
C: HELO c
S: 250 mx.example.org
C: MAIL
S: 501 5.5.4 Syntax: MAIL FROM:<address>
C: MAIL TO:<a@remote.example>
S: 501 5.5.4 Syntax: MAIL FROM:<address>
C: MAIL FROM <a@remote.example>
S: 501 5.5.4 Syntax: MAIL FROM:<address>
C: MAIL FROM:<a@@remote.example>
S: 501 5.1.7 Bad sender address syntax
C: MAIL FROM:<a@remote..example>
S: 501 5.1.7 Bad sender address syntax
C: MAIL FROM:<a@remote.example
S: 501 5.1.7 Bad sender address syntax
C: MAIL FROM:<a@remote.example> SIZE=
S: 501 5.5.4 Syntax error in parameters

=== rcpt syntax
S: 220 mx.example.org ESMTP mailport
C: HELO c
S: 250 mx.example.org
C: MAIL FROM:<a@remote.example>
S: 250 2.1.0 Ok
C: RCPT TO:
S: 501 5.5.4 Syntax: RCPT TO:<address>
C: RCPT TO:<>
S: 501 5.1.3 Bad recipient address syntax
C: RCPT TO:<alice>
S: 501 5.1.3 Bad recipient address syntax
C: RCPT FROM:<alice@example.org>
S: 501 5.5.4 Syntax: RCPT TO:<address>

=== unknown user rejected at rcpt
S: 220 mx.example.org ESMTP mailport
C: HELO c
S: 250 mx.example.org
C: MAIL FROM:<a@remote.example>
S: 250 2.1.0 Ok
C: RCPT TO:<nobody@example.org>
S: 550 5.1.1 User unknown
C: RCPT TO:<alice@example.org>
S: 250 2.1.5 Ok

=== no relay
S: 220 mx.example.org ESMTP mailport
C: HELO c
S: 250 mx.example.org
C: MAIL FROM:<alice@example.org>
S: 250 2.1.0 Ok
C: RCPT TO:<victim@elsewhere.example>
S: 550 5.7.1 Relay access denied
C: RCPT TO:<alice@[127.0.0.1]>
S: 550 5.7.1 Relay access denied
C: RCPT TO:<@example.org:victim@elsewhere.example>
S: 550 5.7.1 Relay access denied
C: RCPT TO:<"victim@elsewhere.example"@example.org>
S: 550 5.1.1 User unknown
C: RCPT TO:<victim%elsewhere.example@example.org>
S: 550 5.1.1 User unknown
C: RCPT TO:<elsewhere.example!victim@example.org>
S: 550 5.1.1 User unknown

=== unknown mail parameter
S: 220 mx.example.org ESMTP mailport
C: EHLO c
S: 250-mx.example.org
S: 250-PIPELINING
S: 250-SIZE 1000
S: 250-ENHANCEDSTATUSCODES
S: 250-8BITMIME
S: 250 SMTPUTF8
C: MAIL FROM:<a@remote.example> RET=HDRS
S: 555 5.5.4 Unsupported parameter RET
C: MAIL FROM:<a@remote.example> BODY=BINARYMIME
S: 501 5.5.4 Bad BODY parameter: 7BIT or 8BITMIME
C: MAIL FROM:<a@remote.example> SIZE=abc
S: 501 5.5.4 Bad SIZE parameter
C: MAIL FROM:<a@remote.example> SIZE=1 SIZE=2
S: 501 5.5.4 Bad SIZE parameter
C: MAIL FROM:<a@remote.example> SMTPUTF8=yes
S: 501 5.5.4 Bad SMTPUTF8 parameter

=== unknown rcpt parameter
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
C: RCPT TO:<alice@example.org> NOTIFY=NEVER
S: 555 5.5.4 Unsupported RCPT parameter NOTIFY

=== parameters after helo are refused
S: 220 mx.example.org ESMTP mailport
C: HELO c
S: 250 mx.example.org
C: MAIL FROM:<a@remote.example> SIZE=10
S: 555 5.5.4 MAIL parameters need EHLO

=== commands with arguments that take none
S: 220 mx.example.org ESMTP mailport
C: RSET now
S: 501 5.5.4 Syntax: RSET
C: QUIT now
S: 501 5.5.4 Syntax: QUIT
C: HELO c
S: 250 mx.example.org
C: MAIL FROM:<a@remote.example>
S: 250 2.1.0 Ok
C: RCPT TO:<alice@example.org>
S: 250 2.1.5 Ok
C: DATA now
S: 501 5.5.4 Syntax: DATA
C: VRFY
S: 501 5.5.4 Syntax: VRFY address

=== not offered on this port
S: 220 mx.example.org ESMTP mailport
C: STARTTLS
S: 502 5.5.1 STARTTLS is not available on this port
C: AUTH PLAIN AGFsaWNlAHNlY3JldA==
S: 502 5.5.1 AUTH is not available on this port
C: BDAT 10 LAST
S: 502 5.5.1 BDAT is not available on this port
C: EXPN staff
S: 502 5.5.1 EXPN is not supported

=== NUL in command
S: 220 mx.example.org ESMTP mailport
R: HELO c\0d\r\n
S: 500 5.5.2 Syntax error: NUL octet in command
R: NOOP\0\r\n
S: 500 5.5.2 Syntax error: NUL octet in command
C: NOOP
S: 250 2.0.0 Ok

=== bare CR in command
S: 220 mx.example.org ESMTP mailport
R: NOOP\rRSET\r\n
S: 500 5.5.2 Syntax error: bare CR in command

=== line of 512 octets with CRLF is accepted
S: 220 mx.example.org ESMTP mailport
C: NOOP xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
S: 250 2.0.0 Ok

=== line of 513 octets is too long
S: 220 mx.example.org ESMTP mailport
C: NOOP xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
S: 500 5.5.2 Syntax error: line too long (max 512 octets)
C: NOOP
S: 250 2.0.0 Ok

=== too many errors closes
S: 220 mx.example.org ESMTP mailport
C: X1
S: 500 5.5.1 Unknown command
C: X2
S: 500 5.5.1 Unknown command
C: X3
S: 500 5.5.1 Unknown command
C: X4
S: 500 5.5.1 Unknown command
C: X5
S: 500 5.5.1 Unknown command
C: X6
S: 500 5.5.1 Unknown command
C: X7
S: 500 5.5.1 Unknown command
C: X8
S: 500 5.5.1 Unknown command
C: X9
S: 500 5.5.1 Unknown command
C: X10
S: 500 5.5.1 Unknown command
S: 421 4.7.0 mx.example.org Error: too many errors, closing connection
C: NOOP

=== error limit is configurable
O: size=1000 rcpts=100 errors=2
S: 220 mx.example.org ESMTP mailport
C: X1
S: 500 5.5.1 Unknown command
C: RCPT TO:<a@b>
S: 503 5.5.1 Error: send HELO/EHLO first
S: 421 4.7.0 mx.example.org Error: too many errors, closing connection

=== timeout
S: 220 mx.example.org ESMTP mailport
C: HELO c
S: 250 mx.example.org
E: timeout
S: 421 4.4.2 mx.example.org Error: timeout exceeded, closing connection
C: NOOP

=== timeout inside data stores nothing
S: 220 mx.example.org ESMTP mailport
C: HELO c
S: 250 mx.example.org
C: MAIL FROM:<a@remote.example>
S: 250 2.1.0 Ok
C: RCPT TO:<alice@example.org>
S: 250 2.1.5 Ok
C: DATA
S: 354 2.0.0 End data with <CR><LF>.<CR><LF>
C: partial
E: timeout
S: 421 4.4.2 mx.example.org Error: timeout exceeded, closing connection
C: .

=== shutdown
S: 220 mx.example.org ESMTP mailport
C: HELO c
S: 250 mx.example.org
E: shutdown
S: 421 4.3.2 mx.example.org Service shutting down, closing connection

=== eof inside data stores nothing
S: 220 mx.example.org ESMTP mailport
C: HELO c
S: 250 mx.example.org
C: MAIL FROM:<a@remote.example>
S: 250 2.1.0 Ok
C: RCPT TO:<alice@example.org>
S: 250 2.1.5 Ok
C: DATA
S: 354 2.0.0 End data with <CR><LF>.<CR><LF>
C: partial
E: eof

=== a delivered message resets the error count
O: size=1000 rcpts=100 errors=3
S: 220 mx.example.org ESMTP mailport
C: HELO c
S: 250 mx.example.org
C: MAIL FROM:<a@remote.example>
S: 250 2.1.0 Ok
C: RCPT TO:<nobody@example.org>
S: 550 5.1.1 User unknown
C: RCPT TO:<nobody2@example.org>
S: 550 5.1.1 User unknown
C: RCPT TO:<alice@example.org>
S: 250 2.1.5 Ok
C: DATA
S: 354 2.0.0 End data with <CR><LF>.<CR><LF>
C: .
S: 250 2.0.0 Ok: queued as Q1
Q:
C: X1
S: 500 5.5.1 Unknown command
C: X2
S: 500 5.5.1 Unknown command
C: X3
S: 500 5.5.1 Unknown command
S: 421 4.7.0 mx.example.org Error: too many errors, closing connection
