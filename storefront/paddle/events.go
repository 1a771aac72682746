package paddle

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/keysmith/keysmith/config"
	"github.com/keysmith/keysmith/order"
	"github.com/keysmith/keysmith/qlm"
	"github.com/keysmith/keysmith/storefront"
)

// Paddle's event types keysmith acts on.
const (
	transactionCompleted = "transaction.completed"
	adjustmentCreated    = "adjustment.created"
	adjustmentUpdated    = "adjustment.updated"
	subscriptionCanceled = "subscription.canceled"
)

// Transaction origins (transaction.origin) that are not sales of their
// own: a renewal renews, the others sell nothing keysmith keys.
const (
	originRecurring     = "subscription_recurring"
	originUpdate        = "subscription_update"
	originPaymentMethod = "subscription_payment_method_change"
)

// renewSubscription is QLM's method a renewal is keyed as: it renews the
// line found by the purchase's subscription.
const renewSubscription = "renewsubscriptionhttp"

// maxEventID bounds the event id the answer echoes (Paddle's are evt_ and
// 26 characters).
const maxEventID = 255

// maxFieldValue bounds a custom_data value kept with the order.
const maxFieldValue = 1024

// event is a notification's body, as Paddle's webhook reference gives it.
type event struct {
	EventID        string          `json:"event_id"`
	EventType      string          `json:"event_type"`
	OccurredAt     paddleTime      `json:"occurred_at"`
	NotificationID string          `json:"notification_id"`
	Data           json.RawMessage `json:"data"`
}

// transaction is the transaction entity: data of transaction.* events,
// and the API's answer (with include=customer,address,business, the
// related entities).
type transaction struct {
	ID             string     `json:"id"`
	Status         string     `json:"status"`
	CustomerID     string     `json:"customer_id"`
	AddressID      string     `json:"address_id"`
	BusinessID     string     `json:"business_id"`
	CustomData     customData `json:"custom_data"`
	CurrencyCode   string     `json:"currency_code"`
	Origin         string     `json:"origin"`
	SubscriptionID string     `json:"subscription_id"`
	InvoiceNumber  string     `json:"invoice_number"`
	CollectionMode string     `json:"collection_mode"`
	BillingPeriod  *struct {
		StartsAt paddleTime `json:"starts_at"`
		EndsAt   paddleTime `json:"ends_at"`
	} `json:"billing_period"`
	Items   []item `json:"items"`
	Details struct {
		LineItems []lineItem `json:"line_items"`
	} `json:"details"`
	CreatedAt paddleTime `json:"created_at"`
	BilledAt  paddleTime `json:"billed_at"`
	// Customer, Address and Business are present when the transaction was
	// read with include= (the API), or a notification carries them.
	Customer *customer `json:"customer"`
	Address  *address  `json:"address"`
	Business *business `json:"business"`
}

// item is one of a transaction's items: a price, and a quantity.
type item struct {
	Price     price           `json:"price"`
	PriceID   string          `json:"price_id"`
	Quantity  *int            `json:"quantity"`
	Proration json.RawMessage `json:"proration"`
	// Product is the price's product, when given with the item (a
	// subscription's items carry it; a transaction's give it in
	// details.line_items).
	Product *product `json:"product"`
}

type price struct {
	ID           string     `json:"id"`
	ProductID    string     `json:"product_id"`
	Name         string     `json:"name"`
	Description  string     `json:"description"`
	CustomData   customData `json:"custom_data"`
	BillingCycle cycle      `json:"billing_cycle"`
}

// lineItem is an item's line in details.line_items: its Paddle ID
// (txnitm_..., what an adjustment names), price and product.
type lineItem struct {
	ID        string          `json:"id"`
	PriceID   string          `json:"price_id"`
	Quantity  int             `json:"quantity"`
	Product   *product        `json:"product"`
	Proration json.RawMessage `json:"proration"`
}

type product struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	CustomData customData `json:"custom_data"`
}

type customer struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Email  string `json:"email"`
	Locale string `json:"locale"`
}

