package shareit

import (
	"maps"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

// Order is one order line as ShareIt sends it (see shareit-keygen.md).
// Known fields are trimmed of surrounding spaces; Fields keeps everything.
type Order struct {
	PurchaseID   string    // PURCHASE_ID, ShareIt's order number ("Ref #")
	RunningNo    string    // RUNNING_NO, the line within the purchase
	PurchaseDate time.Time // PURCHASE_DATE (dd/MM/yyyy, UTC); zero if absent
	ProductID    string    // PRODUCT_ID, ShareIt's product id, not the vendor's
	Quantity     int       // QUANTITY, 1 if absent

	RegName     string // REG_NAME
	FirstName   string // FIRSTNAME
	LastName    string // LASTNAME
	Company     string // COMPANY
	Email       string // EMAIL, the bare address (net/mail syntax checked)
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

	Encoding string // "UTF8", or "" for ISO-8859-1

	// Fields holds every order field received, known or not (ADD[...] too),
	// decoded to UTF-8, under the names as sent. Fields given more than once
	// keep their first value. It never holds is_* arguments.
	Fields map[string]string
}

// FullName is the buyer's name as QLM builds it: FIRSTNAME LASTNAME, or
// REG_NAME when both are empty.
func (o Order) FullName() string {
	if name := strings.TrimSpace(o.FirstName + " " + o.LastName); name != "" {
		return name
	}
	return o.RegName
}

// LineID identifies this order line across ShareIt's repeated calls:
// PURCHASE_ID-RUNNING_NO. It is unambiguous because RUNNING_NO may not hold '-'.
func (o Order) LineID() string { return o.PurchaseID + "-" + o.RunningNo }

// maxIDLen bounds PURCHASE_ID and RUNNING_NO, which end up in keys and URLs.
const maxIDLen = 64

// parseOrder builds the order from the fields of the URL query and of the
// body (nil for GET), skipping is_* arguments. A body field replaces a query
// field of the same name, case-insensitively: the body is ShareIt's, the URL
// the vendor's.
func parseOrder(query, body url.Values) (Order, error) {
	encoding, err := orderEncoding(query, body)
	if err != nil {
		return Order{}, err
	}
	queryFields, err := decodeFields(query, encoding)
	if err != nil {
		return Order{}, err
	}
	fields, err := decodeFields(body, encoding)
	if err != nil {
		return Order{}, err
	}
	inBody := make(map[string]bool, len(fields))
	for name := range fields {
		inBody[strings.ToUpper(name)] = true
	}
	for name, value := range queryFields {
		if !inBody[strings.ToUpper(name)] {
			fields[name] = value
		}
	}

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

	o := Order{
		PurchaseID:      get("PURCHASE_ID"),
		RunningNo:       get("RUNNING_NO"),
		ProductID:       get("PRODUCT_ID"),
		Quantity:        1,
		RegName:         get("REG_NAME"),
		FirstName:       get("FIRSTNAME"),
		LastName:        get("LASTNAME"),
		Company:         get("COMPANY"),
		Phone:           get("PHONE"),
		Fax:             get("FAX"),
		Street:          get("STREET"),
		City:            get("CITY"),
		Zip:             get("ZIP"),
		State:           get("STATE"),
		Country:         get("COUNTRY"),
		ISOCode:         get("ISO_CODE"),
		Language:        get("LANGUAGE_ID"),
		Reseller:        get("RESELLER"),
		Additional1:     get("ADDITIONAL1"),
		Additional2:     get("ADDITIONAL2"),
		PromotionName:   get("PROMOTION_NAME"),
		PromotionCoupon: get("PROMOTION_COUPON_CODE"),
		Encoding:        encoding,
		Fields:          fields,
	}

	if err := checkID("PURCHASE_ID", o.PurchaseID, "._-"); err != nil {
		return Order{}, err
	}
	if err := checkID("RUNNING_NO", o.RunningNo, "._"); err != nil {
		return Order{}, err
	}
	if s := get("PURCHASE_DATE"); s != "" {
		// "2/1/2006" also reads the zero-padded dd/MM/yyyy.
		if o.PurchaseDate, err = parseDate("PURCHASE_DATE", s, "dd/MM/yyyy", "2/1/2006"); err != nil {
			return Order{}, err
		}
	}
	if s := get("QUANTITY"); s != "" {
		if o.Quantity, err = parseQuantity("QUANTITY", s); err != nil {
			return Order{}, err
		}
	}
	if s := get("EMAIL"); s != "" {
		// The address is the customer's identity, so a display-name form
		// such as "Jürgen <j@example.de>" is reduced to the bare address.
		// The value is not echoed: it is personal data.
		addr, err := mail.ParseAddress(s)
		if err != nil {
			return Order{}, badRequest("EMAIL", "not a valid e-mail address")
		}
		o.Email = addr.Address
	}
	return o, nil
}

// decodeFields decodes the names and first values of the order fields in
// source from the order's character set, skipping is_* arguments.
func decodeFields(source url.Values, encoding string) (map[string]string, error) {
	latin1 := charmap.ISO8859_1.NewDecoder()
	decode := func(s string) (string, bool) {
		if encoding == "UTF8" {
			return s, utf8.ValidString(s)
		}
		// ISO-8859-1 maps every byte to a character, so this cannot fail.
		s, err := latin1.String(s)
		return s, err == nil
	}

	fields := make(map[string]string, len(source))
	// Sorted, so that a request with several bad fields always gets the same error.
	for _, name := range slices.Sorted(maps.Keys(source)) {
		values := source[name]
		if name == "" || len(values) == 0 || strings.HasPrefix(strings.ToLower(name), "is_") {
			continue
		}
		dname, ok := decode(name)
		if !ok {
			return nil, badRequest(label(name), "field name is not valid UTF-8 although ENCODING is UTF8")
		}
		value, ok := decode(values[0])
		if !ok {
			return nil, badRequest(label(dname), "not valid UTF-8 although ENCODING is UTF8")
		}
		if strings.IndexByte(dname, 0) >= 0 || strings.IndexByte(value, 0) >= 0 {
			return nil, badRequest(label(dname), "contains a NUL byte")
		}
		fields[dname] = value
	}
	return fields, nil
}

// orderEncoding reads ENCODING (body first): absent or empty means
// ISO-8859-1, UTF8 means UTF-8. Anything else is refused rather than guessed,
// because a wrong guess stores a garbled name on the customer record.
func orderEncoding(query, body url.Values) (string, error) {
	var value string
	for _, source := range []url.Values{body, query} {
		if v, ok := lookupFold(source, "ENCODING"); ok {
			value = strings.TrimSpace(v)
			break
		}
	}
	switch strings.ToUpper(value) {
	case "UTF8", "UTF-8":
		return "UTF8", nil
	case "", "ISO-8859-1", "ISO8859-1", "LATIN1":
		return "", nil
	}
	return "", badRequest("ENCODING", "%s is not UTF8 or ISO-8859-1", quote(value))
}

// lookupFold finds a field case-insensitively, preferring the exact name and
// otherwise the first case variant in sorted order.
func lookupFold(v url.Values, name string) (string, bool) {
	if vs, ok := v[name]; ok && len(vs) > 0 {
		return vs[0], true
	}
	for _, k := range slices.Sorted(maps.Keys(v)) {
		if strings.EqualFold(k, name) && len(v[k]) > 0 {
			return v[k][0], true
		}
	}
	return "", false
}

// checkID requires an identifier of ASCII letters, digits and the given
// punctuation, at most maxIDLen long: it becomes part of LineID and of
// storage keys, so it must be plain and bounded.
func checkID(field, s, punct string) error {
	if s == "" {
		return badRequest(field, "missing")
	}
	if len(s) > maxIDLen {
		return badRequest(field, "longer than %d characters", maxIDLen)
	}
	for _, c := range []byte(s) {
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(punct, c) >= 0
		if !ok {
			return badRequest(field, "%s holds characters other than A-Z a-z 0-9 %s", quote(s), punct)
		}
	}
	return nil
}
