package shareit

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keysmith/keysmith/license"
	"github.com/keysmith/keysmith/qlm"
	"github.com/keysmith/keysmith/storefront"
)

// decodeArgs decodes a call with the given URL query and a minimal order line.
func decodeArgs(t *testing.T, query string, opt Options) storefront.Request {
	t.Helper()
	return mustDecode(t, postRequest(query, orderLine), opt)
}

// TestLicenseModels: QLM's nine license models
// (qlmdocs/api-reference/http-methods/getactivationkey.md, is_licensemodel),
// in any case and with spaces around, are stored lower-cased.
func TestLicenseModels(t *testing.T) {
	for _, model := range []string{
		"permanent", "permanent_floating", "permanent_cloud",
		"trial", "trial_floating", "trial_cloud",
		"subscription", "subscription_floating", "subscription_cloud",
	} {
		for _, spelling := range []string{model, strings.ToUpper(model), strings.ToUpper(model[:1]) + model[1:], " " + model + " "} {
			t.Run(spelling, func(t *testing.T) {
				req := decodeArgs(t, "is_licensemodel="+url.QueryEscape(spelling), Options{})
				assert.Equal(t, model, req.Args.LicenseModel)
				assert.Equal(t, spelling, req.Args.Raw["is_licensemodel"])
			})
		}
	}
	// Unknown models are in TestRefusals.
}

// TestLicenseModelIsCanonical: qlm.Args.LicenseModel is documented as one of the
// nine names. strings.EqualFold matches "ſ" (U+017F) to "s", but
// strings.ToLower keeps it.
func TestLicenseModelIsCanonical(t *testing.T) {
	req := decodeArgs(t, "is_licensemodel="+url.QueryEscape("ſubscription"), Options{})
	assert.Equal(t, "subscription", req.Args.LicenseModel)
}

