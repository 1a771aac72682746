package stripe

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

	stripego "github.com/stripe/stripe-go/v82"

	"github.com/keysmith/keysmith/config"
	"github.com/keysmith/keysmith/qlm"
	"github.com/keysmith/keysmith/storefront"
)

// Stripe's event types keysmith keys.
const (
	checkoutCompleted    = "checkout.session.completed"
	checkoutAsyncSuccess = "checkout.session.async_payment_succeeded"
	invoicePaid          = "invoice.payment_succeeded"
)

// renewSubscription is QLM's method a renewal is keyed as: it renews the
// line found by the purchase's subscription.
const renewSubscription = "renewsubscriptionhttp"

// maxEventID bounds the event id the answer echoes (Stripe's are about 30
// bytes).
const maxEventID = 255

// decoder reads one event, and what it names through the API.
type decoder struct {
	ctx   context.Context
	call  *storefront.Call
	p     *config.Provider
	event stripego.Event
	api   *stripego.Client
	// What the API answered, by id: a product or an invoice's lines is
	// read once per event.
	products map[string]*stripego.Product
	lines    map[string][]*stripego.InvoiceLineItem
}

// Decode reads the event: the body is one event, whose id the answer
// lists once its lines are started. Its order's lines come from Stripe's
// API; a failure there (network, 5xx, a key Stripe refuses) is an error
// that is not a *qlm.BadRequestError, so that Stripe sends the event again.
func (Kind) Decode(ctx context.Context, c *storefront.Call, p *config.Provider) (storefront.Reading, error) {
	var e stripego.Event
	if err := json.Unmarshal(c.Body, &e); err != nil || e.Data == nil {
		return storefront.Reading{}, qlm.BadRequest("body", "not a Stripe event ({\"id\": \"evt_...\", \"type\": ..., \"data\": {\"object\": ...}})")
	}
	// The id is echoed in the answer, and names the lines' events.
	e.ID = strings.TrimSpace(e.ID)
	if err := storefront.CheckID("id", e.ID, maxEventID); err != nil {
		return storefront.Reading{}, err
	}
	d := &decoder{ctx: ctx, call: c, p: p, event: e, products: map[string]*stripego.Product{}, lines: map[string][]*stripego.InvoiceLineItem{}}
	reading := storefront.Reading{Notify: true, Events: []string{e.ID}}
	var err error
	switch e.Type {
	case checkoutCompleted, checkoutAsyncSuccess:
		err = d.checkout(&reading)
	case invoicePaid:
		err = d.invoice(&reading)
	case chargeRefunded:
		err = d.refund(&reading)
	case disputeCreated:
		err = d.dispute(&reading)
	case subscriptionDeleted:
		err = d.cancel(&reading)
	default:
		d.skip(&reading, "not an event keysmith keys")
	}
	if err != nil {
		return storefront.Reading{}, err
	}
	return reading, nil
}

// skip says, for the log, what of the event keys nothing and why.
func (d *decoder) skip(r *storefront.Reading, format string, a ...any) {
	r.Skipped = append(r.Skipped, fmt.Sprintf("event %s (%s): ", d.event.ID, qlm.Label(string(d.event.Type)))+fmt.Sprintf(format, a...))
}

// client is the API's client, made when the event needs it: an event of
// another type reads nothing.
func (d *decoder) client() *stripego.Client {
	if d.api == nil {
		d.api = newClient(d.p)
	}
	return d.api
}

