// Package order describes one order line on its way to becoming license
// keys: the input of the IssueLicense workflow and of its activities. It
// holds plain data only, so workflows, activities and the API can share it.
package order

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/keysmith/keysmith/license"
)

// Line is one product line of a storefront order, checked against the
// configuration and ready to be keyed.
type Line struct {
	LineID
	// OrderDate is the purchase date; zero means the workflow's start.
	OrderDate time.Time

	Product  Product
	Features license.Features // QLM feature sets 0-3
	Quantity int              // licenses bought on this line
	KeyCount int              // keys to issue: 1, or Quantity with one key per license
	Seats    int              // seats (activations) carried by each key
	// KeyFormat is "short" for short keys, "" for signed ones.
	KeyFormat string
	// Model is QLM's license model name: permanent, trial or subscription,
	// each also with _floating or _cloud (license.ParseModel reads it).
	Model string
	// Expires is the expiry date; when zero, ExpiresInDays after the order
	// date, or never when both are zero.
	Expires       time.Time
	ExpiresInDays int
	// MaintenanceInDays is the length of the maintenance plan from the
	// order date; 0 means no plan. Maintenance, when set, is its end day
	// instead.
	MaintenanceInDays int
	Maintenance       time.Time

	// Subscription is the storefront's id of the subscription the line
	// starts, "" for none: its rebilling names only that.
	Subscription string `json:",omitempty"`

	// Renews is set when the line renews keys sold earlier (a
	// subscription's rebilling or a maintenance plan's renewal): the keys
	// are the original ones, re-signed with their serials and issue day and
	// the later Expires and Maintenance.
	Renews *Original

	Customer Customer
	Email    Email
	// Confirm, when set, holds the line until the storefront is known to
	// have received its keys (see Confirm). Nil for a provider that mails
	// regardless, and in every history from before the hold.
	Confirm *Confirm

	// Fields are all order fields as the storefront sent them; Args the
	// key generator's URL arguments without credentials.
	Fields map[string]string
	Args   map[string]string
	// Warnings say what was doubtful in the storefront's call and how it
	// was read: stored with the order and shown in its history.
	Warnings []string
}

// LineID names an order line at its storefront. Embedded in Line and
// Original, its fields read as theirs (in workflow histories too).
type LineID struct {
	Provider   string // e.g. "shareit"
	PurchaseID string // the storefront's order number, printable text
	RunningNo  string // position of the line in the order
}

// Name is the line's name (see Name).
func (l LineID) Name() string { return Name(l.Provider, l.PurchaseID, l.RunningNo) }

// String is the line's name.
func (l LineID) String() string { return l.Name() }

// Original is the order line a renewal extends.
type Original struct {
	LineID
	OrderDate time.Time // the keys' issue day
	Serials   []string  // the keys' serials, hex, in order
	// Kind is what is renewed: RenewSubscription or RenewMaintenance.
	Kind string
}

// What a renewal extends.
const (
	RenewSubscription = "subscription"
	RenewMaintenance  = "maintenance"
)

// Confirm is how a line waits for the storefront to receive its keys.
// MyCommerce does not complete a purchase whose key it did not get (and
// does not call again), so the keys of such a line must not reach the buyer
// or activate: the API reports every answer to the line's workflow, which
// saves the line only once it has the report, and holds it when the keys
// were not delivered.
type Confirm struct {
	// ReportWithin is how long the workflow waits for the API's report
	// once the keys exist; without one (the API died after answering) the
	// line is held.
	ReportWithin time.Duration
	// CancelAfterDays cancels a line still held this long after it was
	// held, revoking its keys.
	CancelAfterDays int
}

// Product is the configured product version the keys are for.
type Product struct {
	ID           uint32
	Major, Minor uint32
	Name         string
	FeatureNames []string // names of the enabled features
}

// Customer is the buyer, as the order names them.
type Customer struct {
	Email, Name, Company                       string
	Street, City, Zip, State, Country, ISOCode string
	Phone                                      string
}

// Email says whether and how the buyer is mailed the keys.
type Email struct {
	Send     bool
	Template string
}

// ID names the order line uniquely across providers; see Name.
func (l Line) ID() string { return l.LineID.Name() }

