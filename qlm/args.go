package qlm

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/keysmith/keysmith/license"
)

// Args are QLM's is_* arguments, which the vendor wrote into the Key
// Generator URL. QLM documents them in qlmdocs/api-reference/http-methods/
// getactivationkey.md and getactivationkeywithexpirydate.md (repository
// soraco/qlm); the README's table says what keysmith does with each.
type Args struct {
	Vendor       string // is_vendor as given; empty means the server's default provider
	ProductID    uint32
	HasProductID bool // is_productid given; false for the webhook style, which maps ShareIt's PRODUCT_ID
	Major, Minor uint32
	HasVersion   bool   // both is_majorversion and is_minorversion given
	ProductName  string // is_productname: the name the buyer's email shows
	QLMVersion   string

	Features license.Features // is_features, see ParseFeatures

	Quantity int // is_quantity; 0 = not given (the purchase's QUANTITY counts)
	// MultipleActivationsKey is is_usemultipleactivationskey, default
	// true: one key carrying every seat; false: one key per license.
	MultipleActivationsKey bool
	// ActivationsPerKey is is_numberofactivationsperkey; 0 = not given.
	ActivationsPerKey int
	// AdditionalActivations is is_additionalactivations: seats added to
	// the order's key on top of the quantity.
	AdditionalActivations int

	// LicenseModel is is_licensemodel as QLM names it, lower-cased (one of
	// the nine license.ParseModel reads); empty = not given.
	LicenseModel string
	Floating     bool      // is_floating: floating seats
	ExpDuration  int       // is_expduration in days; 0 = none
	ExpDate      time.Time // is_expdate (UTC); zero = none

	MaintenancePlan bool      // is_maintenance_plan
	MaintDuration   int       // is_maintduration in days; 0 = not given
	MaintDate       time.Time // is_maintdate (RenewMaintenancePlan); zero = none
	ActivationKey   string    // is_avkey (RenewMaintenancePlan, RenewSubscriptionHttp)

	EmailTemplate string // is_emailtemplate, QLM's template name
	SendMail      bool   // is_send_mail, keysmith's own: default true
	AffiliateID   string // is_affiliateid

	// Raw holds every is_* argument as given, with lower-cased names, except
	// is_user and is_pwd, so that it can be stored with the order.
	Raw map[string]string
}

// knownArgs are the arguments keysmith reads (or, for is_computertype,
// is_userdata1 and is_pp, stores only); others are stored with a warning.
var knownArgs = map[string]bool{
	"is_vendor": true, "is_productid": true, "is_majorversion": true, "is_minorversion": true,
	"is_productname": true, "is_qlmversion": true, "is_user": true, "is_pwd": true,
	"is_features": true, "is_quantity": true, "is_usemultipleactivationskey": true,
	"is_numberofactivationsperkey": true, "is_additionalactivations": true,
	"is_licensemodel": true, "is_floating": true, "is_expduration": true, "is_expdate": true,
	"is_maintenance_plan": true, "is_maintduration": true, "is_maintdate": true, "is_avkey": true,
	"is_emailtemplate": true, "is_send_mail": true, "is_affiliateid": true,
	"is_computertype": true, "is_userdata1": true, "is_pp": true,
}

// MaxSeats bounds seat and activation counts: the database holds a 32-bit
// signed count, and no order sells more.
const MaxSeats = 1<<31 - 1

// QLMDateLayouts are the Go layouts of QLM's two default date formats:
// dateFormat (yyyy-MM-dd) and eCommerceProviderDateFormat
// (yyyy-MM-dd HH:mm:ss), per qlmdocs/qlm-license-server/server-properties.md.
var QLMDateLayouts = []string{"2006-01-02", "2006-01-02 15:04:05", "2006-01-02T15:04:05"}