// TestArgs covers each argument keysmith reads, as documented in
// qlmdocs/api-reference/http-methods/getactivationkey.md,
// getactivationkeywithexpirydate.md and renewmaintenanceplan.md (soraco/qlm).
func TestArgs(t *testing.T) {
	defaults := qlm.Args{MultipleActivationsKey: true, SendMail: true}
	with := func(change func(*qlm.Args)) qlm.Args {
		a := defaults
		change(&a)
		return a
	}
	tests := []struct {
		query        string
		want         qlm.Args // compared without Raw
		wantWarnings []string
	}{
		{query: "", want: defaults},
		{query: "foo=bar&CITY=Paris", want: defaults}, // order fields, not arguments

		{query: "is_vendor=ShareIt&is_qlmversion=6.0.00", want: with(func(a *qlm.Args) { a.Vendor = "ShareIt"; a.QLMVersion = "6.0.00" })},
		{query: "is_productid=0", want: with(func(a *qlm.Args) { a.HasProductID = true })},
		{query: "is_productid=", want: defaults}, // empty is absent
		{query: "is_productid=4294967295", want: with(func(a *qlm.Args) { a.ProductID = 1<<32 - 1; a.HasProductID = true })},
		{query: "is_productid=3&IS_PRODUCTID=3", want: with(func(a *qlm.Args) { a.ProductID = 3; a.HasProductID = true })}, // the same twice is fine
		{query: "is_majorversion=6&is_minorversion=0", want: with(func(a *qlm.Args) { a.Major = 6; a.HasVersion = true })},
		{query: "is_majorversion=+6+&is_minorversion=2", want: with(func(a *qlm.Args) { a.Major = 6; a.Minor = 2; a.HasVersion = true })},
		{query: "is_productname=Keysmith+Pro", want: with(func(a *qlm.Args) { a.ProductName = "Keysmith Pro" })},

		{query: "is_features=0", want: defaults},
		{query: "is_features=0:7;", want: with(func(a *qlm.Args) { a.Features = license.Features{7} })},

		{query: "is_quantity=3", want: with(func(a *qlm.Args) { a.Quantity = 3 })},
		{query: "is_quantity=2147483647", want: with(func(a *qlm.Args) { a.Quantity = 1<<31 - 1 })},
		{query: "is_usemultipleactivationskey=false&is_numberofactivationsperkey=3",
			want: with(func(a *qlm.Args) { a.MultipleActivationsKey = false; a.ActivationsPerKey = 3 })},
		{query: "is_usemultipleactivationskey=0", want: with(func(a *qlm.Args) { a.MultipleActivationsKey = false })},
		{query: "is_usemultipleactivationskey=TRUE", want: defaults},
		{query: "is_additionalactivations=2", want: with(func(a *qlm.Args) { a.AdditionalActivations = 2 })},
		{query: "is_additionalactivations=0", want: defaults},

		{query: "is_licensemodel=Subscription", want: with(func(a *qlm.Args) { a.LicenseModel = "subscription" })},
		{query: "is_floating=true", want: with(func(a *qlm.Args) { a.Floating = true })},
		{query: "is_floating=1", want: with(func(a *qlm.Args) { a.Floating = true })},
		{query: "is_floating=no", want: defaults},
		{query: "is_expduration=30", want: with(func(a *qlm.Args) { a.ExpDuration = 30 })},
		{query: "is_expduration=0", want: defaults},
		{query: "is_expdate=2015-03-01", want: with(func(a *qlm.Args) { a.ExpDate = date(2015, time.March, 1) })}, // getactivationkeywithexpirydate.md

		{query: "is_maintenance_plan=1", want: with(func(a *qlm.Args) { a.MaintenancePlan = true })},
		{query: "is_maintenance_plan=false", want: defaults},
		{query: "is_maintduration=180", want: with(func(a *qlm.Args) { a.MaintDuration = 180 })},
		{query: "is_maintdate=2027-01-31", want: with(func(a *qlm.Args) { a.MaintDate = date(2027, time.January, 31) })},
		{query: "is_avkey=AZKZ0R0F00GHJ4B7832D1C1SPXAAA9", want: with(func(a *qlm.Args) { a.ActivationKey = "AZKZ0R0F00GHJ4B7832D1C1SPXAAA9" })},

		{query: "is_emailtemplate=1.+New+Order", want: with(func(a *qlm.Args) { a.EmailTemplate = "1. New Order" })},
		{query: "is_affiliateid=aff-7", want: with(func(a *qlm.Args) { a.AffiliateID = "aff-7" })},
		{query: "is_send_mail=false", want: with(func(a *qlm.Args) { a.SendMail = false })},
		{query: "is_send_mail=0", want: with(func(a *qlm.Args) { a.SendMail = false })},
		{query: "is_send_mail=NO", want: with(func(a *qlm.Args) { a.SendMail = false })},
		{query: "is_send_mail=off", want: with(func(a *qlm.Args) { a.SendMail = false })},
		{query: "is_send_mail=yes", want: defaults},
		// A wrong is_send_mail cannot key the wrong thing: mail as usual.
		{query: "is_send_mail=perhaps", want: defaults,
			wantWarnings: []string{`is_send_mail: "perhaps" is not true or false; the buyer is emailed`}},

		// Stored only: QLM's is_computertype (0 none, 1 PC, 2 VM) and others
		// keysmith knows; unknown arguments with a warning.
		{query: "is_computertype=2&is_userdata1=x&is_pp=y", want: defaults},
		{query: "is_custom=Abc", want: defaults,
			wantWarnings: []string{"is_custom: not a QLM argument keysmith reads; stored only"}},

		// Arguments are made storable text.
		{query: "is_productname=%FCber", want: with(func(a *qlm.Args) { a.ProductName = "über" }),
			wantWarnings: []string{"is_productname: not valid UTF-8; read as Windows-1252"}},
		{query: "is_productname=a%00b", want: with(func(a *qlm.Args) { a.ProductName = "ab" }),
			wantWarnings: []string{"is_productname: NUL bytes removed"}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			req := decodeArgs(t, tt.query, Options{})
			got := req.Args
			got.Raw = nil
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.wantWarnings, req.Warnings)
		})
	}
}

// TestRaw: Raw keeps every argument as given, under lower-cased names, unknown
// ones too, but never the credentials.
func TestRaw(t *testing.T) {
	query := qlmQuery + "&is_custom=Abc&is_computertype=1&IS_USER=" + secretUser + "&IS_PWD=" + secretPwd
	req := decodeArgs(t, query, Options{})
	want := guideArgs().Raw
	want["is_custom"] = "Abc"
	want["is_computertype"] = "1"
	assert.Equal(t, want, req.Args.Raw)
}

