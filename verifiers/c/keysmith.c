#include "keysmith.h"

#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char ALPHABET[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
static const char *MODELS[] = {"permanent", "trial", "subscription"};
static const char *BINDINGS[] = {"", "_floating", "_cloud"};

/* decode reads Crockford base32 as people type it into out (cap bytes). */
static long decode(const char *text, unsigned char *out, size_t cap) {
    unsigned acc = 0, bits = 0;
    size_t n = 0, chars = 0;
    for (const char *p = text; *p; p++) {
        int c = toupper((unsigned char)*p);
        if (c == '-' || isspace(c)) continue;
        if (c == 'I' || c == 'L') c = '1';
        if (c == 'O') c = '0';
        const char *at = strchr(ALPHABET, c);
        if (!at || c == 0 || ++chars > 1024) return -1;
        acc = (acc << 5) | (unsigned)(at - ALPHABET);
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            if (n == cap) return -1;
            out[n++] = (unsigned char)(acc >> bits);
        }
        acc &= (1u << bits) - 1;
    }
    if (bits >= 5 || acc) return -1; /* the one spelling the encoder makes */
    return (long)n;
}

typedef struct {
    const unsigned char *buf;
    size_t len, pos;
    int err;
} reader;

static unsigned byte(reader *r) {
    if (r->pos >= r->len) { r->err = 1; return 0; }
    return r->buf[r->pos++];
}

static uint64_t uvarint(reader *r, uint64_t max) {
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        unsigned b = byte(r);
        if (r->err) return 0;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (b < 0x80) {
            if (v > max) r->err = 1;
            return v;
        }
    }
    r->err = 1;
    return 0;
}

static void day(uint64_t n, char out[11]) {
    time_t t = (time_t)(1577836800 + n * 86400); /* 2020-01-01 UTC */
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}

static int claims(reader *r, keysmith_claims *c) {
    memset(c, 0, sizeof *c);
    unsigned version = byte(r);
    if (r->err || (version != 1 && version != 2)) return -1;
    c->key_id = (uint16_t)uvarint(r, 0xffff);
    c->product = (uint32_t)uvarint(r, 0xffffffff);
    c->major = (uint32_t)uvarint(r, 0xffffffff);
    c->minor = (uint32_t)uvarint(r, 0xffffffff);
    for (int i = 0; i < 4; i++) c->features[i] = (uint8_t)byte(r);
    c->seats = (uint32_t)uvarint(r, 0xffffffff);
    unsigned model = byte(r), binding = version == 2 ? byte(r) : 0;
    uint64_t issued = uvarint(r, 65535), expires = uvarint(r, 65535);
    uint64_t maintenance = version == 2 ? uvarint(r, 65535) : 0;
    if (r->err || r->pos + 8 > r->len) return -1;
    for (int i = 0; i < 8; i++) snprintf(c->serial + 2 * i, 3, "%02x", r->buf[r->pos + i]);
    r->pos += 8;
    if (c->seats == 0 || model > 2 || binding > 2) return -1;
    if ((expires && expires <= issued) || (maintenance && maintenance < issued)) return -1;
    snprintf(c->model, sizeof c->model, "%s%s", MODELS[model], BINDINGS[binding]);
    day(issued, c->issued);
    if (expires) day(expires, c->expires);
    if (maintenance) day(maintenance, c->maintenance);
    return 0;
}

static int check(const keysmith_public_key *ring, size_t n, uint16_t id, const unsigned char *msg, size_t len,
                 const unsigned char *sig) {
    for (size_t i = 0; i < n; i++)
        if (ring[i].id == id) return crypto_sign_verify_detached(sig, msg, len, ring[i].key) == 0 ? 0 : -1;
    return -1;
}

int keysmith_verify_key(const keysmith_public_key *ring, size_t n, const char *text, keysmith_claims *out) {
    unsigned char raw[1024];
    long len = decode(text, raw, sizeof raw);
    if (len < 64) return -1;
    reader r = {raw, (size_t)len - 64, 0, 0};
    if (claims(&r, out) || r.pos != r.len) return -1;
    return check(ring, n, out->key_id, raw, r.len, raw + r.len);
}

int keysmith_verify_computer_license(const keysmith_public_key *ring, size_t n, const char *text,
                                     keysmith_computer_license *out) {
    unsigned char raw[1024];
    long len = decode(text, raw, sizeof raw);
    if (len < 64) return -1;
    memset(out, 0, sizeof *out);
    reader r = {raw, (size_t)len - 64, 0, 0};
    if (claims(&r, &out->key) || r.pos == r.len || byte(&r) != 'C') return -1;
    out->seat = (uint32_t)uvarint(&r, out->key.seats);
    uint64_t issued = uvarint(&r, 65535), check_by = uvarint(&r, 65535);
    uint64_t idlen = uvarint(&r, 256);
    if (r.err || r.len - r.pos != idlen || out->seat == 0 || idlen == 0 || check_by <= issued) return -1;
    memcpy(out->computer_id, raw + r.pos, idlen);
    day(issued, out->issued);
    day(check_by, out->check_by);
    return check(ring, n, out->key.key_id, raw, r.len, raw + r.len);
}

int keysmith_verify_answer(const keysmith_public_key *ring, size_t n, uint16_t key_id,
                           const unsigned char *answer, size_t answer_len, const unsigned char sig[64]) {
    static const char prefix[] = "keysmith answer"; /* then a zero byte */
    size_t len = sizeof prefix + answer_len;        /* sizeof counts the zero byte */
    unsigned char *msg = malloc(len);
    if (!msg) return -1;
    memcpy(msg, prefix, sizeof prefix);
    memcpy(msg + sizeof prefix, answer, answer_len);
    int rc = check(ring, n, key_id, msg, len, sig);
    free(msg);
    return rc;
}
