package shareit

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// credentials starts every query in TestRefusals, so that each refusal is
// also checked not to reveal them.
const credentials = "&is_vendor=ShareIt&is_user=" + secretUser + "&is_pwd=" + secretPwd

// TestRefusals lists what is refused: only what could key the wrong thing.
// Each refusal is a *qlm.BadRequestError whose Reason is one printable line that
// names the field, never the credentials, and is what ShareIt gets back.
// The caps (413, 414, 415) are in TestCaps.
func TestRefusals(t *testing.T) {
	tests := []struct {
		name   string
		query  string // after credentials
		body   string // the order line
		reason string
	}{
		// Unreadable requests.
		{"bad escape in the body", "", orderLine + "&FIRSTNAME=%zz", "body: malformed percent-encoding in FIRSTNAME"},
		{"bad escape in the query", "&CITY=50%", orderLine, "query: malformed percent-encoding in CITY"},
		{"bad escape in a name", "", orderLine + "&%zz=1", "body: malformed percent-encoding in a field name"},
		{"bad escape after an odd name", "", orderLine + "&X%0AY=%zz", `body: malformed percent-encoding in "X\nY"`},
		{"bad escape in is_pwd", "&is_pwd=" + secretPwd + "%zz", orderLine, "query: malformed percent-encoding in is_pwd"},

		// One argument, two values in one place: either could be wrong.
		{"is_productid twice", "&is_productid=1&IS_PRODUCTID=2", orderLine, "is_productid: given more than once with different values"},
		{"is_productid twice in the body", "", orderLine + "&is_productid=1&is_productid=2",
			"is_productid: given more than once with different values"},
		{"is_pwd twice", "&IS_PWD=" + secretPwd + "x", orderLine, "is_pwd: given more than once with different values"},
		{"is_user twice", "&is_user=" + secretUser + "x", orderLine, "is_user: given more than once with different values"},

		// The product (getactivationkey.md: is_productid, is_majorversion,
		// is_minorversion "as defined in QLM").
		{"is_productid not a number", "&is_productid=abc", orderLine, `is_productid: "abc" is not a number from 0 to 4294967295`},
		{"is_productid negative", "&is_productid=-1", orderLine, `is_productid: "-1" is not a number from 0 to 4294967295`},
		{"is_productid too big", "&is_productid=4294967296", orderLine, `is_productid: "4294967296" is not a number from 0 to 4294967295`},
		{"is_majorversion not a number", "&is_majorversion=v1&is_minorversion=0", orderLine,
			`is_majorversion: "v1" is not a number from 0 to 4294967295`},
		{"is_minorversion not a number", "&is_majorversion=1&is_minorversion=1.5", orderLine,
			`is_minorversion: "1.5" is not a number from 0 to 4294967295`},
		{"is_minorversion missing", "&is_majorversion=1", orderLine, "is_minorversion: missing while is_majorversion is given"},
		{"is_majorversion missing", "&is_minorversion=1", orderLine, "is_majorversion: missing while is_minorversion is given"},

		// Features (more in TestParseFeaturesErrors).
		{"is_features", "&is_features=0:3;5:1", orderLine, "is_features: set 5 out of range 0-3"},

		// Counts.
		{"is_quantity zero", "&is_quantity=0", orderLine, "is_quantity: 0 is less than 1"},
		{"is_quantity negative", "&is_quantity=-1", orderLine, "is_quantity: -1 is less than 1"},
		{"is_quantity not a number", "&is_quantity=abc", orderLine, `is_quantity: "abc" is not a whole number`},
		{"is_quantity a fraction", "&is_quantity=1.5", orderLine, `is_quantity: "1.5" is not a whole number`},
		{"is_quantity over 2^31-1", "&is_quantity=2147483648", orderLine, "is_quantity: more than 2147483647"},
		{"is_quantity over 2^64", "&is_quantity=99999999999999999999", orderLine, "is_quantity: more than 2147483647"},
		{"QUANTITY zero", "", orderLine + "&QUANTITY=0", "QUANTITY: 0 is less than 1"},
		{"QUANTITY negative", "", orderLine + "&QUANTITY=-3", "QUANTITY: -3 is less than 1"},
		{"QUANTITY a fraction", "", orderLine + "&QUANTITY=1.5", `QUANTITY: "1.5" is not a whole number`},
		{"QUANTITY not a number", "", orderLine + "&QUANTITY=abc", `QUANTITY: "abc" is not a whole number`},
		{"is_numberofactivationsperkey zero", "&is_numberofactivationsperkey=0", orderLine,
			"is_numberofactivationsperkey: 0 is less than 1"},
		{"is_numberofactivationsperkey not a number", "&is_numberofactivationsperkey=many", orderLine,
			`is_numberofactivationsperkey: "many" is not a whole number`},
		{"is_additionalactivations negative", "&is_additionalactivations=-2", orderLine, "is_additionalactivations: -2 is less than 0"},
		{"is_expduration negative", "&is_expduration=-1", orderLine, "is_expduration: -1 is less than 0"},
		{"is_expduration not a number", "&is_expduration=1y", orderLine, `is_expduration: "1y" is not a whole number`},
		{"is_maintduration zero", "&is_maintduration=0", orderLine, "is_maintduration: 0 is less than 1"},

		// The license model and its switches.
		{"is_licensemodel unknown", "&is_licensemodel=perpetual", orderLine,
			`is_licensemodel: "perpetual" is not one of QLM's license models (permanent, trial, subscription, each also _floating or _cloud)`},
		{"is_licensemodel with the default binding named", "&is_licensemodel=permanent_computer", orderLine,
			`is_licensemodel: "permanent_computer" is not one of QLM's license models (permanent, trial, subscription, each also _floating or _cloud)`},
		{"is_licensemodel with a dash", "&is_licensemodel=trial-cloud", orderLine,
			`is_licensemodel: "trial-cloud" is not one of QLM's license models (permanent, trial, subscription, each also _floating or _cloud)`},
		{"is_floating", "&is_floating=sometimes", orderLine, `is_floating: "sometimes" is not true or false`},
		{"is_usemultipleactivationskey", "&is_usemultipleactivationskey=maybe", orderLine,
			`is_usemultipleactivationskey: "maybe" is not true or false`},
		{"is_maintenance_plan", "&is_maintenance_plan=2", orderLine, `is_maintenance_plan: "2" is not true or false`},

		// Dates.
		{"is_expdate bad month", "&is_expdate=2025-13-01", orderLine,
			`is_expdate: "2025-13-01" is not a date (yyyy-MM-dd or the provider's date_format)`},
		{"is_expdate words", "&is_expdate=next+year", orderLine,
			`is_expdate: "next year" is not a date (yyyy-MM-dd or the provider's date_format)`},
		{"is_expdate day first without a date_format", "&is_expdate=31%2F03%2F2026", orderLine,
			`is_expdate: "31/03/2026" is not a date (yyyy-MM-dd or the provider's date_format)`},
		{"is_maintdate", "&is_maintdate=2027-02-30", orderLine,
			`is_maintdate: "2027-02-30" is not a date (yyyy-MM-dd or the provider's date_format)`},

		// The order line's identity.
		{"PURCHASE_ID missing", "", "RUNNING_NO=1", "PURCHASE_ID: missing"},
		{"PURCHASE_ID blank", "", "PURCHASE_ID=+&RUNNING_NO=1", "PURCHASE_ID: missing"},
		{"no order line at all", "", "", "PURCHASE_ID: missing"},
		{"PURCHASE_ID with a control character", "", "PURCHASE_ID=12%01", `PURCHASE_ID: "12\x01" holds a character that is not printable`},
		{"PURCHASE_ID with a tab", "", "PURCHASE_ID=1%092", `PURCHASE_ID: "1\t2" holds a character that is not printable`},
		{"PURCHASE_ID with a line break", "", "PURCHASE_ID=1%0D%0A2", `PURCHASE_ID: "1\r\n2" holds a character that is not printable`},
		{"PURCHASE_ID too long", "", "PURCHASE_ID=" + strings.Repeat("7", 129), "PURCHASE_ID: longer than 128 bytes"},
		{"RUNNING_NO too long", "", "PURCHASE_ID=1&RUNNING_NO=" + strings.Repeat("1", 33), "RUNNING_NO: longer than 32 bytes"},
		{"RUNNING_NO with a control character", "", "PURCHASE_ID=1&RUNNING_NO=%1B", `RUNNING_NO: "\x1b" holds a character that is not printable`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := mustRefuse(t, postRequest(credentials+tt.query, tt.body), Options{})
			assert.Equal(t, http.StatusBadRequest, bad.Status)
			assert.Equal(t, tt.reason, bad.Reason())
			assert.Equal(t, tt.reason, bad.Field+": "+bad.Problem)
		})
	}
}

// TestRefusalsViaGET: a GET call with the order in the query is refused the
// same way.
func TestRefusalsViaGET(t *testing.T) {
	bad := mustRefuse(t, getRequest(qlmQuery), Options{})
	assert.Equal(t, "PURCHASE_ID: missing", bad.Reason())
	bad = mustRefuse(t, getRequest(qlmQuery+"&PURCHASE_ID=1&CITY=50%"), Options{})
	assert.Equal(t, "query: malformed percent-encoding in CITY", bad.Reason())
}

// TestDateLayoutRefusal: a provider's date_format replaces no check: a date in
// neither it nor QLM's defaults is refused.
func TestDateLayoutRefusal(t *testing.T) {
	bad := mustRefuse(t, postRequest(credentials+"&is_expdate=31%2F03%2F2026", orderLine), Options{DateLayout: "01/02/2006"})
	assert.Equal(t, `is_expdate: "31/03/2026" is not a date (yyyy-MM-dd or the provider's date_format)`, bad.Reason())
}