// checkout reads a completed checkout session: each line item whose
// product names a QLM product is a line, keyed and mailed.
func (d *decoder) checkout(r *storefront.Reading) error {
	var cs stripego.CheckoutSession
	if err := json.Unmarshal(d.event.Data.Raw, &cs); err != nil {
		return qlm.BadRequest("data.object", "not a checkout session: %s", jsonProblem(err))
	}
	if err := storefront.CheckID("data.object.id", cs.ID, storefront.MaxPurchaseID); err != nil {
		return err
	}
	switch {
	case cs.Mode != stripego.CheckoutSessionModePayment && cs.Mode != stripego.CheckoutSessionModeSubscription:
		d.skip(r, "session %s in %s mode sells nothing", cs.ID, qlm.Quote(string(cs.Mode)))
		return nil
	case cs.PaymentStatus == stripego.CheckoutSessionPaymentStatusUnpaid:
		// A delayed payment method: Stripe sends
		// checkout.session.async_payment_succeeded once it is paid.
		d.skip(r, "session %s is not paid yet", cs.ID)
		return nil
	}
	items, err := d.sessionItems("data.object.id", cs.ID)
	if err != nil {
		return err
	}
	for i, li := range items {
		req, skip, err := d.checkoutLine(&cs, i, li)
		if err := d.add(r, "line_items", "session "+cs.ID, i, req, skip, err); err != nil {
			return err
		}
	}
	return nil
}

// add puts line i's request in the reading, or says why it was skipped;
// a failure names the line (field[i]).
func (d *decoder) add(r *storefront.Reading, field, of string, i int, req storefront.Request, skip string, err error) error {
	switch {
	case err != nil:
		return lineError(fmt.Sprintf("%s[%d]", field, i), err)
	case skip != "":
		d.skip(r, "%s line %d: %s", of, i+1, skip)
	default:
		r.Requests = append(r.Requests, req)
	}
	return nil
}

// checkoutLine is one line item's request; an item of a product that
// names no QLM product is skipped, with the reason.
func (d *decoder) checkoutLine(cs *stripego.CheckoutSession, i int, li *stripego.LineItem) (storefront.Request, string, error) {
	if li.Price == nil || li.Price.Product == nil || li.Price.Product.ID == "" {
		return storefront.Request{}, "no product", nil
	}
	product := li.Price.Product
	if product.Object == "" { // not expanded after all
		product = nil
	}
	pa, skip, err := d.args(product, li.Price.Product.ID, false)
	if err != nil || skip != "" {
		return storefront.Request{}, skip, err
	}
	product, call, args := pa.product, pa.call, pa.args
	pu := storefront.Purchase{
		PurchaseID:   cs.ID,
		RunningNo:    strconv.Itoa(i + 1),
		PurchaseDate: unix(cmp.Or(d.event.Created, cs.Created)),
		Quantity:     1,
		UTF8:         true,
		Fields: map[string]string{
			"event": d.event.ID, "event_type": string(d.event.Type), "session": cs.ID, "mode": string(cs.Mode),
			"product": product.ID, "product_name": product.Name, "price": li.Price.ID,
			"currency": string(cmp.Or(li.Currency, cs.Currency)), "amount_total": strconv.FormatInt(li.AmountTotal, 10),
			"livemode": strconv.FormatBool(cs.Livemode || d.event.Livemode),
		},
	}
	if cs.PaymentIntent != nil {
		pu.Fields["payment_intent"] = cs.PaymentIntent.ID
	}
	if cs.Customer != nil {
		pu.Fields["customer"] = cs.Customer.ID
	}
	email := cs.CustomerEmail
	if b := cs.CustomerDetails; b != nil {
		pu.RegName, pu.Phone, email = strings.TrimSpace(b.Name), strings.TrimSpace(b.Phone), cmp.Or(b.Email, email)
		readAddress(&pu, b.Address)
	}
	if cs.Mode == stripego.CheckoutSessionModeSubscription && cs.Subscription != nil {
		pu.Subscription = strings.TrimSpace(cs.Subscription.ID)
		pu.Fields["subscription"] = pu.Subscription
	}
	if err := setQuantity(&pu, li.Quantity); err != nil {
		return storefront.Request{}, "", err
	}
	if pu.Subscription != "" && strings.HasPrefix(args.LicenseModel, "subscription") && args.ExpDate.IsZero() && args.ExpDuration == 0 {
		// QLM's guide gives a subscription product no duration: its key
		// runs to the end of the period the first invoice paid for, and
		// each renewal moves it on.
		end, err := d.firstPeriodEnd(cs, product.ID)
		if err != nil {
			return storefront.Request{}, "", err
		}
		if end.IsZero() {
			call.Warn("expiry: the session names no first invoice to read the subscription's period from; the key does not expire until it is renewed")
		} else {
			args.ExpDate = end
			pu.Fields["period_end"] = strconv.FormatInt(end.Unix(), 10)
		}
	}
	keepMetadata(&pu, product.Metadata)
	storefront.ReadEmail(call, &pu, "email", email)
	return storefront.Request{Method: "getactivationkey", Args: args, Purchase: pu, Warnings: call.Warnings(),
		Confirmed: true, Event: d.event.ID}, "", nil
}

