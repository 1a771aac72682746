package orderline

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keysmith/keysmith/config"
	"github.com/keysmith/keysmith/internal/testenv"
	"github.com/keysmith/keysmith/license"
	"github.com/keysmith/keysmith/order"
	"github.com/keysmith/keysmith/qlm"
	"github.com/keysmith/keysmith/storefront"
	"github.com/keysmith/keysmith/storefront/shareit"
)

// received is when the test calls came.
var received = time.Date(2026, 11, 27, 13, 0, 0, 0, time.UTC)

// baseQuery is QLM's guide URL's query without credentials, which newLine
// does not see.
const baseQuery = "is_vendor=ShareIt&is_productid=1&is_majorversion=1&is_minorversion=0&is_qlmversion=5.0.00&is_features=0:3;1:1"

// baseForm is a purchase line of three licenses.
const baseForm = "PURCHASE_ID=L1&RUNNING_NO=2&PURCHASE_DATE=26/11/2026&PRODUCT_ID=300000001&QUANTITY=3&ENCODING=UTF8" +
	"&FIRSTNAME=Ada&LASTNAME=Buyer&COMPANY=Buyer%20GmbH&EMAIL=buyer%40example.com&ISO_CODE=DE"

// templateSet is Builder.Templates: the names of the templates that exist.
type templateSet map[string]bool

func (s templateSet) Has(name string) bool { return s[name] }

// lineConfig is testenv's configuration, edited and parsed again.
func lineConfig(t *testing.T, edit func(*config.Config)) *config.Config {
	t.Helper()
	cfg, err := testenv.ConfigWith(edit)
	require.NoError(t, err)
	return cfg
}

// decodeRequest reads and decodes a POST as the API does.
func decodeRequest(t *testing.T, p *config.Provider, query, form string) storefront.Request {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/qlmservice.asmx/GetActivationKey?"+query, strings.NewReader(form))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	c, err := qlm.ReadCall(r)
	require.NoError(t, err)
	req, err := shareit.Decode(c, shareit.Options{UTF8: p.UTF8(), DateLayout: p.DateLayout()})
	require.NoError(t, err)
	return req
}

// lineOf is newLine's line for a call with args added to baseQuery and
// fields replacing or adding to baseForm's.
func lineOf(t *testing.T, d Builder, args, fields string) (order.Line, error) {
	t.Helper()
	p, ok := d.Config.Provider("shareit")
	require.True(t, ok)
	return d.newLine(p, decodeRequest(t, p, baseQuery+args, formWith(fields)), received)
}

// mustLine is lineOf for a call that must be accepted.
func mustLine(t *testing.T, d Builder, args, fields string) order.Line {
	t.Helper()
	line, err := lineOf(t, d, args, fields)
	require.NoError(t, err)
	return line
}

// formWith is baseForm with fields ("NAME=value&...") replacing its own.
func formWith(fields string) string { return testenv.FormWith(baseForm, fields) }

func defaultBuilder(t *testing.T) Builder {
	return Builder{Config: lineConfig(t, nil), Templates: templateSet{"default": true}}
}

func TestNewLineWholeLine(t *testing.T) {
	line := mustLine(t, defaultBuilder(t), "", "")
	assert.Equal(t, order.Line{
		LineID:    order.LineID{Provider: "shareit", PurchaseID: "L1", RunningNo: "2"},
		OrderDate: time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC),
		Product: order.Product{
			ID: 1, Major: 1, Minor: 0, Name: "Demo App",
			FeatureNames: []string{"Pro", "Export", "Cloud sync"},
		},
		Features: license.Features{3, 1, 0, 0},
		Quantity: 3,
		KeyCount: 1,
		Seats:    3,
		Model:    "permanent",
		Customer: order.Customer{Email: "buyer@example.com", Name: "Ada Buyer", Company: "Buyer GmbH", ISOCode: "DE"},
		Email:    order.Email{Send: true, Template: "default"},
		Fields: map[string]string{
			"PURCHASE_ID": "L1", "RUNNING_NO": "2", "PURCHASE_DATE": "26/11/2026", "PRODUCT_ID": "300000001",
			"QUANTITY": "3", "ENCODING": "UTF8", "FIRSTNAME": "Ada", "LASTNAME": "Buyer", "COMPANY": "Buyer GmbH",
			"EMAIL": "buyer@example.com", "ISO_CODE": "DE",
		},
		Args: map[string]string{
			"is_vendor": "ShareIt", "is_productid": "1", "is_majorversion": "1", "is_minorversion": "0",
			"is_qlmversion": "5.0.00", "is_features": "0:3;1:1",
		},
	}, line)
	assert.Empty(t, line.Warnings)
	assert.Equal(t, "shareit:L1-2", line.ID())
}