type address struct {
	FirstLine   string `json:"first_line"`
	SecondLine  string `json:"second_line"`
	City        string `json:"city"`
	PostalCode  string `json:"postal_code"`
	Region      string `json:"region"`
	CountryCode string `json:"country_code"`
}

type business struct {
	Name string `json:"name"`
}

// adjustment is the adjustment entity: a refund, credit or chargeback of
// some or all of a transaction's items.
type adjustment struct {
	ID             string `json:"id"`
	Action         string `json:"action"`
	Type           string `json:"type"` // full or partial (the default)
	Status         string `json:"status"`
	Reason         string `json:"reason"`
	TransactionID  string `json:"transaction_id"`
	SubscriptionID string `json:"subscription_id"`
	Items          []struct {
		ItemID string `json:"item_id"`
		Type   string `json:"type"` // full, partial, tax or proration
	} `json:"items"`
}

type subscription struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

// cycle is a price's billing_cycle: an object for a recurring price, null
// for a one-time one.
type cycle struct {
	set, recurring bool
}

func (c *cycle) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	c.set, c.recurring = true, !bytes.Equal(b, []byte("null"))
	return nil
}

// customData is an entity's custom_data: the vendor's own key-value
// data, any JSON values (null for none).
type customData map[string]json.RawMessage

func (d *customData) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		// Paddle requires an object; anything else carries nothing.
		*d = nil
		return nil //nolint:nilerr // read as empty
	}
	*d = m
	return nil
}

// text is a custom_data value as text: a string as it is, another value
// (a number, a boolean) as written.
func text(v json.RawMessage) string {
	var s string
	if err := json.Unmarshal(v, &s); err == nil {
		return s
	}
	if t := bytes.TrimSpace(v); !bytes.Equal(t, []byte("null")) {
		return string(t)
	}
	return ""
}

// paddleTime is an RFC 3339 time; zero when absent or unreadable.
type paddleTime struct{ time.Time }

func (t *paddleTime) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		if v, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s)); err == nil {
			t.Time = v.UTC()
		}
	}
	return nil
}

func (t paddleTime) unix() string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.Unix(), 10)
}

// decoder reads one event.
type decoder struct {
	ctx     context.Context
	call    *storefront.Call
	p       *config.Provider
	e       event
	api     *api
	reading *storefront.Reading
	// buyer is what the transaction's buyer was read as, once read.
	buyer *buyer
}

// Decode reads the event: the body is one event, whose id the answer
// lists once its lines are started.
//
// What the event names by id is read from Paddle's API when the provider
// has an API key: a transaction's buyer when the notification carries no
// customer (Paddle's never does; one read with include=customer does), and
// the transaction an adjustment refunds, to place its items. A failure
// there (network, 5xx, a key Paddle refuses) is an error that is not a
// *qlm.BadRequestError, so that Paddle sends the event again. Without the
// key the buyer is not mailed (a warning on the line), and an adjustment
// is placed only when it is a full one (every item of its transaction).
func (Kind) Decode(ctx context.Context, c *storefront.Call, p *config.Provider) (storefront.Reading, error) {
	var e event
	if err := json.Unmarshal(c.Body, &e); err != nil {
		return storefront.Reading{}, qlm.BadRequest("body", "not a Paddle event ({\"event_id\": \"evt_...\", \"event_type\": ..., \"data\": {...}}): %s", jsonProblem(err))
	}
	// The id is echoed in the answer, and names the lines' events.
	e.EventID = strings.TrimSpace(e.EventID)
	if err := storefront.CheckID("event_id", e.EventID, maxEventID); err != nil {
		return storefront.Reading{}, err
	}
	if d := bytes.TrimSpace(e.Data); len(d) == 0 || bytes.Equal(d, []byte("null")) {
		return storefront.Reading{}, qlm.BadRequest("data", "missing")
	}
	reading := storefront.Reading{Notify: true, Events: []string{e.EventID}}
	d := &decoder{ctx: ctx, call: c, p: p, e: e, api: newAPI(p), reading: &reading}
	var err error
	switch e.EventType {
	case transactionCompleted:
		err = d.transaction()
	case adjustmentCreated, adjustmentUpdated:
		err = d.adjustment()
	case subscriptionCanceled:
		err = d.canceled()
	default:
		// transaction.paid among them: its transaction is completed, and
		// keyed, once Paddle has processed it (transaction.completed).
		d.skip("not an event keysmith keys")
	}
	if err != nil {
		return storefront.Reading{}, err
	}
	return reading, nil
}

