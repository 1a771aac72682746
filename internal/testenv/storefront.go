package testenv

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// CallKeyGenerator posts form (url-encoded order fields) to a key
// generator URL as ShareIt does and returns the key it answered, or the
// status and body of any other answer as an error.
func CallKeyGenerator(ctx context.Context, c *http.Client, url, form string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(form))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%d %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return strings.TrimSpace(string(b)), nil
}

// FastSpringSignature is the X-FS-Signature FastSpring sends with a
// webhook body: the base64 HMAC-SHA256 of the body under the tests'
// webhook secret.
func FastSpringSignature(body []byte) string {
	mac := hmac.New(sha256.New, []byte(FastSpringWebhookSecret))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// FastSpringHash is the security_request_hash FastSpring posts with a
// remote license request: the MD5, in hex, of the parameters' values in
// the order of their names, then the tests' private key.
func FastSpringHash(form url.Values) string {
	h := md5.New()
	for _, name := range slices.Sorted(maps.Keys(form)) {
		if name == "security_request_hash" {
			continue
		}
		for _, v := range form[name] {
			h.Write([]byte(v))
		}
	}
	h.Write([]byte(FastSpringPrivateKey))
	return hex.EncodeToString(h.Sum(nil))
}

// FormWith is the form body form with fields ("NAME=value&...") replacing
// its own of the same names and adding the others.
func FormWith(form, fields string) string {
	for pair := range strings.SplitSeq(strings.TrimPrefix(fields, "&"), "&") {
		name, _, _ := strings.Cut(pair, "=")
		if name == "" {
			continue
		}
		var kept []string
		for p := range strings.SplitSeq(form, "&") {
			if n, _, _ := strings.Cut(p, "="); n != name {
				kept = append(kept, p)
			}
		}
		form = strings.Join(append(kept, pair), "&")
	}
	return form
}
