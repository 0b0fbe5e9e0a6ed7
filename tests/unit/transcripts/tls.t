# STARTTLS (RFC 3207) on the submission (587) and MX (25) policies.

=== 587: EHLO offers STARTTLS and no AUTH before TLS
O: size=1000 rcpts=100 errors=10 policy=15 tls=0
S: 220 mx.example.org ESMTP mailport
C: EHLO c
S: 250-mx.example.org
S: 250-PIPELINING
S: 250-SIZE 1000
S: 250-STARTTLS
S: 250-ENHANCEDSTATUSCODES
S: 250-8BITMIME
S: 250 SMTPUTF8

=== 587: AUTH, MAIL, RCPT, DATA, VRFY before STARTTLS
O: size=1000 rcpts=100 errors=10 policy=15 tls=0
S: 220 mx.example.org ESMTP mailport
C: EHLO c
S: 250-mx.example.org
S: 250-PIPELINING
S: 250-SIZE 1000
S: 250-STARTTLS
S: 250-ENHANCEDSTATUSCODES
S: 250-8BITMIME
S: 250 SMTPUTF8
C: AUTH PLAIN AGFsaWNlQGV4YW1wbGUub3JnAHNlY3JldA==
S: 530 5.7.0 Must issue a STARTTLS command first
C: MAIL FROM:<alice@example.org>
S: 530 5.7.0 Must issue a STARTTLS command first
C: RCPT TO:<bob@example.org>
S: 530 5.7.0 Must issue a STARTTLS command first
C: DATA
S: 530 5.7.0 Must issue a STARTTLS command first
C: VRFY alice
S: 530 5.7.0 Must issue a STARTTLS command first
C: NOOP
S: 250 2.0.0 Ok

=== 587: STARTTLS then EHLO again, AUTH offered
O: size=1000 rcpts=100 errors=10 policy=15 tls=0
S: 220 mx.example.org ESMTP mailport
C: EHLO c
S: 250-mx.example.org
S: 250-PIPELINING
S: 250-SIZE 1000
S: 250-STARTTLS
S: 250-ENHANCEDSTATUSCODES
S: 250-8BITMIME
S: 250 SMTPUTF8
C: STARTTLS
S: 220 2.0.0 Ready to start TLS
E: tls
C: MAIL FROM:<alice@example.org>
S: 503 5.5.1 Error: send HELO/EHLO first
C: EHLO c
S: 250-mx.example.org
S: 250-PIPELINING
S: 250-SIZE 1000
S: 250-AUTH PLAIN LOGIN
S: 250-REQUIRETLS
S: 250-ENHANCEDSTATUSCODES
S: 250-8BITMIME
S: 250 SMTPUTF8
C: STARTTLS
S: 503 5.5.1 Error: TLS already active

=== STARTTLS injection: pipelined plaintext after STARTTLS is discarded
O: size=1000 rcpts=100 errors=10 policy=15 tls=0
S: 220 mx.example.org ESMTP mailport
C: EHLO c
S: 250-mx.example.org
S: 250-PIPELINING
S: 250-SIZE 1000
S: 250-STARTTLS
S: 250-ENHANCEDSTATUSCODES
S: 250-8BITMIME
S: 250 SMTPUTF8
R: STARTTLS\r\nRSET\r\nMAIL FROM:<evil@remote.example>\r\n
S: 220 2.0.0 Ready to start TLS
E: tls
C: NOOP
S: 250 2.0.0 Ok

=== STARTTLS with an argument
O: size=1000 rcpts=100 errors=10 policy=15 tls=0
S: 220 mx.example.org ESMTP mailport
C: STARTTLS now
S: 501 5.5.4 Syntax: STARTTLS

=== STARTTLS resets the transaction and EHLO
O: size=1000 rcpts=100 errors=10 policy=1 tls=0
S: 220 mx.example.org ESMTP mailport
C: EHLO c
S: 250-mx.example.org
S: 250-PIPELINING
S: 250-SIZE 1000
S: 250-STARTTLS
S: 250-ENHANCEDSTATUSCODES
S: 250-8BITMIME
S: 250 SMTPUTF8
C: MAIL FROM:<a@remote.example>
S: 250 2.1.0 Ok
C: STARTTLS
S: 220 2.0.0 Ready to start TLS
E: tls
C: EHLO c
S: 250-mx.example.org
S: 250-PIPELINING
S: 250-SIZE 1000
S: 250-REQUIRETLS
S: 250-ENHANCEDSTATUSCODES
S: 250-8BITMIME
S: 250 SMTPUTF8
C: RCPT TO:<alice@example.org>
S: 503 5.5.1 Error: need MAIL command

=== 25: plaintext mail still works, AUTH never offered
O: size=1000 rcpts=100 errors=10 policy=1 tls=0
S: 220 mx.example.org ESMTP mailport
C: EHLO c
S: 250-mx.example.org
S: 250-PIPELINING
S: 250-SIZE 1000
S: 250-STARTTLS
S: 250-ENHANCEDSTATUSCODES
S: 250-8BITMIME
S: 250 SMTPUTF8
C: AUTH PLAIN AGFsaWNlQGV4YW1wbGUub3JnAHNlY3JldA==
S: 502 5.5.1 AUTH is not available on this port
C: MAIL FROM:<a@remote.example>
S: 250 2.1.0 Ok
C: RCPT TO:<alice@example.org>
S: 250 2.1.5 Ok

=== 25: REQUIRETLS (RFC 8689) only inside TLS, without a value
O: size=1000 rcpts=100 errors=10 policy=1 tls=0
S: 220 mx.example.org ESMTP mailport
C: EHLO c
S: 250-mx.example.org
S: 250-PIPELINING
S: 250-SIZE 1000
S: 250-STARTTLS
S: 250-ENHANCEDSTATUSCODES
S: 250-8BITMIME
S: 250 SMTPUTF8
C: MAIL FROM:<a@remote.example> REQUIRETLS
S: 530 5.7.10 REQUIRETLS needs a TLS session: STARTTLS first
C: STARTTLS
S: 220 2.0.0 Ready to start TLS
E: tls
C: EHLO c
S: 250-mx.example.org
S: 250-PIPELINING
S: 250-SIZE 1000
S: 250-REQUIRETLS
S: 250-ENHANCEDSTATUSCODES
S: 250-8BITMIME
S: 250 SMTPUTF8
C: MAIL FROM:<a@remote.example> REQUIRETLS=YES
S: 501 5.5.4 Bad REQUIRETLS parameter: once, without a value
C: MAIL FROM:<a@remote.example> REQUIRETLS REQUIRETLS
S: 501 5.5.4 Bad REQUIRETLS parameter: once, without a value
C: MAIL FROM:<a@remote.example> requiretls SMTPUTF8
S: 250 2.1.0 Ok
