// SPDX-License-Identifier: MIT
// imapflow's getQuota() against posthorn: with QUOTA=RES-* advertised it
// sends GETQUOTAROOT and reads the QUOTAROOT and QUOTA replies (RFC 9208)
// into { path, quotaRoot, storage, message, ... } (storage in octets).
// Usage `node quota.mjs PORT USER PASSWORD`; prints one JSON object of
// what it made of INBOX's and Sent's quota, for
// tests/integration/test_clients_quota.py.
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
const out = {
    capabilities: [...c.capabilities.keys()].filter(name => name.startsWith('QUOTA')).sort(),
    INBOX: await c.getQuota('INBOX'),
    Sent: await c.getQuota('Sent')
};
await c.logout();
console.log(JSON.stringify(out));
