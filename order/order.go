// Package order describes one order line on its way to becoming license
// keys: the input of the IssueLicense workflow and of its activities. It
// holds plain data only, so workflows, activities and the API can share it.
package order

import (
	"time"

	"github.com/keysmith/keysmith/license"
)

// Line is one product line of a storefront order, checked against the
// configuration and ready to be keyed.
type Line struct {
	Provider   string // e.g. "shareit"
	PurchaseID string // the storefront's order number
	RunningNo  string // position of the line in the order
	// OrderDate is the purchase date; zero means the workflow's start.
	OrderDate time.Time

	Product  Product
	Features license.Features // QLM feature sets 0-3
	Quantity int              // licenses bought on this line
	KeyCount int              // keys to issue: 1, or Quantity with one key per license
	Seats    int              // seats (activations) carried by each key
	Model    string           // permanent, trial or subscription
	// Expires is the expiry date; when zero, ExpiresInDays after the order
	// date, or never when both are zero.
	Expires       time.Time
	ExpiresInDays int

	Customer Customer
	Email    Email

	// Fields are all order fields as the storefront sent them; Args the
	// key generator's URL arguments without credentials.
	Fields map[string]string
	Args   map[string]string
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

// ID names the order line uniquely across providers.
func (l Line) ID() string {
	return l.Provider + ":" + l.PurchaseID + "-" + l.RunningNo
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

// IssueDate is the day the keys are issued: the order date, in UTC.
func (l Line) IssueDate() time.Time { return day(l.OrderDate) }

// ExpiryDate is the day the keys expire, or zero for never. A time of day
// rounds up: a key never expires earlier than asked.
func (l Line) ExpiryDate() time.Time {
	if !l.Expires.IsZero() {
		d := day(l.Expires)
		if d.Before(l.Expires) {
			d = d.AddDate(0, 0, 1)
		}
		return d
	}
	if l.ExpiresInDays > 0 {
		return l.IssueDate().AddDate(0, 0, l.ExpiresInDays)
	}
	return time.Time{}
}

func day(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
