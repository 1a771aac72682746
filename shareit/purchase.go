package shareit

import (
	"maps"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Purchase is one purchase line as ShareIt sends it: the order fields of a
// Key Generator call (the field list is in the README). Known fields are
// trimmed of surrounding spaces; Fields keeps everything.
type Purchase struct {
	PurchaseID   string    // PURCHASE_ID, ShareIt's order number ("Ref #"), printable text
	RunningNo    string    // RUNNING_NO, the line within the purchase; "1" when absent
	PurchaseDate time.Time // PURCHASE_DATE in UTC; zero when absent or unreadable
	ProductID    string    // PRODUCT_ID, ShareIt's product id, not the vendor's
	// Quantity is QUANTITY: 1 when absent, 0 when unreadable (see
	// QuantityProblem), since the seats to sell cannot be guessed.
	Quantity        int
	QuantityProblem string

	RegName     string // REG_NAME
	FirstName   string // FIRSTNAME
	LastName    string // LASTNAME
	Company     string // COMPANY
	Email       string // EMAIL, the bare address; "" when absent or not an address
	Phone       string // PHONE
	Fax         string // FAX
	Street      string // STREET
	City        string // CITY
	Zip         string // ZIP
	State       string // STATE
	Country     string // COUNTRY
	ISOCode     string // ISO_CODE, the 2-letter country
	Language    string // LANGUAGE_ID: 1 English, 2 German, 3 Portuguese, 4 Spanish, 5 Italian, 6 French
	Reseller    string // RESELLER
	Additional1 string // ADDITIONAL1
	Additional2 string // ADDITIONAL2

	PromotionName   string // PROMOTION_NAME
	PromotionCoupon string // PROMOTION_COUPON_CODE

	// Subscriptions (MyCommerce rebilling): the first purchase, the
	// current period's start, the next rebilling; zero when absent.
	SubscriptionDate, StartDate, ExpiryDate time.Time
	// OriginalKey is the key of the subscription's first purchase, which
	// MyCommerce sends on a rebilling call when REBILLING_SEND_ORG_KEY is set.
	OriginalKey string
	// OriginalPurchaseID is the first purchase's PURCHASE_ID on a rebilling
	// call, when MyCommerce names it.
	OriginalPurchaseID string

	// UTF8 is true when the fields were read as UTF-8, false for
	// Windows-1252 (what ISO-8859-1 means on the web).
	UTF8 bool

	// Fields holds every order field received, known or not (ADD[...] too),
	// decoded to UTF-8, under the names as sent. Fields given more than once
	// keep their first value. It never holds is_* arguments.
	Fields map[string]string
}

// FullName is the buyer's name as QLM builds it: FIRSTNAME LASTNAME, or
// REG_NAME when both are empty.
func (p Purchase) FullName() string {
	if name := strings.TrimSpace(p.FirstName + " " + p.LastName); name != "" {
		return name
	}
	return p.RegName
}

// Renewal reports whether the call renews a subscription bought earlier
// rather than buying anew: it carries the original key or purchase.
func (p Purchase) Renewal() bool { return p.OriginalKey != "" || p.OriginalPurchaseID != "" }

// Limits on the identifiers that name an order line.
const (
	maxPurchaseID = 128
	maxRunningNo  = 32
)

// Fields that carry the subscription's first purchase on a MyCommerce
// rebilling call. The public documentation names the setting
// (REBILLING_SEND_ORG_KEY) but not the field, so each spelling seen in
// integration guides is accepted; the first one present wins.
var (
	originalKeyFields      = []string{"ORIGINAL_KEY", "ORG_KEY", "ORIGINAL_LICENSE_KEY", "REBILLING_ORG_KEY", "REBILLING_SEND_ORG_KEY"}
	originalPurchaseFields = []string{"ORIGINAL_PURCHASE_ID", "ORG_PURCHASE_ID", "ORIGINAL_REF"}
)

// purchase decodes the call's order fields from the order's character set.
// utf8Default is the provider's choice for a call without ENCODING.
func (c *Call) purchase(utf8Default bool) (Purchase, error) {
	fields := c.decodeFields(utf8Default)

	// Known names are matched case-insensitively. Among case variants the
	// first in sorted order wins, so the all-upper spelling ShareIt uses is
	// preferred and the result does not depend on map order.
	byUpper := make(map[string]string, len(fields))
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		upper := strings.ToUpper(name)
		if _, ok := byUpper[upper]; !ok {
			byUpper[upper] = fields[name]
		}
	}
	get := func(name string) string { return strings.TrimSpace(byUpper[name]) }
	first := func(names []string) string {
		for _, n := range names {
			if v := get(n); v != "" {
				return v
			}
		}
		return ""
	}

	p := Purchase{
		PurchaseID:         get("PURCHASE_ID"),
		RunningNo:          get("RUNNING_NO"),
		ProductID:          get("PRODUCT_ID"),
		Quantity:           1,
		RegName:            get("REG_NAME"),
		FirstName:          get("FIRSTNAME"),
		LastName:           get("LASTNAME"),
		Company:            get("COMPANY"),
		Phone:              get("PHONE"),
		Fax:                get("FAX"),
		Street:             get("STREET"),
		City:               get("CITY"),
		Zip:                get("ZIP"),
		State:              get("STATE"),
		Country:            get("COUNTRY"),
		ISOCode:            get("ISO_CODE"),
		Language:           get("LANGUAGE_ID"),
		Reseller:           get("RESELLER"),
		Additional1:        get("ADDITIONAL1"),
		Additional2:        get("ADDITIONAL2"),
		PromotionName:      get("PROMOTION_NAME"),
		PromotionCoupon:    get("PROMOTION_COUPON_CODE"),
		OriginalKey:        first(originalKeyFields),
		OriginalPurchaseID: first(originalPurchaseFields),
		UTF8:               c.utf8,
		Fields:             fields,
	}
	// REBILLING_SEND_ORG_KEY may hold a flag rather than the key.
	if isFlag(p.OriginalKey) {
		p.OriginalKey = ""
	}

	if err := checkID("PURCHASE_ID", p.PurchaseID, maxPurchaseID); err != nil {
		return Purchase{}, err
	}
	if p.RunningNo == "" {
		p.RunningNo = "1" // MyCommerce leaves it out for one-line orders
	}
	if err := checkID("RUNNING_NO", p.RunningNo, maxRunningNo); err != nil {
		return Purchase{}, err
	}
	p.PurchaseDate = c.orderDate("PURCHASE_DATE", get("PURCHASE_DATE"), "the order is dated the day it was received")
	p.SubscriptionDate = c.orderDate("SUBSCRIPTION_DATE", get("SUBSCRIPTION_DATE"), "ignored")
	p.StartDate = c.orderDate("START_DATE", get("START_DATE"), "ignored")
	p.ExpiryDate = c.orderDate("EXPIRY_DATE", get("EXPIRY_DATE"), "ignored")
	if s := get("QUANTITY"); s != "" {
		if n, err := count("QUANTITY", s, 1); err != nil {
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
			c.warn("EMAIL: not an email address; the buyer is not emailed (it is stored with the order)")
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
func (c *Call) orderDate(field, s, otherwise string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, ok := parsePurchaseDate(s)
	if !ok {
		c.warn("%s: %s is not a date; %s", field, quote(s), otherwise)
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

// decodeFields decodes the names and first values of the order fields from
// the order's character set. ENCODING=UTF8 means UTF-8; absent, the
// provider's default; ISO-8859-1 (and its aliases) means Windows-1252, as on
// the web, where the euro sign is 0x80. A body that claims UTF-8 but is not
// is read as Windows-1252 with a warning instead of failing the order.
func (c *Call) decodeFields(utf8Default bool) map[string]string {
	c.utf8 = utf8Default
	if raw, ok := c.Field("ENCODING"); ok && strings.TrimSpace(raw) != "" {
		switch v := strings.ToUpper(strings.TrimSpace(raw)); v {
		case "UTF8", "UTF-8":
			c.utf8 = true
		case "ISO-8859-1", "ISO8859-1", "ISO_8859-1", "LATIN1", "LATIN-1", "WINDOWS-1252", "CP1252":
			c.utf8 = false
		default:
			c.warn("ENCODING: %s is not UTF8 or ISO-8859-1; read as %s", quote(v), charsetName(c.utf8))
		}
	}
	if c.utf8 && !c.allUTF8() {
		c.utf8 = false
		c.warn("ENCODING: the fields are not valid UTF-8; read as Windows-1252")
	}
	decode := func(s string) string {
		if c.utf8 {
			return s
		}
		return latin(s)
	}

	fields := make(map[string]string, len(c.fields))
	// Sorted, so that warnings come in the same order every time.
	for _, rawName := range slices.Sorted(maps.Keys(c.fields)) {
		values := c.fields[rawName]
		if rawName == "" || len(values) == 0 {
			continue
		}
		name := decode(rawName)
		if strings.IndexByte(name, 0) >= 0 {
			c.warn("%s: a field name holds a NUL byte; dropped", label(name))
			continue
		}
		value := decode(values[0])
		for _, other := range values[1:] {
			if other != values[0] {
				c.warn("%s: given more than once; the first value is kept", label(name))
				break
			}
		}
		if strings.IndexByte(value, 0) >= 0 {
			value = strings.ReplaceAll(value, "\x00", "")
			c.warn("%s: NUL bytes removed", label(name))
		}
		if len(value) > MaxValueBytes {
			value = truncate(value, MaxValueBytes)
			c.warn("%s: longer than %d bytes; cut", label(name), MaxValueBytes)
		}
		fields[name] = value
	}
	return fields
}

func (c *Call) allUTF8() bool {
	for name, values := range c.fields {
		if !utf8.ValidString(name) {
			return false
		}
		if len(values) > 0 && !utf8.ValidString(values[0]) {
			return false
		}
	}
	return true
}

func charsetName(utf8 bool) string {
	if utf8 {
		return "UTF-8"
	}
	return "Windows-1252"
}

// truncate cuts s to at most n bytes on a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// checkID requires a printable identifier (letters, digits, punctuation,
// spaces) of bounded length: it names the order line in the database and,
// escaped, in Temporal.
func checkID(field, s string, max int) error {
	if s == "" {
		return badRequest(field, "missing")
	}
	if len(s) > max {
		return badRequest(field, "longer than %d bytes", max)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) || r == utf8.RuneError {
			return badRequest(field, "%s holds a character that is not printable", quote(s))
		}
	}
	return nil
}
