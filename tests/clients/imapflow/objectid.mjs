// SPDX-License-Identifier: MIT
// imapflow and OBJECTID (RFC 8474) against posthorn: the MAILBOXID of
// mailboxCreate() (CREATE's response code) and of mailboxOpen() (SELECT's
// untagged OK), emailId and threadId of fetch() (FETCH EMAILID THREADID),
// search() by them (SEARCH EMAILID / THREADID), and the ids after a
// rename and a move. Usage `node objectid.mjs PORT USER PASSWORD`; prints
// one JSON object, for tests/integration/test_clients_objectid.py.
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
const msg = (headers) => headers.join('\r\n') + '\r\n\r\nbody\r\n';
await c.connect();
const created = await c.mailboxCreate('Work');
await c.append('Work', msg(['Subject: A', 'Message-ID: <a@x>']));
await c.append('Work', msg(['Subject: Re: A', 'Message-ID: <b@x>', 'References: <a@x>']));
await c.append('Work', msg(['Subject: C', 'Message-ID: <c@x>']));
const opened = await c.mailboxOpen('Work');
const fetched = async () => {
    const out = [];
    for await (const m of c.fetch('1:*', { uid: true, threadId: true }))
        out.push({ uid: m.uid, emailId: m.emailId, threadId: m.threadId });
    return out;
};
const before = await fetched();
const byEmail = await c.search({ emailId: before[1].emailId }, { uid: true });
const byThread = await c.search({ threadId: before[0].threadId }, { uid: true });
await c.mailboxClose();
await c.mailboxRename('Work', 'Renamed');
const reopened = await c.mailboxOpen('Renamed');
await c.messageMove('2', 'INBOX');
await c.mailboxOpen('INBOX');
const moved = await fetched();
await c.logout();
console.log(JSON.stringify({
    capabilities: ['OBJECTID', 'PREVIEW'].filter(name => c.capabilities.has(name)),
    created: created.mailboxId,
    opened: opened.mailboxId,
    reopened: reopened.mailboxId,
    before,
    byEmail,
    byThread,
    moved
}));
