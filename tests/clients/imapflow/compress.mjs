// SPDX-License-Identifier: MIT
// imapflow, a real client, with COMPRESS=DEFLATE (RFC 4978) against
// posthorn: usage `node compress.mjs PORT USER PASSWORD` against an empty
// account. Run by tests/integration/test_imapflow.py.
//
// imapflow sends COMPRESS DEFLATE after login when the server advertises
// it (its default), and from then on deflates every command with a flush
// and inflates the server's stream. Over that one compressed connection:
// 1. APPEND small messages and a big one (a literal of several 64 KiB
//    pieces), then FETCH them back byte for byte;
// 2. IDLE: a second, uncompressed client appends; the EXISTS that the
//    server sends while idling must reach the client (it is flushed);
// 3. a burst of pipelined commands (several FETCHes and STATUSes at once).
// Prints one line per check and "N passed, N failed" last; exits 1 on any
// failure.
import { ImapFlow } from 'imapflow';
import { check, finish } from './checks.mjs';

const [port, user, pass] = process.argv.slice(2);

function client(compress) {
    return new ImapFlow({
        host: '127.0.0.1',
        port: Number(port),
        secure: false,
        auth: { user, pass },
        disableCompression: !compress,
        logger: false
    });
}

function message(i, lines) {
    let body = '';
    for (let n = 0; n < lines; n++)
        body += `Message ${i}, line ${n}: the quick brown fox jumps over the lazy dog\r\n`;
    return Buffer.from(`From: a@example.org\r\nTo: b@example.org\r\nSubject: message ${i}\r\n` +
        `Message-ID: <m${i}@example.org>\r\n\r\n${body}`);
}

const a = client(true);
await a.connect();
check(a.capabilities.has('COMPRESS=DEFLATE'), 'COMPRESS=DEFLATE advertised after login');
// imapflow keeps its zlib streams on the connection once COMPRESS got OK.
check(!!a._deflate && !!a._inflate, 'imapflow negotiated COMPRESS DEFLATE');

const sent = [message(1, 3), message(2, 40), message(3, 30000), message(4, 1)];
for (const m of sent)
    await a.append('INBOX', m, ['\\Seen']);
const lock = await a.getMailboxLock('INBOX');
try {
    check(a.mailbox.exists === sent.length, 'appended messages exist', a.mailbox.exists);
    const got = [];
    for await (const msg of a.fetch('1:*', { uid: true, source: true, flags: true }))
        got.push(msg);
    check(got.length === sent.length, 'FETCH returns every message', got.length);
    for (let i = 0; i < sent.length; i++)
        check(got[i] && Buffer.compare(got[i].source, sent[i]) === 0,
            `message ${i + 1} (${sent[i].length} bytes) comes back byte for byte`);

    // IDLE: the other client appends; imapflow's 'exists' event fires
    // when the server's untagged EXISTS arrives through the inflater.
    const exists = new Promise(resolve => a.on('exists', ev => resolve(ev)));
    const idling = a.idle();
    await new Promise(resolve => setTimeout(resolve, 200));
    const b = client(false);
    await b.connect();
    check(!b._deflate, 'the second client is not compressed');
    await b.append('INBOX', message(5, 5));
    await b.logout();
    const timeout = new Promise(resolve => setTimeout(() => resolve(null), 20000));
    const ev = await Promise.race([exists, timeout]);
    check(ev && ev.count === sent.length + 1, 'EXISTS arrives while idling under COMPRESS', ev);
    // The next command ends IDLE (DONE, compressed).
    const status = await a.status('INBOX', { messages: true, unseen: true });
    await idling;
    check(status.messages === sent.length + 1 && status.unseen === 1, 'STATUS after IDLE', status);

    // Pipelined: imapflow writes these without waiting for each answer.
    const many = await Promise.all([
        a.fetchOne('1', { envelope: true }),
        a.fetchOne('2', { bodyStructure: true }),
        a.status('INBOX', { messages: true }),
        a.fetchOne('5', { source: true }),
        a.search({ seen: false })
    ]);
    check(many[0].envelope.subject === 'message 1', 'pipelined FETCH ENVELOPE', many[0].envelope);
    check(many[1].bodyStructure.type === 'text/plain', 'pipelined FETCH BODYSTRUCTURE', many[1].bodyStructure);
    check(many[2].messages === 5, 'pipelined STATUS', many[2]);
    check(Buffer.compare(many[3].source, message(5, 5)) === 0, 'pipelined FETCH of the message appended during IDLE');
    check(JSON.stringify(many[4]) === JSON.stringify([5]), 'pipelined SEARCH UNSEEN', many[4]);
} finally {
    lock.release();
}
await a.logout();
finish();
