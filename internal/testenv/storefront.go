package testenv

import (
	"context"
	"fmt"
	"io"
	"net/http"
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