// TestDates: is_expdate and is_maintdate are in the provider's date_format,
// else in QLM's defaults, dateFormat (yyyy-MM-dd) and
// eCommerceProviderDateFormat (yyyy-MM-dd HH:mm:ss), per
// qlmdocs/qlm-license-server/server-properties.md. Unreadable ones are
// refused (see TestRefusals): the key's expiry depends on them.
func TestDates(t *testing.T) {
	tests := []struct {
		value, layout string
		want          time.Time
	}{
		{"2026-03-31", "", date(2026, time.March, 31)},
		{"2026-03-31 23:59:59", "", time.Date(2026, 3, 31, 23, 59, 59, 0, time.UTC)},
		{"2026-03-31T23:59:59", "", time.Date(2026, 3, 31, 23, 59, 59, 0, time.UTC)},
		{" 2026-03-31 ", "", date(2026, time.March, 31)},
		{"31/03/2026", "02/01/2006", date(2026, time.March, 31)},
		{"03/31/2026", "01/02/2006", date(2026, time.March, 31)},
		{"31.03.2026 08:00", "02.01.2006 15:04", time.Date(2026, 3, 31, 8, 0, 0, 0, time.UTC)},
		{"2026-03-31", "02/01/2006", date(2026, time.March, 31)}, // QLM's default still read
		{"2026-03-31T23:59:59+02:00", time.RFC3339, time.Date(2026, 3, 31, 21, 59, 59, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.value+"|"+tt.layout, func(t *testing.T) {
			opt := Options{DateLayout: tt.layout}
			q := url.QueryEscape(tt.value)
			a := decodeArgs(t, "is_expdate="+q+"&is_maintdate="+q, opt).Args
			assert.Equal(t, tt.want, a.ExpDate)
			assert.Equal(t, tt.want, a.MaintDate)
			assert.Equal(t, time.UTC, a.ExpDate.Location())
		})
	}
}

// TestQuantity: is_quantity, when the URL gives it, wins over ShareIt's
// QUANTITY (getactivationkey.md: "you do not need to set is_quantity as it is
// automatically passed from the eCommerce provider").
func TestQuantity(t *testing.T) {
	tests := []struct {
		query, fields string
		want          int
		wantWarnings  []string
	}{
		{"", "", 1, nil},
		{"", "QUANTITY=3", 3, nil},
		{"", "QUANTITY=+3+", 3, nil},
		{"is_quantity=10", "QUANTITY=3", 10, nil},
		{"is_quantity=10", "", 10, nil},
		{"is_quantity=", "QUANTITY=", 1, nil}, // empty is absent
		// Seats, not keys: how many keys that makes is the caller's concern.
		{"", "QUANTITY=5000", 5000, nil},
		// An unreadable QUANTITY does not matter when is_quantity is given.
		{"is_quantity=2", "QUANTITY=abc", 2, []string{`QUANTITY: "abc" is not a whole number; is_quantity 2 is used`}},
		{"is_quantity=2", "QUANTITY=0", 2, []string{"QUANTITY: 0 is less than 1; is_quantity 2 is used"}},
	}
	for _, tt := range tests {
		t.Run(tt.query+"|"+tt.fields, func(t *testing.T) {
			body := orderLine
			if tt.fields != "" {
				body += "&" + tt.fields
			}
			req := mustDecode(t, postRequest(tt.query, body), Options{})
			assert.Equal(t, tt.want, req.Quantity())
			assert.Equal(t, tt.wantWarnings, req.Warnings)
		})
	}
	// Unreadable counts without is_quantity are in TestRefusals.
}

// TestQuantityCap: QUANTITY, like is_quantity, is a 32-bit signed count.
func TestQuantityCap(t *testing.T) {
	bad := mustRefuse(t, postRequest("", orderLine+"&QUANTITY=2147483648"), Options{})
	assert.Equal(t, "QUANTITY: more than 2147483647", bad.Reason())
}

// TestWithMapping: the webhook style names no product in the URL; the
// provider's mapping of ShareIt's PRODUCT_ID (QLM's shareit_<PRODUCT_ID>
// server property, qlmdocs/3rd-party-integration/
// mycommerce-shareit-how-to-integrate-qlm-with-mycommerce.md) supplies the
// arguments, and the call's own arguments win.
func TestWithMapping(t *testing.T) {
	query := "is_vendor=shareit&is_user=" + secretUser + "&is_pwd=" + secretPwd + "&is_quantity=5"
	call, err := qlm.ReadCall(postRequest(query, orderLine+"&PRODUCT_ID=300123456&is_emailtemplate=From+body"))
	require.NoError(t, err)
	productID, ok := call.Field("PRODUCT_ID")
	require.True(t, ok)
	assert.Equal(t, "300123456", productID)

	mapping, err := qlm.ParseQuery("&is_productid=1&is_majorversion=1&is_minorversion=0&IS_FEATURES=0:7;" +
		"&is_quantity=2&is_emailtemplate=From+mapping&is_vendor=other&CITY=Mapped")
	require.NoError(t, err)
	call.WithMapping(mapping)

	req, err := Decode(call, Options{})
	require.NoError(t, err)
	checkAccepted(t, req)
	a := req.Args
	assert.True(t, a.HasProductID)
	assert.Equal(t, uint32(1), a.ProductID)
	assert.True(t, a.HasVersion)
	assert.Equal(t, license.Features{7}, a.Features, "mapping names are matched in any case")
	assert.Equal(t, 5, a.Quantity, "the URL's argument wins")
	assert.Equal(t, "From body", a.EmailTemplate, "the body's argument wins")
	assert.Equal(t, "shareit", a.Vendor)
	assert.Equal(t, "1", a.Raw["is_productid"], "mapping arguments are stored")
	assert.Empty(t, req.Purchase.City, "a mapping adds no order fields")
	assert.NotContains(t, req.Purchase.Fields, "CITY")
	assert.Empty(t, req.Warnings)
}

// TestWithMappingCheckedText: mapping values are made storable like the
// call's own.
func TestWithMappingCheckedText(t *testing.T) {
	call, err := qlm.ReadCall(postRequest("", orderLine))
	require.NoError(t, err)
	call.WithMapping(url.Values{"is_productname": {"\xfcber"}, "is_productid": {}})
	req, err := Decode(call, Options{})
	require.NoError(t, err)
	assert.Equal(t, "über", req.Args.ProductName)
	assert.False(t, req.Args.HasProductID, "a name without values adds nothing")
	assert.Equal(t, []string{"is_productname: not valid UTF-8; read as Windows-1252"}, req.Warnings)
}

// TestGuideMappings parses the product mappings QLM's guides print, verbatim:
// the MyCommerce guide's (with an unencoded space in "1. New Order") and the
// Shopify guide's SKU mapping and variant mapping ("0:1;").
func TestGuideMappings(t *testing.T) {
	tests := []struct {
		name, mapping string
		want          func(*qlm.Args)
	}{
		{"mycommerce", "&is_productid=1&is_majorversion=1&is_minorversion=0&is_productname=MyProduct&is_emailtemplate=1. New Order",
			func(a *qlm.Args) {
				a.ProductID, a.HasProductID, a.Major, a.HasVersion = 1, true, 1, true
				a.ProductName, a.EmailTemplate = "MyProduct", "1. New Order"
			}},
		{"shopify SKU", "&is_productid=1&is_majorversion=1&is_minorversion=0&is_qlmversion=5.0.00&is_features=0:3" +
			"&is_emailtemplate=Ecommerce.New Order&is_licensemodel=permanent",
			func(a *qlm.Args) {
				a.ProductID, a.HasProductID, a.Major, a.HasVersion = 1, true, 1, true
				a.QLMVersion, a.Features, a.EmailTemplate, a.LicenseModel = "5.0.00", license.Features{3}, "Ecommerce.New Order", "permanent"
			}},
		{"shopify variant", "&is_features=0:1;", func(a *qlm.Args) { a.Features = license.Features{1} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mapping, err := qlm.ParseQuery(tt.mapping)
			require.NoError(t, err)
			call, err := qlm.ReadCall(postRequest("is_vendor=shareit&is_user="+secretUser+"&is_pwd="+secretPwd, orderLine))
			require.NoError(t, err)
			call.WithMapping(mapping)
			req, err := Decode(call, Options{})
			require.NoError(t, err)
			checkAccepted(t, req)

			want := qlm.Args{Vendor: "shareit", MultipleActivationsKey: true, SendMail: true}
			tt.want(&want)
			got := req.Args
			got.Raw = nil
			assert.Equal(t, want, got)
			assert.Empty(t, req.Warnings)
		})
	}
}
