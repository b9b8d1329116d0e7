// SPDX-License-Identifier: MIT
// imapflow with UTF8=ACCEPT (RFC 6855) against posthorn: it enables it at
// connect, then names mailboxes in UTF-8 (no modified UTF-7), appends a
// message with UTF-8 headers, lists, asks STATUS, searches without a
// CHARSET and reads the header back. Usage `node utf8.mjs PORT USER
// PASSWORD`; prints one JSON object of what imapflow saw, for
// tests/integration/test_clients_utf8.py.
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
await c.connect();
const enabled = [...c.enabled].sort();
const created = await c.mailboxCreate(['Ärger', 'Köln']);
const message = 'From: Jürgen <juergen@example.org>\r\nTo: bob@example.org\r\n' +
    'Subject: Grüße aus Köln\r\nMessage-ID: <utf8@example.org>\r\n\r\nHallo\r\n';
const appended = await c.append('Ärger.Köln', Buffer.from(message), ['\\Seen']);
const list = await c.list();
const status = await c.status('Ärger.Köln', { messages: true, unseen: true });
const lock = await c.getMailboxLock('Ärger.Köln');
let found, fetched;
try {
    found = await c.search({ subject: 'Köln' }, { uid: true });
    fetched = await c.fetchOne('1', { envelope: true, headers: ['subject'] });
} finally {
    lock.release();
}
await c.logout();
console.log(JSON.stringify({
    enabled,
    created: created.path,
    appended: appended.uid,
    paths: list.map(e => e.path).sort(),
    status: { messages: status.messages, unseen: status.unseen },
    found,
    subject: fetched.envelope.subject,
    from: fetched.envelope.from[0].name,
    header: fetched.headers.toString()
}));