// Name names an order line: provider:PURCHASE_ID-RUNNING_NO, the basis of
// its workflow ID, its update ID and its keys' serials. The storefront's
// identifiers are free text, so every byte outside A-Z a-z 0-9 . _ (and -
// in the purchase ID) is written %XX: the name stays plain, and two lines
// never share one. Identifiers of those characters alone are unchanged,
// so lines keyed before this rule keep their names and serials.
func Name(provider, purchaseID, runningNo string) string {
	return provider + ":" + escape(purchaseID, "-") + "-" + escape(runningNo, "")
}

func escape(s, keep string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || strings.IndexByte(keep, c) >= 0 {
			b.WriteByte(c)
		} else {
			const hex = "0123456789ABCDEF"
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		}
	}
	return b.String()
}

// Key is an issued license key.
type Key struct {
	Key    string
	Serial string // hex, unique across all keys
	Seats  int
}

// Keys returns the key strings in issue order.
func Keys(ks []Key) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.Key
	}
	return out
}

// Claims are what a key of the line claims, given its serial.
func (l Line) Claims(serial uint64) (license.Claims, error) {
	model, binding, err := license.ParseModel(l.Model)
	if err != nil {
		return license.Claims{}, err
	}
	return license.Claims{
		Product:     l.Product.ID,
		Major:       l.Product.Major,
		Minor:       l.Product.Minor,
		Features:    l.Features,
		Seats:       uint32(l.Seats),
		Model:       model,
		Binding:     binding,
		Issued:      l.IssueDate(),
		Expires:     l.ExpiryDate(),
		Maintenance: l.MaintenanceDate(),
		Serial:      serial,
	}, nil
}

// IssueDate is the day the keys are issued: the order date, in UTC, or
// the original order's for a renewal.
func (l Line) IssueDate() time.Time {
	if l.Renews != nil {
		return day(l.Renews.OrderDate)
	}
	return day(l.OrderDate)
}

// ExpiryDate is the day the keys expire, or zero for never. A time of day
// rounds up: a key never expires earlier than asked. Given both a date and
// a duration, the earlier wins, as in QLM ("the license will expire when
// either setting's criterion is met").
func (l Line) ExpiryDate() time.Time {
	var byDate, byDays time.Time
	if !l.Expires.IsZero() {
		byDate = roundUp(l.Expires)
	}
	if l.ExpiresInDays > 0 {
		byDays = l.IssueDate().AddDate(0, 0, l.ExpiresInDays)
	}
	switch {
	case byDate.IsZero():
		return byDays
	case byDays.IsZero() || byDate.Before(byDays):
		return byDate
	}
	return byDays
}

// MaintenanceDate is the day the maintenance plan ends, or zero for none.
func (l Line) MaintenanceDate() time.Time {
	if !l.Maintenance.IsZero() {
		return roundUp(l.Maintenance)
	}
	if l.MaintenanceInDays > 0 {
		return l.IssueDate().AddDate(0, 0, l.MaintenanceInDays)
	}
	return time.Time{}
}

// roundUp is the day of t, or the next one when t is past midnight.
func roundUp(t time.Time) time.Time {
	d := day(t)
	if d.Before(t) {
		d = d.AddDate(0, 0, 1)
	}
	return d
}

func day(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// ParseName reads a line's name back (see Name), as support staff give it:
// "shareit:123456-1".
func ParseName(name string) (LineID, error) {
	provider, rest, ok := strings.Cut(name, ":")
	dash := strings.LastIndexByte(rest, '-')
	if !ok || provider == "" || dash <= 0 || dash == len(rest)-1 {
		return LineID{}, fmt.Errorf("%q is not an order line (provider:PURCHASE_ID-RUNNING_NO)", name)
	}
	l := LineID{Provider: provider}
	var err error
	if l.PurchaseID, err = unescape(rest[:dash]); err == nil {
		l.RunningNo, err = unescape(rest[dash+1:])
	}
	if err != nil {
		return LineID{}, fmt.Errorf("%q is not an order line: %w", name, err)
	}
	return l, nil
}

func unescape(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", errors.New("bad %XX escape")
		}
		v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", errors.New("bad %XX escape")
		}
		b.WriteByte(byte(v))
		i += 2
	}
	return b.String(), nil
}
