// SPDX-License-Identifier: MIT
// imapflow's list() with a statusQuery against posthorn: with LIST-STATUS
// (RFC 5819) and LIST-EXTENDED (RFC 5258) advertised it asks for STATUS
// and the subscription state in one LIST ... RETURN (...), with SIZE when
// STATUS=SIZE (RFC 8438) is advertised. Usage `node list-status.mjs PORT
// USER PASSWORD`; prints one JSON object of what imapflow made of the
// answers, for tests/integration/test_clients_list.py.
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
const list = await c.list({ statusQuery: { messages: true, unseen: true, size: true } });
const out = {
    capabilities: ['LIST-EXTENDED', 'LIST-STATUS', 'STATUS=SIZE'].filter(name => c.capabilities.has(name)),
    mailboxes: Object.fromEntries(list.map(e => [e.path, {
        flags: [...e.flags].sort(),
        subscribed: !!e.subscribed,
        status: e.status ? { messages: e.status.messages, unseen: e.status.unseen, size: Number(e.status.size) } : null
    }]))
};
await c.logout();
console.log(JSON.stringify(out));
