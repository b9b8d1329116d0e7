// SPDX-License-Identifier: MIT
// imapflow against posthorn's BINARY (RFC 3516): download() of a base64
// attachment with { binary: true } asks for BINARY.PEEK[2]<offset.64K>
// partials and gets the decoded bytes; append() of a message with NUL
// bytes sends it as literal8 (~{n}). The script checks the bytes itself
// (exit status 1 on a mismatch). Usage `node binary.mjs PORT USER PASSWORD`;
// prints one JSON object for tests/integration/test_clients_binary.py.
import { createHash } from 'node:crypto';
import { ImapFlow } from 'imapflow';

const [port, user, pass] = process.argv.slice(2);
const c = new ImapFlow({
    host: '127.0.0.1',
    port: Number(port),
    secure: false,
    auth: { user, pass },
    logger: false,
    disableAutoIdle: true
});

// 300 KiB of every octet (NULs too), so that a download takes several
// 64 KiB partials.
const attachment = Buffer.alloc(300 * 1024);
for (let i = 0; i < attachment.length; i++) attachment[i] = (i * 7 + (i >> 9)) & 0xff;
const b64 = attachment.toString('base64').replace(/.{76}/g, '$&\r\n');
const withAttachment = Buffer.from(
    'From: a@example.org\r\nSubject: attachment\r\nMIME-Version: 1.0\r\n' +
    'Content-Type: multipart/mixed; boundary=b\r\n\r\n' +
    '--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n' +
    '--b\r\nContent-Type: application/octet-stream; name=data.bin\r\n' +
    'Content-Transfer-Encoding: base64\r\n\r\n' + b64 + '\r\n--b--\r\n');
// Raw binary content: imapflow sends it as literal8 once BINARY is advertised.
const raw = Buffer.from([0, 1, 2, 13, 10, 0, 10, 13, 255, 0, 65]);
const withRaw = Buffer.concat([
    Buffer.from('From: a@example.org\r\nSubject: raw\r\nMIME-Version: 1.0\r\n' +
        'Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n' +
        'Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n'),
    raw,
    Buffer.from('\r\n--b--\r\n')
]);

async function download(uid, part) {
    const { meta, content } = await c.download(String(uid), part, { uid: true, binary: true });
    const chunks = [];
    for await (const chunk of content) chunks.push(chunk);
    return { meta, data: Buffer.concat(chunks) };
}

const sha = b => createHash('sha256').update(b).digest('hex');
let failed = 0;
function check(ok, what) {
    console.error(`${ok ? 'ok' : 'FAIL'}: ${what}`);
    if (!ok) failed++;
}

await c.connect();
const lock = await c.getMailboxLock('INBOX');
const out = { capabilities: ['BINARY', 'LITERAL+'].filter(name => c.capabilities.has(name)) };
try {
    const a = await c.append('INBOX', withAttachment);
    const r = await c.append('INBOX', withRaw);
    const got = await download(a.uid, '2');
    check(got.data.equals(attachment), `the attachment's ${attachment.length} decoded bytes`);
    out.attachment = { size: got.data.length, sha256: sha(got.data), expected: sha(attachment) };
    const gotRaw = await download(r.uid, '1');
    check(gotRaw.data.equals(raw), 'the literal8 part comes back byte for byte');
    out.raw = [...gotRaw.data];
    // BODY[1] of it is what BODYSTRUCTURE says: base64 (RFC 3516 6).
    const msg = await c.fetchOne(String(r.uid), { uid: true, bodyParts: ['1'], bodyStructure: true }, { uid: true });
    out.rawEncoding = msg.bodyStructure.childNodes[0].encoding;
    out.rawBody = msg.bodyParts.get('1').toString();
} finally {
    lock.release();
}
await c.logout();
console.log(JSON.stringify(out));
process.exit(failed ? 1 : 0);