func TestNewLineKeysAndSeats(t *testing.T) {
	d := defaultBuilder(t)
	for _, tc := range []struct {
		name             string
		args, fields     string
		quantity         int
		keys, seats      int
		additionalIgnore bool // the additional activations are ignored with a warning
	}{
		{"quantity 3: one key of 3 seats", "", "", 3, 1, 3, false},
		{"QUANTITY absent: one license", "", "QUANTITY=", 1, 1, 1, false},
		{"2 activations per key", "&is_numberofactivationsperkey=2", "", 3, 1, 6, false},
		{"2 additional activations", "&is_additionalactivations=2", "", 3, 1, 5, false},
		{"both", "&is_numberofactivationsperkey=2&is_additionalactivations=2", "", 3, 1, 8, false},
		{"explicitly one key", "&is_usemultipleactivationskey=true&is_numberofactivationsperkey=2", "", 3, 1, 6, false},
		{"one key per license of 2 seats", "&is_usemultipleactivationskey=false&is_numberofactivationsperkey=2", "", 3, 3, 2, false},
		{"one key per license of 1 seat", "&is_usemultipleactivationskey=false", "", 3, 3, 1, false},
		{"one key per license: additional activations ignored", "&is_usemultipleactivationskey=false&is_additionalactivations=2", "", 3, 3, 1, true},
		{"quantity 5000: one key", "", "QUANTITY=5000", 5000, 1, 5000, false},
		{"is_quantity wins over QUANTITY", "&is_quantity=4", "", 4, 1, 4, false},
		{"is_quantity when QUANTITY is unreadable", "&is_quantity=4", "QUANTITY=x", 4, 1, 4, false},
		{"1000 keys, one per license", "&is_usemultipleactivationskey=false", "QUANTITY=1000", 1000, 1000, 1, false},
		{"2^31-1 seats", "&is_quantity=2147483647", "", qlm.MaxSeats, 1, qlm.MaxSeats, false},
		{"2^31-1 seats with additional activations", "&is_numberofactivationsperkey=1073741823&is_additionalactivations=1", "QUANTITY=2", 2, 1, qlm.MaxSeats, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			line := mustLine(t, d, tc.args, tc.fields)
			assert.Equal(t, tc.quantity, line.Quantity, "quantity")
			assert.Equal(t, tc.keys, line.KeyCount, "keys")
			assert.Equal(t, tc.seats, line.Seats, "seats per key")
			if tc.additionalIgnore {
				assert.Contains(t, strings.Join(line.Warnings, "\n"), "is_additionalactivations:")
			} else {
				assert.NotContains(t, strings.Join(line.Warnings, "\n"), "is_additionalactivations")
			}
		})
	}
}

