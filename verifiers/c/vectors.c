/* A command for the vectors test: verifiers/verifiers_test.go runs it.
 *   vectors key|computer|answer ID:BASE64 [ID:BASE64 ...] -- TEXT
 * (for answer, TEXT is KEY_ID:ANSWER_BASE64:SIGNATURE_BASE64). It prints the
 * decoding as JSON and exits 0, or prints "invalid" and exits 1. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keysmith.h"

static void print_claims(const keysmith_claims *c) {
    printf("{\"key_id\":%u,\"product\":%u,\"major\":%u,\"minor\":%u,\"features\":[%u,%u,%u,%u],\"seats\":%u,"
           "\"model\":\"%s\",\"issued\":\"%s\",\"expires\":\"%s\",\"maintenance\":\"%s\",\"serial\":\"%s\"}",
           c->key_id, c->product, c->major, c->minor, c->features[0], c->features[1], c->features[2], c->features[3],
           c->seats, c->model, c->issued, c->expires, c->maintenance, c->serial);
}

static int b64(const char *in, unsigned char *out, size_t cap, size_t *len) {
    return sodium_base642bin(out, cap, in, strlen(in), NULL, len, NULL, sodium_base64_VARIANT_ORIGINAL);
}

int main(int argc, char **argv) {
    if (sodium_init() < 0 || argc < 4) return 2;
    keysmith_public_key ring[16];
    size_t n = 0;
    int i = 2;
    for (; i < argc && strcmp(argv[i], "--") != 0 && n < 16; i++, n++) {
        char *colon = strchr(argv[i], ':');
        size_t len;
        if (!colon) return 2;
        ring[n].id = (uint16_t)atoi(argv[i]);
        if (b64(colon + 1, ring[n].key, 32, &len) || len != 32) return 2;
    }
    if (i + 1 >= argc) return 2;
    const char *text = argv[i + 1];
    if (strcmp(argv[1], "key") == 0) {
        keysmith_claims c;
        if (keysmith_verify_key(ring, n, text, &c)) { puts("invalid"); return 1; }
        print_claims(&c);
    } else if (strcmp(argv[1], "computer") == 0) {
        keysmith_computer_license l;
        if (keysmith_verify_computer_license(ring, n, text, &l)) { puts("invalid"); return 1; }
        printf("{\"key\":");
        print_claims(&l.key);
        printf(",\"computer_id\":\"%s\",\"seat\":%u,\"issued\":\"%s\",\"check_by\":\"%s\"}", l.computer_id, l.seat,
               l.issued, l.check_by);
    } else if (strcmp(argv[1], "answer") == 0) {
        char *copy = strdup(text), *a = strchr(copy, ':'), *s = a ? strchr(a + 1, ':') : NULL;
        if (!s) return 2;
        *a++ = 0, *s++ = 0;
        unsigned char answer[4096], sig[64];
        size_t alen, slen;
        if (b64(a, answer, sizeof answer, &alen) || b64(s, sig, sizeof sig, &slen) || slen != 64 ||
            keysmith_verify_answer(ring, n, (uint16_t)atoi(copy), answer, alen, sig)) {
            puts("invalid");
            return 1;
        }
        fwrite(answer, 1, alen, stdout);
    } else {
        return 2;
    }
    putchar('\n');
    return 0;
}