// firstPeriodEnd is the end of the period a subscription session's first
// invoice bills for the product; zero when the session names no invoice.
func (d *decoder) firstPeriodEnd(cs *stripego.CheckoutSession, product string) (time.Time, error) {
	if cs.Invoice == nil || cs.Invoice.ID == "" {
		return time.Time{}, nil
	}
	lines, err := d.invoiceLines(cs.Invoice.ID)
	if err != nil {
		return time.Time{}, err
	}
	for _, l := range lines {
		if id, _ := priceOf(l); id == product && l.Period != nil {
			return unix(l.Period.End), nil
		}
	}
	return time.Time{}, nil
}

// invoice reads a paid invoice: a subscription's renewal (billing reason
// subscription_cycle) renews the line of each subscribed product. Its
// first invoice (subscription_create) is keyed by its checkout session,
// and other invoices sell nothing keysmith keys.
func (d *decoder) invoice(r *storefront.Reading) error {
	raw := d.event.Data.Raw
	var in stripego.Invoice
	if err := json.Unmarshal(raw, &in); err != nil {
		return qlm.BadRequest("data.object", "not an invoice: %s", jsonProblem(err))
	}
	if err := storefront.CheckID("data.object.id", in.ID, storefront.MaxPurchaseID); err != nil {
		return err
	}
	switch in.BillingReason {
	case stripego.InvoiceBillingReasonSubscriptionCycle:
	case stripego.InvoiceBillingReasonSubscriptionCreate:
		d.skip(r, "invoice %s is a subscription's first: its checkout session keys it", in.ID)
		return nil
	default:
		d.skip(r, "invoice %s (billing reason %s) renews no subscription's period", in.ID, qlm.Quote(string(in.BillingReason)))
		return nil
	}
	// Before API version 2025-03-31 (basil), which stripe-go reads, the
	// subscription was the invoice's and each line's own field, and a line
	// had a price rather than pricing; the endpoint's API version is the
	// vendor's choice, so both are read.
	var old legacyInvoice
	_ = json.Unmarshal(raw, &old) // the same JSON read above; a field of another shape stays empty
	var sub string
	if pa := in.Parent; pa != nil && pa.SubscriptionDetails != nil && pa.SubscriptionDetails.Subscription != nil {
		sub = pa.SubscriptionDetails.Subscription.ID
	}
	sub = cmp.Or(sub, string(old.Subscription))
	var lines []*stripego.InvoiceLineItem
	if in.Lines != nil && !in.Lines.HasMore {
		lines = in.Lines.Data
	} else {
		var err error
		old.Lines.Data = nil // the API answers in stripe-go's version
		if lines, err = d.invoiceLines(in.ID); err != nil {
			return err
		}
	}
	for i, l := range lines {
		var oldLine legacyLine
		if len(old.Lines.Data) == len(lines) {
			oldLine = old.Lines.Data[i]
		}
		req, skip, err := d.renewalLine(&in, sub, i, l, oldLine)
		if err := d.add(r, "lines", "invoice "+in.ID, i, req, skip, err); err != nil {
			return err
		}
	}
	return nil
}

