// Package storefront is the seam between keysmith and the storefronts that
// sell its keys. A storefront is a kind (ShareIt, FastSpring, ...) behind
// one small interface: how its calls are read, how they authenticate
// beyond what every provider checks (addresses, basic auth, QLM's
// is_user/is_pwd), how their bodies become purchases, and how they are
// answered. Everything after a Request (the checked order line, the
// workflow, the store, the mail) is the same for every kind.
//
// The is_* arguments are QLM's, the same for every storefront (package
// qlm); a purchase is the storefront's, named its own way, read into the
// neutral Purchase.
package storefront

import (
	"bytes"
	"context"
	"encoding/json"
	"mime"
	"net/http"
	"net/mail"
	"strings"
	"time"

	"github.com/keysmith/keysmith/config"
	"github.com/keysmith/keysmith/order"
	"github.com/keysmith/keysmith/qlm"
)

// Kind is one storefront's way of calling.
type Kind interface {
	// Read reads a call to one of QLM's methods (method lower-cased, such
	// as "getactivationkey") from provider p. It refuses, with a
	// *qlm.BadRequestError, a body that is not in the kind's format
	// (400/413/415). The body is consumed.
	Read(r *http.Request, p *config.Provider, method string) (*Call, error)
	// Verify checks what the kind itself signs (a hash or an HMAC of the
	// body) once the provider's own checks passed; nil when the kind signs
	// nothing or the signature is right, else a *qlm.BadRequestError with
	// status 401 or 403.
	Verify(c *Call, p *config.Provider) error
	// Decode reads the call's purchase lines; a kind whose call names
	// its order rather than carrying it reads the order from the
	// storefront's API within ctx (a failure there is an error that is not
	// a *qlm.BadRequestError: the storefront is asked to call again).
	Decode(ctx context.Context, c *Call, p *config.Provider) (Reading, error)
}

// Call is a call as its kind read it.
type Call struct {
	// Method is QLM's method the URL names, lower-cased.
	Method string
	// QLM holds the is_* arguments (from the URL, and from a form body)
	// and any other form fields.
	QLM *qlm.Call
	// Header is the request's header, for signatures.
	Header http.Header
	// Body is the raw body, for signatures; Parsed the kind's reading of
	// it.
	Body   []byte
	Parsed any
}

// Reading is what a call asks for: its lines, and how it is answered.
type Reading struct {
	Requests []Request
	// Notify is set for a notification (a webhook): the lines are keyed
	// in the background and mailed, the call answered at once with Ack.
	// Otherwise the call waits for its keys and is answered with them.
	Notify bool
	Ack    string
	// Events are a notification's event ids, which its answer lists once
	// handled (a storefront sends the others again); Skipped says what it
	// held that keys nothing (events of other types), for the log.
	Events  []string
	Skipped []string
	// Revocations are what a notification undoes: refunds, chargebacks,
	// cancelled subscriptions.
	Revocations []Revocation
	// Answer, when set, is a notification's answer given the events
	// handled, for a storefront that expects its own (2Checkout's IPN read
	// receipt); otherwise the answer is the handled events, one a line.
	Answer func(handled []string) string
}

// What a revocation undoes (Revocation.Kind).
const (
	Refund     = "refund"
	Chargeback = "chargeback"
	Cancel     = "cancel"
)

// Revocation is a storefront's word that a sale is undone. It names the
// line, or the subscription whose line it is; what becomes of the keys is
// the product's policy (config.Product's on_refund, on_cancel).
type Revocation struct {
	Kind         string // Refund, Chargeback or Cancel
	Line         order.LineID
	Subscription string // the storefront's subscription, when Line is not known
	// Event is the storefront's event id: the actor on the record, and
	// what makes the same event twice one revocation.
	Event  string
	Reason string // in the storefront's words, for the line's story
	// Quantity is the licenses refunded, 0 for the whole line: a partial
	// refund of a multi-seat line is only warned about.
	Quantity int
}

// Request is one order line a call asks keys for: QLM's arguments, the
// purchase, and the warnings about what was doubtful and how it was read.
type Request struct {
	// Method is QLM's method (see Call), which says whether the line is
	// bought or renews one bought earlier.
	Method   string
	Args     qlm.Args
	Purchase Purchase
	Warnings []string
	// Confirmed is set when the storefront itself reports the sale
	// complete (a notification): the line is never held for want of a
	// delivery report. Event is the notification's event the line is of.
	Confirmed bool
	Event     string
}

// Quantity is the number of licenses sold: is_quantity if the URL gives
// it, else the purchase's quantity.
func (r Request) Quantity() int {
	if r.Args.Quantity > 0 {
		return r.Args.Quantity
	}
	return r.Purchase.Quantity
}

// AffiliateID is is_affiliateid if the URL gives it, else the purchase's
// reseller.
func (r Request) AffiliateID() string {
	if r.Args.AffiliateID != "" {
		return r.Args.AffiliateID
	}
	return r.Purchase.Reseller
}