func TestNewLineRefusesKeysAndSeats(t *testing.T) {
	d := defaultBuilder(t)
	for _, tc := range []struct {
		name, args, fields, reason string
	}{
		{"1001 keys", "&is_usemultipleactivationskey=false", "QUANTITY=1001", "quantity: 1001 keys (one per license) is more than 1000 in one call; use one key for all licenses"},
		{"2^31 seats", "&is_quantity=1073741824&is_numberofactivationsperkey=2", "", "quantity: more than 2147483647 seats in one key"},
		{"2^31 seats with additional activations", "&is_quantity=2147483647&is_additionalactivations=1", "", "quantity: more than 2147483647 seats in one key"},
		{"seats overflowing int32 many times", "&is_quantity=2147483647&is_numberofactivationsperkey=2147483647", "", "quantity: more than 2147483647 seats in one key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := lineOf(t, d, tc.args, tc.fields)
			requireBadRequest(t, err, tc.reason)
		})
	}
}

// requireBadRequest checks a refusal of the line: a 400 with reason.
func requireBadRequest(t *testing.T, err error, reason string) {
	t.Helper()
	require.Error(t, err)
	bad, ok := errors.AsType[*qlm.BadRequestError](err)
	require.True(t, ok, "%T: %v", err, err)
	assert.Equal(t, http.StatusBadRequest, bad.Status)
	assert.Contains(t, bad.Reason(), reason)
}

func TestNewLineModels(t *testing.T) {
	d := defaultBuilder(t)
	for _, tc := range []struct {
		model, floating, want string
	}{
		{"", "", "permanent"},
		{"permanent", "", "permanent"},
		{"trial", "", "trial"},
		{"subscription", "", "subscription"},
		{"permanent_floating", "", "permanent_floating"},
		{"trial_floating", "", "trial_floating"},
		{"subscription_floating", "", "subscription_floating"},
		{"permanent_cloud", "", "permanent_cloud"},
		{"trial_cloud", "", "trial_cloud"},
		{"subscription_cloud", "", "subscription_cloud"},
		{"Subscription_Cloud", "", "subscription_cloud"},
		{"TRIAL", "", "trial"},
		// is_floating makes node-locked seats floating.
		{"permanent", "true", "permanent_floating"},
		{"", "true", "permanent_floating"},
		{"trial", "1", "trial_floating"},
		{"subscription", "yes", "subscription_floating"},
		{"permanent_floating", "true", "permanent_floating"},
		{"trial_cloud", "true", "trial_cloud"},
		{"permanent", "false", "permanent"},
		{"subscription_floating", "false", "subscription_floating"},
	} {
		t.Run(tc.model+" floating="+tc.floating, func(t *testing.T) {
			var args string
			if tc.model != "" {
				args += "&is_licensemodel=" + tc.model
			}
			if tc.floating != "" {
				args += "&is_floating=" + tc.floating
			}
			line := mustLine(t, d, args, "")
			assert.Equal(t, tc.want, line.Model)
			m, b, err := license.ParseModel(line.Model)
			require.NoError(t, err, "the workflow reads the model back")
			assert.Equal(t, tc.want, license.ModelName(m, b))
		})
	}
}

func TestNewLineMaintenance(t *testing.T) {
	thirty := Builder{Config: lineConfig(t, func(c *config.Config) { c.MaintenancePlanDays = 30 })}
	for _, tc := range []struct {
		name string
		d    Builder
		args string
		days int
		warn string
	}{
		{"none", defaultBuilder(t), "", 0, ""},
		{"plan: the default 365 days", defaultBuilder(t), "&is_maintenance_plan=1", 365, ""},
		{"plan: the configured days", thirty, "&is_maintenance_plan=true", 30, ""},
		{"plan with explicit days", defaultBuilder(t), "&is_maintenance_plan=1&is_maintduration=90", 90, ""},
		{"explicit days over the configured ones", thirty, "&is_maintenance_plan=1&is_maintduration=730", 730, ""},
		{"no plan", defaultBuilder(t), "&is_maintenance_plan=0", 0, ""},
		{"days without a plan", defaultBuilder(t), "&is_maintduration=90", 0, "is_maintduration: QLM sets a maintenance plan only with is_maintenance_plan=1; no plan"},
		{"days with no plan", defaultBuilder(t), "&is_maintenance_plan=false&is_maintduration=90", 0, "is_maintduration:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			line := mustLine(t, tc.d, tc.args, "")
			assert.Equal(t, tc.days, line.MaintenanceInDays)
			if tc.days > 0 {
				assert.Equal(t, line.OrderDate.AddDate(0, 0, tc.days), line.MaintenanceDate())
			}
			if tc.warn == "" {
				assert.Empty(t, line.Warnings)
			} else {
				assert.Contains(t, strings.Join(line.Warnings, "\n"), tc.warn)
			}
		})
	}
}

