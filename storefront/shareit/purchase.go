package shareit

import (
	"net/mail"
	"strings"
	"time"

	"github.com/keysmith/keysmith/qlm"
	"github.com/keysmith/keysmith/storefront"
)

// Fields that carry the subscription's first purchase on a MyCommerce
// rebilling call. The public documentation names the setting
// (REBILLING_SEND_ORG_KEY) but not the field, so each spelling seen in
// integration guides is accepted; the first one present wins.
var (
	originalKeyFields      = []string{"ORIGINAL_KEY", "ORG_KEY", "ORIGINAL_LICENSE_KEY", "REBILLING_ORG_KEY", "REBILLING_SEND_ORG_KEY"}
	originalPurchaseFields = []string{"ORIGINAL_PURCHASE_ID", "ORG_PURCHASE_ID", "ORIGINAL_REF"}
)

// purchase decodes the call's order fields (the README lists ShareIt's)
// from the order's character set. utf8Default is the provider's choice for
// a call without ENCODING.
func purchase(c *qlm.Call, utf8Default bool) (storefront.Purchase, error) {
	fields, utf8 := c.DecodeFields(encoding(c, utf8Default))

	// Known names are matched case-insensitively, the all-upper spelling
	// ShareIt uses first.
	byUpper := qlm.Fold(fields)
	get := func(name string) string { return strings.TrimSpace(byUpper[name]) }
	first := func(names []string) string {
		for _, n := range names {
			if v := get(n); v != "" {
				return v
			}
		}
		return ""
	}

	p := storefront.Purchase{
		PurchaseID:         get("PURCHASE_ID"),
		RunningNo:          get("RUNNING_NO"),
		Quantity:           1,
		RegName:            get("REG_NAME"),
		FirstName:          get("FIRSTNAME"),
		LastName:           get("LASTNAME"),
		Company:            get("COMPANY"),
		Phone:              get("PHONE"),
		Street:             get("STREET"),
		City:               get("CITY"),
		Zip:                get("ZIP"),
		State:              get("STATE"),
		Country:            get("COUNTRY"),
		ISOCode:            get("ISO_CODE"),
		Language:           get("LANGUAGE_ID"),
		Reseller:           get("RESELLER"),
		OriginalKey:        first(originalKeyFields),
		OriginalPurchaseID: first(originalPurchaseFields),
		UTF8:               utf8,
		Fields:             fields,
	}
	// REBILLING_SEND_ORG_KEY may hold a flag rather than the key.
	if isFlag(p.OriginalKey) {
		p.OriginalKey = ""
	}

	if err := storefront.CheckID("PURCHASE_ID", p.PurchaseID, storefront.MaxPurchaseID); err != nil {
		return storefront.Purchase{}, err
	}
	if p.RunningNo == "" {
		p.RunningNo = "1" // MyCommerce leaves it out for one-line orders
	}
	if err := storefront.CheckID("RUNNING_NO", p.RunningNo, storefront.MaxRunningNo); err != nil {
		return storefront.Purchase{}, err
	}
	p.PurchaseDate = orderDate(c, "PURCHASE_DATE", get("PURCHASE_DATE"), "the order is dated the day it was received")
	// The subscription's first purchase and the current period's start say
	// nothing a renewal needs; an unreadable one is still worth a warning.
	orderDate(c, "SUBSCRIPTION_DATE", get("SUBSCRIPTION_DATE"), "ignored")
	orderDate(c, "START_DATE", get("START_DATE"), "ignored")
	p.ExpiryDate = orderDate(c, "EXPIRY_DATE", get("EXPIRY_DATE"), "ignored")
	if s := get("QUANTITY"); s != "" {
		if n, err := qlm.Count("QUANTITY", s, 1); err != nil {
			p.Quantity, p.QuantityProblem = 0, err.Error()
		} else {
			p.Quantity = n
		}
	}
	if s := get("EMAIL"); s != "" {
		// The address is the customer's identity, so a display-name form
		// such as "Jürgen <j@example.de>" is reduced to the bare address.
		// The value is not echoed: it is personal data.
		if addr, err := mail.ParseAddress(s); err == nil {
			p.Email = addr.Address
		} else {
			c.Warn("EMAIL: not an email address; the buyer is not emailed (it is stored with the order)")
		}
	}
	return p, nil
}

func isFlag(s string) bool {
	switch strings.ToLower(s) {
	case "1", "0", "y", "n", "yes", "no", "true", "false":
		return true
	}
	return false
}

// orderDate reads one of ShareIt's dates; an unreadable one is a warning,
// saying what becomes of it.
func orderDate(c *qlm.Call, field, s, otherwise string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, ok := parsePurchaseDate(s)
	if !ok {
		c.Warn("%s: %s is not a date; %s", field, qlm.Quote(s), otherwise)
	}
	return t
}

// purchaseDateLayouts are the dates ShareIt and MyCommerce send: day first
// with or without a time (ShareIt's dd/MM/yyyy), ISO-8601.
var purchaseDateLayouts = []string{
	"2/1/2006", "2/1/2006 15:04:05", "2/1/2006 15:04", "2/1/2006 3:04:05 PM",
	"2.1.2006", "2.1.2006 15:04:05",
	"2006-01-02", "2006-01-02 15:04:05", "2006-01-02T15:04:05", time.RFC3339, "2006-01-02T15:04:05Z0700",
}

func parsePurchaseDate(s string) (time.Time, bool) {
	for _, layout := range purchaseDateLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// encoding is the character set the order's fields are in: ENCODING=UTF8
// means UTF-8; absent, the provider's default; ISO-8859-1 (and its
// aliases) means Windows-1252, as on the web.
func encoding(c *qlm.Call, utf8Default bool) bool {
	raw, ok := c.Field("ENCODING")
	if !ok || strings.TrimSpace(raw) == "" {
		return utf8Default
	}
	switch v := strings.ToUpper(strings.TrimSpace(raw)); v {
	case "UTF8", "UTF-8":
		return true
	case "ISO-8859-1", "ISO8859-1", "ISO_8859-1", "LATIN1", "LATIN-1", "WINDOWS-1252", "CP1252":
		return false
	default:
		c.Warn("ENCODING: %s is not UTF8 or ISO-8859-1; read as %s", qlm.Quote(v), qlm.CharsetName(utf8Default))
		return utf8Default
	}
}
