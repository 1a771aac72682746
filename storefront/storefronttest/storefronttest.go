// Package storefronttest helps test storefront kinds.
package storefronttest

import (
	"context"
	"net/http"

	"github.com/keysmith/keysmith/config"
	"github.com/keysmith/keysmith/storefront"
)

// Serve reads, verifies and decodes a call to QLM's method (lower-cased)
// as the API does, less the provider's own checks (addresses, basic auth,
// is_user/is_pwd), which the API tests cover.
func Serve(k storefront.Kind, r *http.Request, p *config.Provider, method string) (storefront.Reading, error) {
	c, err := k.Read(r, p, method)
	if err != nil {
		return storefront.Reading{}, err
	}
	if err := k.Verify(c, p); err != nil {
		return storefront.Reading{}, err
	}
	return k.Decode(context.Background(), c, p)
}
