/* SPDX-License-Identifier: MIT */
/* COMPRESS=DEFLATE (RFC 4978): raw deflate (no zlib header) both ways,
 * between the session's buffers and its transport (the socket or TLS, which
 * then carries compressed bytes: RFC 4978 3, "first COMPRESS ... finally
 * TLS").
 *
 * Memory. zlib's streams are live only while a worker runs the session; a
 * parked one keeps the history each side needs and nothing else:
 * - Output: every batch ends with Z_SYNC_FLUSH, so the client has all of
 *   it and needs nothing more from us. The deflater is then ended, keeping
 *   the last OUT_HISTORY bytes it sent; the next batch starts a new
 *   deflater primed with them (deflateSetDictionary), which may refer back
 *   into what the client's inflater holds anyway. RFC 4978 4 allows this
 *   ("the receiving peer does not need to do anything").
 * - Input: the client's compressor may refer up to 32 KiB back into what
 *   it sent, and RFC 4978 gives the server no way to ask it to flush its
 *   dictionary, so that history must be kept: min(32 KiB, what the client
 *   sent). The inflater itself is ended when it stopped at a block boundary
 *   on a byte boundary (a client's Z_SYNC_FLUSH or Z_FULL_FLUSH), and made
 *   anew with that history as its dictionary when input comes.
 * So a parked compressed session holds at most 32 KiB + OUT_HISTORY beyond
 * an uncompressed one; a running one holds the streams of DEFLATE_WBITS and
 * DEFLATE_MEMLEVEL (counted by zalloc()) for as long as it runs. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "imap-private.h"

/* The full window, since only running sessions hold a deflater (the
 * level is the compress_level directive). */
#define DEFLATE_WBITS 15
#define DEFLATE_MEMLEVEL 8
/* Output history a parked session keeps: enough for the next small
 * response to compress like one in a live stream (measured on
 * NOOP/EXISTS-sized batches: 29% of their size with it, 109% without). */
#define OUT_HISTORY 4096
/* Compressed input read at once. */
#define ZIN_SIZE 16384

struct imap_zlib {
    z_stream in, out;
    bool in_live, out_live;
    /* Output was deflated without a flush: the client may not have all of
     * it yet. */
    bool out_dirty;
    /* The last inflate() filled inbuf: it may have more output without
     * more input. */
    bool in_full;
    bool in_ended; /* the client's stream ended (a final block) */
    /* What a parked session keeps (see above). */
    unsigned char *in_hist, *out_hist;
    size_t in_hist_len, out_hist_len;
    /* Compressed input not yet inflated. */
    unsigned char *zin;
    size_t zin_pos, zin_len;
    size_t zlib_bytes;        /* zlib's own allocations, now */
    uint64_t raw_in, raw_out; /* compressed bytes read and written */
};

/* zlib's allocator, counting what the streams hold. */
static voidpf zalloc(voidpf opaque, uInt items, uInt size)
{
    struct imap_zlib *z = opaque;
    size_t n = (size_t)items * size;
    size_t *p = malloc(n + sizeof(size_t));
    if (p == NULL)
        return NULL;
    *p = n;
    z->zlib_bytes += n;
    return p + 1;
}

static void zfree(voidpf opaque, voidpf ptr)
{
    struct imap_zlib *z = opaque;
    if (ptr == NULL)
        return;
    size_t *p = (size_t *)ptr - 1;
    z->zlib_bytes -= *p;
    free(p);
}

void imap_cmd_compress(struct imap_session *s, const struct ph_imap_value *args,
                       size_t n)
{
    const char *mech;
    /* RFC 4978 5: compress = "COMPRESS" SP algorithm; algorithm =
     * "DEFLATE", an atom, case-insensitive. */
    if (n != 1 || !ph_imap_value_get_atom(&args[0], &mech)) {
        imap_tagged(s, "BAD", "COMPRESS takes one argument: DEFLATE");
        return;
    }
    if (strcasecmp(mech, "DEFLATE") != 0) {
        char *t = imap_token_text(mech);
        imap_tagged(s, "BAD", "Unknown compression mechanism %s", t);
        free(t);
        return;
    }
    if (s->zlib != NULL) {
        /* RFC 4978 3: the code says the mechanism is active already, the
         * text which layer compresses. */
        imap_tagged(s, "NO", "[COMPRESSIONACTIVE] DEFLATE active via COMPRESS");
        return;
    }
    imap_tagged(s, "OK", "DEFLATE active");
    /* RFC 4978 3: "the server MUST compress starting immediately after the
     * CRLF which ends the tagged OK response". */
    if (imap_flush(s) < 0)
        return;
    struct imap_zlib *z = ph_calloc(1, sizeof(*z));
    s->zlib = z;
    /* "the client MUST compress starting with the first command after
     * COMPRESS": what came after the COMPRESS line is compressed input. */
    if (s->inpos < s->inlen) {
        z->zin = ph_malloc(ZIN_SIZE);
        z->zin_len = s->inlen - s->inpos;
        memcpy(z->zin, s->inbuf + s->inpos, z->zin_len);
        s->inpos = s->inlen;
    }
    if (imap_debug_enabled(s->srv))
        ph_log_info("mod=imap event=compress user=%s mech=DEFLATE", s->user);
}