// Purchase is one purchase line in keysmith's terms, whatever the
// storefront named its fields. Known fields are trimmed of surrounding
// spaces; Fields keeps everything the storefront sent.
type Purchase struct {
	PurchaseID   string    // the storefront's order number, printable text
	RunningNo    string    // the line within the order; "1" for a one-line order
	PurchaseDate time.Time // in UTC; zero when absent or unreadable
	// Quantity is the licenses bought: 1 when the storefront gives none,
	// 0 when unreadable (see QuantityProblem), since the seats to sell
	// cannot be guessed.
	Quantity        int
	QuantityProblem string

	RegName   string // the name the license is registered to, when given alone
	FirstName string
	LastName  string
	Company   string
	Email     string // the bare address; "" when absent or not an address
	Phone     string
	Street    string
	City      string
	Zip       string
	State     string
	Country   string
	ISOCode   string // the 2-letter country
	Language  string // as the storefront gives it (ShareIt: LANGUAGE_ID 1-6)
	Reseller  string // the affiliate or reseller, when any

	// ExpiryDate is a subscription's next rebilling, which a renewal
	// extends the keys to; zero when absent.
	ExpiryDate time.Time
	// Subscription is the storefront's own id of the subscription the line
	// starts or renews, "" for none; a renewal is found by it.
	Subscription string
	// OriginalKey is the key a renewal extends, when the storefront sends
	// it; OriginalPurchaseID the first purchase's order number, when named.
	OriginalKey        string
	OriginalPurchaseID string

	// UTF8 is true when the fields were read as UTF-8, false for
	// Windows-1252.
	UTF8 bool

	// Fields holds every order field received, known or not, decoded to
	// UTF-8, under the names as sent. It never holds is_* arguments.
	Fields map[string]string
}

// FullName is the buyer's name as QLM builds it: first and last name, or
// the registration name when both are empty.
func (p Purchase) FullName() string {
	if name := strings.TrimSpace(p.FirstName + " " + p.LastName); name != "" {
		return name
	}
	return p.RegName
}

// Renewal reports whether the purchase renews a subscription bought
// earlier rather than buying anew: it names the original key or purchase.
func (p Purchase) Renewal() bool { return p.OriginalKey != "" || p.OriginalPurchaseID != "" }

// ReadEmail sets the buyer's address from s, reduced to the bare address
// ("Ada <ada@example.com>" is ada@example.com). What is not an address is
// a warning on c, naming field but not the value (personal data); the
// buyer is then not mailed.
func ReadEmail(c *qlm.Call, pu *Purchase, field, s string) {
	s = strings.TrimSpace(s)
	if s == "" {
		return
	}
	if addr, err := mail.ParseAddress(s); err == nil {
		pu.Email = addr.Address
		return
	}
	c.Warn("%s: not an email address; the buyer is not emailed (it is stored with the order)", field)
}

// ObjectID reads a JSON field that a notification gives as an object's id
// or as the expanded object (with an "id"): webhooks' payloads do both.
type ObjectID string

// UnmarshalJSON reads an id, an object's "id", or null.
func (s *ObjectID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		return nil
	case bytes.HasPrefix(b, []byte(`"`)):
		var id string
		err := json.Unmarshal(b, &id)
		*s = ObjectID(id)
		return err
	}
	var v struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = ObjectID(v.ID)
	return nil
}

// WebHook is QLM's QlmWebHookHandler method, as the URL names it
// (lower-cased): where every storefront's notifications are sent.
const WebHook = "qlmwebhookhandler"

// ReadNotification reads a call to a kind that only notifies (Stripe,
// Paddle): a POST to QlmWebHookHandler with a JSON body, QLM's arguments
// in the URL. who names the storefront in the refusals.
func ReadNotification(r *http.Request, method, who string) (*Call, error) {
	if method != WebHook || r.Method != http.MethodPost {
		return nil, qlm.BadRequest("method", "a %s provider is called only by its notifications: POST .../QlmWebHookHandler", who)
	}
	body, err := qlm.ReadBody(r)
	if err != nil {
		return nil, err
	}
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
		return nil, &qlm.BadRequestError{Status: http.StatusUnsupportedMediaType, Field: "Content-Type",
			Problem: qlm.Quote(ct) + " is not application/json (" + who + "'s notifications)"}
	}
	var rawQuery string
	if r.URL != nil {
		rawQuery = r.URL.RawQuery
	}
	c, err := qlm.NewCall(rawQuery, "")
	if err != nil {
		return nil, err
	}
	return &Call{Method: method, QLM: c, Header: r.Header, Body: body}, nil
}

// Unsigned answers a call a kind could check no signature of, the
// provider having no secret for it: it passes on the provider's other
// credentials (QLM's is_user/is_pwd, basic auth, addresses, or
// unauthenticated: true), and is refused (403) when there are none, since
// nothing would check the caller.
func Unsigned(p *config.Provider, field, what string) error {
	if p.User != "" || p.BasicAuth != nil || len(p.AllowIPs) > 0 || p.Unauthenticated {
		return nil
	}
	return &qlm.BadRequestError{Status: http.StatusForbidden, Field: field,
		Problem: "not accepted: this provider has no " + what + " to check it by"}
}