// renewalLine is one invoice line's renewal of the line its
// subscription's checkout keyed. A line of no subscription, or of a
// product that names no QLM product, is skipped.
func (d *decoder) renewalLine(in *stripego.Invoice, invoiceSub string, i int, l *stripego.InvoiceLineItem, old legacyLine) (storefront.Request, string, error) {
	// Only a subscription item's line renews: an invoice item (a fee, a
	// credit) or a proration of a change in the period sells no period.
	var sub string
	switch pa := l.Parent; {
	case pa != nil && pa.SubscriptionItemDetails != nil:
		if pa.SubscriptionItemDetails.Proration {
			return storefront.Request{}, "a proration, not a period of the subscription", nil
		}
		sub = pa.SubscriptionItemDetails.Subscription
	case pa != nil:
		return storefront.Request{}, "not a subscription item", nil
	case old.Type != "subscription" || old.Proration: // before basil
		return storefront.Request{}, "not a subscription item", nil
	case l.Subscription != nil:
		sub = l.Subscription.ID
	}
	sub = strings.TrimSpace(cmp.Or(sub, invoiceSub))
	if sub == "" {
		return storefront.Request{}, "of no subscription", nil
	}
	productID, priceID := priceOf(l)
	if productID == "" && old.Price != nil {
		productID, priceID = old.Price.Product.ID, old.Price.ID
	}
	if productID == "" {
		return storefront.Request{}, "no product", nil
	}
	pa, skip, err := d.args(old.Price.expanded(), productID, true)
	if err != nil || skip != "" {
		return storefront.Request{}, skip, err
	}
	product, call, args := pa.product, pa.call, pa.args
	pu := storefront.Purchase{
		PurchaseID:   in.ID,
		RunningNo:    strconv.Itoa(i + 1),
		PurchaseDate: unix(cmp.Or(d.event.Created, in.Created)),
		Quantity:     1,
		RegName:      strings.TrimSpace(in.CustomerName),
		Phone:        strings.TrimSpace(in.CustomerPhone),
		Subscription: sub,
		UTF8:         true,
		Fields: map[string]string{
			"event": d.event.ID, "event_type": string(d.event.Type), "invoice": in.ID,
			"billing_reason": string(in.BillingReason), "subscription": sub,
			"product": product.ID, "product_name": product.Name, "price": priceID,
			"currency": string(cmp.Or(l.Currency, in.Currency)), "amount": strconv.FormatInt(l.Amount, 10),
			"livemode": strconv.FormatBool(in.Livemode || d.event.Livemode),
		},
	}
	if in.Customer != nil {
		pu.Fields["customer"] = in.Customer.ID
	}
	if l.Period != nil && l.Period.End > 0 {
		// The renewed keys run to the end of the period paid for.
		pu.ExpiryDate = unix(l.Period.End)
		pu.Fields["period_start"] = strconv.FormatInt(l.Period.Start, 10)
		pu.Fields["period_end"] = strconv.FormatInt(l.Period.End, 10)
	}
	readAddress(&pu, in.CustomerAddress)
	if err := setQuantity(&pu, l.Quantity); err != nil {
		return storefront.Request{}, "", err
	}
	keepMetadata(&pu, product.Metadata)
	storefront.ReadEmail(call, &pu, "email", in.CustomerEmail)
	return storefront.Request{Method: renewSubscription, Args: args, Purchase: pu, Warnings: call.Warnings(),
		Confirmed: true, Event: d.event.ID}, "", nil
}

// args are the QLM arguments of a line: the URL's, then the product's
// metadata (where QLM's guide puts them), then the provider's products
// mapping by Stripe product id. A product that names no is_productid is
// not keysmith's: skipped, with the reason.
func (d *decoder) args(product *stripego.Product, id string, renewal bool) (productArgs, string, error) {
	product, call, skip, err := d.productCall(product, id, renewal)
	if err != nil || skip != "" {
		return productArgs{}, skip, err
	}
	args, err := call.Args(d.p.DateLayout())
	if err != nil {
		return productArgs{}, "", err
	}
	return productArgs{product: product, call: call, args: args}, "", nil
}

