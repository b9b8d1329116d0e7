// SPDX-License-Identifier: MIT
// imapflow, a real client, resynchronizing with posthorn through QRESYNC
// (RFC 7162): usage `node resync.mjs PORT USER PASSWORD` against an empty
// INBOX. Run by tests/integration/test_imapflow.py.
//
// 1. A second client fills INBOX; client A (qresync: true) syncs it into a
//    cache of UID -> flags and remembers UIDVALIDITY and HIGHESTMODSEQ.
// 2. The second client changes flags, adds a keyword, expunges and appends.
// 3. Client A comes back: SELECT INBOX (QRESYNC (uidvalidity modseq)) tells
//    it what changed (VANISHED (EARLIER), FETCH with MODSEQ); it fetches
//    only the new UIDs. Its cache must equal the mailbox, and the resync
//    must have been told exactly the changed and expunged messages.
// 4. With A still selected the second client changes and expunges more; a
//    NOOP brings VANISHED and FETCH; the cache must equal the mailbox again.
// Prints one line per check and "N passed, N failed" last; exits 1 on any
// failure.
import { ImapFlow } from 'imapflow';
import { check, crashed, finish } from './checks.mjs';

const [port, user, pass] = process.argv.slice(2);

function client(qresync) {
    return new ImapFlow({
        host: '127.0.0.1',
        port: Number(port),
        secure: false,
        auth: { user, pass },
        qresync,
        logger: false,
        // Only the commands below go out: no IDLE between them.
        disableAutoIdle: true
    });
}

const sorted = flags => [...flags].sort();
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

// UID -> sorted flags of every message, as the server has them now.
async function truth(c) {
    const out = new Map();
    for await (const m of c.fetch('1:*', { uid: true, flags: true })) {
        out.set(m.uid, sorted(m.flags));
    }
    return out;
}

const asObject = map => Object.fromEntries([...map.entries()].sort((a, b) => a[0] - b[0]));

function message(n) {
    return `From: a@example.org\r\nTo: ${user}@example.org\r\nSubject: m${n}\r\n\r\nbody ${n}\r\n`;
}

async function main() {
    const b = client(false);
    await b.connect();
    await b.mailboxOpen('INBOX');
    for (let i = 1; i <= 8; i++) {
        await b.append('INBOX', message(i), i % 2 ? ['\\Seen'] : []);
    }

    // 1. Client A syncs.
    const a = client(true);
    await a.connect();
    check(a.enabled.has('QRESYNC') && a.enabled.has('CONDSTORE'), 'ENABLE QRESYNC answered', [...a.enabled]);
    let mb = await a.mailboxOpen('INBOX');
    check(typeof mb.highestModseq === 'bigint' && mb.highestModseq > 0n, 'SELECT says HIGHESTMODSEQ',
        String(mb.highestModseq));
    const cache = await truth(a);
    const known = { uidValidity: mb.uidValidity, modseq: mb.highestModseq, uidNext: mb.uidNext };
    check(cache.size === 8, 'client A has 8 messages', asObject(cache));
    await a.logout();

    // 2. The second session changes the mailbox.
    await b.messageFlagsAdd('2', ['\\Flagged'], { uid: true });
    await b.messageFlagsRemove('3', ['\\Seen'], { uid: true });
    await b.messageFlagsAdd('6', ['$Work'], { uid: true });
    await b.messageDelete('4,7', { uid: true });
    await b.append('INBOX', message(9), ['\\Answered']);

    // 3. Client A comes back with what it knew.
    const a2 = client(true);
    const events = { vanished: [], earlier: [], flags: new Map() };
    a2.on('expunge', e => (e.earlier ? events.earlier : events.vanished).push(e.uid));
    a2.on('flags', e => {
        events.flags.set(e.uid, sorted(e.flags));
        cache.set(e.uid, sorted(e.flags));
    });
    await a2.connect();
    mb = await a2.mailboxOpen('INBOX', { uidValidity: known.uidValidity, changedSince: known.modseq });
    check(mb.qresync === true, 'SELECT INBOX (QRESYNC ...) was a resync');
    for (const uid of events.earlier) {
        cache.delete(uid);
    }
    check(same(events.earlier.sort((x, y) => x - y), [4, 7]), 'VANISHED (EARLIER) named the expunged UIDs',
        events.earlier);
    // The known UIDs default to 1:UIDNEXT-1 of now (RFC 7162 3.2.5.1):
    // the new message 9 comes with its flags too.
    check(same([...events.flags.keys()].sort((x, y) => x - y), [2, 3, 6, 9]),
        'FETCH told exactly the messages changed or added', [...events.flags.keys()]);
    for await (const m of a2.fetch(`${known.uidNext}:*`, { uid: true, flags: true }, { uid: true })) {
        cache.set(m.uid, sorted(m.flags));
    }
    let now = await truth(a2);
    check(same(asObject(cache), asObject(now)), "client A's cache is the mailbox after the resync",
        { cache: asObject(cache), server: asObject(now) });

    // 4. Live: changes while A has the mailbox selected.
    events.flags.clear();
    await b.messageFlagsAdd('1,9', ['\\Deleted'], { uid: true });
    await b.messageDelete('9', { uid: true });
    await b.messageFlagsSet('5', ['\\Draft', '$Later'], { uid: true });
    await a2.noop();
    for (const uid of events.vanished) {
        cache.delete(uid);
    }
    check(same(events.vanished, [9]), 'VANISHED named the expunged UID', events.vanished);
    check(events.flags.has(5) && events.flags.has(1), 'FETCH told the flag changes', asObject(events.flags));
    now = await truth(a2);
    check(same(asObject(cache), asObject(now)), "client A's cache is the mailbox after NOOP",
        { cache: asObject(cache), server: asObject(now) });

    await a2.logout();
    await b.logout();
}

try {
    await main();
} catch (err) {
    crashed(err);
}
finish();