// skip says, for the log, what of the event keys nothing and why.
func (d *decoder) skip(format string, a ...any) {
	d.reading.Skipped = append(d.reading.Skipped, fmt.Sprintf("event %s (%s): ", d.e.EventID, qlm.Label(d.e.EventType))+fmt.Sprintf(format, a...))
}

// transaction reads a completed transaction: each item whose price or
// product names a QLM product is a line, keyed and mailed; a renewal's
// recurring items renew their subscription's line.
func (d *decoder) transaction() error {
	var t transaction
	if err := json.Unmarshal(d.e.Data, &t); err != nil {
		return qlm.BadRequest("data", "not a transaction: %s", jsonProblem(err))
	}
	t.ID = strings.TrimSpace(t.ID)
	if err := storefront.CheckID("data.id", t.ID, storefront.MaxPurchaseID); err != nil {
		return err
	}
	switch {
	case t.Status != "" && t.Status != "completed":
		d.skip("transaction %s is %s, not completed", t.ID, qlm.Quote(t.Status))
		return nil
	case t.Origin == originUpdate:
		// An upgrade, downgrade or change of quantity, billed now: the
		// keys stay as they are (support reissues them).
		d.skip("transaction %s bills a change to subscription %s, which keys nothing", t.ID, t.SubscriptionID)
		return nil
	case t.Origin == originPaymentMethod:
		d.skip("transaction %s changes subscription %s's payment method, which sells nothing", t.ID, t.SubscriptionID)
		return nil
	}
	renewal := t.Origin == originRecurring && strings.TrimSpace(t.SubscriptionID) != ""
	for i, it := range t.Items {
		req, skip, err := d.item(&t, i, it, renewal)
		if err != nil {
			return itemError(i, err)
		}
		if skip != "" {
			d.skip("transaction %s item %d: %s", t.ID, i+1, skip)
			continue
		}
		d.reading.Requests = append(d.reading.Requests, req)
	}
	if len(t.Items) == 0 {
		d.skip("transaction %s has no items", t.ID)
	}
	return nil
}