func TestNewLineEmailTemplate(t *testing.T) {
	cfg := lineConfig(t, func(c *config.Config) {
		c.Mail.TemplateNames = map[string]string{
			"1. New Order": "neworder",
			"2. Renewal":   "not-loaded",
		}
		for i := range c.Products {
			if c.Products[i].ID == 7 {
				c.Products[i].EmailTemplate = "tool"
			}
		}
	})
	d := Builder{Config: cfg, Templates: templateSet{"default": true, "neworder": true, "welcome": true, "tool": true}}
	single := strings.NewReplacer("is_productid=1&is_majorversion=1&is_minorversion=0", "is_productid=7")

	for _, tc := range []struct {
		name, args string
		product7   bool
		want       string
		warn       string
	}{
		{"none: the product's", "", false, "default", ""},
		{"none: product 7's", "", true, "tool", ""},
		{"a template of that name", "&is_emailtemplate=welcome", false, "welcome", ""},
		{"QLM's name mapped", "&is_emailtemplate=1.%20New%20Order", false, "neworder", ""},
		{"QLM's name mapped, any case", "&is_emailtemplate=1.%20NEW%20ORDER", false, "neworder", ""},
		{"QLM's name mapped, spaces around", "&is_emailtemplate=%201.%20New%20Order%20", false, "neworder", ""},
		{"mapped to a template that is not loaded", "&is_emailtemplate=2.%20Renewal", false, "default",
			`is_emailtemplate: no template "2. Renewal" (template_names maps QLM's names); the product's "default" is used`},
		{"unknown: the product's", "&is_emailtemplate=Nope", false, "default", `is_emailtemplate: no template "Nope"`},
		{"unknown: product 7's", "&is_emailtemplate=Nope", true, "tool", `the product's "tool" is used`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := cfg.Provider("shareit")
			query := baseQuery + tc.args
			if tc.product7 {
				query = single.Replace(query)
			}
			line, err := d.newLine(p, decodeRequest(t, p, query, baseForm), received)
			require.NoError(t, err)
			assert.Equal(t, tc.want, line.Email.Template)
			assert.True(t, line.Email.Send)
			if tc.warn == "" {
				assert.Empty(t, line.Warnings)
			} else {
				require.Len(t, line.Warnings, 1)
				assert.Contains(t, line.Warnings[0], tc.warn)
			}
		})
	}

	t.Run("is_send_mail=false", func(t *testing.T) {
		line := mustLine(t, d, "&is_send_mail=false&is_emailtemplate=welcome", "")
		assert.False(t, line.Email.Send)
		assert.Equal(t, "welcome", line.Email.Template)
	})
}

func TestNewLineProductName(t *testing.T) {
	d := defaultBuilder(t)
	line := mustLine(t, d, "&is_productname=Demo%20App%20Pro%202026", "")
	assert.Equal(t, "Demo App Pro 2026", line.Product.Name)
	assert.Equal(t, uint32(1), line.Product.ID, "the name does not change the product")
	assert.Equal(t, []string{"Pro", "Export", "Cloud sync"}, line.Product.FeatureNames)
	assert.Equal(t, "Demo App Pro 2026", line.Args["is_productname"])

	assert.Equal(t, "Demo App", mustLine(t, d, "", "").Product.Name)
	assert.Equal(t, "Demo App", mustLine(t, d, "&is_productname=%20", "").Product.Name, "a blank name is no name")
}