// productCall is the call a line of the product is read in, with the
// product's QLM arguments; skip says why a product that names no
// is_productid is not keysmith's.
func (d *decoder) productCall(product *stripego.Product, id string, renewal bool) (*stripego.Product, *qlm.Call, string, error) {
	if product == nil || product.ID != id { // not expanded: read it
		var err error
		if product, err = d.product(id); err != nil {
			return nil, nil, "", err
		}
	}
	call := d.call.QLM.Fork()
	meta := url.Values{}
	for k, v := range product.Metadata {
		meta.Set(k, v)
	}
	call.WithMapping(qlmArgs(meta, renewal))
	if mapping, ok := d.p.Products[product.ID]; ok {
		args, err := qlm.ParseQuery(mapping) // checked when the configuration was loaded
		if err != nil {
			return nil, nil, "", &qlm.BadRequestError{Status: http.StatusBadRequest, Field: "product " + product.ID, Problem: "bad mapping in the configuration"}
		}
		call.WithMapping(qlmArgs(args, renewal))
	}
	if call.Arg("is_productid") == "" {
		return nil, nil, fmt.Sprintf("product %s names no is_productid in its metadata, and the provider's products do not map it", product.ID), nil
	}
	return product, call, "", nil
}

// productArgs are a line's product and its QLM arguments (the call they
// were read in carries their warnings).
type productArgs struct {
	product *stripego.Product
	call    *qlm.Call
	args    qlm.Args
}

// renewalArgs are QLM's metadata for a subscription's renewal, which take
// the place of the purchase's arguments of the other name.
var renewalArgs = map[string]string{
	"is_renewal_emailtemplate": "is_emailtemplate",
	"is_send_renewal_mail":     "is_send_mail",
}

