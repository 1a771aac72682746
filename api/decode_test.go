package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/keysmith/keysmith/internal/testenv"
	"github.com/keysmith/keysmith/license"
)

// lineCall is one variation of a valid call: replace edits qlmQuery
// (old, new pairs), args are added to it, form to the order form.
type lineCall struct {
	replace []string
	args    string
	form    string
}

func (c lineCall) target() string {
	q := qlmQuery
	if len(c.replace) > 0 {
		q = strings.NewReplacer(c.replace...).Replace(q)
	}
	return getKey + "?" + q + c.args
}

func (c lineCall) body(purchaseID string) string {
	// A form field given here replaces orderForm's own.
	return testenv.FormWith(orderForm(purchaseID), c.form)
}

// Calls that cannot be keyed as sent are refused with a reason for the
// storefront before anything starts. The handler has no stored orders and a
// Temporal that fails: any call that got past decoding would show as a
// failed "Issue keys".
func TestLineRefused(t *testing.T) {
	f := newFixture(t)
	h := f.handler(nil)
	lastDay := license.LastDay.Format(time.DateOnly)

	for i, tc := range []struct {
		name   string
		call   lineCall
		status int
		reason string
	}{
		{"unknown product", lineCall{replace: []string{"is_productid=1", "is_productid=99"}}, 400,
			"is_productid: unknown product 99"},
		{"unknown version", lineCall{replace: []string{"is_majorversion=1", "is_majorversion=9"}}, 400,
			"is_majorversion/is_minorversion: product 1 has no version 9.0 (configured: 1.0, 2.0)"},
		{"no version of a product with two", lineCall{replace: []string{"&is_majorversion=1&is_minorversion=0", ""}}, 400,
			"is_majorversion/is_minorversion: missing (product 1 has versions 1.0, 2.0)"},
		{"half a version", lineCall{replace: []string{"&is_minorversion=0", ""}}, 400,
			"is_minorversion: missing while is_majorversion is given"},
		{"unknown product version of a single-version product", lineCall{replace: []string{"is_productid=1&is_majorversion=1&is_minorversion=0", "is_productid=7&is_majorversion=3&is_minorversion=0"}}, 400,
			"is_majorversion/is_minorversion: product 7 has no version 3.0 (configured: 3.1)"},
		{"feature set out of range", lineCall{replace: []string{"is_features=0:3;1:1", "is_features=0:3;4:1"}}, 400,
			"is_features: set 4 out of range 0-3"},
		{"feature value out of range", lineCall{replace: []string{"is_features=0:3;1:1", "is_features=0:256"}}, 400,
			"is_features: value 256 out of range 0-255"},
		{"feature set given twice", lineCall{replace: []string{"is_features=0:3;1:1", "is_features=1:3;1:1"}}, 400,
			"is_features: set 1 given twice"},
		{"unknown license model", lineCall{args: "&is_licensemodel=perpetual"}, 400,
			`is_licensemodel: "perpetual" is not one of QLM's license models`},
		{"license model with two bindings", lineCall{args: "&is_licensemodel=permanent_floating_cloud"}, 400,
			"is_licensemodel:"},
		{"QUANTITY 0", lineCall{form: "QUANTITY=0"}, 400, "QUANTITY: 0 is less than 1"},
		{"QUANTITY not a number", lineCall{form: "QUANTITY=three"}, 400, `QUANTITY: "three" is not a whole number`},
		{"is_quantity 0", lineCall{args: "&is_quantity=0"}, 400, "is_quantity: 0 is less than 1"},
		{"1001 keys, one per license", lineCall{args: "&is_usemultipleactivationskey=false", form: "QUANTITY=1001"}, 400,
			"quantity: 1001 keys (one per license) is more than 1000 in one call"},
		{"1001 keys by is_quantity", lineCall{args: "&is_usemultipleactivationskey=0&is_quantity=1001"}, 400,
			"quantity: 1001 keys"},
		{"seats over 2^31-1 by activations per key", lineCall{args: "&is_numberofactivationsperkey=2", form: "QUANTITY=1073741824"}, 400,
			"quantity: more than 2147483647 seats in one key"},
		{"seats over 2^31-1 by additional activations", lineCall{args: "&is_quantity=2147483647&is_additionalactivations=1"}, 400,
			"quantity: more than 2147483647 seats in one key"},
		{"is_quantity over 2^31-1", lineCall{args: "&is_quantity=2147483648"}, 400, "is_quantity: more than 2147483647"},
		{"is_expdate before PURCHASE_DATE", lineCall{args: "&is_expdate=2026-11-01"}, 400,
			"is_expdate: 2026-11-01 is not after the order date 2026-11-26"},
		{"is_expdate on PURCHASE_DATE", lineCall{args: "&is_expdate=2026-11-26"}, 400,
			"is_expdate: 2026-11-26 is not after the order date 2026-11-26"},
		{"is_expdate before the day received, no PURCHASE_DATE", lineCall{args: "&is_expdate=2021-01-01", form: "PURCHASE_DATE="}, 400,
			"is_expdate: 2021-01-01 is not after the order date"},
		{"is_expdate before the day received, PURCHASE_DATE out of range", lineCall{args: "&is_expdate=2021-01-01", form: "PURCHASE_DATE=01/01/2019"}, 400,
			"is_expdate: 2021-01-01 is not after the order date"},
		{"expiry after 2199 by is_expduration", lineCall{args: "&is_expduration=100000"}, 400,
			"expiry: 2300-09-11 is after " + lastDay + ", the last day a key holds"},
		{"expiry after 2199 by is_expdate", lineCall{args: "&is_expdate=2200-01-01"}, 400,
			"expiry: 2200-01-01 is after " + lastDay},
		{"is_expdate unreadable", lineCall{args: "&is_expdate=31.12.2027"}, 400, `is_expdate: "31.12.2027" is not a date`},
		{"maintenance plan past 2199", lineCall{args: "&is_maintenance_plan=1&is_maintduration=100000"}, 400,
			"is_maintduration: the plan would end 2300-09-11, after " + lastDay},
		{"no PURCHASE_ID", lineCall{form: "PURCHASE_ID="}, 400, "PURCHASE_ID: missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			purchase := fmt.Sprintf("R%02d", i)
			w := call(h, http.MethodPost, tc.call.target(), tc.call.body(purchase), nil)
			reason := requirePlain(t, w, tc.status, tc.reason)
			assert.NotContains(t, reason, password)
			assert.NotContains(t, f.log.String(), "shareit:"+purchase+"-", "the refused line got as far as the log")
		})
	}

	logs := f.log.String()
	assert.Contains(t, logs, "status=400", "the calls were logged")
	assert.NotContains(t, logs, "Issue keys", "a refused line started keying")
	assert.NotContains(t, logs, "Look up stored order")
	assert.NotContains(t, logs, "Order line accepted")
	if t.Failed() {
		t.Logf("log:\n%s", logs)
	}
}