func TestNewLineDates(t *testing.T) {
	d := defaultBuilder(t)
	outside := "PURCHASE_DATE: %s is outside the dates a key holds (2020-01-01 to " + license.LastDay.Format(time.DateOnly) + "); the order is dated the day it was received"
	for _, tc := range []struct {
		name, args, fields string
		date               time.Time // OrderDate; zero: dated on receipt
		expiry             time.Time // ExpiryDate with the line's OrderDate, zero: never
		warn               string
	}{
		{"PURCHASE_DATE", "", "", time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC), time.Time{}, ""},
		{"PURCHASE_DATE with a time", "", "PURCHASE_DATE=26/11/2026%2023:59:59", time.Date(2026, 11, 26, 23, 59, 59, 0, time.UTC), time.Time{}, ""},
		{"PURCHASE_DATE in 2019", "", "PURCHASE_DATE=15/03/2019", time.Time{}, time.Time{}, strings.Replace(outside, "%s", "2019-03-15", 1)},
		{"PURCHASE_DATE after 2199", "", "PURCHASE_DATE=2200-01-01", time.Time{}, time.Time{}, strings.Replace(outside, "%s", "2200-01-01", 1)},
		{"PURCHASE_DATE in 2019, expiry after receipt", "&is_expdate=2027-01-01", "PURCHASE_DATE=15/03/2019", time.Time{},
			time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), "PURCHASE_DATE: 2019-03-15 is outside"},
		{"no PURCHASE_DATE", "", "PURCHASE_DATE=", time.Time{}, time.Time{}, ""},
		{"unreadable PURCHASE_DATE", "", "PURCHASE_DATE=yesterday", time.Time{}, time.Time{}, `PURCHASE_DATE: "yesterday" is not a date; the order is dated the day it was received`},
		{"is_expduration", "&is_expduration=30", "", time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 26, 0, 0, 0, 0, time.UTC), ""},
		{"is_expdate the next day", "&is_expdate=2026-11-27", "", time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC), ""},
		{"is_expdate on the last day", "&is_expdate=" + license.LastDay.Format(time.DateOnly), "", time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC), license.LastDay, ""},
		{"the earlier of is_expdate and is_expduration", "&is_expdate=2027-06-01&is_expduration=30", "", time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 26, 0, 0, 0, 0, time.UTC), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			line := mustLine(t, d, tc.args, tc.fields)
			assert.Equal(t, tc.date, line.OrderDate)
			assert.Equal(t, tc.expiry, line.ExpiryDate())
			if tc.warn == "" {
				assert.Empty(t, line.Warnings)
			} else {
				require.Len(t, line.Warnings, 1)
				assert.Contains(t, line.Warnings[0], tc.warn)
			}
		})
	}
}

func TestNewLineRefusesDates(t *testing.T) {
	d := defaultBuilder(t)
	lastDay := license.LastDay.Format(time.DateOnly)
	for _, tc := range []struct {
		name, args, fields, reason string
	}{
		{"is_expdate before PURCHASE_DATE", "&is_expdate=2026-11-01", "", "is_expdate: 2026-11-01 is not after the order date 2026-11-26"},
		{"is_expdate on PURCHASE_DATE", "&is_expdate=2026-11-26", "", "is_expdate: 2026-11-26 is not after the order date 2026-11-26"},
		{"is_expdate before the day received", "&is_expdate=2026-11-27", "PURCHASE_DATE=", "is_expdate: 2026-11-27 is not after the order date 2026-11-27"},
		{"is_expdate before the day received, PURCHASE_DATE in 2019", "&is_expdate=2020-06-01", "PURCHASE_DATE=15/03/2019", "is_expdate: 2020-06-01 is not after the order date 2026-11-27"},
		{"expiry after 2199 by is_expduration", "&is_expduration=100000", "", "expiry: 2300-09-11 is after " + lastDay + ", the last day a key holds"},
		{"expiry after 2199 by is_expdate", "&is_expdate=2199-12-31", "", "expiry: 2199-12-31 is after " + lastDay},
		{"is_expduration of 2^31-1 days", "&is_expduration=2147483647", "", "expiry:"},
		{"maintenance plan past 2199", "&is_maintenance_plan=1&is_maintduration=100000", "", "is_maintduration: the plan would end 2300-09-11, after " + lastDay + ", the last day a key holds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := lineOf(t, d, tc.args, tc.fields)
			requireBadRequest(t, err, tc.reason)
		})
	}
}

