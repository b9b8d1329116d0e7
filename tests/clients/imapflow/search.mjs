// SPDX-License-Identifier: MIT
// imapflow's search() against posthorn: with WITHIN advertised it turns a
// `since`/`before` with a time of day into YOUNGER/OLDER (RFC 5032), and
// with `returnOptions` it asks for ESEARCH (RFC 4731). Usage `node
// search.mjs PORT USER PASSWORD`; prints one JSON object of what imapflow
// made of each answer, for tests/integration/test_clients_sort.py.
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
const hoursAgo = h => new Date(Date.now() - h * 3600 * 1000);
await c.connect();
await c.mailboxOpen('INBOX');
const out = {
    capabilities: ['ESEARCH', 'WITHIN'].filter(name => c.capabilities.has(name)),
    'uid since 24h': await c.search({ since: hoursAgo(24) }, { uid: true }),
    'seq before 24h': await c.search({ before: hoursAgo(24) }),
    'uid since 48h unseen': await c.search({ since: hoursAgo(48), seen: false }, { uid: true }),
    'esearch uid all': await c.search({ all: true }, { uid: true, returnOptions: ['MIN', 'MAX', 'COUNT', 'ALL'] }),
    'esearch count since 24h': await c.search({ since: hoursAgo(24) }, { returnOptions: ['COUNT'] }),
    'esearch nothing': await c.search({ keyword: '$Nothing' }, { returnOptions: ['MIN', 'COUNT'] })
};
await c.logout();
console.log(JSON.stringify(out));
