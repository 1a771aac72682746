package license_test

import (
	"fmt"
	"log"
	"time"

	"github.com/keysmith/keysmith/license"
)

// An app embeds the public key file written by keysmith, typically with
// //go:embed public-1.pem, and checks the key the user entered.
func ExampleKeyring_Verify() {
	const publicKeyPEM = `-----BEGIN PUBLIC KEY-----
Key-Id: 1

MCowBQYDK2VwAyEAA6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=
-----END PUBLIC KEY-----
`
	id, pub, err := license.ParsePublicKeyPEM([]byte(publicKeyPEM))
	if err != nil {
		log.Fatal(err)
	}
	ring := license.Keyring{id: pub}

	// As the user pasted it: lowercase, with a line break.
	key := `040xq-a0j08-00608-0002g-5jrhq-0a14d-2pf28-aqkff-y19b9-72fzq-gw1vn-q24g2-7r5t1-7r961-ba9p6-
rb89p-ebx9r-tdhzy-8117e-jdbdm-v23kw-9fydq-ar1bs-8m19c-k9fem-47skh-5s6nz-p9njw-w30`
	claims, err := ring.Verify(key)
	if err != nil {
		log.Fatal(err)
	}
	if claims.Product != 300123 || claims.Major != 2 {
		log.Fatal("license is for another product")
	}
	now := time.Date(2026, time.June, 1, 12, 0, 0, 0, time.UTC) // time.Now() in a real app
	if claims.Expired(now) {
		log.Fatal("license expired")
	}
	fmt.Println("model:", claims.Model)
	fmt.Println("seats:", claims.Seats)
	fmt.Println("features:", claims.Features)
	fmt.Println("feature 2 of set 0:", claims.Features[0]&2 != 0)
	fmt.Println("expires:", claims.Expires.Format(time.DateOnly))
	// Output:
	// model: subscription
	// seats: 5
	// features: 0:3;1:1
	// feature 2 of set 0: true
	// expires: 2027-03-01
}