func TestNewLineRefusesProducts(t *testing.T) {
	d := defaultBuilder(t)
	p, _ := d.Config.Provider("shareit")
	for _, tc := range []struct {
		name, from, to, reason string
	}{
		{"unknown product", "is_productid=1", "is_productid=99", "is_productid: unknown product 99"},
		{"unknown version", "is_majorversion=1", "is_majorversion=9", "is_majorversion/is_minorversion: product 1 has no version 9.0 (configured: 1.0, 2.0)"},
		{"no version, two configured", "&is_majorversion=1&is_minorversion=0", "", "is_majorversion/is_minorversion: missing (product 1 has versions 1.0, 2.0)"},
		{"no product", "is_productid=1&", "", "is_productid: missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			query := strings.Replace(baseQuery, tc.from, tc.to, 1)
			_, err := d.newLine(p, decodeRequest(t, p, query, baseForm), received)
			requireBadRequest(t, err, tc.reason)
		})
	}

	t.Run("no version, one configured", func(t *testing.T) {
		line, err := d.newLine(p, decodeRequest(t, p, "is_productid=7", baseForm), received)
		require.NoError(t, err)
		assert.Equal(t, order.Product{ID: 7, Major: 3, Minor: 1, Name: "Single Tool"}, line.Product)
	})
}

// Warnings from reading the call and from checking the line end up on the
// line, the reading ones first, so that they are stored with the order.
func TestNewLineKeepsDecodeWarnings(t *testing.T) {
	d := defaultBuilder(t)
	p, _ := d.Config.Provider("shareit")
	req := decodeRequest(t, p, baseQuery+"&is_colour=blue&is_send_mail=maybe&is_usemultipleactivationskey=false&is_additionalactivations=1",
		formWith("EMAIL=not-an-address&PURCHASE_DATE=15/03/2019"))
	require.Len(t, req.Warnings, 3, "%q", req.Warnings)
	decoded := append([]string(nil), req.Warnings...)

	line, err := d.newLine(p, req, received)
	require.NoError(t, err)
	require.Len(t, line.Warnings, 5, "%q", line.Warnings)
	assert.Equal(t, decoded, line.Warnings[:3])
	all := strings.Join(line.Warnings, "\n")
	for _, w := range []string{
		"is_colour: not a QLM argument keysmith reads; stored only",
		"is_send_mail:",
		"EMAIL: not an email address",
		"is_additionalactivations: QLM adds them only to one key",
		"PURCHASE_DATE: 2019-03-15 is outside",
	} {
		assert.Contains(t, all, w)
	}
	assert.NotContains(t, all, "not-an-address", "personal data in a warning")
	assert.True(t, line.Email.Send, "an unreadable is_send_mail mails as usual")
	assert.Equal(t, "blue", line.Args["is_colour"])
	assert.Empty(t, line.Customer.Email)
}

// Credentials never reach the line: it is stored and shown in Temporal.
func TestNewLineHasNoCredentials(t *testing.T) {
	d := defaultBuilder(t)
	p, _ := d.Config.Provider("shareit")
	line, err := d.newLine(p, decodeRequest(t, p, baseQuery+"&is_user=shareit&is_pwd="+testenv.Password, baseForm), received)
	require.NoError(t, err)
	for name, v := range line.Args {
		assert.NotContains(t, v, testenv.Password, name)
	}
	assert.NotContains(t, line.Args, "is_pwd")
	assert.NotContains(t, line.Args, "is_user")
	assert.Equal(t, "ShareIt", line.Args["is_vendor"])
}
