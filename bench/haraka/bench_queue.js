// bench_queue: the queue plugin of make bench's private Haraka (bench/peer_haraka.py).
//
// Haraka has no local queue of its own for inbound mail (its outbound queue is for relaying),
// so this plugin stands in for one: before the 250 to the end of data, it writes the message
// to a new file of its own, fsync(2)s that file, and only then calls next(OK). The file's
// directory entry is not fsynced separately (as Postfix's cleanup with its queue file).
//
// bench_queue.ini:
//   dir = DIR         where the messages go
//   maildir = false   (discard) DIR/tmp/<uuid>, removed once the 250 is on its way: the
//                     message is durable before the 250, then discarded
//   maildir = true    Maildir delivery: DIR/tmp/<uuid>, fsynced, renamed into DIR/new/ before
//                     the 250 (as Postfix's virtual(8) delivers), and left there

const fs = require('node:fs')
const path = require('node:path')

exports.register = function () {
    this.cfg = this.config.get('bench_queue.ini', { booleans: ['-main.maildir'] })
    this.dir = this.cfg.main.dir
    this.maildir = this.cfg.main.maildir
    for (const sub of ['tmp', 'new', 'cur']) fs.mkdirSync(path.join(this.dir, sub), { recursive: true })
    this.register_hook('queue', 'store')
}

exports.store = function (next, connection) {
    const txn = connection?.transaction
    if (!txn) return next()
    const tmp = path.join(this.dir, 'tmp', `${txn.uuid}.${process.pid}`)
    const fail = (what, err) => {
        connection.logerror(this, `${what} ${tmp}: ${err.message}`)
        fs.unlink(tmp, () => {})
        next(DENYSOFT, 'cannot store the message')
    }
    txn.message_stream.get_data((data) => {
        fs.open(tmp, 'wx', 0o600, (err, fd) => {
            if (err) return fail('open', err)
            fs.write(fd, data, 0, data.length, null, (err2) => {
                if (err2) return fs.close(fd, () => fail('write', err2))
                fs.fsync(fd, (err3) => {
                    fs.close(fd, () => {
                        if (err3) return fail('fsync', err3)
                        if (!this.maildir) {
                            next(OK)
                            // Discarded once the 250 is on its way, as a discard delivery would.
                            return setImmediate(() => fs.unlink(tmp, () => {}))
                        }
                        fs.rename(tmp, path.join(this.dir, 'new', path.basename(tmp)), (err4) => {
                            if (err4) return fail('rename', err4)
                            next(OK)
                        })
                    })
                })
            })
        })
    })
}