// item is one transaction item's request; an item of a price and product
// that name no QLM product is skipped, with the reason.
func (d *decoder) item(t *transaction, i int, it item, renewal bool) (storefront.Request, string, error) {
	priceID := strings.TrimSpace(cmp.Or(it.Price.ID, it.PriceID))
	li := t.lineItem(priceID, i)
	prod := it.Product
	if prod == nil && li != nil {
		prod = li.Product
	}
	if prod == nil {
		prod = &product{}
	}
	productID := strings.TrimSpace(cmp.Or(it.Price.ProductID, prod.ID))
	if priceID == "" && productID == "" {
		return storefront.Request{}, "no price or product", nil
	}
	if p := bytes.TrimSpace(it.Proration); len(p) > 0 && !bytes.Equal(p, []byte("null")) {
		return storefront.Request{}, "a proration of a change to the subscription, not a period of it", nil
	}
	// An item of a recurring price is the subscription's; a one-time
	// price's (an add-on, a one-time charge) is a purchase of its own.
	// A price given without its billing cycle is taken as the
	// transaction's.
	recurring := it.Price.BillingCycle.recurring || (!it.Price.BillingCycle.set && t.SubscriptionID != "")
	renews := renewal && recurring

	call := d.call.QLM.Fork()
	// Arguments: the URL's, then the price's custom_data, then its
	// product's (QLM's convention: the storefront's product carries
	// them), then the provider's products mapping by Paddle product id.
	call.WithMapping(qlmArgs(it.Price.CustomData, renews))
	call.WithMapping(qlmArgs(prod.CustomData, renews))
	if mapping, ok := d.p.Products[productID]; ok && productID != "" {
		args, err := qlm.ParseQuery(mapping) // checked when the configuration was loaded
		if err != nil {
			return storefront.Request{}, "", &qlm.BadRequestError{Status: http.StatusBadRequest, Field: "product " + productID, Problem: "bad mapping in the configuration"}
		}
		call.WithMapping(qlmArgsOf(args, renews))
	}
	if call.Arg("is_productid") == "" {
		return storefront.Request{}, fmt.Sprintf("product %s (price %s) names no is_productid in its or its price's custom_data, and the provider's products do not map it",
			cmp.Or(productID, "?"), cmp.Or(priceID, "?")), nil
	}
	if slices.ContainsFunc(slices.Collect(maps.Keys(t.CustomData)), isArgName) {
		// A checkout's custom data is set in the buyer's browser
		// (Paddle.js): it names nothing the buyer may not choose.
		call.Warn("custom_data: the transaction's is_* values are not read (a checkout sets them in the browser); put QLM's arguments in the price's or product's custom_data")
	}
	args, err := call.Args(d.p.DateLayout())
	if err != nil {
		return storefront.Request{}, "", err
	}
	pu := storefront.Purchase{
		PurchaseID:   t.ID,
		RunningNo:    strconv.Itoa(i + 1),
		PurchaseDate: cmp.Or(t.BilledAt.Time, d.e.OccurredAt.Time, t.CreatedAt.Time),
		Quantity:     1,
		UTF8:         true,
		Fields: map[string]string{
			"event": d.e.EventID, "event_type": d.e.EventType, "notification": d.e.NotificationID,
			"transaction": t.ID, "origin": t.Origin, "invoice_number": t.InvoiceNumber,
			"collection_mode": t.CollectionMode, "currency": t.CurrencyCode,
			"customer": t.CustomerID, "address": t.AddressID, "business": t.BusinessID,
			"product": productID, "product_name": prod.Name, "price": priceID, "price_name": it.Price.Name,
		},
	}
	if li != nil {
		pu.Fields["item"] = li.ID
	}
	if it.Quantity != nil {
		if *it.Quantity < 1 || *it.Quantity > qlm.MaxSeats {
			return storefront.Request{}, "", qlm.BadRequest("quantity", "%d is not 1 to %d", *it.Quantity, qlm.MaxSeats)
		}
		pu.Quantity = *it.Quantity
		pu.Fields["quantity"] = strconv.Itoa(*it.Quantity)
	}
	var periodEnd time.Time
	if bp := t.BillingPeriod; bp != nil {
		periodEnd = bp.EndsAt.Time
		pu.Fields["period_start"], pu.Fields["period_end"] = bp.StartsAt.unix(), bp.EndsAt.unix()
	}
	method := "getactivationkey"
	if recurring && strings.TrimSpace(t.SubscriptionID) != "" {
		pu.Subscription = strings.TrimSpace(t.SubscriptionID)
		pu.Fields["subscription"] = pu.Subscription
	}
	switch {
	case renews:
		// The renewed keys run to the end of the period paid for.
		method = renewSubscription
		pu.ExpiryDate = periodEnd
	case pu.Subscription != "" && strings.HasPrefix(args.LicenseModel, "subscription") && args.ExpDate.IsZero() && args.ExpDuration == 0:
		// As QLM's Stripe guide has it: a subscription product given no
		// duration runs to the end of the period the first transaction
		// paid for, and each renewal moves it on.
		if periodEnd.IsZero() {
			call.Warn("expiry: the transaction gives no billing period; the key does not expire until it is renewed")
		} else {
			args.ExpDate = periodEnd
		}
	}
	b, err := d.readBuyer(t)
	if err != nil {
		return storefront.Request{}, "", err
	}
	pu.RegName, pu.Company, pu.Language = b.name, b.company, b.locale
	pu.Street, pu.City, pu.Zip, pu.State, pu.ISOCode = b.street, b.city, b.zip, b.state, b.country
	if b.email == "" {
		call.Warn("%s", b.missing)
	}
	keepCustomData(&pu, "custom_data.", prod.CustomData)
	keepCustomData(&pu, "custom_data.", it.Price.CustomData)
	keepCustomData(&pu, "transaction.custom_data.", t.CustomData)
	for k, v := range pu.Fields {
		if v == "" {
			delete(pu.Fields, k)
		}
	}
	storefront.ReadEmail(call, &pu, "customer.email", b.email)
	return storefront.Request{Method: method, Args: args, Purchase: pu, Warnings: call.Warnings(),
		Confirmed: true, Event: d.e.EventID}, "", nil
}

