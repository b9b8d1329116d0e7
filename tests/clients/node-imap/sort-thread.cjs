// SPDX-License-Identifier: MIT
// node-imap (npm imap), a real client with sort(), thread() and esearch(),
// against posthorn: usage `node sort-thread.cjs PORT USER PASSWORD`, with
// INBOX holding test_sort.py's mailbox. Prints one JSON object: each call's
// name and what node-imap made of the server's answer (or its error), for
// tests/integration/test_clients_sort.py to compare.
'use strict';
const Imap = require('imap');

const [port, user, password] = process.argv.slice(2);
const imap = new Imap({ host: '127.0.0.1', port: Number(port), user, password, tls: false });

// Each call: a name and a function of a node-style callback.
const calls = [
    ['uid sort -DATE', cb => imap.sort(['-DATE'], ['ALL'], cb)],
    ['seq sort SUBJECT -DATE', cb => imap.seq.sort(['SUBJECT', '-DATE'], ['ALL'], cb)],
    ['seq sort FROM of unseen', cb => imap.seq.sort(['FROM'], ['UNSEEN'], cb)],
    ['seq sort SIZE', cb => imap.seq.sort(['SIZE'], ['ALL'], cb)],
    // A UTF-8 criterion goes out as a literal after the UTF-8 charset.
    ['seq sort ARRIVAL from Émile', cb => imap.seq.sort(['ARRIVAL'], [['FROM', 'Émile']], cb)],
    ['uid thread REFERENCES', cb => imap.thread('REFERENCES', ['ALL'], cb)],
    ['seq thread ORDEREDSUBJECT', cb => imap.seq.thread('ORDEREDSUBJECT', ['ALL'], cb)],
    ['seq esearch min max count', cb => imap.seq.esearch([['FROM', 'bob']], ['MIN', 'MAX', 'COUNT'], cb)],
    ['uid esearch all', cb => imap.esearch(['ALL'], ['ALL'], cb)],
];

const out = {};
function next(i) {
    if (i === calls.length) {
        console.log(JSON.stringify(out));
        imap.end();
        return;
    }
    const [name, call] = calls[i];
    try {
        call((err, result) => {
            out[name] = err ? 'error: ' + err.message : result;
            next(i + 1);
        });
    } catch (e) {
        out[name] = 'thrown: ' + e.message;
        next(i + 1);
    }
}

imap.once('ready', () => imap.openBox('INBOX', false, err => {
    if (err) {
        console.error(err);
        process.exit(1);
    }
    next(0);
}));
imap.once('error', err => {
    console.error(err);
    process.exit(1);
});
imap.connect();
