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

MCowBQYDK2VwAyEA2rZmBhb0h5Y6iU9NHjEGdjEn5Qo2gy/EEvHYMX65N3w=
-----END PUBLIC KEY-----
`
	id, pub, err := license.ParsePublicKeyPEM([]byte(publicKeyPEM))
	if err != nil {
		log.Fatal(err)
	}
	ring := license.Keyring{id: pub}

	// As the user pasted it: lowercase, with a line break.
	key := `080xq-a0j08-00608-0002g-40eb2-6w19e-0m28t-5cy4g-nf6yy-ykeqe-t3qz7-96163-b2rsc-srymb-6qb5c-
a3gje-xh3w2-8jd9w-b5npn-a61ef-reetr-x9a26-h8gkm-n0ee9-cc4j4-2vb89-dtwnc-fbbvn-fhsfk-86g`
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
	fmt.Println("binding:", claims.Binding)
	fmt.Println("QLM model:", license.ModelName(claims.Model, claims.Binding))
	fmt.Println("seats:", claims.Seats)
	fmt.Println("features:", claims.Features)
	fmt.Println("feature 2 of set 0:", claims.Features[0]&2 != 0)
	fmt.Println("expires:", claims.Expires.Format(time.DateOnly))
	fmt.Println("maintenance until:", claims.Maintenance.Format(time.DateOnly))

	// The maintenance plan covers updates released before it ends.
	released := time.Date(2026, time.September, 1, 0, 0, 0, 0, time.UTC) // built into the app
	fmt.Println("this release covered:", claims.Maintenance.After(released))
	// Output:
	// model: subscription
	// binding: floating
	// QLM model: subscription_floating
	// seats: 5
	// features: 0:3;1:1
	// feature 2 of set 0: true
	// expires: 2027-03-01
	// maintenance until: 2027-03-01
	// this release covered: true
}

func ExampleParseModel() {
	// QLM's is_licensemodel, as a storefront sends it.
	model, binding, err := license.ParseModel("Trial_Floating")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(model, binding, license.ModelName(model, binding))
	// Output: trial floating trial_floating
}