// The limits are inclusive: these reach the key step (the fixture's
// Temporal fails them with 503).
func TestLineAcceptedAtTheLimits(t *testing.T) {
	f := newFixture(t)
	h := f.handler(nil)

	for i, tc := range []struct {
		name string
		call lineCall
		warn string // logged with the accepted line
	}{
		{"1000 keys, one per license", lineCall{args: "&is_usemultipleactivationskey=false", form: "QUANTITY=1000"}, ""},
		{"2^31-1 seats in one key", lineCall{args: "&is_quantity=2147483647"}, ""},
		{"2^31-1 seats by activations per key", lineCall{args: "&is_numberofactivationsperkey=2147483647"}, ""},
		{"a single-version product without a version", lineCall{replace: []string{"is_productid=1&is_majorversion=1&is_minorversion=0&is_qlmversion=5.0.00&is_features=0:3;1:1", "is_productid=7"}}, ""},
		{"the other version", lineCall{replace: []string{"is_majorversion=1", "is_majorversion=2"}}, ""},
		{"expiry the day after PURCHASE_DATE", lineCall{args: "&is_expdate=2026-11-27"}, ""},
		{"expiry on the last day", lineCall{args: "&is_expdate=" + license.LastDay.Format(time.DateOnly)}, ""},
		{"every license model", lineCall{args: "&is_licensemodel=Subscription_Cloud&is_expduration=365"}, ""},
		{"PURCHASE_DATE in 2019", lineCall{form: "PURCHASE_DATE=15/03/2019"}, "PURCHASE_DATE: 2019-03-15 is outside the dates a key holds"},
		{"unknown email template", lineCall{args: "&is_emailtemplate=Nope"}, `is_emailtemplate: no template \"Nope\"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			purchase := fmt.Sprintf("A%02d", i)
			id := "shareit:" + purchase + "-1"
			w := call(h, http.MethodPost, tc.call.target(), tc.call.body(purchase), nil)
			f.requireKeyStep(t, w, id)
			if tc.warn != "" {
				assert.Contains(t, f.log.String(), `msg="Order line accepted with warnings" order=`+id+" ")
				assert.Contains(t, f.log.String(), tc.warn)
			} else {
				assert.NotContains(t, f.log.String(), `msg="Order line accepted with warnings" order=`+id+" ")
			}
		})
	}
}
