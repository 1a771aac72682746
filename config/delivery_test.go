package config

import (
	"strings"
	"testing"
)

// A provider holds undelivered lines by default, for 14 days; it may mail
// them instead, and name its old QLM server as upstream (forward mode).
func TestParseUnconfirmedAndUpstream(t *testing.T) {
	c := mustParse(t, `
providers:
  - {name: shareit, unauthenticated: true}
  - {name: fwd, unauthenticated: true, unconfirmed: mail, cancel_unconfirmed_after_days: 30,
     upstream: {url: "https://qlm.example.com/qlmLicenseServer/qlmservice.asmx/", mail: true}}
mail: {from: a@example.com}
`)
	p, _ := c.Provider("shareit")
	if !p.Holds() || p.CancelUnconfirmedAfterDays != 14 || p.Upstream != nil {
		t.Errorf("defaults: holds %v, days %d, upstream %v", p.Holds(), p.CancelUnconfirmedAfterDays, p.Upstream)
	}
	f, _ := c.Provider("fwd")
	if f.Holds() || f.CancelUnconfirmedAfterDays != 30 || f.Upstream.URL != "https://qlm.example.com/qlmLicenseServer/qlmservice.asmx" || !f.Upstream.Mail || !c.Forwards() {
		t.Errorf("fwd: %+v %+v", f, f.Upstream)
	}
	for yaml, want := range map[string]string{
		`{name: s, unauthenticated: true, unconfirmed: drop}`:                                    `unconfirmed: "drop" is not`,
		`{name: s, unauthenticated: true, cancel_unconfirmed_after_days: -1}`:                    "cancel_unconfirmed_after_days: -1 is not 1 to 3650",
		`{name: s, unauthenticated: true, upstream: {url: "ftp://qlm.example.com/x"}}`:           "upstream.url",
		`{name: s, unauthenticated: true, upstream: {url: "https://u:p@qlm.example.com/x"}}`:     "upstream.url",
		`{name: s, unauthenticated: true, upstream: {url: "https://qlm.example.com/x?a=b"}}`:     "upstream.url",
		`{name: s, unauthenticated: true, upstream: {url: "/qlmLicenseServer/qlmservice.asmx"}}`: "upstream.url",
	} {
		err := parseErr(t, "providers: ["+yaml+"]\nmail: {from: a@example.com}\n")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", yaml, err, want)
		}
	}
}