// parseArgs reads the call's is_* arguments. dateLayout, when not empty, is
// the provider's own date format for is_expdate and is_maintdate, tried
// before QLM's defaults.
func (c *Call) parseArgs(dateLayout string) (Args, error) {
	raw := c.args
	get := func(name string) string { return strings.TrimSpace(raw[name]) }

	a := Args{
		Vendor:        get("is_vendor"),
		ProductName:   get("is_productname"),
		QLMVersion:    get("is_qlmversion"),
		EmailTemplate: get("is_emailtemplate"),
		AffiliateID:   get("is_affiliateid"),
		ActivationKey: get("is_avkey"),
		Raw:           make(map[string]string, len(raw)),
	}
	for _, name := range slices.Sorted(maps.Keys(raw)) {
		if secretArgs[name] {
			continue
		}
		a.Raw[name] = raw[name]
		if !knownArgs[name] {
			c.warn("%s: not a QLM argument keysmith reads; stored only", Label(name))
		}
	}

	var err error
	if s := get("is_productid"); s != "" {
		if a.ProductID, err = parseUint32("is_productid", s); err != nil {
			return Args{}, err
		}
		a.HasProductID = true
	}
	major, minor := get("is_majorversion"), get("is_minorversion")
	switch {
	case major != "" && minor != "":
		if a.Major, err = parseUint32("is_majorversion", major); err != nil {
			return Args{}, err
		}
		if a.Minor, err = parseUint32("is_minorversion", minor); err != nil {
			return Args{}, err
		}
		a.HasVersion = true
	case major != "":
		// Half a version cannot name a product; guessing the other half could
		// issue keys for the wrong one.
		return Args{}, BadRequest("is_minorversion", "missing while is_majorversion is given")
	case minor != "":
		return Args{}, BadRequest("is_majorversion", "missing while is_minorversion is given")
	}

	if a.Features, err = ParseFeatures(raw["is_features"]); err != nil {
		return Args{}, err
	}

	if a.Quantity, err = Count("is_quantity", get("is_quantity"), 1); err != nil {
		return Args{}, err
	}
	if a.MultipleActivationsKey, err = parseBool("is_usemultipleactivationskey", get("is_usemultipleactivationskey"), true); err != nil {
		return Args{}, err
	}
	if a.ActivationsPerKey, err = Count("is_numberofactivationsperkey", get("is_numberofactivationsperkey"), 1); err != nil {
		return Args{}, err
	}
	if a.AdditionalActivations, err = Count("is_additionalactivations", get("is_additionalactivations"), 0); err != nil {
		return Args{}, err
	}

	if s := get("is_licensemodel"); s != "" {
		m, b, err := license.ParseModel(s)
		if err != nil {
			return Args{}, BadRequest("is_licensemodel", "%s is not one of QLM's license models (permanent, trial, subscription, each also _floating or _cloud)", Quote(s))
		}
		a.LicenseModel = license.ModelName(m, b)
	}
	if a.Floating, err = parseBool("is_floating", get("is_floating"), false); err != nil {
		return Args{}, err
	}

	if a.ExpDuration, err = Count("is_expduration", get("is_expduration"), 0); err != nil {
		return Args{}, err
	}
	if a.ExpDate, err = parseQLMDate("is_expdate", get("is_expdate"), dateLayout); err != nil {
		return Args{}, err
	}
	if a.MaintenancePlan, err = parseBool("is_maintenance_plan", get("is_maintenance_plan"), false); err != nil {
		return Args{}, err
	}
	if a.MaintDuration, err = Count("is_maintduration", get("is_maintduration"), 1); err != nil {
		return Args{}, err
	}
	if a.MaintDate, err = parseQLMDate("is_maintdate", get("is_maintdate"), dateLayout); err != nil {
		return Args{}, err
	}

	// A wrong is_send_mail cannot key the wrong thing: mail as usual.
	if a.SendMail, err = parseBool("is_send_mail", get("is_send_mail"), true); err != nil {
		a.SendMail = true
		c.warn("%s; the buyer is emailed", err)
	}
	return a, nil
}

