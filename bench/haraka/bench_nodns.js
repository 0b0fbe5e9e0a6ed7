// bench_nodns: make bench's private Haraka looks up no PTR record for its client (Haraka's
// core otherwise asks the resolver of /etc/resolv.conf for every connection): the client is
// on loopback, named "localhost" here.

exports.register = function () {
    this.register_hook('lookup_rdns', 'no_rdns')
}

exports.no_rdns = function (next) {
    next(OK, 'localhost')
}