// lineItem is the details line of the item with the price, or else the
// one at the item's index.
func (t *transaction) lineItem(priceID string, i int) *lineItem {
	for j := range t.Details.LineItems {
		if priceID != "" && t.Details.LineItems[j].PriceID == priceID {
			return &t.Details.LineItems[j]
		}
	}
	if i < len(t.Details.LineItems) && t.Details.LineItems[i].PriceID == "" {
		return &t.Details.LineItems[i]
	}
	return nil
}

// position is the 1-based position among the transaction's items of the
// item a details line's id (txnitm_...) names, 0 when none: the line's
// price names the item; a line without one is the item at its own index.
func (t *transaction) position(itemID string) int {
	for j, li := range t.Details.LineItems {
		if li.ID != itemID {
			continue
		}
		for i, it := range t.Items {
			if li.PriceID != "" && cmp.Or(it.Price.ID, it.PriceID) == li.PriceID {
				return i + 1
			}
		}
		if li.PriceID == "" && j < len(t.Items) {
			return j + 1
		}
	}
	return 0
}

// buyer is a transaction's buyer, as the notification or Paddle's API
// gives it.
type buyer struct {
	email, name, company, locale      string
	street, city, zip, state, country string
	missing                           string // why there is no email address, for the warning
}

// readBuyer is the transaction's buyer: the notification's customer when
// it carries one, else, with the provider's API key, the transaction read
// from Paddle's API with its customer, address and business; read once
// per event, and only for an item that is keyed.
func (d *decoder) readBuyer(t *transaction) (*buyer, error) {
	if d.buyer != nil {
		return d.buyer, nil
	}
	c, a, biz := t.Customer, t.Address, t.Business
	if (c == nil || strings.TrimSpace(c.Email) == "") && d.api != nil && t.CustomerID != "" {
		full, err := d.api.transaction(d.ctx, "data.id", t.ID, "customer", "address", "business")
		if err != nil {
			return nil, err
		}
		c, a, biz = cmp.Or(full.Customer, c), cmp.Or(a, full.Address), cmp.Or(biz, full.Business)
	}
	b := &buyer{}
	if c != nil {
		b.email, b.name, b.locale = strings.TrimSpace(c.Email), strings.TrimSpace(c.Name), strings.TrimSpace(c.Locale)
	}
	if a != nil {
		b.street = strings.TrimSpace(strings.TrimSpace(a.FirstLine) + " " + strings.TrimSpace(a.SecondLine))
		b.city, b.zip = strings.TrimSpace(a.City), strings.TrimSpace(a.PostalCode)
		b.state, b.country = strings.TrimSpace(a.Region), strings.TrimSpace(a.CountryCode)
	}
	if biz != nil {
		b.company = strings.TrimSpace(biz.Name)
	}
	switch {
	case b.email != "":
	case d.api == nil:
		b.missing = fmt.Sprintf("customer: the transaction names customer %s without an email address (Paddle's notifications carry none) and the provider has no API key to read it with; the buyer is not emailed (support sends the keys)",
			cmp.Or(strings.TrimSpace(t.CustomerID), "(none)"))
	default:
		b.missing = fmt.Sprintf("customer: Paddle's API gives no email address for customer %s; the buyer is not emailed (support sends the keys)", cmp.Or(strings.TrimSpace(t.CustomerID), "(none)"))
	}
	d.buyer = b
	return b, nil
}

