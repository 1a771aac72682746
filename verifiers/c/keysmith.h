/* keysmith license verification in C on libsodium (usable from C++):
 * license keys and computer licenses verified offline, signed answers of
 * /v1/validate checked. The formats are in docs/formats.md. */
#ifndef KEYSMITH_H
#define KEYSMITH_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint16_t id;
    unsigned char key[32]; /* Ed25519 public key */
} keysmith_public_key;

typedef struct {
    uint16_t key_id;
    uint32_t product, major, minor;
    uint8_t features[4];
    uint32_t seats;
    char model[32];       /* QLM's name: permanent, trial_cloud, ... */
    char issued[11];      /* yyyy-mm-dd */
    char expires[11];     /* "" for never */
    char maintenance[11]; /* "" for none */
    char serial[17];      /* 16 hex digits */
} keysmith_claims;

typedef struct {
    keysmith_claims key;
    char computer_id[257];
    uint32_t seat;
    char issued[11], check_by[11];
} keysmith_computer_license;

/* Each returns 0 when valid, -1 otherwise. Call sodium_init() first. */
int keysmith_verify_key(const keysmith_public_key *ring, size_t n, const char *text, keysmith_claims *out);
int keysmith_verify_computer_license(const keysmith_public_key *ring, size_t n, const char *text,
                                     keysmith_computer_license *out);
/* answer: the answer's bytes (decoded from base64), sig: 64 bytes. */
int keysmith_verify_answer(const keysmith_public_key *ring, size_t n, uint16_t key_id,
                           const unsigned char *answer, size_t answer_len, const unsigned char sig[64]);

#endif
