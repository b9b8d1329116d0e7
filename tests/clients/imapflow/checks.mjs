// SPDX-License-Identifier: MIT
// What the imapflow scripts share: one line per check ("ok: ..." or
// "FAIL: ..."), and "N passed, N failed" last, which
// tests/integration/test_imapflow.py looks for; exit 1 on any failure.
let passed = 0;
let failed = 0;

export function check(ok, what, detail) {
    if (ok) {
        passed++;
        console.log(`ok: ${what}`);
    } else {
        failed++;
        console.log(`FAIL: ${what}${detail === undefined ? '' : ': ' + JSON.stringify(detail)}`);
    }
}

// An exception that ended the script's checks early.
export function crashed(err) {
    failed++;
    console.log(`FAIL: ${err.stack || err}`);
}

export function finish() {
    console.log(`${passed} passed, ${failed} failed`);
    process.exit(failed ? 1 : 0);
}
