package shareit

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

// Args are QLM's is_* arguments, which the vendor wrote into the Key Generator
// URL (see qlm-compat.md). Names are matched case-insensitively.
type Args struct {
	Vendor       string // is_vendor as given; empty means the server's default provider
	ProductID    uint32
	HasProductID bool // is_productid given (QLM-style URL); false for the webhook style, which maps ShareIt's PRODUCT_ID instead
	Major, Minor uint32
	HasVersion   bool // both is_majorversion and is_minorversion given
	QLMVersion   string

	Features license.Features // is_features, see ParseFeatures

	User, Password string // is_user, is_pwd: secrets, never in Raw or in errors

	Quantity               int  // is_quantity; 0 = not given (use Request.Quantity)
	MultipleActivationsKey bool // is_usemultipleactivationskey, default true: one key carrying all seats; false: one key per license
	ActivationsPerKey      int  // is_numberofactivationsperkey, default 1

	LicenseModel string    // is_licensemodel lower-cased; empty = permanent. Validating names is the caller's job.
	ExpDuration  int       // is_expduration in days; 0 = none
	ExpDate      time.Time // is_expdate (UTC); zero = none

	EmailTemplate string
	SendMail      bool // default true; is_send_mail=false/0/no disables
	AffiliateID   string

	// Raw holds every is_* argument as given, with lower-cased names, except
	// is_user and is_pwd, so that it can be stored with the order.
	Raw map[string]string
}

// secretArgs never leave this package except in Args.User and Args.Password.
var secretArgs = map[string]bool{"is_user": true, "is_pwd": true}

// ParseArgs reads the is_* arguments from q and ignores everything else.
//
// Build q with ParseQuery rather than url.ParseQuery: QLM URLs carry
// is_features=0:3;1:1 unencoded, and url.ParseQuery drops any pair holding ';'.
func ParseArgs(q url.Values) (Args, error) {
	raw, err := collectArgs(q)
	if err != nil {
		return Args{}, err
	}
	get := func(name string) string { return strings.TrimSpace(raw[name]) }

	a := Args{
		Vendor:        get("is_vendor"),
		QLMVersion:    get("is_qlmversion"),
		User:          raw["is_user"], // secrets are used exactly as given
		Password:      raw["is_pwd"],
		LicenseModel:  strings.ToLower(get("is_licensemodel")),
		EmailTemplate: get("is_emailtemplate"),
		AffiliateID:   get("is_affiliateid"),
		Raw:           make(map[string]string, len(raw)),
	}
	for name, v := range raw {
		if !secretArgs[name] {
			a.Raw[name] = v
		}
	}

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
		return Args{}, badRequest("is_minorversion", "missing while is_majorversion is given")
	case minor != "":
		return Args{}, badRequest("is_majorversion", "missing while is_minorversion is given")
	}

	if a.Features, err = ParseFeatures(raw["is_features"]); err != nil {
		return Args{}, err
	}

	if s := get("is_quantity"); s != "" {
		if a.Quantity, err = parseQuantity("is_quantity", s); err != nil {
			return Args{}, err
		}
	}
	if a.MultipleActivationsKey, err = parseBool("is_usemultipleactivationskey", get("is_usemultipleactivationskey"), true); err != nil {
		return Args{}, err
	}
	a.ActivationsPerKey = 1
	if s := get("is_numberofactivationsperkey"); s != "" {
		if a.ActivationsPerKey, err = parseInt("is_numberofactivationsperkey", s); err != nil {
			return Args{}, err
		}
		if a.ActivationsPerKey < 1 {
			return Args{}, badRequest("is_numberofactivationsperkey", "%d is less than 1", a.ActivationsPerKey)
		}
	}

	if s := get("is_expduration"); s != "" {
		if a.ExpDuration, err = parseInt("is_expduration", s); err != nil {
			return Args{}, err
		}
		if a.ExpDuration < 0 {
			return Args{}, badRequest("is_expduration", "%d is negative", a.ExpDuration)
		}
	}
	if s := get("is_expdate"); s != "" {
		// QLM documents yyyy-MM-dd; .NET tools also produce the other two.
		if a.ExpDate, err = parseDate("is_expdate", s, "yyyy-MM-dd", "2006-01-02", "2006-01-02T15:04:05", "1/2/2006"); err != nil {
			return Args{}, err
		}
	}

	if a.SendMail, err = parseBool("is_send_mail", get("is_send_mail"), true); err != nil {
		return Args{}, err
	}
	return a, nil
}