// renewalArgs are the arguments a renewal uses in place of the purchase's
// of the other name (as QLM's Stripe guide names them in metadata).
var renewalArgs = map[string]string{
	"is_renewal_emailtemplate": "is_emailtemplate",
	"is_send_renewal_mail":     "is_send_mail",
}

// qlmArgs are the is_* arguments among custom_data. A renewal uses
// is_renewal_emailtemplate and is_send_renewal_mail as is_emailtemplate and
// is_send_mail; a purchase leaves them out.
func qlmArgs(data customData, renewal bool) url.Values {
	v := url.Values{}
	for k, raw := range data {
		if isArgName(k) {
			v.Set(k, text(raw))
		}
	}
	return qlmArgsOf(v, renewal)
}

func qlmArgsOf(v url.Values, renewal bool) url.Values {
	out := url.Values{}
	for k, vs := range v {
		name := strings.ToLower(strings.TrimSpace(k))
		if _, ok := renewalArgs[name]; !ok && isArgName(name) && len(vs) > 0 {
			out.Set(name, vs[0])
		}
	}
	if renewal {
		for k, vs := range v {
			if name, ok := renewalArgs[strings.ToLower(strings.TrimSpace(k))]; ok && len(vs) > 0 {
				out.Set(name, vs[0])
			}
		}
	}
	return out
}

func isArgName(k string) bool { return strings.HasPrefix(strings.ToLower(strings.TrimSpace(k)), "is_") }

// keepCustomData keeps the custom_data that is not QLM's arguments with
// the order, under prefix: a value as text, an object or array as its
// JSON, each within maxFieldValue.
func keepCustomData(pu *storefront.Purchase, prefix string, data customData) {
	for _, k := range slices.Sorted(maps.Keys(data)) {
		if isArgName(k) {
			continue
		}
		v := text(data[k])
		if len(v) > maxFieldValue {
			cut := maxFieldValue
			for cut > 0 && !utf8.RuneStart(v[cut]) {
				cut--
			}
			v = v[:cut]
		}
		pu.Fields[prefix+k] = v
	}
}

