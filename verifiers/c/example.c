/* What an application does with keysmith, in C (libcurl for HTTP, jansson
 * for JSON): verify the key offline first, activate once (keeping the
 * computer license), trust that license until its check-by day, then
 * re-check online (a signed answer carrying our nonce), and stop when the
 * server says the key is revoked.
 *
 *   example SERVER KEY PUBLIC_KEYS.json COMPUTER_ID STATE_FILE [--recheck]
 *
 * PUBLIC_KEYS.json is GET /v1/keys as shipped with the application. It
 * prints "licensed: ..." and exits 0, or "not licensed: ..." and exits 1. */
#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keysmith.h"

static const char *server;

static void fail(const char *why, const char *detail) {
    printf("not licensed: %s%s\n", why, detail ? detail : "");
    exit(1);
}

static size_t collect(char *data, size_t size, size_t n, void *buf) {
    size_t len = size * n, have = strlen(buf);
    if (have + len >= 65536) return 0;
    memcpy((char *)buf + have, data, len);
    ((char *)buf)[have + len] = 0;
    return len;
}

/* post sends body (and frees it) as JSON to SERVER+path; it returns the HTTP status (0 when
 * the server cannot be reached) and the answer's JSON in *answer. */
static long post(const char *path, json_t *body, json_t **answer) {
    static char buf[65536];
    char url[1024];
    long status = 0;
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    CURL *curl = curl_easy_init();
    buf[0] = 0;
    snprintf(url, sizeof url, "%s%s", server, path);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, text);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, buf);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
    if (curl_easy_perform(curl) == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(curl);
    curl_slist_free_all(headers);
    free(text);
    *answer = json_loads(buf, 0, NULL);
    if (status && !*answer) fail("the server's answer is not JSON", NULL);
    return status;
}

static const char *str(json_t *obj, const char *name) {
    const char *s = json_string_value(json_object_get(obj, name));
    return s ? s : "";
}

static void save(const char *file, const char *license) {
    json_t *state = json_pack("{ss}", "license", license);
    if (json_dump_file(state, file, 0)) fail("cannot write ", file);
    json_decref(state);
}

int main(int argc, char **argv) {
    if (argc < 6 || sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT)) {
        fprintf(stderr, "usage: example SERVER KEY PUBLIC_KEYS.json COMPUTER_ID STATE_FILE [--recheck]\n");
        return 2;
    }
    server = argv[1];
    const char *key = argv[2], *computer_id = argv[4], *state_file = argv[5];
    int recheck = argc > 6 && strcmp(argv[6], "--recheck") == 0;

    keysmith_public_key ring[16];
    size_t n = 0, i;
    json_t *published = json_load_file(argv[3], 0, NULL), *k;
    json_array_foreach(json_object_get(published, "keys"), i, k) {
        size_t len;
        const char *b64 = str(k, "public_key");
        if (n == 16 || json_is_true(json_object_get(k, "retired"))) continue; /* a retired key proves nothing */
        if (sodium_base642bin(ring[n].key, 32, b64, strlen(b64), NULL, &len, NULL, sodium_base64_VARIANT_ORIGINAL) ||
            len != 32)
            fail("a public key is not 32 bytes of base64", NULL);
        ring[n++].id = (uint16_t)json_integer_value(json_object_get(k, "id"));
    }

    char today[11];
    time_t now = time(NULL);
    strftime(today, sizeof today, "%Y-%m-%d", gmtime(&now));

    keysmith_claims claims;
    if (keysmith_verify_key(ring, n, key, &claims)) fail("the key does not verify", NULL);
    if (claims.expires[0] && strcmp(claims.expires, today) <= 0) fail("the key has expired", NULL);

    json_t *state = json_load_file(state_file, 0, NULL), *answer;
    keysmith_computer_license lic;
    if (state) {
        if (keysmith_verify_computer_license(ring, n, str(state, "license"), &lic))
            fail("the saved license does not verify", NULL);
        if (strcmp(lic.computer_id, computer_id) != 0) fail("the license is for another computer", NULL);
        if (strcmp(lic.check_by, today) > 0 && !recheck) {
            printf("licensed: seat %u of %u, offline until %s\n", lic.seat, lic.key.seats, lic.check_by);
            return 0;
        }
        unsigned char raw[16];
        char nonce[33];
        randombytes_buf(raw, sizeof raw);
        sodium_bin2hex(nonce, sizeof nonce, raw, sizeof raw);
        long status = post("/v1/validate", json_pack("{ssssss}", "key", key, "computer_id", computer_id, "nonce", nonce),
                           &answer);
        if (status != 200) fail("the server did not answer the check", NULL);
        unsigned char body[8192], sig[64];
        size_t body_len, sig_len;
        const char *a = str(answer, "answer"), *s = str(answer, "signature");
        if (sodium_base642bin(body, sizeof body - 1, a, strlen(a), NULL, &body_len, NULL, sodium_base64_VARIANT_ORIGINAL) ||
            sodium_base642bin(sig, sizeof sig, s, strlen(s), NULL, &sig_len, NULL, sodium_base64_VARIANT_ORIGINAL) ||
            sig_len != 64 ||
            keysmith_verify_answer(ring, n, (uint16_t)json_integer_value(json_object_get(answer, "key_id")), body,
                                   body_len, sig))
            fail("the server's answer is not signed by the vendor", NULL);
        body[body_len] = 0;
        json_t *v = json_loads((const char *)body, 0, NULL);
        if (!v || strcmp(str(v, "nonce"), nonce) != 0 || strcmp(str(v, "computer_id"), computer_id) != 0)
            fail("a replayed answer", NULL);
        if (strcmp(str(v, "status"), "valid") != 0) fail("the key is ", str(v, "status"));
        printf("licensed: seat %lld of %lld, checked online\n", json_integer_value(json_object_get(v, "seat")),
               json_integer_value(json_object_get(v, "seats")));
        return 0;
    }

    long status = post("/v1/activate", json_pack("{ssss}", "key", key, "computer_id", computer_id), &answer);
    if (status != 200) fail(status ? str(answer, "error") : "the server cannot be reached", NULL);
    const char *license = str(answer, "license");
    if (keysmith_verify_computer_license(ring, n, license, &lic)) fail("the computer license does not verify", NULL);
    save(state_file, license);
    printf("licensed: seat %u of %u, activated, offline until %s\n", lic.seat, lic.key.seats, lic.check_by);
    return 0;
}