static int out_start(struct imap_zlib *z, int level)
{
    z->out.zalloc = zalloc;
    z->out.zfree = zfree;
    z->out.opaque = z;
    if (deflateInit2(&z->out, level, Z_DEFLATED, -DEFLATE_WBITS,
                     DEFLATE_MEMLEVEL, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    z->out_live = true;
    if (z->out_hist_len > 0 &&
        deflateSetDictionary(&z->out, z->out_hist, (uInt)z->out_hist_len) !=
            Z_OK)
        return -1;
    free(z->out_hist);
    z->out_hist = NULL;
    z->out_hist_len = 0;
    return 0;
}

int imap_compress_write(struct imap_session *s, const char *data, size_t len,
                        bool sync)
{
    struct imap_zlib *z = s->zlib;
    /* A flush with nothing deflated since the last would only send an
     * empty block. */
    if (len == 0 && !(sync && z->out_dirty))
        return 0;
    if (!z->out_live && out_start(z, (int)s->srv->conf->compress_level) < 0) {
        ph_log_warn("mod=imap event=compress_failed client=%s op=deflate "
                    "error=\"cannot start the compressor\"",
                    s->addr);
        return -1;
    }
    /* One write for the whole batch: in pieces, the last small one could
     * wait on the client's delayed ACK (Nagle). */
    struct ph_buf zout = {0};
    z->out.next_in = (unsigned char *)(uintptr_t)data;
    z->out.avail_in = (uInt)len;
    int flush = sync ? Z_SYNC_FLUSH : Z_NO_FLUSH;
    size_t room = deflateBound(&z->out, (uLong)len) + 64;
    for (;;) {
        ph_array_grow(&zout.data, &zout.cap, zout.len + room, 1);
        z->out.next_out = (unsigned char *)zout.data + zout.len;
        z->out.avail_out = (uInt)(zout.cap - zout.len);
        size_t before = z->out.avail_out;
        int r = deflate(&z->out, flush);
        if (r != Z_OK && r != Z_BUF_ERROR) {
            ph_buf_free(&zout);
            return -1;
        }
        zout.len += before - z->out.avail_out;
        /* Done when all input is taken and deflate had room to spare (with
         * a flush, it then has emitted all of it). */
        if (z->out.avail_in == 0 && z->out.avail_out > 0)
            break;
        room = 16384;
    }
    int w = zout.len > 0 ? imap_transport_write(s, zout.data, zout.len) : 0;
    z->raw_out += zout.len;
    ph_buf_free(&zout);
    if (w < 0)
        return -1;
    z->out_dirty = !sync;
    return 0;
}

static int in_start(struct imap_zlib *z)
{
    z->in.zalloc = zalloc;
    z->in.zfree = zfree;
    z->in.opaque = z;
    if (inflateInit2(&z->in, -15) != Z_OK)
        return -1;
    z->in_live = true;
    if (z->in_hist_len > 0 &&
        inflateSetDictionary(&z->in, z->in_hist, (uInt)z->in_hist_len) != Z_OK)
        return -1;
    free(z->in_hist);
    z->in_hist = NULL;
    z->in_hist_len = 0;
    return 0;
}

/* The client's compressed input cannot be read: a BYE (compressed) and
 * the end of the session. */
static int in_fail(struct imap_session *s, const char *why, const char *text)
{
    ph_log_warn("mod=imap event=compress_failed client=%s op=inflate "
                "error=\"%s\"",
                s->addr, why);
    ph_buf_printf(&s->out, "* BYE %s\r\n", text);
    s->closing = true;
    return -1;
}

int imap_compress_read(struct imap_session *s)
{
    struct imap_zlib *z = s->zlib;
    for (;;) {
        if (z->in_ended)
            return -1;
        if (z->zin_pos == z->zin_len && !z->in_full) {
            /* All inflated: more compressed input, on the stack first so
             * that an IDLE wake-up, which reads nothing, allocates
             * nothing. */
            char buf[ZIN_SIZE];
            ssize_t n = imap_transport_read(s, buf, sizeof(buf));
            if (n <= 0)
                return (int)n;
            if (z->zin == NULL)
                z->zin = ph_malloc(ZIN_SIZE);
            memcpy(z->zin, buf, (size_t)n);
            z->raw_in += (uint64_t)n;
            z->zin_pos = 0;
            z->zin_len = (size_t)n;
        }
        /* Made only once there is input: an IDLE wake-up reads none. */
        if (!z->in_live && in_start(z) < 0)
            return in_fail(s, "cannot start the decompressor",
                           "Cannot decompress your input");
        z->in.next_in = z->zin + z->zin_pos;
        z->in.avail_in = (uInt)(z->zin_len - z->zin_pos);
        z->in.next_out = (unsigned char *)s->inbuf;
        z->in.avail_out = sizeof(s->inbuf);
        int r = inflate(&z->in, Z_SYNC_FLUSH);
        z->zin_pos = z->zin_len - z->in.avail_in;
        size_t have = sizeof(s->inbuf) - z->in.avail_out;
        z->in_full = z->in.avail_out == 0;
        if (r == Z_STREAM_END) {
            /* A final block: what it held is the last input. */
            z->in_ended = true;
            z->in_full = false;
        } else if (r == Z_DATA_ERROR || r == Z_NEED_DICT) {
            return in_fail(s, z->in.msg ? z->in.msg : "invalid data",
                           "Invalid compressed data");
        } else if (r == Z_MEM_ERROR) {
            return in_fail(s, "out of memory", "Out of memory");
        }
        if (have > 0) {
            s->inpos = 0;
            s->inlen = have;
            imap_io_debug(s, "C", s->inbuf, have);
            return 1;
        }
        /* Nothing yet (a block header, a flush marker): read on. */
        z->in_full = false;
    }
}

void imap_compress_park(struct imap_session *s)
{
    struct imap_zlib *z = s->zlib;
    if (z == NULL)
        return;
    if (z->out_live && !z->out_dirty) {
        unsigned char dict[1u << DEFLATE_WBITS];
        uInt len = 0;
        if (deflateGetDictionary(&z->out, dict, &len) == Z_OK) {
            size_t keep = len < OUT_HISTORY ? len : OUT_HISTORY;
            z->out_hist = ph_malloc(keep > 0 ? keep : 1);
            memcpy(z->out_hist, dict + len - keep, keep);
            z->out_hist_len = keep;
            (void)deflateEnd(&z->out);
            z->out_live = false;
        }
    }
    /* At a block boundary (data_type 128) with no bits of the next block
     * read (the low bits: a byte boundary), nothing but the history is
     * state; else the inflater stays (a client that is mid-command, or
     * flushes without byte alignment). */
    if (z->in_live && !z->in_full && z->zin_pos == z->zin_len &&
        (z->in.data_type & 128) && (z->in.data_type & 63) == 0) {
        unsigned char dict[32768];
        uInt len = 0;
        if (inflateGetDictionary(&z->in, dict, &len) == Z_OK) {
            z->in_hist = ph_malloc(len > 0 ? len : 1);
            memcpy(z->in_hist, dict, len);
            z->in_hist_len = len;
            (void)inflateEnd(&z->in);
            z->in_live = false;
        }
    }
    if (z->zin_pos == z->zin_len) {
        free(z->zin);
        z->zin = NULL;
        z->zin_pos = z->zin_len = 0;
    }
    if (imap_debug_enabled(s->srv))
        ph_log_info("mod=imap event=compress_parked held=%zu zlib=%zu "
                    "history=%zu in=%llu out=%llu",
                    imap_compress_memory(s), z->zlib_bytes,
                    z->in_hist_len + z->out_hist_len,
                    (unsigned long long)z->raw_in,
                    (unsigned long long)z->raw_out);
}

size_t imap_compress_memory(const struct imap_session *s)
{
    const struct imap_zlib *z = s->zlib;
    if (z == NULL)
        return 0;
    return sizeof(*z) + z->zlib_bytes + z->in_hist_len + z->out_hist_len +
           (z->zin ? ZIN_SIZE : 0);
}

void imap_compress_free(struct imap_session *s)
{
    struct imap_zlib *z = s->zlib;
    if (z == NULL)
        return;
    s->zlib = NULL;
    if (z->out_live)
        (void)deflateEnd(&z->out);
    if (z->in_live)
        (void)inflateEnd(&z->in);
    free(z->in_hist);
    free(z->out_hist);
    free(z->zin);
    free(z);
}