// collectArgs returns the is_* arguments of q under lower-cased names. QLM's
// names are case-sensitive but vendors' URLs are not consistent about case.
// One argument given twice with different values is refused: picking either
// could issue the wrong product or quantity.
func collectArgs(q url.Values) (map[string]string, error) {
	args := make(map[string]string)
	for _, name := range slices.Sorted(maps.Keys(q)) {
		lname := strings.ToLower(name)
		if !strings.HasPrefix(lname, "is_") {
			continue
		}
		for _, v := range q[name] {
			if err := checkText(lname, v); err != nil {
				return nil, err
			}
			if prev, seen := args[lname]; seen && prev != v {
				return nil, badRequest(label(lname), "given more than once with different values")
			}
			args[lname] = v
		}
	}
	return args, nil
}

// checkText refuses what cannot be stored as text: invalid UTF-8, and NUL,
// which PostgreSQL rejects in text and jsonb. The value is not echoed, as it
// may be a secret.
func checkText(field, v string) error {
	if !utf8.ValidString(v) {
		return badRequest(label(field), "not valid UTF-8")
	}
	if strings.IndexByte(v, 0) >= 0 {
		return badRequest(label(field), "contains a NUL byte")
	}
	return nil
}

// ParseFeatures parses QLM's is_features: "set:value" pairs separated by ';',
// sets 0-3, each value the OR of feature bits 1..128, so "0:3;1:1" enables
// features 1 and 2 of set 0 and feature 1 of set 1. Empty or a bare "0" means
// no features. Anything else is an error, since a silently dropped feature
// set would sell a customer less than they paid for.
func ParseFeatures(s string) (license.Features, error) {
	var f license.Features
	s = strings.TrimSpace(s)
	if s == "" || s == "0" {
		return f, nil
	}
	var seen [4]bool
	for part := range strings.SplitSeq(s, ";") {
		setText, valueText, ok := strings.Cut(part, ":")
		if !ok {
			return f, badRequest("is_features", "%s is not set:value", quote(part))
		}
		set, err := parseSmall(setText, 3)
		if err != nil {
			return f, badRequest("is_features", "set %s", err)
		}
		value, err := parseSmall(valueText, 255)
		if err != nil {
			return f, badRequest("is_features", "value %s", err)
		}
		if seen[set] {
			return f, badRequest("is_features", "set %d given twice", set)
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
		return 0, fmt.Errorf("%s is not a number", quote(s))
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
		return 0, badRequest(field, "%s is not a number from 0 to %d", quote(s), uint32(1<<32-1))
	}
	return uint32(n), nil
}

func parseInt(field, s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, badRequest(field, "%s is not a whole number", quote(s))
	}
	return n, nil
}

// parseQuantity serves both is_quantity and ShareIt's QUANTITY.
func parseQuantity(field, s string) (int, error) {
	n, err := parseInt(field, s)
	if err != nil {
		return 0, err
	}
	if n < 1 {
		return 0, badRequest(field, "%d is less than 1", n)
	}
	return n, nil
}

// parseBool accepts the spellings QLM's documentation and vendors use.
func parseBool(field, s string, def bool) (bool, error) {
	switch strings.ToLower(s) {
	case "":
		return def, nil
	case "true", "1", "yes":
		return true, nil
	case "false", "0", "no":
		return false, nil
	}
	return false, badRequest(field, "%s is not true or false", quote(s))
}

// parseDate tries each layout in turn; dates carry no zone and are read as
// UTC. want spells the accepted formats for the error message.
func parseDate(field, s, want string, layouts ...string) (time.Time, error) {
	for _, layout := range layouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, badRequest(field, "%s is not a date (%s)", quote(s), want)
}