// qlmArgs are the is_* arguments among metadata or a mapping. A renewal
// uses is_renewal_emailtemplate and is_send_renewal_mail as is_emailtemplate
// and is_send_mail; a purchase leaves them out.
func qlmArgs(v url.Values, renewal bool) url.Values {
	out := url.Values{}
	for k, vs := range v {
		name := strings.ToLower(strings.TrimSpace(k))
		if _, ok := renewalArgs[name]; !ok && strings.HasPrefix(name, "is_") && len(vs) > 0 {
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

// sessionItems are all of a checkout session's line items, in order,
// with their products expanded: a line is named by its position among
// them. field names what a session Stripe does not know is refused by.
func (d *decoder) sessionItems(field, id string) ([]*stripego.LineItem, error) {
	params := &stripego.CheckoutSessionListLineItemsParams{Session: stripego.String(id)}
	params.Limit = stripego.Int64(100)
	params.AddExpand("data.price.product")
	var items []*stripego.LineItem
	for li, err := range d.client().V1CheckoutSessions.ListLineItems(d.ctx, params) {
		if err != nil {
			return nil, apiError(field, "checkout session "+id, err)
		}
		items = append(items, li)
	}
	return items, nil
}

// invoiceLines are all of an invoice's lines, through the API.
func (d *decoder) invoiceLines(id string) ([]*stripego.InvoiceLineItem, error) {
	if lines, ok := d.lines[id]; ok {
		return lines, nil
	}
	params := &stripego.InvoiceListLinesParams{Invoice: stripego.String(id)}
	params.Limit = stripego.Int64(100)
	var lines []*stripego.InvoiceLineItem
	for l, err := range d.client().V1Invoices.ListLines(d.ctx, params) {
		if err != nil {
			return nil, apiError("invoice", "invoice "+id, err)
		}
		lines = append(lines, l)
	}
	d.lines[id] = lines
	return lines, nil
}

// product is a product, with its metadata, through the API.
func (d *decoder) product(id string) (*stripego.Product, error) {
	if p, ok := d.products[id]; ok {
		return p, nil
	}
	p, err := d.client().V1Products.Retrieve(d.ctx, id, nil)
	if err != nil {
		return nil, apiError("product", "product "+id, err)
	}
	d.products[id] = p
	return p, nil
}

// apiError is a failure of Stripe's API: an object it does not know is the
// event's fault (a test-mode event sent to a live key's endpoint, an
// object deleted since), refused; anything else is Stripe's or the
// network's, for Stripe to send the event again.
func apiError(field, what string, err error) error {
	if se, ok := errors.AsType[*stripego.Error](err); ok && se.HTTPStatusCode == http.StatusNotFound {
		return &qlm.BadRequestError{Status: http.StatusBadRequest, Field: field,
			Problem: what + " is not found in Stripe with the provider's secret key (a test-mode event to a live key?)"}
	}
	return fmt.Errorf("stripe: reading %s: %w", what, err)
}

// lineError names the line a refusal is about in its field.
func lineError(line string, err error) error {
	bad, ok := errors.AsType[*qlm.BadRequestError](err)
	if !ok {
		return err
	}
	return &qlm.BadRequestError{Status: bad.Status, Field: line + "." + bad.Field, Problem: bad.Problem}
}

// priceOf is an API line's product and price (basil's pricing).
func priceOf(l *stripego.InvoiceLineItem) (product, price string) {
	if l.Pricing != nil && l.Pricing.PriceDetails != nil {
		return l.Pricing.PriceDetails.Product, l.Pricing.PriceDetails.Price
	}
	return "", ""
}

// legacyInvoice is what an invoice of an API version before basil holds
// where stripe-go no longer reads it.
type legacyInvoice struct {
	Subscription storefront.ObjectID `json:"subscription"`
	Lines        struct {
		Data []legacyLine `json:"data"`
	} `json:"lines"`
}

type legacyLine struct {
	Type      string       `json:"type"` // subscription, or invoiceitem
	Proration bool         `json:"proration"`
	Price     *legacyPrice `json:"price"`
}

type legacyPrice struct {
	ID      string `json:"id"`
	Product struct {
		ID string
		// Object is the product, when expanded.
		Object *stripego.Product
	}
}

func (p *legacyPrice) UnmarshalJSON(b []byte) error {
	var v struct {
		ID      string          `json:"id"`
		Product json.RawMessage `json:"product"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	p.ID = v.ID
	var id storefront.ObjectID
	if err := json.Unmarshal(v.Product, &id); err == nil {
		p.Product.ID = string(id)
	}
	if bytes.HasPrefix(bytes.TrimSpace(v.Product), []byte("{")) {
		var obj stripego.Product
		if err := json.Unmarshal(v.Product, &obj); err == nil {
			p.Product.Object = &obj
		}
	}
	return nil
}

// expanded is the price's product when it came expanded with its
// metadata.
func (p *legacyPrice) expanded() *stripego.Product {
	if p == nil || p.Product.Object == nil || p.Product.Object.Metadata == nil {
		return nil
	}
	return p.Product.Object
}

// setQuantity reads a line's quantity (Stripe's may be null: one).
func setQuantity(pu *storefront.Purchase, n int64) error {
	if n == 0 {
		return nil
	}
	if n < 1 || n > qlm.MaxSeats {
		return qlm.BadRequest("quantity", "%d is not 1 to %d", n, qlm.MaxSeats)
	}
	pu.Quantity = int(n)
	pu.Fields["quantity"] = strconv.FormatInt(n, 10)
	return nil
}

func readAddress(pu *storefront.Purchase, a *stripego.Address) {
	if a == nil {
		return
	}
	pu.Street, pu.City, pu.State = strings.TrimSpace(a.Line1), strings.TrimSpace(a.City), strings.TrimSpace(a.State)
	pu.Zip, pu.ISOCode = strings.TrimSpace(a.PostalCode), strings.TrimSpace(a.Country)
}

// keepMetadata keeps the product's metadata that is not QLM's arguments
// with the order, and drops empty fields.
func keepMetadata(pu *storefront.Purchase, meta map[string]string) {
	for _, k := range slices.Sorted(maps.Keys(meta)) {
		if !strings.HasPrefix(strings.ToLower(k), "is_") {
			pu.Fields["metadata."+k] = meta[k]
		}
	}
	for k, v := range pu.Fields {
		if v == "" {
			delete(pu.Fields, k)
		}
	}
}

// unix reads Stripe's times, seconds since 1970; zero when absent.
func unix(s int64) time.Time {
	if s <= 0 {
		return time.Time{}
	}
	return time.Unix(s, 0).UTC()
}

func jsonProblem(err error) string {
	s := err.Error()
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return s
}
