package fastspring

import (
	"strconv"
	"strings"
	"time"

	"github.com/keysmith/keysmith/config"
	"github.com/keysmith/keysmith/qlm"
	"github.com/keysmith/keysmith/storefront"
)

// The remote request's fields. FastSpring lets the vendor choose them (the
// fulfillment's Parameters tab); QLM's field-mapping table
// (qlmdocs/3rd-party-integration/ecommerce-field-mappings.md) names
// FastSpring's as email, name, customercompany, AddressStreet1,
// AddressStreet2, AddressCity, AddressRegion, AddressPostalCode,
// AddressCountry, CustomerPhone and quantity, and FastSpring's own
// generators read name, email, company, reference and quantity. Each
// spelling is accepted, the first one present wins, matched without regard
// to case.
var (
	referenceFields    = []string{"reference", "orderReference", "order_reference", "OrderReference", "orderId", "order"}
	itemFields         = []string{"product", "productPath", "internalProductName", "productName"}
	nameFields         = []string{"name", "fullName", "customerName"}
	firstNameFields    = []string{"firstName", "first"}
	lastNameFields     = []string{"lastName", "last"}
	emailFields        = []string{"email", "customerEmail"}
	companyFields      = []string{"company", "customercompany", "customerCompany"}
	phoneFields        = []string{"phone", "CustomerPhone"}
	streetFields       = []string{"AddressStreet1", "addressLine1", "street"}
	cityFields         = []string{"AddressCity", "city"}
	regionFields       = []string{"AddressRegion", "region", "regionCode"}
	zipFields          = []string{"AddressPostalCode", "postalCode", "zip"}
	countryFields      = []string{"AddressCountry", "country"}
	languageFields     = []string{"language"}
	subscriptionFields = []string{"subscriptionReference", "subscription", "subscriptionId"}
	quantityFields     = []string{"quantity"}
)

// decodeRemote reads a remote license request: QLM's arguments from the
// URL and the purchase from FastSpring's form, always UTF-8 (QLM's guides
// set "POST Encoding: UTF-8").
func decodeRemote(c *qlm.Call, p *config.Provider) (storefront.Request, error) {
	args, err := c.Args(p.DateLayout())
	if err != nil {
		return storefront.Request{}, err
	}
	fields, _ := c.DecodeFields(true)
	delete(fields, hashField)
	byUpper := qlm.Fold(fields)
	get := func(names []string) string {
		for _, n := range names {
			if v := strings.TrimSpace(byUpper[strings.ToUpper(n)]); v != "" {
				return v
			}
		}
		return ""
	}
	pu := storefront.Purchase{
		PurchaseID:   get(referenceFields),
		RunningNo:    get(itemFields),
		Quantity:     1,
		Company:      get(companyFields),
		Phone:        get(phoneFields),
		Street:       get(streetFields),
		City:         get(cityFields),
		State:        get(regionFields),
		Zip:          get(zipFields),
		ISOCode:      get(countryFields),
		Language:     get(languageFields),
		Subscription: get(subscriptionFields),
		UTF8:         true,
		Fields:       fields,
	}
	pu.FirstName, pu.LastName, pu.RegName = get(firstNameFields), get(lastNameFields), get(nameFields)
	if err := checkLine(&pu, "reference", "product"); err != nil {
		return storefront.Request{}, err
	}
	storefront.ReadEmail(c, &pu, "email", get(emailFields))
	if s := get(quantityFields); s != "" {
		n, err := qlm.Count("quantity", s, 1)
		if err != nil {
			if args.Quantity == 0 {
				return storefront.Request{}, err
			}
			pu.QuantityProblem = err.Error()
			c.Warn("%s; is_quantity %d is used", err, args.Quantity)
		}
		pu.Quantity = n
	}
	return storefront.Request{Args: args, Purchase: pu, Warnings: c.Warnings()}, nil
}

// checkLine checks the identifiers that name the line: the order's
// reference, and the item (its product path; "1" when not sent).
func checkLine(pu *storefront.Purchase, orderField, itemField string) error {
	if err := storefront.CheckID(orderField, pu.PurchaseID, storefront.MaxPurchaseID); err != nil {
		return err
	}
	if pu.RunningNo == "" {
		pu.RunningNo = "1"
	}
	return storefront.CheckID(itemField, pu.RunningNo, maxItem)
}

// millis reads FastSpring's times, milliseconds since 1970; zero when
// absent.
func millis(ms int64) time.Time {
	if ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

func itoa(n int) string { return strconv.Itoa(n) }