// ParseFeatures parses QLM's is_features: "set:value" pairs separated by ';',
// sets 0-3, each value the OR of feature bits 1..128, so "0:3;1:1" enables
// features 1 and 2 of set 0 and feature 1 of set 1
// (qlmdocs/how-to/qlm-features.md). Spaces around parts, empty parts (a
// trailing ';', as in QLM's own "0:1;") and empty sets ("1:") are read as
// QLM writes them; empty or a bare "0" means no features. Anything else is
// an error, since a silently dropped feature set would sell a customer less
// than they paid for.
func ParseFeatures(s string) (license.Features, error) {
	var f license.Features
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return f, nil
	}
	var seen [4]bool
	for part := range strings.SplitSeq(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		setText, valueText, ok := strings.Cut(part, ":")
		if !ok {
			return f, BadRequest("is_features", "%s is not set:value", Quote(part))
		}
		set, err := parseSmall(strings.TrimSpace(setText), 3)
		if err != nil {
			return f, BadRequest("is_features", "set %s", err)
		}
		var value uint64
		if valueText = strings.TrimSpace(valueText); valueText != "" {
			if value, err = parseSmall(valueText, 255); err != nil {
				return f, BadRequest("is_features", "value %s", err)
			}
		}
		if seen[set] {
			return f, BadRequest("is_features", "set %d given twice", set)
		}
		seen[set] = true
		f[set] = uint8(value)
	}
	return f, nil
}

// parseSmall parses a decimal number in 0..limit for ParseFeatures; its error
// reads well after "set " or "value ".
func parseSmall(s string, limit uint64) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("%s is not a number", Quote(s))
	}
	if err != nil || n > limit {
		// s is all digits here, so it is safe to show; only its length is not.
		if len(s) > 20 {
			s = s[:20] + "..."
		}
		return 0, fmt.Errorf("%s out of range 0-%d", s, limit)
	}
	return n, nil
}

func parseUint32(field, s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, BadRequest(field, "%s is not a number from 0 to %d", Quote(s), uint32(1<<32-1))
	}
	return uint32(n), nil
}

// count reads a count of licenses, seats or days: a whole number from min
// to MaxSeats; "" is 0 (not given).
func Count(field, s string, min int) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	switch {
	case errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(s, "-"), err == nil && n > MaxSeats:
		return 0, BadRequest(field, "more than %d", MaxSeats)
	case err != nil:
		return 0, BadRequest(field, "%s is not a whole number", Quote(s))
	case n < int64(min):
		return 0, BadRequest(field, "%d is less than %d", n, min)
	}
	return int(n), nil
}

// parseBool accepts the spellings QLM's documentation and vendors use.
func parseBool(field, s string, def bool) (bool, error) {
	switch strings.ToLower(s) {
	case "":
		return def, nil
	case "true", "1", "yes", "y", "on":
		return true, nil
	case "false", "0", "no", "n", "off":
		return false, nil
	}
	return false, BadRequest(field, "%s is not true or false", Quote(s))
}

// parseQLMDate reads a date in the provider's format, else in QLM's default
// formats; the time of day, if any, is kept (expiry rounds it up to a day).
func parseQLMDate(field, s, layout string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	layouts := QLMDateLayouts
	if layout != "" {
		layouts = append([]string{layout}, layouts...)
	}
	for _, l := range layouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, BadRequest(field, "%s is not a date (yyyy-MM-dd or the provider's date_format)", Quote(s))
}

// checkText makes an argument storable text: invalid UTF-8 is read as
// Windows-1252, NUL (which PostgreSQL refuses) removed, each with a
// warning. The value is not echoed, as it may be a secret.
func (c *Call) checkText(field, v string) string {
	if !utf8.ValidString(v) {
		v = Latin(v)
		c.warn("%s: not valid UTF-8; read as Windows-1252", Label(field))
	}
	if strings.IndexByte(v, 0) >= 0 {
		v = strings.ReplaceAll(v, "\x00", "")
		c.warn("%s: NUL bytes removed", Label(field))
	}
	return v
}

// WithMapping adds QLM arguments from a stored product mapping (QLM's
// shareit_<PRODUCT_ID> server property: "&is_productid=1&is_majorversion=1
// ..."). Arguments in the call win over the mapping.
func (c *Call) WithMapping(mapping url.Values) {
	for _, raw := range slices.Sorted(maps.Keys(mapping)) {
		name, values := strings.ToLower(raw), mapping[raw]
		if _, ok := c.args[name]; !ok && isArg(name) && !secretArgs[name] && len(values) > 0 {
			c.args[name] = c.checkText(name, values[0])
		}
	}
}