// adjustment reads an adjustment: an approved refund, or a chargeback,
// revokes each line whose item it adjusts in full (as the product's
// on_refund says). A partial refund of an amount, a credit, a chargeback
// warning or reversal, and a refund Paddle has not approved revoke
// nothing.
func (d *decoder) adjustment() error {
	var a adjustment
	if err := json.Unmarshal(d.e.Data, &a); err != nil {
		return qlm.BadRequest("data", "not an adjustment: %s", jsonProblem(err))
	}
	a.ID, a.TransactionID = strings.TrimSpace(a.ID), strings.TrimSpace(a.TransactionID)
	var kind string
	switch a.Action {
	case "refund":
		if a.Status != "approved" {
			d.skip("refund %s is %s: its keys are revoked once Paddle approves it (adjustment.updated)", a.ID, qlm.Quote(a.Status))
			return nil
		}
		kind = storefront.Refund
	case "chargeback":
		if a.Status == "rejected" || a.Status == "reversed" {
			d.skip("chargeback %s is %s", a.ID, a.Status)
			return nil
		}
		kind = storefront.Chargeback
	case "chargeback_warning":
		d.skip("adjustment %s warns of a chargeback to come: the keys stay until it comes", a.ID)
		return nil
	case "chargeback_reverse":
		d.skip("adjustment %s reverses a chargeback: keys it revoked stay revoked (support restores them)", a.ID)
		return nil
	default: // credit, credit_reverse
		d.skip("adjustment %s (%s) refunds no payment", a.ID, qlm.Quote(a.Action))
		return nil
	}
	if err := storefront.CheckID("data.transaction_id", a.TransactionID, storefront.MaxPurchaseID); err != nil {
		return err
	}
	full := a.Type == "full"
	var items, partial []string
	for _, it := range a.Items {
		id := strings.TrimSpace(it.ItemID)
		switch {
		case id == "" || slices.Contains(items, id):
		case full || it.Type == "full":
			items = append(items, id)
		case it.Type == "partial":
			partial = append(partial, id)
		}
	}
	for _, id := range partial {
		if !slices.Contains(items, id) {
			d.skip("%s %s refunds part of item %s's amount: its keys are kept (support may revoke them)", a.Action, a.ID, id)
		}
	}
	if len(items) == 0 && !full {
		return nil
	}
	reason := strings.TrimSpace("Paddle " + a.Action + " " + a.ID + " " + strings.TrimSpace(a.Reason))
	revoke := func(rv storefront.Revocation) {
		rv.Kind, rv.Event, rv.Reason = kind, d.e.EventID, reason
		d.reading.Revocations = append(d.reading.Revocations, rv)
	}
	line := func(pos int) order.LineID {
		return order.LineID{Provider: d.p.Name, PurchaseID: a.TransactionID, RunningNo: strconv.Itoa(pos)}
	}
	if d.api == nil {
		// Only Paddle's API places an item (txnitm_...) in its
		// transaction. A full adjustment is every item: as many as it
		// names (at least one), and its subscription's line.
		if !full {
			d.skip("%s %s names its items by Paddle's ids only, which the provider has no API key to place: nothing is revoked (set api_key_env, or revoke by support)", a.Action, a.ID)
			return nil
		}
		for pos := 1; pos <= max(len(items), 1); pos++ {
			revoke(storefront.Revocation{Line: line(pos)})
		}
		if sub := strings.TrimSpace(a.SubscriptionID); sub != "" {
			revoke(storefront.Revocation{Subscription: sub})
		}
		return nil
	}
	t, err := d.api.transaction(d.ctx, "data.transaction_id", a.TransactionID)
	if err != nil {
		return err
	}
	if full && len(items) == 0 {
		for _, li := range t.Details.LineItems {
			items = append(items, li.ID)
		}
	}
	subs := map[string]bool{}
	for _, id := range items {
		pos := t.position(id)
		if pos == 0 {
			d.skip("%s %s names item %s, which is not in transaction %s", a.Action, a.ID, id, a.TransactionID)
			continue
		}
		it := t.Items[pos-1]
		recurring := it.Price.BillingCycle.recurring || (!it.Price.BillingCycle.set && t.SubscriptionID != "")
		if sub := strings.TrimSpace(t.SubscriptionID); t.Origin == originRecurring && sub != "" && recurring {
			// A renewal is stored with the line it renews, found by the
			// subscription: revoking it revokes the renewed keys.
			if !subs[sub] {
				subs[sub] = true
				revoke(storefront.Revocation{Subscription: sub})
			}
			continue
		}
		revoke(storefront.Revocation{Line: line(pos)})
	}
	return nil
}

// canceled reads a canceled subscription: its line ends as the product's
// on_cancel says (by default the keys run to the end of the period paid
// for).
func (d *decoder) canceled() error {
	var s subscription
	if err := json.Unmarshal(d.e.Data, &s); err != nil {
		return qlm.BadRequest("data", "not a subscription: %s", jsonProblem(err))
	}
	id := strings.TrimSpace(s.ID)
	if id == "" {
		d.skip("no subscription named")
		return nil
	}
	d.reading.Revocations = append(d.reading.Revocations, storefront.Revocation{Kind: storefront.Cancel, Subscription: id,
		Event: d.e.EventID, Reason: "Paddle " + subscriptionCanceled + " " + id})
	return nil
}

// itemError names the item a refusal is about in its field.
func itemError(i int, err error) error {
	bad, ok := errors.AsType[*qlm.BadRequestError](err)
	if !ok {
		return err
	}
	if strings.HasPrefix(bad.Field, "data.") { // the transaction's, not the item's
		return bad
	}
	return &qlm.BadRequestError{Status: bad.Status, Field: fmt.Sprintf("data.items[%d].%s", i, bad.Field), Problem: bad.Problem}
}

func jsonProblem(err error) string {
	s := err.Error()
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return s
}
